"""What a request handler or callback needs from the running app: settings and the app state.

``create_app`` stores them on the Flask app, so page code never reads the environment and
several apps (tests) can live in one process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from appstate import AppState
    from appstate.passwords import Passwords
    from customs_kpi.settings import Settings

_SETTINGS = "customs_kpi.settings"
_STATE = "customs_kpi.appstate"
_PASSWORDS = "customs_kpi.passwords"


def attach(server: Flask, settings: Settings, state: AppState, passwords: Passwords) -> None:
    server.extensions[_SETTINGS] = settings
    server.extensions[_STATE] = state
    server.extensions[_PASSWORDS] = passwords


def current_settings() -> Settings:
    """The settings the serving app was created with (inside a request or callback)."""
    return current_app.extensions[_SETTINGS]


def current_state() -> AppState:
    """The app-state database of the serving app (inside a request or callback)."""
    return current_app.extensions[_STATE]


def current_passwords() -> Passwords:
    return current_app.extensions[_PASSWORDS]
