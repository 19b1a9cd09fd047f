"""docs/kpis.md is the catalogue's reference, generated, and up to date."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from customs_kpi.cli import app
from customs_kpi.cli.kpi_cmds import reference_text, repository_root
from kpis import surfaces
from kpis.catalogue import CATALOGUE, PUBLIC_IDS
from kpis.reference import COMMAND, DOC_PATH

DOC = repository_root() / DOC_PATH


def test_docs_kpis_md_is_up_to_date() -> None:
    assert DOC.exists(), f"docs/kpis.md is missing: run `{COMMAND}`"
    assert DOC.read_text(encoding="utf-8") == reference_text(), (
        f"docs/kpis.md is out of date with the catalogue, surfaces or tests: run `{COMMAND}` "
        "and commit it"
    )


def test_reference_documents_every_entry() -> None:
    text = reference_text()
    for kpi in CATALOGUE:
        assert f"### `{kpi.id}` — {kpi.label}" in text, kpi.id
    # The public index lists exactly the public KPIs, in order, each on its surfaces.
    index = re.findall(r"^\| \[`([a-z0-9_]+)`\]", text, flags=re.MULTILINE)
    assert tuple(index) == PUBLIC_IDS
    entry = text[text.index("### `non_resultant_rate`") :].split("### ", 2)[1]
    assert surfaces.CLI_ONLY["non_resultant_rate"] in entry
    hit_rate = text[text.index("### `hit_rate` ") :].split("### ", 2)[1]
    assert "`kpis.profiles.profile_table`" in hit_rate  # takes the entry by its literal id
    assert "`tests/unit/test_kpis_engine.py`" in hit_rate  # a test file naming the id


def test_doc_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "kpis.md"
    result = CliRunner().invoke(app, ["kpis", "doc", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == reference_text()
    again = CliRunner().invoke(app, ["kpis", "doc", "--out", str(out)])
    assert "already up to date" in again.output
