"""The production server (`customs-kpi serve --workers 2`): real processes over real sockets.

Several gunicorn worker processes answer the same users: a session opened on one is honoured
by the others (sessions and users live in the app-state database, the secret key is shared),
every worker refuses anonymous callbacks, and each reads the same published data.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pages_published
import pytest
import requests

from customs_kpi.settings import Settings, load_settings

CLI = str(Path(sys.executable).with_name("customs-kpi"))
PASSWORD = "a long enough password for the test"
SHELL = "..shell-nav.children...shell-data-as-of.children.."
PID = re.compile(r"\"(\w+) (\S+) HTTP/[\d.]+\" (\d+) .* worker=<?(\d+)>? ms=")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings, Path]]:
    home = tmp_path_factory.mktemp("production")
    settings = load_settings(environ={}, home=home)
    settings.ensure_home()
    pages_published.build(settings)
    subprocess.run(
        [CLI, "users", "add", "chief", "--role", "analyst", "--password-stdin", "--home", home],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True,
    )  # fmt: skip
    port = _free_port()
    log = home / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [CLI, "serve", "--workers", "2", "--port", str(port), "--home", str(home)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, url, lambda: log.read_text().count("Worker ready") >= 2, log)
        yield url, settings, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# A worker builds its app after the fork: on a busy machine that takes seconds, while the
# socket already accepts connections. One slow or refused answer is not a failure; only the
# server exiting, or not being ready after READY_SECONDS, is.
READY_SECONDS = 180


def _wait_until_ready(
    process: subprocess.Popen[Any],
    url: str,
    workers_ready: Callable[[], bool],
    log: Path | None = None,
) -> None:
    def said() -> str:
        return log.read_text()[-3000:] if log else ""

    deadline = time.monotonic() + READY_SECONDS
    pause = 0.1
    while not (workers_ready() and _answers(url)):
        assert process.poll() is None, f"the server exited with {process.returncode}: {said()}"
        assert time.monotonic() < deadline, f"not ready in {READY_SECONDS} s: {said()}"
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/login", timeout=30).status_code == 200
    except requests.RequestException:  # refused, reset, or a read time-out while booting
        return False


def _sign_in(url: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(url + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    response = browser.post(
        url + "/login",
        data={"username": "chief", "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    return browser


def _shell_call(browser: requests.Session, url: str, csrf: bool = True) -> requests.Response:
    body: dict[str, Any] = {
        "output": SHELL,
        "outputs": [
            {"id": "shell-nav", "property": "children"},
            {"id": "shell-data-as-of", "property": "children"},
        ],
        "inputs": [{"id": "shell-url", "property": "pathname", "value": "/profiles"}],
        "changedPropIds": ["shell-url.pathname"],
        "state": [],
    }
    token = browser.cookies.get("_csrf_token")
    headers = {"Connection": "close"}  # a new connection each time: any worker may answer
    if csrf and token:
        headers["X-CSRFToken"] = token
    return browser.post(url + "/_dash-update-component", json=body, headers=headers, timeout=30)


def _served_by(log: Path, path: str, status: str) -> set[str]:
    return {
        m.group(4)
        for m in PID.finditer(log.read_text())
        if m.group(2).startswith(path) and m.group(3) == status
    }


def test_every_worker_honours_one_sign_in(served: tuple[str, Settings, Path]) -> None:
    url, settings, log = served
    browser = _sign_in(url)
    answers: set[str] = set()
    for _ in range(200):
        response = _shell_call(browser, url)
        assert response.status_code == 200, response.text
        answers.add(response.json()["response"]["shell-data-as-of"]["children"])
        if len(_served_by(log, "/_dash-update-component", "200")) == 2:
            break
    # Two worker processes answered the same session, with the same published data.
    assert len(_served_by(log, "/_dash-update-component", "200")) == 2, log.read_text()[-3000:]
    assert len(answers) == 1 and next(iter(answers)).startswith("Data as of ")
    assert settings.secret_key_path.stat().st_mode & 0o777 == 0o600


def test_every_worker_refuses_anonymous_and_forged_requests(
    served: tuple[str, Settings, Path],
) -> None:
    url, _, log = served
    anonymous = requests.Session()
    for _ in range(200):
        response = _shell_call(anonymous, url)
        assert response.status_code == 401
        page = anonymous.get(url + "/profiles", allow_redirects=False, timeout=10,
                             headers={"Connection": "close"})  # fmt: skip
        assert page.status_code == 302 and page.headers["Location"].startswith("/login")
        if len(_served_by(log, "/_dash-update-component", "401")) == 2:
            break
    assert len(_served_by(log, "/_dash-update-component", "401")) == 2
    signed_in = _sign_in(url)
    assert _shell_call(signed_in, url, csrf=False).status_code == 403  # no CSRF header


def test_the_server_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = _free_port()
    process = subprocess.Popen(
        [CLI, "serve", "--workers", "1", "--port", str(port), "--home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    _wait_until_ready(process, f"http://127.0.0.1:{port}", lambda: True)
    process.terminate()
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "no users yet" in output and "(1 worker processes)" in output
    assert "Shutting down" in output or "Handling signal: term" in output


def test_debug_is_for_the_development_server_only(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from customs_kpi.cli import app

    result = CliRunner().invoke(
        app, ["serve", "--workers", "2", "--debug", "--home", str(tmp_path / "home")]
    )
    assert result.exit_code == 1
    assert "--debug runs the development server: use it with --workers 0" in result.output
