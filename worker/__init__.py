"""The worker (`customs-kpi worker`): the one scheduler per HOME and the files it shares.

* :mod:`worker.jobs`: ``HOME/jobs.json``, the worker's heartbeat and each job's last outcome.
* :mod:`worker.queue`: requests from the web app to the worker (``HOME/requests/``).
* :mod:`worker.scheduler`: the jobs, their triggers, the one-worker lock.
* :mod:`worker.housekeeping`: the nightly tasks (published versions, audit trail, freshness).
* :mod:`monthly_report.listing`: the monthly reports produced so far (``HOME/published versions/``).

The dashboard imports :mod:`worker.jobs`, :mod:`worker.queue` and :mod:`monthly_report.listing`
only (standard library and ``customs_kpi`` core); the scheduler and the housekeeping run the
ETL and the monthly report.
"""
