"""Dashboard benchmark (issue 4): the real app serving a published HOME, driven like a user.

For every page:

* a signed-in Chromium (Debian's, through Playwright) opens the page once; a WSGI middleware in
  the serving process records every Dash callback request the page makes (the real payloads:
  router, header, content, and whatever the content triggers), how long each took and how big
  its answer was;
* the browser then opens the page by its address a few more times (document reloaded, assets
  from the HTTP cache) and the time until it is drawn (every ``.dash-graph`` holds its
  ``.main-svg``, the content areas are filled, nothing loading, no callback in flight) is read
  from the page's own clock (``performance.now()`` = since navigation start); the answer time
  of each callback is logged by a fetch wrapper, so drawing is told apart from waiting;
* it also reaches the page a few times from another page of the app, the way a menu link does
  (history.pushState, no reload: plotly.js and the renderer are already running);
* the recorded callbacks are replayed, in order, 20 times through the Flask test client of the
  same app (signed in through the real form): the server time of one page load is the sum of
  its callbacks' times (the browser runs some of them in parallel, so this is an upper bound),
  and median and 95th percentile are over the 20 loads;
* the reference is plain DuckDB computing the page's main figures from the raw declarations of
  the warehouse (opened read-only), after the serving figures so it cannot raise their peak.

Without Chromium the callbacks a page load sends are derived from the app's callback map (the
header and router callbacks, then every server-side callback whose inputs are on the page, with
the values the page holds, chained ones included) and the browser figures are skipped with a
note.

The serving process is this process: its peak RSS (``ru_maxrss``) is read after every page has
been served and replayed, before the reference queries run. It includes the Playwright client
library (a few tens of MB); Chromium and Playwright's driver are separate processes. The
machine's load average is recorded with the figures: on a shared machine every time grows.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import resource
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpis.measures import controlled_sql, irregular_sql, seizure_sql

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
VIEWPORT: Any = {"width": 1366, "height": 768}  # playwright's ViewportSize
CALLBACK_PATH = "/_dash-update-component"
SHELL_OUTPUT = "..shell-nav.children...shell-data-as-of.children.."
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
USER = "bench"
PASSWORD = "a long benchmark passphrase"
SERVER_LOADS = 20
BROWSER_LOADS = 3
REFERENCE_RUNS = 3
TIMEOUT_MS = 120_000
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

# A page load is finished when the content is there, nothing is loading and every graph has
# been drawn by plotly (its .main-svg exists). Returns the page clock at that moment.
# ``want`` / ``avoid``: the page shown must (not) be the one with that class (navigation).
READY_JS = """
(page) => {
  const router = document.getElementById('_pages_content');
  if (!router || router.children.length === 0) return false;
  const shown = (router.querySelector('.page') || {}).className || '';
  if (page && page.want && shown !== page.want) return false;
  if (page && page.avoid && shown === page.avoid) return false;
  for (const c of document.querySelectorAll('.page-content')) {
    if (c.children.length === 0) return false;
  }
  if (document.querySelector('[data-dash-is-loading="true"]')) return false;
  for (const g of document.querySelectorAll('.dash-graph')) {
    if (!g.querySelector('.main-svg')) return false;
  }
  return performance.now();
}
"""
PAGE_CLASS_JS = "() => (document.querySelector('#_pages_content .page') || {}).className || ''"
# What a dcc.Link does on click: the page router follows, without reloading the document.
NAVIGATE_JS = """
(href) => {
  window.__benchNavigation = performance.now();
  window.history.pushState({}, '', href);
  window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));
}
"""
# Every Dash callback the page sends, with the page clock when it was sent and answered
# (the renderer calls fetch; the wrapper is installed before any page script runs).
FETCH_LOG_JS = """
(() => {
  const original = window.fetch;
  window.__benchCalls = [];
  window.fetch = async function (input, init) {
    const url = typeof input === 'string' ? input : input.url;
    if (!url.includes('/_dash-update-component')) return original.apply(this, arguments);
    let output = '?';
    try { output = JSON.parse(init.body).output; } catch (e) {}
    const sent = performance.now();
    const response = await original.apply(this, arguments);
    await response.clone().arrayBuffer();
    window.__benchCalls.push({output: output, sent: sent, answered: performance.now()});
    return response;
  };
})();
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- Server-side timing ---------------------------------------------------------------------------
@dataclass
class CallbackRecord:
    body: bytes
    seconds: float
    status: str
    answer_bytes: int = 0

    @property
    def output(self) -> str:
        return str(json.loads(self.body).get("output", "?"))


@dataclass
class CallbackTimer:
    """WSGI middleware timing each Dash callback request from the request to its last byte.

    ``recording`` collects the records of one page load; ``inflight`` counts callbacks being
    served (a load is only over when none is left)."""

    app: Any
    records: list[CallbackRecord] = field(default_factory=list)
    inflight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != CALLBACK_PATH:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        status: list[str] = []

        def capture(code: str, headers: Any, *exc: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *exc)

        with self._lock:
            self.inflight += 1
        chunks: list[bytes] = []
        t0 = time.perf_counter()
        try:
            result = self.app(environ, capture)
            try:
                chunks = list(result)
            finally:
                getattr(result, "close", lambda: None)()
        finally:
            seconds = time.perf_counter() - t0
            record = CallbackRecord(
                body, seconds, status[0] if status else "?", sum(len(c) for c in chunks)
            )
            with self._lock:
                self.inflight -= 1
                self.records.append(record)
        return chunks

    def take(self) -> list[CallbackRecord]:
        with self._lock:
            out, self.records = self.records, []
        return out


# --- The app on a HOME of its own ---------------------------------------------------------------
def bench_home(source_home: Path, home: Path) -> Path:
    """A fresh HOME for the app state whose published/ is the source HOME's (read only): the
    app's users, sessions and secret key never go into the benchmark's data folders."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    (home / "published").symlink_to((source_home / "published").resolve(), True)
    return home


@dataclass
class Served:
    url: str
    app: Any  # dash.Dash
    timer: CallbackTimer


@contextmanager
def serve(home: Path) -> Iterator[Served]:
    """The real app (create_app) on a free local port, served by threads of this process."""
    from argon2 import PasswordHasher
    from werkzeug.serving import make_server

    from appstate import AppState
    from appstate.passwords import Passwords
    from appstate.roles import Role
    from customs_kpi.settings import load_settings
    from dashboard.app import create_app

    # One access-log line per request would cost more than some callbacks.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = load_settings(environ={}, home=home)
    settings.ensure_home()
    # Cheap hashing: sign-in cost is not what this benchmark measures.
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    state = AppState(settings.app_db_path)
    state.add_user(USER, Role.ADMIN, passwords.hash(PASSWORD), ())
    app = create_app(settings, state=state, passwords=passwords)
    timer = CallbackTimer(app.server.wsgi_app)
    app.server.wsgi_app = timer
    httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="bench-dashboard", daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{httpd.server_port}", app, timer)
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()


def signed_in_client(app: Any) -> tuple[Any, dict[str, str]]:
    """A Flask test client signed in through the real form, and the CSRF header callbacks need."""
    client = app.server.test_client()
    match = CSRF_RE.search(client.get("/login").get_data(as_text=True))
    if match is None:
        raise RuntimeError("no CSRF field in the login form")
    response = client.post(
        "/login",
        data={"username": USER, "password": PASSWORD, "csrf_token": match.group(1), "next": "/"},
    )
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    cookie = client.get_cookie("_csrf_token")
    headers = {"Content-Type": "application/json"}
    if cookie is not None:
        headers["X-CSRFToken"] = cookie.value
    return client, headers


def replay(
    client: Any, headers: dict[str, str], timer: CallbackTimer, bodies: list[bytes], loads: int
) -> tuple[list[float], dict[str, list[float]]]:
    """Replay one page load's callbacks ``loads`` times: per-load totals, and per load the time
    of each callback output (summed when a load calls it more than once)."""
    totals: list[float] = []
    per_output: dict[str, list[float]] = {}
    for _ in range(loads):
        timer.take()
        for body in bodies:
            response = client.post(CALLBACK_PATH, data=body, headers=headers)
            if response.status_code not in (200, 204):
                raise RuntimeError(f"callback replay failed: {response.status_code}")
        records = timer.take()
        totals.append(sum(r.seconds for r in records))
        this_load: dict[str, float] = {}
        for r in records:
            this_load[r.output] = this_load.get(r.output, 0.0) + r.seconds
        for output, seconds in this_load.items():
            per_output.setdefault(output, []).append(seconds)
    return totals, per_output


# --- Browser --------------------------------------------------------------------------------------
@contextmanager
def browser_page(url: str) -> Iterator[Any]:
    """A Chromium page signed in through the real login form."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(TIMEOUT_MS)
            context.add_init_script(FETCH_LOG_JS)
            page = context.new_page()
            page.goto(url + "/login")
            page.fill("#username", USER)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(url + "/")
            page.wait_for_selector(".ck-user-name")
            yield page
        finally:
            browser.close()


def browser_load(page: Any, url: str, timer: CallbackTimer) -> BrowserLoad:
    """Open ``url``; the page's clock (seconds from navigation start) when it is drawn and idle."""
    page.goto(url, wait_until="commit")
    return wait_until_drawn(page, timer)


def wait_until_drawn(
    page: Any, timer: CallbackTimer, want: str | None = None, avoid: str | None = None
) -> BrowserLoad:
    """Until the current page is drawn and no callback is in flight (see READY_JS)."""
    shown = {"want": want, "avoid": avoid}
    while True:
        drawn = page.wait_for_function(READY_JS, arg=shown, polling=50).json_value()
        # A callback still in flight (a chained one) may change the page: wait for it too.
        time.sleep(0.1)
        if timer.inflight == 0 and page.evaluate(READY_JS, shown):
            calls = page.evaluate("() => window.__benchCalls || []")
            return BrowserLoad(
                drawn=float(drawn) / 1000.0,
                first_callback=min((c["sent"] for c in calls), default=0.0) / 1000.0,
                data_answered=max(
                    (c["answered"] for c in calls if not c["output"].endswith("download.data")),
                    default=0.0,
                )
                / 1000.0,
                answers={c["output"]: c["answered"] / 1000.0 for c in calls},
            )


def in_app_navigation(
    page: Any, path: str, timer: CallbackTimer, elsewhere: str, target: str
) -> float:
    """Seconds from a menu click to ``path`` drawn (its page class is ``target``), coming from
    the page ``elsewhere``: the document, plotly.js included, is already loaded, as for a
    user moving around the app."""
    page.evaluate(NAVIGATE_JS, elsewhere)
    wait_until_drawn(page, timer, avoid=target)
    page.evaluate(NAVIGATE_JS, path)
    drawn = wait_until_drawn(page, timer, want=target).drawn
    return drawn - float(page.evaluate("() => window.__benchNavigation")) / 1000.0


@dataclass(frozen=True)
class BrowserLoad:
    """Seconds from navigation start: page drawn; first callback sent (the renderer has
    booted); last answer with data received (download buttons' callbacks, fired once the
    content is on screen, left out): after it, the browser builds and draws the page.
    ``answers``: when each callback's answer was in."""

    drawn: float
    first_callback: float
    data_answered: float
    answers: dict[str, float]


# --- Pages ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PageResult:
    name: str
    path: str
    callbacks: int
    server_loads: list[float]
    outputs: list[str]  # the callbacks of one load, in the order the browser sent them
    per_callback: dict[str, float]  # median seconds per load of each callback output
    browser: list[BrowserLoad]  # the page opened by its address (document reloaded)
    navigation: list[float]  # the page reached from another one in the app
    first_load: float  # server time of the first visit
    answer_bytes: dict[str, int]  # size of each callback's answer (what the browser parses)
    period: tuple[str, str] | None  # the period the page opened with (from its callbacks)

    @property
    def median(self) -> float:
        return statistics.median(self.server_loads)

    @property
    def p95(self) -> float:
        return percentile(self.server_loads, 0.95)


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (with 20 loads, p95 is the 19th fastest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def _period(bodies: list[bytes]) -> tuple[str, str] | None:
    """The period the page's content callback received (filter-from / filter-to)."""
    for body in bodies:
        values = {
            i.get("id"): i.get("value")
            for i in json.loads(body).get("inputs", [])
            if isinstance(i, dict)
        }
        if values.get("filter-from") and values.get("filter-to"):
            return str(values["filter-from"]), str(values["filter-to"])
    return None


def measure_page(
    name: str, path: str, served: Served, page: Any | None, client: Any, headers: dict[str, str]
) -> PageResult:
    """One page: capture its callbacks from a browser load, time browser loads and replays."""
    if page is not None:
        # Nothing of the previous page may be counted as this page's.
        wait_until_drawn(page, served.timer)
        served.timer.take()
        browser_load(page, served.url + path, served.timer)
        captured = served.timer.take()
        url = served.url + path
        browser = [browser_load(page, url, served.timer) for _ in range(BROWSER_LOADS)]
        target = page.evaluate(PAGE_CLASS_JS)
        elsewhere = "/data" if path == "/reports" else "/reports"
        navigation = [
            in_app_navigation(page, path, served.timer, elsewhere, target)
            for _ in range(BROWSER_LOADS)
        ]
        served.timer.take()
    else:
        captured = synthetic_load(served, client, headers, path)
        browser = []
        navigation = []
    failed = [r for r in captured if not r.status.startswith(("200", "204"))]
    if failed:
        raise RuntimeError(f"{path}: callback {failed[0].output} answered {failed[0].status}")
    bodies = [r.body for r in captured]
    loads, per_output = replay(client, headers, served.timer, bodies, SERVER_LOADS)
    return PageResult(
        name=name,
        path=path,
        callbacks=len(bodies),
        server_loads=loads,
        outputs=[r.output for r in captured],
        per_callback={k: statistics.median(v) for k, v in per_output.items()},
        browser=browser,
        navigation=navigation,
        first_load=sum(r.seconds for r in captured),
        answer_bytes={r.output: r.answer_bytes for r in captured},
        period=_period(bodies),
    )


def synthetic_load(
    served: Served, client: Any, headers: dict[str, str], path: str
) -> list[CallbackRecord]:
    """Without a browser, what the renderer would send: the header and router callbacks for
    ``path``, then, until none is left, every server-side callback whose inputs and outputs
    are all on the page, with the values the page holds (chained callbacks included)."""
    app = served.app
    location = {"pathname": path, "search": "", "href": served.url + path, "hash": ""}

    def post(output: str, value_of: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        body = _callback_body(output, app.callback_map[output], value_of)
        response = client.post(CALLBACK_PATH, data=json.dumps(body), headers=headers)
        answer = response.get_json(silent=True) if response.status_code == 200 else None
        return answer.get("response", {}) if isinstance(answer, dict) else {}

    served.timer.take()
    post(SHELL_OUTPUT, lambda spec: location.get(spec["property"]))
    routed = post(ROUTER_OUTPUT, lambda spec: location.get(spec["property"]))
    if "_pages_content" not in routed:
        raise RuntimeError(f"{path}: the page router failed")
    props = _component_props(routed["_pages_content"]["children"])
    fired = {SHELL_OUTPUT, ROUTER_OUTPUT}
    while True:
        due = [
            output
            for output, entry in app.callback_map.items()
            if output not in fired and _on_page(output, entry, props)
        ]
        if not due:
            break
        for output in due:
            fired.add(output)
            answer = post(output, lambda spec: props.get(spec["id"], {}).get(spec["property"]))
            for component, values in answer.items():
                props.setdefault(component, {}).update(values)
                props.update(_component_props(values))
    return served.timer.take()


def _on_page(output: str, entry: dict[str, Any], props: dict[str, dict[str, Any]]) -> bool:
    """A server-side callback (clientside ones run in the browser) whose inputs and outputs
    are components of the page (pattern-matching download buttons fire nothing on load)."""
    inputs = [spec["id"] for spec in entry.get("inputs", [])]
    outputs = [o.rsplit(".", 1)[0] for o in output.strip(".").split("...")]
    return (
        "callback" in entry
        and bool(inputs)
        and all(isinstance(i, str) and i in props for i in inputs)
        and all(o in props for o in outputs)
    )


def _callback_body(
    output: str, entry: dict[str, Any], value_of: Callable[[dict[str, Any]], Any]
) -> dict[str, Any]:
    """A callback request as the renderer builds it."""

    def spec(key: str) -> dict[str, str]:
        component, prop = key.rsplit(".", 1)
        return {"id": component, "property": prop}

    outputs: Any = (
        [spec(o) for o in output.strip(".").split("...")]
        if output.startswith("..")
        else spec(output)
    )
    return {
        "output": output,
        "outputs": outputs,
        "inputs": [dict(s, value=value_of(s)) for s in entry.get("inputs", [])],
        "state": [dict(s, value=value_of(s)) for s in entry.get("state", [])],
        "changedPropIds": [],
    }


def _component_props(tree: Any) -> dict[str, dict[str, Any]]:
    """Props of every component with a string id in a serialised layout."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and isinstance(props.get("id"), str):
                found[props["id"]] = props
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found


# --- References: plain DuckDB on the raw declarations ------------------------------------------
# The one SQL spelling of the control outcome (kpis.measures), as the ETL's cube uses it.
CONTROLLED = controlled_sql()
IRREGULAR = irregular_sql()
SEIZURE = seizure_sql()
RELEASE_HOURS = "epoch(released_at - lodged_at) / 3600.0"


def _window(period: tuple[str, str]) -> str:
    start, end = (p[:7] + "-01" for p in period)
    return f"lodged_month BETWEEN DATE '{start}' AND DATE '{end}'"


def ref_overview(con: Any, period: tuple[str, str], _profile: str) -> Any:
    w = _window(period)
    end = period[1][:7] + "-01"
    monthly = con.sql(f"""
        SELECT lodged_month, count(*), count(*) FILTER (WHERE channel = 'red'),
               count(*) FILTER (WHERE {CONTROLLED}),
               count(*) FILTER (WHERE {IRREGULAR}),
               count(*) FILTER (WHERE {SEIZURE}),
               sum(additional_revenue), count(*) FILTER (WHERE selection_source = 'random'),
               count(*) FILTER (WHERE channel = 'red' AND selection_source = 'officer'),
               quantile_cont({RELEASE_HOURS}, [0.5, 0.9]),
               count(released_at), count(*) FILTER (WHERE {RELEASE_HOURS} <= 1)
        FROM declarations WHERE {w} GROUP BY 1 ORDER BY 1""").fetchall()
    mix = con.sql(f"""
        SELECT lodged_month, channel, count(*) FROM declarations WHERE {w}
        GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
    detections = con.sql(f"""
        SELECT lodged_month, selection_source, count(*) FROM declarations
        WHERE {w} AND {IRREGULAR} GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
    cards = con.sql(f"""
        SELECT count(*), quantile_cont({RELEASE_HOURS}, [0.5, 0.9]) FROM declarations
        WHERE lodged_month = DATE '{end}'""").fetchall()
    return monthly, mix, detections, cards


def ref_profiles(con: Any, period: tuple[str, str], _profile: str) -> Any:
    w = _window(period).replace("lodged_month", "d.lodged_month")
    return con.sql(f"""
        WITH r AS (SELECT count(*) FILTER (WHERE {CONTROLLED}) AS c,
                          count(*) FILTER (WHERE {IRREGULAR}) AS h
                   FROM declarations d WHERE selection_source = 'random' AND {w})
        SELECT h.profile_id, count(*) AS volume,
               count(*) FILTER (WHERE {CONTROLLED}) AS controls,
               count(*) FILTER (WHERE {IRREGULAR}) AS hits,
               count(*) FILTER (WHERE {SEIZURE}) AS seiz,
               sum(additional_revenue) AS revenue,
               any_value(r.h) / nullif(any_value(r.c), 0) AS random_rate
        FROM declarations d JOIN profile_hits h USING (declaration_id), r
        WHERE {w} GROUP BY 1 ORDER BY 1""").fetchall()


def ref_profile_detail(con: Any, period: tuple[str, str], profile: str) -> Any:
    w = _window(period).replace("lodged_month", "d.lodged_month")
    monthly = con.sql(
        f"""SELECT d.lodged_month, count(*), count(*) FILTER (WHERE {CONTROLLED}),
                   count(*) FILTER (WHERE {IRREGULAR}), sum(additional_revenue)
            FROM declarations d JOIN profile_hits h USING (declaration_id)
            WHERE h.profile_id = ? GROUP BY 1 ORDER BY 1""",
        params=[profile],
    ).fetchall()
    by_office = con.sql(
        f"""SELECT office_code, offence_type, count(*), count(*) FILTER (WHERE {CONTROLLED})
            FROM declarations d JOIN profile_hits h USING (declaration_id)
            WHERE h.profile_id = ? AND {w} GROUP BY 1, 2""",
        params=[profile],
    ).fetchall()
    overlaps = con.sql(
        f"""SELECT o.profile_id, count(*) FROM profile_hits h
            JOIN profile_hits o
              ON o.declaration_id = h.declaration_id AND o.profile_id <> h.profile_id
            WHERE h.profile_id = ? AND {w.replace("d.", "h.")} GROUP BY 1""",
        params=[profile],
    ).fetchall()
    latest = con.sql(
        f"""SELECT d.* FROM declarations d JOIN profile_hits h USING (declaration_id)
            WHERE h.profile_id = ? AND {w} AND {CONTROLLED}
            ORDER BY d.lodged_at DESC LIMIT 25""",
        params=[profile],
    ).fetchall()
    return monthly, by_office, overlaps, latest


def ref_overlap(con: Any, period: tuple[str, str], _profile: str) -> Any:
    w = _window(period).replace("lodged_month", "a.lodged_month")
    return con.sql(f"""
        SELECT a.profile_id, b.profile_id, count(*) FROM profile_hits a
        JOIN profile_hits b ON a.declaration_id = b.declaration_id AND a.profile_id < b.profile_id
        WHERE {w} GROUP BY 1, 2 ORDER BY 3 DESC""").fetchall()


def ref_clearance(con: Any, period: tuple[str, str], _profile: str) -> Any:
    w = _window(period)
    within = ", ".join(f"avg((({RELEASE_HOURS}) <= {h})::INTEGER)" for h in (4, 24, 48))
    per_channel = con.sql(f"""
        SELECT lodged_month, channel, count(released_at),
               quantile_cont({RELEASE_HOURS}, [0.5, 0.9]),
               quantile_cont(epoch(released_at - arrived_at) / 3600.0, [0.5, 0.9]), {within},
               quantile_cont(epoch(result_recorded_at - channel_assigned_at) / 3600.0, 0.5)
        FROM declarations WHERE {w} GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
    per_office = con.sql(f"""
        SELECT office_code, channel, count(released_at),
               quantile_cont({RELEASE_HOURS}, [0.5, 0.9])
        FROM declarations WHERE {w} GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
    return per_channel, per_office


def ref_offices(con: Any, period: tuple[str, str], _profile: str) -> Any:
    w = _window(period)
    return con.sql(f"""
        SELECT office_code, count(*), count(*) FILTER (WHERE channel = 'red'),
               count(*) FILTER (WHERE {CONTROLLED}),
               count(*) FILTER (WHERE {IRREGULAR}),
               count(*) FILTER (WHERE {SEIZURE}),
               sum(additional_revenue),
               quantile_cont({RELEASE_HOURS}, [0.5, 0.9]),
               count(*) FILTER (WHERE channel = 'red' AND selection_source = 'officer')
        FROM declarations WHERE {w} GROUP BY 1 ORDER BY 1""").fetchall()


Reference = Callable[[Any, tuple[str, str], str], Any]

# (label, path — {profile} = the profile with the most controls, reference or None).
PAGES: tuple[tuple[str, str, Reference | None], ...] = (
    ("Overview", "/", ref_overview),
    ("Profiles", "/profiles", ref_profiles),
    ("Profile detail", "/profiles/{profile}", ref_profile_detail),
    ("What-if", "/what-if", None),
    ("Changes", "/changes", None),
    ("Overlap", "/overlap", ref_overlap),
    ("Clearance", "/clearance", ref_clearance),
    ("Offices", "/offices", ref_offices),
    ("Review", "/review", None),
    ("Reports", "/reports", None),
    ("Data", "/data", None),
)


def busiest_profile(published: Path) -> str:
    """The profile with the most controls (the richest detail page)."""
    import duckdb

    from customs_kpi.published import read_current

    version = read_current(published)
    if version is None:
        raise RuntimeError(f"nothing published in {published}")
    cube = published / version / "cube_profiles.parquet"
    con = duckdb.connect()
    try:
        rows = con.sql(
            "SELECT profile_id FROM read_parquet(?) GROUP BY 1 ORDER BY sum(controlled) DESC, 1 "
            "LIMIT 1",
            params=[str(cube)],
        ).fetchall()
    finally:
        con.close()
    return str(rows[0][0])


def time_reference(con: Any, ref: Reference, period: tuple[str, str], profile: str) -> float:
    """Median of a few warm runs (the first run warms DuckDB's caches and is not counted)."""
    ref(con, period, profile)
    times = []
    for _ in range(REFERENCE_RUNS):
        t0 = time.perf_counter()
        ref(con, period, profile)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(source_home: str, work_home: str, browser: bool = True) -> dict[str, Any]:
    """The whole dashboard benchmark for a published HOME; one JSON-able dict of figures.

    ``work_home`` is recreated for the app state; ``browser`` False (or no Chromium) skips the
    browser figures and builds the callbacks from the app's callback map."""
    import duckdb

    source = Path(source_home)
    home = bench_home(source, Path(work_home))
    profile = busiest_profile(source / "published")
    use_browser = browser and CHROMIUM.exists()
    t_start = time.perf_counter()
    results: list[PageResult] = []
    load_before = os.getloadavg()[0]
    with serve(home) as served, _maybe_browser(served.url, use_browser) as page:
        startup = time.perf_counter() - t_start
        client, headers = signed_in_client(served.app)
        # The first page after start reads the published cube: its load is the cold one.
        if page is not None:
            cold_browser: float | None = wait_until_drawn(page, served.timer).drawn
            cold = sum(r.seconds for r in served.timer.take())
        else:
            cold_browser = None
            cold = sum(r.seconds for r in synthetic_load(served, client, headers, "/"))
        for name, path, _ref in PAGES:
            results.append(
                measure_page(name, path.format(profile=profile), served, page, client, headers)
            )
        serving_peak = peak_mb()
    serving_seconds = time.perf_counter() - t_start

    references: dict[str, float | None] = {}
    con = duckdb.connect(str(source / "warehouse.duckdb"), read_only=True)
    try:
        for (name, _path, ref), result in zip(PAGES, results, strict=True):
            references[name] = (
                time_reference(con, ref, result.period, profile)
                if ref is not None and result.period is not None
                else None
            )
    finally:
        con.close()

    return {
        "profile": profile,
        "browser": use_browser,
        "note": None
        if use_browser
        else "browser figures skipped: "
        + (f"{CHROMIUM} is absent" if browser else "asked for without a browser"),
        "startup_seconds": startup,
        "cold_seconds": cold,
        "cold_browser": cold_browser,
        # Other work on the machine slows every figure down: the 1-minute load average
        # before and after, to read them by (the number of cores for scale).
        "load_average": [load_before, os.getloadavg()[0]],
        "cores": os.cpu_count(),
        "serving_seconds": serving_seconds,
        "peak_mb": serving_peak,
        "pages": [
            {
                "name": r.name,
                "path": r.path,
                "callbacks": r.callbacks,
                "first_load": r.first_load,
                "median": r.median,
                "p95": r.p95,
                "browser": _median_of(r.browser, "drawn"),
                "browser_first_callback": _median_of(r.browser, "first_callback"),
                "browser_data_answered": _median_of(r.browser, "data_answered"),
                "browser_answers": {
                    output: statistics.median(b.answers.get(output, 0.0) for b in r.browser)
                    for output in (r.browser[0].answers if r.browser else {})
                },
                "browser_loads": [b.drawn for b in r.browser],
                "navigation": statistics.median(r.navigation) if r.navigation else None,
                "navigation_loads": r.navigation,
                "outputs": r.outputs,
                "slowest_callback": max(r.per_callback.items(), key=lambda kv: kv[1]),
                "per_callback": r.per_callback,
                "answer_bytes": r.answer_bytes,
                "period": list(r.period) if r.period else None,
                "server_loads": r.server_loads,
                "reference": references[r.name],
            }
            for r in results
        ],
    }


def _median_of(loads: list[BrowserLoad], name: str) -> float | None:
    return statistics.median(getattr(b, name) for b in loads) if loads else None


@contextmanager
def _maybe_browser(url: str, enabled: bool) -> Iterator[Any | None]:
    if not enabled:
        yield None
        return
    with browser_page(url) as page:
        yield page


# --- Rows for the results table (bench/__main__.py) ------------------------------------------
Row = tuple[str, float, float | None, str, str]


def result_rows(result: dict[str, Any]) -> list[Row]:
    """(figure, value, reference, target, unit) rows of a ``run`` result."""
    rows: list[Row] = []
    for p in result["pages"]:
        label = f"dashboard {p['name']} ({p['path']})"
        rows.append(
            (
                f"{label}: server, {p['callbacks']} callbacks/load, median of {SERVER_LOADS}",
                p["median"],
                p["reference"],
                "< 1 s",
                "s",
            )
        )
        p95 = f"{label}: server, 95th percentile of {SERVER_LOADS}"
        rows.append((p95, p["p95"], None, "< 1 s", "s"))
        if p["browser"] is not None:
            rows.append(
                (
                    f"{label}: browser, by address, drawn, median of {BROWSER_LOADS}",
                    p["browser"],
                    None,
                    "< 1 s",
                    "s",
                )
            )
        if p.get("navigation") is not None:
            rows.append(
                (
                    f"{label}: browser, from the menu, drawn, median of {BROWSER_LOADS}",
                    p["navigation"],
                    None,
                    "< 1 s",
                    "s",
                )
            )
    rows.append(
        (
            "dashboard first page after start (Overview, cube read): server",
            result["cold_seconds"],
            None,
            "—",
            "s",
        )
    )
    if result["cold_browser"] is not None:
        rows.append(
            (
                "dashboard first page after start: browser until drawn (assets not cached)",
                result["cold_browser"],
                None,
                "—",
                "s",
            )
        )
    rows.append(("peak memory of the serving process", result["peak_mb"], None, "≤ 1536 MB", "MB"))
    return rows
