"""Admins trigger a load from the Data page: the request is role-checked on the server,
audited, and handed to the worker, which loads the inbox (the web app never writes the
warehouse)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from auth_helpers import audit_actions, call, login, make_app
from etl_helpers import query, row, write_csv

from customs_kpi.settings import Settings
from worker import queue
from worker.jobs import JobOutcome
from worker.queue import RequestKind, RequestStatus
from worker.scheduler import build_worker

# dashboard.pages.data registers a page, so it is imported only by create_app: its ids here.
LOAD_BUTTON_ID = "data-load-inbox"
LOAD_MESSAGE_ID = "data-load-message"
OUTPUT = f"{LOAD_MESSAGE_ID}.children"


def test_only_admins_can_request_a_load_and_it_is_audited(settings: Settings) -> None:
    app, app_state, _ = make_app(settings)
    assert app.callback_map[OUTPUT]["inputs"] == [{"id": LOAD_BUTTON_ID, "property": "n_clicks"}]
    for name in ("vera", "anna", "scoped"):
        assert call(login(app, name), app, OUTPUT, [1]).status_code == 403
    assert queue.pending(settings, RequestKind.LOAD) == []
    assert call(app.server.test_client(), app, OUTPUT, [1]).status_code == 401

    response = call(login(app, "adam"), app, OUTPUT, [1])
    assert response.status_code == 200
    message = response.get_json()["response"][LOAD_MESSAGE_ID]["children"]
    [(_, request)] = queue.pending(settings, RequestKind.LOAD)
    assert request.requested_by == "adam" and request.id in message
    assert audit_actions(app_state, "load.") == ["load.request"]


def test_the_worker_loads_the_inbox_when_asked(settings: Settings) -> None:
    dropped = write_csv(settings.inbox_dir / "delivery.csv", [row(1), row(2), row(3)])
    os.utime(dropped, (0, 0))  # written long ago: quiet (etl.inbox.QUIET_SECONDS)
    when = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    request_id = queue.submit(settings, RequestKind.LOAD, "adam", now=when).id
    worker = build_worker(settings, tz=UTC, now=when)

    assert worker.run_now("requests", now=when) == JobOutcome.SUCCEEDED
    assert query(settings, "SELECT count(*) FROM declarations") == [(3,)]
    assert queue.pending(settings, RequestKind.LOAD) == []
    [done] = queue.recent(settings, RequestKind.LOAD)
    assert (done.id, done.status) == (request_id, RequestStatus.SUCCEEDED)
    assert "delivery.csv" in done.message
    # Nothing pending: the next pass loads nothing more.
    assert worker.run_now("requests", now=when) == JobOutcome.SUCCEEDED
    assert query(settings, "SELECT count(*) FROM declarations") == [(3,)]
