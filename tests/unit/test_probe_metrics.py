"""The daemon's probe results as the collector, the incident API and the incident log lines show them: a real
:class:`ProbeService` (never started: results are recorded through its schedule) on a real engine."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from certwatch.config import parse
from certwatch.engine import Engine
from certwatch.export.collectors import CertwatchCollector
from certwatch.incidents import Incidents
from certwatch.model import Cause
from certwatch.probe.handshake import Material
from certwatch.probe.model import CertFacts, ProbeResult, Target
from certwatch.probe.schedule import ERROR_REASONS
from certwatch.probe.service import ProbeService, fix_verified_text
from certwatch.reader import ReadStats
from certwatch.state import State
from certwatch.telemetry import Telemetry
from certwatch.testing import FakeClock, Lines, feed

SUB1, SUB1_IP = "cucm-sub1.example.com", "10.10.10.12"
PUB = "cucm-pub.example.com"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Recorder:
    """A structlog-like logger that keeps what it is given."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    info = warning = error = debug = __call__

    def events(self, name: str) -> list[dict[str, Any]]:
        return [fields for event, fields in self.lines if event == name]


def daemon_parts(clock: FakeClock, log: Recorder, **config: Any) -> tuple[State, ProbeService]:
    cfg = parse(dict(config), "<test>")
    telemetry = Telemetry()
    incidents = Incidents(telemetry, 3600.0, log, cfg.hints.language)
    engine = Engine(cfg.engine(), cfg.node_clusters(), on_change=incidents.on_change)
    incidents.correlator = engine.correlator
    state = State(cfg, engine, incidents, telemetry, ReadStats(), clock)
    service = ProbeService(incidents.open_for, incidents.open_targets, log, clock)
    service.configure(cfg.probes, Material(), cfg.hints.language)
    state.probes = incidents.probes = service
    return state, service


def record(service: ProbeService, result: ProbeResult) -> None:
    """A probe of ``result``'s target ran and ended now (as the service's worker thread reports it)."""
    target = Target(result.origin, result.port)
    service.schedule.sync_incidents(service._incident_targets(), 0.0)
    if not service.schedule.is_running((target.name, target.port)):
        assert target in service.schedule.take(1e12)
    service._finished(target, result, None)


def leaf(depth: int, key_type: str, not_after: str) -> CertFacts:
    return CertFacts(depth, "CN=x", "CN=y", (), "2026-01-01T00:00:00Z", not_after, key_type, 256, "sig", "AB:CD")


def self_signed(origin: str = SUB1, port: int = 6972) -> ProbeResult:
    return ProbeResult(
        origin, port, SUB1_IP, False, Cause.UNTRUSTED_SELF_SIGNED, 0, "self-signed certificate",
        chain=(leaf(0, "ECDSA", "2026-12-05T22:25:02Z"),), x14_2_trap=True, summary="X14.2 ECDSA trap: fix",
    )  # fmt: skip


def verified(origin: str = SUB1, port: int = 6972) -> ProbeResult:
    chain = (leaf(0, "RSA", "2027-01-01T00:00:00Z"), leaf(1, "RSA", "2030-01-01T00:00:00Z"))
    return ProbeResult(origin, port, SUB1_IP, True, None, None, None, chain=chain)


def scrape(state: State) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CertwatchCollector(state))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def of(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def open_incident(state: State, clock: FakeClock) -> None:
    lines = Lines()
    feed(
        state.engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972, host=SUB1),
        lines.at(0.01).verify(SUB1, SUB1_IP),
        lines.at(0.02).sending_response(1, 502),
        now=clock(),
    )


@pytest.fixture(name="clock")
def fixture_clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


def test_probe_metrics_with_exact_labels(clock: FakeClock) -> None:
    """success, timestamp, cause (only the failing cause), errors by reason (every reason from the start), the
    chain's not-after per depth and key type; a target never probed has only its error counters."""
    log = Recorder()
    targets = [{"origin": SUB1, "port": 6972}, {"origin": PUB, "port": 8443}, {"origin": "cuc.example.com", "port": 44}]
    state, service = daemon_parts(clock, log, probes={"targets": targets})
    record(service, self_signed())
    clock.advance(5)
    record(service, verified(PUB, 8443))
    samples = scrape(state)
    sub1, pub = (("origin", SUB1), ("port", "6972")), (("origin", PUB), ("port", "8443"))
    assert {sub1: 0.0, pub: 1.0} == of(samples, "certwatch_probe_success")
    assert {sub1: 1_700_000_000.0, pub: 1_700_000_005.0} == of(samples, "certwatch_probe_timestamp_seconds")
    assert {(("cause", "untrusted_self_signed"), *sub1): 1.0} == of(samples, "certwatch_probe_cause")
    not_after = of(samples, "certwatch_origin_cert_not_after_timestamp_seconds")
    assert {
        (("depth", "0"), ("key_type", "ECDSA"), *sub1): 1_796_509_502.0,
        (("depth", "0"), ("key_type", "RSA"), *pub): 1_798_761_600.0,
        (("depth", "1"), ("key_type", "RSA"), *pub): 1_893_456_000.0,
    } == not_after
    errors = of(samples, "certwatch_probe_errors_total")
    assert 3 * len(ERROR_REASONS) == len(errors)
    assert {0.0} == set(errors.values())
    assert 3.0 == samples[("certwatch_state_entries", (("table", "probe_targets"),))]
    assert 3.0 == samples[("certwatch_state_capacity", (("table", "probe_targets"),))]


def test_a_connection_error_counts_by_reason_and_clears_cause_and_chain(clock: FakeClock) -> None:
    log = Recorder()
    state, service = daemon_parts(clock, log, probes={"targets": [{"origin": SUB1, "port": 6972}]})
    record(service, self_signed())
    record(service, ProbeResult(SUB1, 6972, None, False, None, None, "connect: refused"))
    record(service, ProbeResult(SUB1, 6972, None, False, None, None, "tls: wrong version number"))
    samples = scrape(state)
    assert {(("origin", SUB1), ("port", "6972")): 0.0} == of(samples, "certwatch_probe_success")
    assert {} == of(samples, "certwatch_probe_cause")
    assert {} == of(samples, "certwatch_origin_cert_not_after_timestamp_seconds")
    errors = {dict(k)["reason"]: v for k, v in of(samples, "certwatch_probe_errors_total").items()}
    assert {"refused": 1.0, "timeout": 0.0, "dns": 0.0, "reset": 0.0, "unreachable": 0.0, "tls": 1.0} == errors


def test_probes_off_export_no_probe_series(clock: FakeClock) -> None:
    state, _ = daemon_parts(clock, Recorder())
    samples = scrape(state)
    assert [] == [k for k in samples if k[0].startswith("certwatch_probe_") or "origin_cert" in k[0]]
    assert 0.0 == samples[("certwatch_state_capacity", (("table", "probe_targets"),))]
    assert 0.0 == samples[("certwatch_state_evictions_total", (("table", "probe_targets"),))]


def test_incidents_carry_the_probe_and_fix_verified(clock: FakeClock) -> None:
    """from_incidents: the incident's origin and port becomes a target; its API entry and the log lines carry the
    latest probe; a verified probe while it is open logs probe_fix_verified once and marks the entry."""
    log = Recorder()
    state, service = daemon_parts(clock, log, probes={"from_incidents": True})
    open_incident(state, clock)
    [opened] = log.events("incident_opened")
    assert opened["probe"] is None  # never probed yet
    [entry] = state.incidents.documents()
    assert (None, False, None) == (entry["probe"], entry["fix_verified"], entry["fix_verified_message"])

    record(service, self_signed())
    [entry] = state.incidents.documents()
    assert {
        "ok": False,
        "cause": "untrusted_self_signed",
        "depth": 0,
        "error": "self-signed certificate",
        "timestamp": "2023-11-14T22:13:20+00:00",
        "not_after": "2026-12-05T22:25:02Z",
        "x14_2_trap": True,
        "summary": "X14.2 ECDSA trap: fix",
    } == entry["probe"]
    assert not entry["fix_verified"]
    assert [] == log.events("probe_fix_verified")

    clock.advance(60)
    record(service, verified())
    record(service, verified())  # again: still one line
    message = "Fix verified on the origin: cucm-sub1.example.com (port 6972) now presents a certificate"
    [line] = log.events("probe_fix_verified")
    assert (SUB1, 6972, ["expc01"], ["untrusted_self_signed"]) == (
        line["origin"], line["port"], line["nodes"], line["causes"]
    )  # fmt: skip
    assert line["message"].startswith(message)
    assert line["probe"]["ok"] is True
    [entry] = state.incidents.documents()
    assert (True, line["message"]) == (entry["fix_verified"], entry["fix_verified_message"])
    assert entry["probe"]["timestamp"] == "2023-11-14T22:14:20+00:00"

    clock.advance(901)  # the logs went quiet: the incident resolves, with the probe in its line
    state.engine.correlator.expire(clock())
    [resolved] = log.events("incident_resolved")
    assert resolved["probe"]["ok"] is True
    [entry] = state.incidents.documents()
    assert (entry["status"], entry["fix_verified"]) == ("resolved", False)
    service.schedule.sync_incidents(state.incidents.open_targets(), 2.0)
    assert [] == service.slots()  # no open incident names it any more


def test_fix_verified_is_logged_again_after_a_new_failure(clock: FakeClock) -> None:
    log = Recorder()
    state, service = daemon_parts(clock, log, probes={"from_incidents": True})
    open_incident(state, clock)
    for result in (verified(), self_signed(), verified()):
        record(service, result)
    assert 2 == len(log.events("probe_fix_verified"))


def test_the_language_of_the_fix_verified_text(clock: FakeClock) -> None:
    log = Recorder()
    state, service = daemon_parts(clock, log, probes={"from_incidents": True}, hints={"language": "zh-CN"})
    open_incident(state, clock)
    record(service, verified())
    [entry] = state.incidents.documents()
    assert fix_verified_text(SUB1, 6972, "zh-CN") == entry["fix_verified_message"]
    assert "证书" in entry["fix_verified_message"]
    assert "重启" in entry["fix_verified_message"]


def test_probes_off_leave_the_api_and_log_lines_as_they_were(clock: FakeClock) -> None:
    """No probe keys at all while probes are off: the API stays analyze's findings plus status_changed_at."""
    log = Recorder()
    state, _ = daemon_parts(clock, log)
    open_incident(state, clock)
    [entry] = state.incidents.documents()
    assert not {"probe", "fix_verified", "fix_verified_message"} & set(entry)
    assert "probe" not in log.events("incident_opened")[0]
