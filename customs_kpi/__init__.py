"""Shared, dependency-light layer: settings, home layout and the read side of published versions.

Kept separate from ``etl`` and ``dashboard`` so that both can depend on it without depending on
each other (see README, "Architecture").
"""

__version__ = "0.1.0"
