"""The production web server: gunicorn, several worker processes, each with a few threads.

``customs-kpi serve --workers N`` runs this; ``--workers 0`` keeps Flask's own threaded server
(one process, for development). Every worker process builds its own app (``create_app``) after
the fork: nothing of the app is shared across processes except what is on disk, which is built
for it (sessions, users and the audit trail in the app-state database in WAL mode, the secret key
created once with O_EXCL, published versions read-only).
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from customs_kpi.settings import Settings

THREADS_PER_WORKER = 4
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" worker=%(p)s ms=%(M)s'
# Long enough for the heaviest page at national scale and a large CSV download.
REQUEST_TIMEOUT_SECONDS = 120


class ProductionServer(BaseApplication):
    """gunicorn configured in code (no command line, no config file)."""

    def __init__(self, settings: Settings, workers: int, *, access_log: bool = True) -> None:
        self.settings = settings
        self.options: dict[str, Any] = {
            "bind": f"{settings.host}:{settings.port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": THREADS_PER_WORKER,
            "timeout": REQUEST_TIMEOUT_SECONDS,
            "graceful_timeout": 10,
            # Reverse proxies are handled by the app (CUSTOMS_KPI_PROXY_HOPS), not gunicorn.
            "forwarded_allow_ips": "",
            "accesslog": "-" if access_log else None,
            # The usual combined format, plus the worker's pid and the time taken (ms).
            "access_log_format": ACCESS_LOG_FORMAT,
            "errorlog": "-",
            "proc_name": "customs-kpi-web",
            # No control socket: it would live in ~/.gunicorn, shared by every server here.
            "control_socket_disable": True,
            # "Booting worker" is logged at the fork, before the app is built (seconds on a
            # busy machine): this line says when a worker really takes requests.
            "post_worker_init": _log_ready,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Runs in each worker process after the fork.
        from dashboard.app import create_app

        return create_app(self.settings).server


def _log_ready(worker: Any) -> None:
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def run_production(settings: Settings, workers: int) -> None:
    """Serve until stopped (SIGINT/SIGTERM stop the workers gracefully)."""
    ProductionServer(settings, workers).run()
