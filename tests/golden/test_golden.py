"""Golden tests: every example log and every case under ``cases/`` against its expected JSON document.

The documents are produced by the real command line (``certwatch analyze --format json``). Regenerate them with
``pytest tests/golden --update-golden`` and review the diff like code.
"""

from __future__ import annotations

import calendar
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from certwatch.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).parent / "expected"
INPUTS = sorted((ROOT / "examples").glob("*.log")) + sorted((Path(__file__).parent / "cases").glob("*.log"))
# Classic RFC 3164 stamps have no year: it comes from the file's modification time. Pin it.
MTIME = calendar.timegm((2022, 9, 20, 0, 0, 0))


def run_analyze(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["analyze", "--format", "json", *args])
    out = capsys.readouterr().out
    assert code == 0
    doc: dict[str, Any] = json.loads(out)
    doc["stats"]["inputs"] = [Path(p).name for p in doc["stats"]["inputs"]]
    return doc


def pinned_copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    os.utime(target, (MTIME, MTIME))
    return target


def check_golden(doc: dict[str, Any], name: str, update: bool) -> None:
    """Compare as indented JSON text, so a failure shows a line diff."""
    path = EXPECTED / f"{name}.json"
    actual = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if update:
        path.write_text(actual, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == actual


@pytest.mark.parametrize("source", INPUTS, ids=[p.stem for p in INPUTS])
def test_golden(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], update_golden: bool) -> None:
    """Each log gives exactly its expected findings and stats."""
    doc = run_analyze(capsys, str(pinned_copy(source, tmp_path)))
    check_golden(doc, source.stem, update_golden)
