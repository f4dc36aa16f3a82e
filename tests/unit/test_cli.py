"""``certwatch analyze`` as a user runs it: formats, containers, options and exit statuses."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from certwatch.cli import main

ROOT = Path(__file__).resolve().parents[2]
SELF_SIGNED = ROOT / "examples" / "a_self_signed_tomcat_ecdsa.log"
TWO_PEERS = ROOT / "examples" / "b_untrusted_chain_two_peers.log"


def analyze_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert 0 == main(["analyze", "--format", "json", *args])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def keys(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (f["node"], f["origin"], f["port"], f["cause"], f["enforced"], f["cert_failures"], f["bad_gateway"])
        for f in doc["findings"]
    ]


def test_json_contract_keys(capsys: pytest.CaptureFixture[str]) -> None:
    """Every key the contract fixes is present with the documented type."""
    doc = analyze_json(capsys, str(SELF_SIGNED))
    finding = doc["findings"][0]
    contract = {
        "node": str, "cluster": str, "origin": str, "origin_ip": str, "port": int, "cause": str, "enforced": bool,
        "status": str, "cert_failures": int, "bad_gateway": int, "error": str, "depth": int, "cluster_wide": bool,
        "first_seen": str, "last_seen": str, "remediation": list, "evidence": list,
    }  # fmt: skip
    assert {k: t for k, t in contract.items() if not isinstance(finding[k], t)} == {}
    stats = {"lines", "messages", "traffic_server", "ignored", "parse_failures", "uncorrelated_bad_gateway"}
    assert stats <= doc["stats"].keys()
    assert isinstance(doc["stats"]["nodes_without_request_lines"], list)


@pytest.mark.parametrize("container", ["gz", "tar.gz", "zip", "tar"])
def test_containers_are_detected_by_content(container: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A .gz, a diagnostic tar.gz, a zip or a tar, all named `.bin`, give the findings of the plain log."""
    data = SELF_SIGNED.read_bytes()
    target = tmp_path / "bundle.bin"
    if container == "gz":
        target.write_bytes(gzip.compress(data))
    elif container == "zip":
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("diag/loggingsnapshot_expc01_20220914.txt", data)
            archive.writestr("diag/xconf_dump_expc01.txt", b"garbage traffic_server not a log")
    else:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, payload in (("xstat_dump.txt", b"junk"), ("loggingsnapshot_expc01_20220914.txt", data)):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
        raw = buffer.getvalue()
        target.write_bytes(gzip.compress(raw) if container == "tar.gz" else raw)
    assert keys(analyze_json(capsys, str(SELF_SIGNED))) == keys(analyze_json(capsys, str(target)))


def test_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`-` reads standard input, compressed or not."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(SELF_SIGNED.read_bytes()))))
    doc = analyze_json(capsys, "-")
    assert [("expc01", "cucm-sub1.example.com", 6972, "untrusted_self_signed", True, 2, 1)] == keys(doc)


def test_window_option_changes_the_joins(capsys: pytest.CaptureFixture[str]) -> None:
    """With a 1 ms window the WARNING finds no request (port unknown) and the 502 is not explained."""
    doc = analyze_json(capsys, "--window", "1ms", str(SELF_SIGNED))
    assert [("expc01", "cucm-sub1.example.com", None, "untrusted_self_signed", True, 2, 0)] == keys(doc)
    assert 1 == doc["stats"]["uncorrelated_bad_gateway"]


def test_clusters_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Peers of one configured cluster make the origin cluster-wide; peers of two clusters do not."""
    same = tmp_path / "same.yaml"
    same.write_text("clusters:\n  emea: [expc01, expc02]\n")
    split = tmp_path / "split.yaml"
    split.write_text("clusters:\n  emea: [expc01]\n  apac: [expc02]\n")
    together = analyze_json(capsys, "--config", str(same), str(TWO_PEERS))
    apart = analyze_json(capsys, "--config", str(split), str(TWO_PEERS))
    assert [("emea", True), ("emea", True)] == [(f["cluster"], f["cluster_wide"]) for f in together["findings"]]
    assert {("emea", False), ("apac", False)} == {(f["cluster"], f["cluster_wide"]) for f in apart["findings"]}


def test_evidence_is_redacted_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    """User names and client addresses are hidden by default, shown with --no-redact."""
    redacted = json.dumps(analyze_json(capsys, str(SELF_SIGNED))["findings"][0]["evidence"])
    raw = json.dumps(analyze_json(capsys, "--no-redact", str(SELF_SIGNED))["findings"][0]["evidence"])
    assert ("CSFjdoe" in redacted, "198.51.100.23" in redacted) == (False, False)
    assert ("CSFjdoe" in raw, "198.51.100.23" in raw) == (True, True)


def test_text_report_groups_by_cluster_and_origin(capsys: pytest.CaptureFixture[str]) -> None:
    """The text report names the cluster, the origin, the cause, the port and the fix."""
    assert 0 == main(["analyze", str(TWO_PEERS)])
    out = capsys.readouterr().out
    assert 1 == out.count("fix: Upload the origin's root and intermediate CAs to Expressway-C")
    expected = (
        "== cluster default ==",
        "cucm-pub.example.com (10.10.10.11): cluster-wide, failing on expc01, expc02",
        "[ENFORCED] untrusted_chain: unable to get local issuer certificate at depth 1",
        "expc02, port 8443: active, 1 certificate failure, 1 failed request (502)",
        "expc01, port unknown: active, 1 certificate failure, 0 failed requests (502)",
        "Maintenance > Security > Trusted CA certificate",
        "no request/response lines from expc01",
    )
    assert [t for t in expected if t not in out] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "/nonexistent/x.log"], "/nonexistent/x.log: No such file or directory"),
        (["analyze", "--window", "soon", "x.log"], "--window: not a duration"),
        (["analyze", "--config", "/nonexistent.yaml", "x.log"], "/nonexistent.yaml: cannot read"),
    ],
)
def test_errors_exit_2_with_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """I/O and configuration errors: exit status 2 and one line on standard error, nothing on standard output."""
    assert 2 == main(args)
    captured = capsys.readouterr()
    assert ("", 1, True) == (captured.out, captured.err.count("\n"), message in captured.err)


def test_invalid_config_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two problems in the file, both reported."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("correlation:\n  join_window: soon\n  max_findings: 0\nlistenres: []\n")
    assert 2 == main(["analyze", "--config", str(bad), str(SELF_SIGNED)])
    err = capsys.readouterr().err
    for problem in ("correlation.join_window", "correlation.max_findings", "listenres"):
        assert problem in err


def test_usage_error_exits_2() -> None:
    """An unknown option is a usage error (argparse), status 2, via the installed entry point."""
    result = subprocess.run(
        [sys.executable, "-m", "certwatch", "analyze", "--bogus"], capture_output=True, text=True, check=False
    )
    assert (2, "") == (result.returncode, result.stdout)


def test_archive_without_snapshot_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tar without loggingsnapshot_*.txt says so and exits 2."""
    target = tmp_path / "diag.tar"
    with tarfile.open(target, "w") as tar:
        info = tarfile.TarInfo("xconf_dump.txt")
        tar.addfile(info, io.BytesIO(b""))
    assert 2 == main(["analyze", str(target)])
    assert "no loggingsnapshot_*.txt" in capsys.readouterr().err


def every_input(tmp_path: Path) -> list[list[str]]:
    """Each example alone, all of them at once, and a gzip-compressed tar of two peers' snapshots."""
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.log"))
    archive = tmp_path / "diag.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, path in (("loggingsnapshot_a.txt", SELF_SIGNED), ("loggingsnapshot_b.txt", TWO_PEERS)):
            tar.add(path, arcname=name)
    return [[e] for e in examples] + [examples, [str(archive), str(SELF_SIGNED)]]


def test_reader_process_gives_the_same_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--jobs 2 (inputs read and scanned in a second process) and --jobs 1 print the same document."""
    for files in every_input(tmp_path):
        one = analyze_json(capsys, "--jobs", "1", *files)
        two = analyze_json(capsys, "--jobs", "2", *files)
        assert one == two
        assert one["stats"]["lines"] > 0


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_damaged_input_is_reported_whatever_the_jobs(
    jobs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gzip cut in the middle: exit 2, one line naming the file, nothing on standard output."""
    data = gzip.compress(SELF_SIGNED.read_bytes() * 50)
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert 2 == main(["analyze", "--jobs", jobs, str(SELF_SIGNED), str(cut)])
    captured = capsys.readouterr()
    assert ("", 1, True) == (captured.out, captured.err.count("\n"), str(cut) in captured.err)
