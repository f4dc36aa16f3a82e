"""The compose stack's Prometheus and Alertmanager files, checked by the real tools.

``amtool check-config`` and ``promtool check config`` (which also loads the rule file the configuration names)
validate the files as the compose services load them. A real Alertmanager (Debian's ``prometheus-alertmanager``,
on a loopback port, clustering off) then receives alerts shaped like the rules' and shows the inhibitions keep
one page per problem. Needs Debian's ``prometheus`` and ``prometheus-alertmanager`` packages (TEST_DEBS).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "certwatch-rules.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    assert path is not None, (
        f"{name} not found: install Debian's {package} package (`.ci/debs.sh {package}`, or `make test`, "
        "which installs TEST_DEBS)"
    )
    return path


def test_amtool_accepts_the_alertmanager_config() -> None:
    """The routes, receivers and inhibitions compose mounts into Alertmanager are valid."""
    result = subprocess.run(
        [tool("amtool", "prometheus-alertmanager"), "check-config", str(ALERTMANAGER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (0, True) == (result.returncode, "SUCCESS" in result.stdout), result.stdout + result.stderr


@pytest.mark.parametrize("config", [PROMETHEUS, PROMETHEUS.with_name("laptop.yml")], ids=["compose", "laptop"])
def test_promtool_accepts_the_prometheus_config_and_its_rules(config: Path) -> None:
    """The compose and the README's laptop Prometheus configurations are valid and their rule_files (resolved
    next to them, as in the container) load."""
    result = subprocess.run(
        [tool("promtool", "prometheus"), "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    assert f"SUCCESS: {len(yaml.safe_load(config.read_text())['rule_files'])} rule files found" in result.stdout


# ---- a real Alertmanager ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return json.loads(text) if text.strip() else None


@contextmanager
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """Alertmanager on the compose configuration, on a free loopback port; its base URL."""
    binary = tool("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={ALERTMANAGER}",
            f"--storage.path={tmp_path / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/-/ready", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.communicate()[1].decode()
                if time.monotonic() > deadline:  # a polling deadline, not a speed assertion
                    raise AssertionError("Alertmanager did not become ready") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rule_labels() -> dict[str, tuple[set[str], str]]:
    """For every alert of the rules file, the labels its alerts carry (the outer ``by (...)`` of its expression plus
    the rule's own labels) and its severity."""
    labels: dict[str, tuple[set[str], str]] = {}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                by = re.search(r"\bby \(([^)]*)\)", rule["expr"])
                names = {name.strip() for name in by.group(1).split(",")} if by else set()
                carried, _ = labels.setdefault(rule["alert"], (set(), rule["labels"]["severity"]))
                carried.update(names | set(rule["labels"]))
    return labels


def alert(name: str, **values: str) -> dict[str, Any]:
    """An alert as Prometheus would send it: the labels the rule produces, with the given values."""
    carried, severity = rule_labels()[name]
    assert set(values) <= carried, f"{name} carries {sorted(carried)}, not {sorted(set(values) - carried)}"
    return {
        "labels": {"alertname": name, "severity": severity, **values},
        "startsAt": datetime.now(UTC).isoformat(),
    }


def test_inhibitions_keep_one_page_per_problem(tmp_path: Path) -> None:
    """A cluster-wide failure silences the per-peer alerts of its origin and cause (not another origin's, not
    another cause's); "certwatch down" silences the silent nodes; an enforced failure silences the same peer's
    at-risk alert and the probe's prediction for its origin, port and cause (not another port's); an expiry under
    7 days silences the same certificate's under-30-days warning (not another certificate's); a prediction of an
    expired certificate silences the expiry alerts of its origin and port."""
    origin = {"cluster": "london", "origin": "cucm-pub.example.com", "cause": "untrusted_chain"}
    paris = {"cluster": "paris", "origin": "cucm-paris.example.com", "cause": "expired"}
    certificate = {"origin": "imp.example.com", "port": "8443", "depth": "1", "key_type": "RSA"}
    sent = {
        "cluster-wide": alert("CertwatchOriginFailingClusterWide", **origin),
        "peer 1 failing": alert("CertwatchOriginCertificateFailing", node="expc01", port="8443", **origin),
        "peer 2 failing": alert("CertwatchOriginCertificateFailing", node="expc02", port="8443", **origin),
        "peer 3 at risk": alert("CertwatchOriginCertificateAtRisk", node="expc03", port="6972", **origin),
        "other origin": alert(
            "CertwatchOriginCertificateFailing",
            **{**origin, "origin": "imp.example.com"},
            node="expc01",
            port="7400",
        ),
        "other cause": alert(
            "CertwatchOriginCertificateFailing",
            **{**origin, "cause": "name_mismatch"},
            node="expc04",
            port="8443",
        ),
        "certwatch down": alert("CertwatchDown"),
        "node silent": alert("CertwatchNodeSilent", cluster="london", node="expc05"),
        "enforced": alert("CertwatchOriginCertificateFailing", node="expc06", port="8443", **paris),
        "same peer at risk": alert("CertwatchOriginCertificateAtRisk", node="expc06", port="8443", **paris),
        "predicted, failing": alert(
            "CertwatchProbePredictsFailure", origin=paris["origin"], port="8443", cause="expired"
        ),
        "predicted, other port": alert(
            "CertwatchProbePredictsFailure", origin=paris["origin"], port="6972", cause="expired"
        ),
        "expired, predicted": alert(
            "CertwatchOriginCertificateExpiresSoon", origin=paris["origin"], port="6972", depth="0", key_type="RSA"
        ),
        "expires in days": alert("CertwatchOriginCertificateExpiresSoon", severity="critical", **certificate),
        "expires in days, warning": alert("CertwatchOriginCertificateExpiresSoon", **certificate),
        "other certificate, warning": alert(
            "CertwatchOriginCertificateExpiresSoon", **{**certificate, "depth": "0", "key_type": "ECDSA"}
        ),
        "fix verified": alert("CertwatchProbeFixVerified", origin="imp.example.com", port="7400"),
    }
    expected = {"peer 1 failing", "peer 2 failing", "peer 3 at risk", "node silent", "same peer at risk"}
    expected |= {"predicted, failing", "expired, predicted", "expires in days, warning"}
    names = {json.dumps(a["labels"], sort_keys=True): name for name, a in sent.items()}
    with alertmanager(tmp_path) as base:
        http(f"{base}/api/v2/alerts", list(sent.values()))
        deadline = time.monotonic() + 20  # the inhibitor sees new alerts asynchronously
        while True:
            shown = http(f"{base}/api/v2/alerts")
            states = {names[json.dumps(a["labels"], sort_keys=True)]: a["status"]["state"] for a in shown}
            suppressed = {name for name, state in states.items() if state == "suppressed"}
            if (set(states), suppressed) == (set(sent), expected) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert set(sent) == set(states)
    assert expected == suppressed
