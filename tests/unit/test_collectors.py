"""The scrape-time collector, read through a fresh registry as Prometheus reads it."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from certwatch.config import parse
from certwatch.engine import Engine
from certwatch.export.collectors import CertwatchCollector
from certwatch.incidents import Incidents
from certwatch.reader import ReadStats
from certwatch.state import State
from certwatch.telemetry import METRICS, Telemetry
from certwatch.testing import FakeClock, Lines, feed

SUB1, SUB1_IP = "cucm-sub1.example.com", "10.10.10.12"


@pytest.fixture(name="clock")
def fixture_clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


def state_for(clock: FakeClock, **config: object) -> State:
    cfg = parse(dict(config), "<test>")
    telemetry = Telemetry()
    incidents = Incidents(telemetry, 3600.0)
    engine = Engine(cfg.engine(), cfg.node_clusters(), on_change=incidents.on_change)
    incidents.correlator = engine.correlator
    return State(cfg, engine, incidents, telemetry, ReadStats(), clock, host_udp_errors=lambda: 7)


def scrape(state: State) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CertwatchCollector(state))
    return generate_latest(registry).decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_an_incident_renders_with_exact_labels(clock: FakeClock) -> None:
    """An enforced failure and its 502: incident gauge, start time, counters, all with the documented labels."""
    state = state_for(clock, clusters={"emea": ["expc01"]})
    lines = Lines()
    feed(
        state.engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972, host=SUB1),
        lines.at(0.01).verify(SUB1, SUB1_IP),
        lines.at(0.02).sending_response(1, 502),
        now=clock(),
    )
    text = scrape(state)
    labels = (
        'cause="untrusted_self_signed",cluster="emea",enforced="true",node="expc01",'
        'origin="cucm-sub1.example.com",port="6972"'
    )
    started = lines.start.timestamp() + 0.01
    assert f"certwatch_incident_active{{{labels}}} 1.0" in text
    key = ("certwatch_incident_started_timestamp_seconds", tuple(sorted(_labels(labels).items())))
    assert started == pytest.approx(samples(text)[key])
    assert f"certwatch_cert_verify_failures_total{{{labels}}} 1.0" in text
    bad = 'cause="untrusted_self_signed",cluster="emea",node="expc01",origin="cucm-sub1.example.com",port="6972"'
    assert f"certwatch_bad_gateway_total{{{bad}}} 1.0" in text
    code = 'cluster="emea",code_class="5xx",node="expc01",origin="cucm-sub1.example.com",port="6972"'
    assert f"certwatch_origin_responses_total{{{code}}} 1.0" in text


def _labels(text: str) -> dict[str, str]:
    return dict(pair.split("=") for pair in text.replace('"', "").split(","))


def test_every_specified_metric_is_exported_with_its_help_and_type(clock: FakeClock) -> None:
    """The telemetry spec is the contract: each metric appears with its help and type."""
    text = scrape(state_for(clock))
    missing = [name for name, spec in METRICS.items() if f"# HELP {name} {spec.help}" not in text]
    wrong = [name for name, spec in METRICS.items() if f"# TYPE {name} {spec.kind}" not in text]
    assert ([], []) == (missing, wrong)


def test_resolved_incidents_leave_the_gauge_but_not_the_counters(clock: FakeClock) -> None:
    """After the quiet period: no incident_active series (absent, not 0); the counter keeps its value."""
    state = state_for(clock)
    feed(state.engine, Lines().verify(SUB1, SUB1_IP), now=clock())
    clock.advance(901)
    state.engine.correlator.expire(clock())
    values = samples(scrape(state))
    assert not [k for k in values if k[0] == "certwatch_incident_active"]
    assert 1.0 == sum(v for k, v in values.items() if k[0] == "certwatch_cert_verify_failures_total")
    assert 1.0 == values[("certwatch_incident_changes_total", (("change", "resolved"),))]


def test_uncorrelated_502_has_its_own_cause(clock: FakeClock) -> None:
    """A 502 without a certificate failure is counted under cause="uncorrelated", with its origin."""
    state = state_for(clock)
    lines = Lines()
    feed(state.engine, lines.sending_request(1, SUB1_IP, 8443, host=SUB1), lines.sending_response(1, 502), now=clock())
    assert not [k for k in samples(scrape(state)) if k[0] == "certwatch_bad_gateway_total"]  # waits reorder_wait
    clock.advance(2.1)
    state.engine.correlator.decide_late(clock())
    values = samples(scrape(state))
    key = (
        "certwatch_bad_gateway_total",
        (("cause", "uncorrelated"), ("cluster", "default"), ("node", "expc01"), ("origin", SUB1), ("port", "8443")),
    )
    assert 1.0 == values[key]


def test_nodes_beyond_the_bound_share_one_overflow_node(clock: FakeClock) -> None:
    """correlation.max_nodes 2: configured nodes always listed, extra ones counted as __overflow__."""
    state = state_for(clock, clusters={"lon": ["vcs-c-lon1"]}, correlation={"max_nodes": 2})
    for node in ("a", "b", "c", "d"):
        feed(state.engine, Lines(node=node).verify(SUB1, SUB1_IP), now=clock())
    values = samples(scrape(state))
    nodes = {dict(k[1])["node"]: v for k, v in values.items() if k[0] == "certwatch_node_messages_total"}
    assert {"vcs-c-lon1": 0.0, "a": 1.0, "b": 1.0, "__overflow__": 2.0} == nodes
    assert 2.0 == values[("certwatch_label_overflow_total", (("metric", "certwatch_node_messages_total"),))]


def test_host_udp_errors_and_build_info(clock: FakeClock) -> None:
    """System-wide UDP errors come from /proc (here injected); build info carries the version."""
    from certwatch._version import __version__  # noqa: PLC0415

    values = samples(scrape(state_for(clock)))
    assert 7.0 == values[("certwatch_host_udp_receive_buffer_errors_total", ())]
    assert 1.0 == values[("certwatch_build_info", (("version", __version__),))]
