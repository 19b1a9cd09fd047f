"""The monthly performance report: ``HOME/reports/YYYY-MM/vN/`` (workbook, PDF, CSV, manifest).

Reads the current published version (:mod:`customs_kpi.published`), never the warehouse, and
computes every number with the KPI engine (:mod:`kpis`). :mod:`monthly_report.producer` writes a
version (the worker and `customs-kpi report` call it); :mod:`monthly_report.listing` reads them
back (stdlib only: the dashboard's Reports page lists and serves the files through it and asks
the worker for a draft, it never renders one itself).
"""
