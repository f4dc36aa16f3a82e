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
from certwatch.hints import LANGUAGES, Language

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


# ---- languages -----------------------------------------------------------------------------------------------------

TEXT_SOURCE = ROOT / "examples" / "a_self_signed_tomcat_ecdsa.log"
TEXT_FIELDS = ("summary", "remediation")  # a finding's human text: every other field is the same in every language


def run_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["analyze", *args])
    out = capsys.readouterr().out
    assert code == 0
    return out


@pytest.mark.parametrize("lang", LANGUAGES)
def test_golden_text_report(
    lang: Language, tmp_path: Path, capsys: pytest.CaptureFixture[str], update_golden: bool
) -> None:
    """The text report of example a in each language (expected/a_self_signed_tomcat_ecdsa.<lang>.txt)."""
    out = run_text(capsys, "--lang", lang, str(pinned_copy(TEXT_SOURCE, tmp_path)))
    path = EXPECTED / f"{TEXT_SOURCE.stem}.{lang}.txt"
    if update_golden:
        path.write_text(out, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == out


def test_the_locale_chooses_the_default_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --lang, LANG=zh_CN.UTF-8 gives the Chinese report; --lang en still gives the English one."""
    source = str(pinned_copy(TEXT_SOURCE, tmp_path))
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert (EXPECTED / f"{TEXT_SOURCE.stem}.zh-CN.txt").read_text(encoding="utf-8") == run_text(capsys, source)
    assert (EXPECTED / f"{TEXT_SOURCE.stem}.en.txt").read_text(encoding="utf-8") == run_text(
        capsys, "--lang", "en", source
    )


def without_text(doc: dict[str, Any]) -> dict[str, Any]:
    findings = [{k: v for k, v in f.items() if k not in TEXT_FIELDS} for f in doc["findings"]]
    return {**doc, "findings": findings}


@pytest.mark.parametrize("source", INPUTS, ids=[p.stem for p in INPUTS])
def test_json_differs_between_languages_only_in_the_text(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``analyze --format json --lang zh-CN`` is the English document (the golden one) with other text in
    ``summary`` and ``remediation``: the same keys, values, order and number of steps."""
    copy = str(pinned_copy(source, tmp_path))
    english = run_analyze(capsys, "--lang", "en", copy)
    check_golden(english, source.stem, update=False)
    for lang in LANGUAGES:
        doc = run_analyze(capsys, "--lang", lang, copy)
        assert without_text(english) == without_text(doc)
        for en, translated in zip(english["findings"], doc["findings"], strict=True):
            assert list(en) == list(translated)
            assert len(en["remediation"]) == len(translated["remediation"])
            assert (en["summary"] == translated["summary"]) == (lang == "en")
            assert (en["remediation"] == translated["remediation"]) == (lang == "en")
