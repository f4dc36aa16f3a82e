"""The Grafana dashboard and the alert rules against reality: ``certwatch run`` as a process, Debian's Prometheus
scraping it every second on loopback with the rules loaded, example scenarios replayed over syslog, and every
dashboard query (Grafana variables substituted) and every rule checked through the Prometheus HTTP API.

Grafana itself is not run: the dashboard is proven through its queries and its JSON (value mappings applied here
the way Grafana would). The rules are a test copy of ``deploy/prometheus/certwatch-rules.yml`` with group
intervals at 1 s and ``for:`` at 1 s, so alerts go pending then firing within seconds.

The daemon also probes two TLS origins on 127.0.0.1 (``openssl s_server``, certificates made by the test:
:mod:`origins`): one serving a CA-signed chain the ``probes.ca_file`` trusts, one a self-signed ECDSA certificate. So
every origin-probe panel and rule has data, as the others do: the probe panels are held to the same "valid and not
empty" standard, and the probe alerts that this setup raises (the prediction for the self-signed origin; the expiry
alerts, the test certificates being valid for two days) are part of the expected set.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from origins import NAME, OriginPki, make_origin_pki, s_server
from process import DaemonProcess, daemon_process

from certwatch.model import FAILURE_REASONS, Cause
from certwatch.remediate import summary
from certwatch.telemetry import DROP_REASONS, TRANSPORTS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RULES = ROOT / "deploy" / "prometheus" / "certwatch-rules.yml"
DASHBOARD = ROOT / "grafana" / "dashboards" / "certwatch.json"
JOB = "certwatch"

# What Grafana would put in place of its variables: "All" for the multi-value ones, fixed intervals for the others.
GRAFANA_VARIABLES = {
    "cluster": ".*",
    "node": ".*",
    "origin": ".*",
    "job": JOB,
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
}
CONFIG = (
    "listeners:\n  - {protocol: udp, address: '127.0.0.1:0'}\n  - {protocol: tcp, address: '127.0.0.1:0'}\n"
    "http: {address: '127.0.0.1:0'}\n"
    # expc03 is a configured peer that never sends: the silence panels must show it
    "clusters: {emea: [expc01, expc02, expc03]}\n"
)
# Two origins probed once (the interval is longer than the test): PROBED_OK verifies, PROBED_SELF_SIGNED fails.
PROBES = (
    "probes:\n  ca_file: '{ca_file}'\n  interval: 1h\n  timeout: 5s\n  targets:\n"
    "    - {{origin: {name}, port: {ok}, address: 127.0.0.1}}\n"
    "    - {{origin: {name}, port: {self_signed}, address: 127.0.0.1}}\n"
)
PROBE_ERROR_REASONS = 6  # refused timeout dns reset unreachable tls: initialised at zero per target
UDP_SCENARIO = "a_self_signed_tomcat_ecdsa.log"  # 8 messages, as an Expressway sends them
TCP_SCENARIOS = ("b_untrusted_chain_two_peers.log", "f_permissive_at_risk.log")  # 6 + 12 messages, as a relay does


def stamp_ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() * 1000


# (node, origin, port, cause, enforced) -> (first failure in ms, certificate failures, 502s or None)
EXPECTED_INCIDENTS = {
    ("expc01", "cucm-sub1.example.com", "6972", "untrusted_self_signed", "true"): (
        stamp_ms("2022-09-14T10:15:02.131+02:00"),
        2,
        1,
    ),
    ("expc02", "cucm-pub.example.com", "8443", "untrusted_chain", "true"): (
        stamp_ms("2022-09-14T11:02:40.427+02:00"),
        1,
        1,
    ),
    ("expc01", "cucm-pub.example.com", "", "untrusted_chain", "true"): (
        stamp_ms("2022-09-14T11:02:41.903+02:00"),
        1,
        None,
    ),
    ("expc02", "imp01.example.com", "8443", "untrusted_self_signed", "false"): (
        stamp_ms("2022-09-15T09:30:00.121+02:00"),
        2,
        None,
    ),
    ("expc02", "imp01.example.com", "8443", "name_mismatch", "false"): (
        stamp_ms("2022-09-15T09:30:00.121+02:00"),
        2,
        None,
    ),
}


def wait_until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something truthy (no fixed sleeps); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        if result := check():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def settle(observe: Callable[[], Any], expected: Any, timeout: float = 15.0) -> Any:
    """Poll until ``observe()`` equals ``expected`` or ``timeout``; return the last observation (to assert on)."""
    deadline = time.monotonic() + timeout
    while (seen := observe()) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def grafana(expr: str) -> str:
    """Substitute Grafana variables (``$name`` and ``${name}``) as Grafana would; ``$1`` and friends stay."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: GRAFANA_VARIABLES.get(m[1], m[0]), expr)


# ---- Prometheus ------------------------------------------------------------------------------------------------


class Prometheus:
    def __init__(self, proc: subprocess.Popen[bytes], address: str, log: Path) -> None:
        self.proc = proc
        self.address = address
        self.log = log

    def raw(self, path: str, params: dict[str, str] | list[tuple[str, str]] | None = None) -> tuple[int, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"http://{self.address}{path}{query}", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def api(self, path: str, params: dict[str, str] | list[tuple[str, str]] | None = None) -> Any:
        status, body = self.raw(path, params)
        assert (200, "success") == (status, body and body.get("status")), f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("/api/v1/query", {"query": expr})
        assert "vector" == data["resultType"], f"{expr}: {data['resultType']}"
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, seconds: int = 20) -> list[dict[str, Any]]:
        end = time.time()
        params = {"query": expr, "start": f"{end - seconds:.3f}", "end": f"{end:.3f}", "step": "1"}
        result: list[dict[str, Any]] = self.api("/api/v1/query_range", params)["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


@contextmanager
def prometheus(tmp: Path, target: str, rule_files: list[Path]) -> Iterator[Prometheus]:
    """Debian's prometheus on a free loopback port, scraping ``target`` every second; stopped on exit."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "prometheus is not installed: this test needs Debian's prometheus package "
            "(`.ci/debs.sh prometheus`; `make test` installs it once it is in TEST_DEBS)"
        )
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address={address}",
                f"--web.console.templates={tmp}",
                f"--web.console.libraries={tmp}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    server = Prometheus(proc, address, log)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {proc.returncode}:\n{server.tail()}")
            try:
                with urllib.request.urlopen(f"http://{address}/-/ready", timeout=1) as response:
                    return bool(200 == response.status)  # plain text, not JSON
            except OSError:
                return False

        wait_until(ready, "prometheus to be ready")
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---- rules -------------------------------------------------------------------------------------------------------


def rules_copy(tmp: Path) -> Path:
    """The rules as shipped, with 1 s group intervals and ``for:`` at most 1 s, written into ``tmp``."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "alert" in rule and rule.get("for", "0s") != "0s":
                rule["for"] = "1s"
    path = tmp / "certwatch-rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


def unix(rfc3339: str) -> float:
    """Prometheus' RFC 3339 stamps (nanoseconds, Z) as Unix seconds."""
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", rfc3339).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def rules_of_file() -> list[dict[str, Any]]:
    if not RULES.exists():
        return []
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


# ---- the scenario ------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    prometheus: Prometheus
    daemon: DaemonProcess
    rules_loaded: bool
    data_at: float  # wall clock once Prometheus had scraped the whole scenario


def certwatch_send(address: tuple[str, int], *files: str, transport: str = "udp") -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certwatch",
            "send",
            "--transport",
            transport,
            f"{address[0]}:{address[1]}",
            *(str(EXAMPLES / name) for name in files),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert 0 == result.returncode, result.stderr


def daemon_received(daemon: DaemonProcess, transport: str) -> float:
    for line in daemon.get("/metrics")[1].splitlines():
        if line.startswith(f'certwatch_messages_received_total{{transport="{transport}"}} '):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> OriginPki:
    return make_origin_pki(tmp_path_factory.mktemp("origins"))


@pytest.fixture(name="origins", scope="module")
def fixture_origins(pki: OriginPki) -> Iterator[dict[str, int]]:
    """The probed origins' ports: ``ok`` serves the CA-signed RSA leaf and its intermediate, ``self_signed`` the
    self-signed ECDSA leaf."""
    good = ["-cert", pki.good.cert, "-key", pki.good.key, "-cert_chain", pki.intermediate]
    self_signed = ["-cert", pki.self_signed_ecdsa.cert, "-key", pki.self_signed_ecdsa.key]
    with s_server(pki.directory, *good) as ok, s_server(pki.directory, *self_signed) as bad:
        yield {"ok": ok, "self_signed": bad}


@pytest.fixture(name="stack", scope="module")
def fixture_stack(tmp_path_factory: pytest.TempPathFactory, pki: OriginPki, origins: dict[str, int]) -> Iterator[Stack]:
    """certwatch and Prometheus, after the scenarios were replayed, the origins probed and Prometheus scraped the
    result."""
    tmp = tmp_path_factory.mktemp("e2e")
    rule_files = [rules_copy(tmp)] if RULES.exists() else []
    config = CONFIG + PROBES.format(ca_file=pki.root, name=NAME, **origins)
    with daemon_process(config, tmp) as daemon, prometheus(tmp, daemon.http, rule_files) as prom:
        # a first scrape before any traffic: counters initialised at zero then have a baseline for rate()
        wait_until(lambda: 1.0 == prom.scalar(f'up{{job="{JOB}"}}'), "a first successful scrape")
        listeners = daemon.listeners()
        certwatch_send(listeners["udp"], UDP_SCENARIO)
        wait_until(lambda: 8 == daemon_received(daemon, "udp"), "the UDP scenario to reach the daemon")
        certwatch_send(listeners["tcp"], *TCP_SCENARIOS, transport="tcp")
        wait_until(lambda: 18 == daemon_received(daemon, "tcp"), "the TCP scenarios to reach the daemon")
        wait_until(
            lambda: 5 == len(json.loads(daemon.get("/api/v1/incidents")[1])["incidents"]),
            "the daemon to open the five incidents",
        )
        wait_until(
            lambda: (
                (26.0, 5.0)
                == (
                    prom.scalar("sum(certwatch_messages_received_total)"),
                    prom.scalar("count(certwatch_incident_active)"),
                )
            ),
            "a scrape with every message and incident",
        )
        wait_until(
            lambda: (
                (2.0, 1.0, 2.0 * PROBE_ERROR_REASONS)
                == (
                    prom.scalar("count(certwatch_probe_success)"),
                    prom.scalar("count(certwatch_probe_cause)"),
                    # two samples per series: increase() over the probe error counters has data
                    prom.scalar("count(increase(certwatch_probe_errors_total[1m]))"),
                )
            ),
            "a scrape with both origins probed",
        )
        yield Stack(prom, daemon, bool(rule_files), time.time())


# ---- the dashboard -----------------------------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in dashboard()["panels"] if p["type"] != "row"}


def values(stack: Stack, title: str, labels: tuple[str, ...], ref: str = "A") -> dict[tuple[str, ...], float]:
    """``{label values: value}`` of one dashboard target, queried as Grafana would (variables at "All")."""
    expr = next(t["expr"] for t in panels()[title]["targets"] if t["refId"] == ref)
    return {
        tuple(sample["metric"].get(label, "") for label in labels): float(sample["value"][1])
        for sample in stack.prometheus.query(grafana(expr))
    }


def mapped(panel: dict[str, Any], field: str, value: str) -> str:
    """The text Grafana shows for ``value`` in column ``field`` after the panel's value mappings."""
    for rule in panel["fieldConfig"]["overrides"]:
        if rule["matcher"] == {"id": "byName", "options": field}:
            for prop in rule["properties"]:
                if prop["id"] == "mappings":
                    for mapping in prop["value"]:
                        if value in mapping["options"]:
                            return str(mapping["options"][value]["text"])
    return value


def test_every_dashboard_query_is_valid_and_returns_data(stack: Stack) -> None:
    """Every target of every panel, as an instant query and (time series) as a range query: valid, not empty."""
    empty = []
    count = 0
    for title, panel in panels().items():
        for target in panel["targets"]:
            expr = grafana(target["expr"])
            count += 1
            if not stack.prometheus.query(expr):
                empty.append(f"{title} {target['refId']}: {expr}")
            if target.get("range") and not stack.prometheus.query_range(expr):
                empty.append(f"{title} {target['refId']} (range): {expr}")
    assert [] == empty
    assert count >= 20


def test_variables_list_the_scenario_clusters_nodes_and_origins(stack: Stack) -> None:
    """``label_values(selector, label)`` variables, resolved the way Grafana asks Prometheus (label values API)."""
    resolved = {}
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"])
        assert match is not None, variable["query"]
        selector, label = grafana(match[1]), match[2]
        resolved[variable["name"]] = stack.prometheus.api(f"/api/v1/label/{label}/values", {"match[]": selector})
    assert {
        "cluster": ["emea"],
        "node": ["expc01", "expc02", "expc03"],
        "origin": ["cucm-pub.example.com", "cucm-sub1.example.com", "imp01.example.com"],
    } == resolved


def test_active_incidents_table_rows_with_their_fix(stack: Stack) -> None:
    """One row per incident: since (ms), certificate failures, 502s; the fix column shows the catalog's summary."""
    key = ("node", "origin", "port", "cause", "enforced")
    since = values(stack, "Active incidents", (*key, "cluster", "fix"), "A")
    failures = values(stack, "Active incidents", key, "B")
    bad_gateway = values(stack, "Active incidents", key, "C")
    assert {(*k, "emea", k[3]) for k in EXPECTED_INCIDENTS} == set(since)
    assert {k: v[0] for k, v in EXPECTED_INCIDENTS.items()} == {k[:5]: round(v) for k, v in since.items()}
    assert {k: v[1] for k, v in EXPECTED_INCIDENTS.items()} == failures
    assert {k: v[2] for k, v in EXPECTED_INCIDENTS.items() if v[2] is not None} == bad_gateway
    table = panels()["Active incidents"]
    shown = {k[3]: mapped(table, "fix", k[6]) for k in since}
    assert {cause: summary(Cause(cause)) for cause in shown} == shown


def test_summary_stats(stack: Stack) -> None:
    """The top row: failing and at-risk origins, 502s, incidents, silent nodes, certwatch up."""
    stats = {
        title: values(stack, title, ())[()]
        for title in (
            "Origins failing",
            "Origins at risk",
            "502s in range",
            "Incidents",
            "Silent nodes",
            "certwatch up",
        )
    }
    assert {
        "Origins failing": 2,
        "Origins at risk": 1,
        "502s in range": 2,
        "Incidents": 5,
        "Silent nodes": 1,
        "certwatch up": 1,
    } == stats


def test_failures_and_502s_over_time_count_new_series(stack: Stack) -> None:
    """Series born with their first increment count in full: the first 502 of a new incident shows."""
    assert {("cucm-sub1.example.com",): 1, ("cucm-pub.example.com",): 1} == values(
        stack, "502s per origin", ("origin",)
    )
    assert {("untrusted_self_signed",): 4, ("untrusted_chain",): 2, ("name_mismatch",): 2} == values(
        stack, "Verify failures by cause", ("cause",)
    )
    assert {
        ("cucm-sub1.example.com", "5xx"): 1,
        ("cucm-pub.example.com", "5xx"): 1,
        ("imp01.example.com", "2xx"): 1,
    } == values(stack, "Responses per origin", ("origin", "code_class"))


def test_at_risk_origins(stack: Stack) -> None:
    """Permissive failures only, per origin and cause, with the number of nodes seeing them and the fix."""
    rows = values(stack, "At-risk origins", ("cluster", "origin", "port", "cause", "fix"))
    assert {
        ("emea", "imp01.example.com", "8443", "untrusted_self_signed", "untrusted_self_signed"): 1,
        ("emea", "imp01.example.com", "8443", "name_mismatch", "name_mismatch"): 1,
    } == rows
    panel = panels()["At-risk origins"]
    assert [summary(Cause.UNTRUSTED_SELF_SIGNED), summary(Cause.NAME_MISMATCH)] == [
        mapped(panel, "fix", "untrusted_self_signed"),
        mapped(panel, "fix", "name_mismatch"),
    ]


def test_node_panels(stack: Stack) -> None:
    """Message rate per node (the silent peer at 0), silence, last-message age and Debug lines."""
    rates = values(stack, "Messages per node", ("cluster", "node"))
    assert [("emea", "expc01"), ("emea", "expc02"), ("emea", "expc03")] == sorted(rates)
    assert (True, True, 0.0) == (
        rates[("emea", "expc01")] > 0,
        rates[("emea", "expc02")] > 0,
        rates[("emea", "expc03")],
    )
    silence = {("emea", "expc01"): 0, ("emea", "expc02"): 0, ("emea", "expc03"): 1}
    assert silence == values(stack, "Node silence", ("cluster", "node"))
    ages = values(stack, "Nodes", ("cluster", "node"), "A")
    assert [("emea", "expc01"), ("emea", "expc02")] == sorted(ages)
    assert all(0 <= age < 60 for age in ages.values()), ages
    assert {("emea", "expc01"): 3, ("emea", "expc02"): 9, ("emea", "expc03"): 0} == values(
        stack, "Nodes", ("cluster", "node"), "B"
    )
    assert silence == values(stack, "Nodes", ("cluster", "node"), "C")


def test_ingest_health_panels(stack: Stack) -> None:
    """Received by transport, drops and parse failures by reason (all at zero), kernel drops, queue depth."""
    received = values(stack, "Messages received", ("transport",))
    assert (set(TRANSPORTS), True, True, 0.0) == (
        {t for (t,) in received},
        received[("udp",)] > 0,
        received[("tcp",)] > 0,
        received[("tls",)],
    )
    assert dict.fromkeys([(r,) for r in DROP_REASONS], 0.0) == values(stack, "Messages dropped", ("reason",))
    assert dict.fromkeys([(r,) for r in FAILURE_REASONS], 0.0) == values(stack, "Parse failures", ("reason",))
    drops = values(stack, "Kernel UDP drops", ("listener",))
    assert [0.0] == list(drops.values())
    assert {(): 0.0} == values(stack, "Ingress queue", (), "A")
    assert {(): 1024.0} == values(stack, "Ingress queue", (), "B")


def test_origin_probe_panels(stack: Stack, origins: dict[str, int]) -> None:
    """Probe status per origin and port (ok 1, FAIL 0), over time and in the table with the last probe's time and
    no errors; the failing origin's cause with the catalog's fix; the days to expiry of every certificate served
    (the CA-signed leaf and its intermediate, the self-signed leaf)."""
    ok, bad = str(origins["ok"]), str(origins["self_signed"])
    status = {(NAME, ok): 1.0, (NAME, bad): 0.0}
    assert status == values(stack, "Probe status", ("origin", "port"))
    assert status == values(stack, "Probes", ("origin", "port"), "A")
    stamps = values(stack, "Probes", ("origin", "port"), "B")
    assert set(status) == set(stamps)
    assert all(0 <= time.time() - stamp / 1000 < 600 for stamp in stamps.values()), stamps
    assert dict.fromkeys(status, 0.0) == values(stack, "Probes", ("origin", "port"), "C")
    failures = values(stack, "Probe failures", ("origin", "port", "cause", "fix"))
    assert {(NAME, bad, "untrusted_self_signed", "untrusted_self_signed"): 1.0} == failures
    assert summary(Cause.UNTRUSTED_SELF_SIGNED) == mapped(panels()["Probe failures"], "fix", "untrusted_self_signed")
    days = values(stack, "Days to expiry", ("origin", "port", "depth", "key_type"))
    assert {(NAME, ok, "0", "RSA"), (NAME, ok, "1", "RSA"), (NAME, bad, "0", "ECDSA")} == set(days)
    assert all(1.9 < left <= 2.0 for left in days.values()), days  # the test certificates: two days


# ---- the rules ---------------------------------------------------------------------------------------------------


def test_rules_file_exists_and_promtool_accepts_it() -> None:
    """The alert rules ship in deploy/prometheus/certwatch-rules.yml and ``promtool check rules`` accepts them."""
    assert RULES.exists(), f"{RULES.relative_to(ROOT)} is missing: the alert rules (part 1 of the issue)"
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: install Debian's prometheus (`.ci/debs.sh prometheus`)"
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert 0 == result.returncode, result.stdout + result.stderr


def test_every_rule_is_loaded_healthy_and_its_expression_valid(stack: Stack) -> None:
    """Every group and rule of the file is loaded; evaluated on the scenario's data, each is healthy, each
    expression is valid, and every recording rule has data."""
    assert stack.rules_loaded, f"{RULES.relative_to(ROOT)} is missing"
    expected = sorted((rule.get("record") or rule["alert"]) for rule in rules_of_file())

    def evaluated() -> list[dict[str, Any]] | None:
        # Two scrape intervals after the data: a series born in the scenario then has the two samples rate() needs
        # (evaluated sooner, a recording rule over a series scraped once has no data: a flaky failure on slow CI).
        loaded = [r for g in stack.prometheus.api("/api/v1/rules")["groups"] for r in g["rules"]]
        return loaded if all(unix(r["lastEvaluation"]) > stack.data_at + 2.5 for r in loaded) else None

    loaded = wait_until(evaluated, "every rule to be evaluated on the scenario's data")
    assert expected == sorted(r["name"] for r in loaded)
    assert [] == [(r["name"], r["health"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
    for rule in rules_of_file():
        stack.prometheus.query(rule["expr"])  # the API answers success: the expression is valid
    records = [rule["record"] for rule in rules_of_file() if "record" in rule]
    assert dict.fromkeys(records, True) == {name: bool(stack.prometheus.query(name)) for name in records}


# (alertname, severity, cause, node, origin) of every alert the scenario raises; "" for an absent label
EXPECTED_ALERTS = {
    ("CertwatchOriginCertificateFailing", "critical", "untrusted_self_signed", "expc01", "cucm-sub1.example.com"),
    ("CertwatchOriginCertificateFailing", "critical", "untrusted_chain", "expc02", "cucm-pub.example.com"),
    ("CertwatchOriginCertificateFailing", "critical", "untrusted_chain", "expc01", "cucm-pub.example.com"),
    ("CertwatchOriginCertificateAtRisk", "warning", "untrusted_self_signed", "expc02", "imp01.example.com"),
    ("CertwatchOriginCertificateAtRisk", "warning", "name_mismatch", "expc02", "imp01.example.com"),
    ("CertwatchOriginFailingClusterWide", "critical", "untrusted_chain", "", "cucm-pub.example.com"),
    ("CertwatchNodeNeverHeard", "warning", "", "expc03", ""),
    # the probes: the self-signed origin, and the test certificates valid for two days (warning and critical)
    ("CertwatchProbePredictsFailure", "critical", "untrusted_self_signed", "", NAME),
    ("CertwatchOriginCertificateExpiresSoon", "warning", "", "", NAME),
    ("CertwatchOriginCertificateExpiresSoon", "critical", "", "", NAME),
}


def test_alerts_fire_for_the_scenario(stack: Stack) -> None:
    """The enforced self-signed incident raises a critical alert that fires (``for:`` shortened in the test copy)
    with the catalog's fix in its summary; the scenario fires exactly its expected alerts, nothing else."""
    assert stack.rules_loaded, f"{RULES.relative_to(ROOT)} is missing"

    def firing() -> list[dict[str, Any]]:
        return [a for a in stack.prometheus.api("/api/v1/alerts")["alerts"] if a["state"] == "firing"]

    def critical_self_signed() -> list[dict[str, Any]]:
        return [
            a
            for a in firing()
            if a["labels"].get("severity") == "critical"
            and a["labels"].get("cause") == "untrusted_self_signed"
            and a["labels"]["alertname"] == "CertwatchOriginCertificateFailing"  # not the probe's prediction
        ]

    (alert,) = wait_until(critical_self_signed, "a firing critical alert with cause untrusted_self_signed")
    assert ("expc01", "cucm-sub1.example.com", "6972") == tuple(alert["labels"][k] for k in ("node", "origin", "port"))
    assert summary(Cause.UNTRUSTED_SELF_SIGNED) in alert["annotations"]["summary"]

    def keys() -> set[tuple[str, ...]]:
        fields = ("alertname", "severity", "cause", "node", "origin")
        return {tuple(a["labels"].get(f, "") for f in fields) for a in firing()}

    assert EXPECTED_ALERTS == settle(keys, EXPECTED_ALERTS)
