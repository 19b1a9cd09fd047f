"""KPI catalogue and pure computation: polars in, polars out, no I/O.

Imports polars and the standard library only (checked by tests/unit/test_boundaries.py).
"""
