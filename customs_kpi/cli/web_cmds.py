"""Serving the dashboard: ``serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from customs_kpi.cli.common import HomeOption, app, console, fail, settings_for


@app.command("serve")
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on (default 127.0.0.1, env CUSTOMS_KPI_HOST).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port to listen on (default 8050, env CUSTOMS_KPI_PORT).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            max=64,
            help="Web worker processes of the production server (gunicorn, 4 threads each); "
            "0 = Flask's development server in one process (default: env "
            "CUSTOMS_KPI_WEB_WORKERS, else 0).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Dash dev tools and reloading (development server only)."),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Serve the dashboard (sign in with an account from `users add` or `users demo`)."""
    from appstate import AppState

    settings = settings_for(home, host=host, port=port, web_workers=workers)
    if debug and settings.web_workers:
        raise fail("--debug runs the development server: use it with --workers 0")
    state = AppState(settings.app_db_path)
    if not state.list_users():
        console.print(
            "[yellow]no users yet:[/] create one with `customs-kpi users add NAME --role admin` "
            "(or `customs-kpi users demo`)",
            highlight=False,
        )
    url = f"http://{settings.host}:{settings.port}"
    if settings.web_workers:
        from customs_kpi.cli.web_server import run_production

        console.print(
            f"serving on {url} ({settings.web_workers} worker processes)", highlight=False
        )
        run_production(settings, settings.web_workers)
        return
    from dashboard.app import create_app

    web = create_app(settings, state=state)
    console.print(f"serving on {url} (development server)", highlight=False)
    web.run(host=settings.host, port=settings.port, debug=debug, threaded=True)
