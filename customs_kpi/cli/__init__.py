"""``customs-kpi``: the one command-line entry point, a thin layer over the packages.

Each command group lives in its own module and registers itself on :data:`app`; implementations
are imported inside the commands so ``customs-kpi --help`` stays fast.
"""

from __future__ import annotations

from customs_kpi.cli.common import app

# Command modules register on ``app`` when imported.
from customs_kpi.cli import etl_cmds  # noqa: F401,E402  (registration side effect)


def main() -> None:
    app()


__all__ = ["app", "main"]
