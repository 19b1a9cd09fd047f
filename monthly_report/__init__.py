"""Monthly performance snapshots: ``HOME/snapshots/YYYY-MM/vN/`` (workbook, PDF, CSV, manifest).

Reads the current published snapshot and computes every number with the KPI engine. The web
app never imports this package: it lists and serves the files through
:mod:`worker.report_listing` and asks the worker to produce a draft (:mod:`worker.queue`).
"""

from etl.snapshot.producer import SnapshotError, build_content, produce_snapshot

__all__ = ["SnapshotError", "build_content", "produce_snapshot"]
