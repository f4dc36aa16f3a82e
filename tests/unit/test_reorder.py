"""Arrival order is not event order: a failure, an ERROR or a 502 event arriving after the lines it belongs to is
joined as if it had come first, counters never go down, and what waits is bounded and counted."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from certwatch.correlate import EngineSettings
from certwatch.correlate.records import ANSWERED_PER_NODE, MAX_LATE, MAX_LATE_PER_NODE
from certwatch.engine import Engine
from certwatch.model import Cause
from certwatch.testing import Lines, feed

SUB1, SUB1_IP = "cucm-sub1.example.com", "10.10.10.12"


def failing(lines: Lines, txn: int = 1, t: float = 0.0, client_port: int = 41000) -> dict[str, str]:
    """The lines of one transaction that fails on the origin's certificate, by name, each at its true time."""
    return {
        "request": lines.at(t).receive_request(txn, "/cucm-uds/user", client_port),
        "upstream": lines.at(t + 0.01).sending_request(txn, SUB1_IP, 8443, host=SUB1),
        "warning": lines.at(t + 0.02).verify(SUB1, SUB1_IP),
        "error": lines.at(t + 0.02).ssl_error(SUB1),
        "event": lines.at(t + 0.03).error_event(client_port),
        "response": lines.at(t + 0.03).sending_response(txn, 502, client_port),
    }


def outcome(engine: Engine) -> tuple[object, ...]:
    """Everything the order must not change: findings with counts and evidence, the counters, the statistics.
    (The evidence of a 502 is whichever of its two lines came first, the event or ``Sending Response``: compared
    by what it shows, not by which line it is.)"""
    c = engine.correlator
    c.flush(engine.latest)
    findings = sorted(
        (
            f.key,
            f.state,
            f.cert_failures,
            f.bad_gateway,
            f.first_seen,
            f.last_seen,
            tuple(sorted(map(shown, f.evidence))),
        )
        for f in c.findings()
    )
    counters = [dict(counts.items()) for counts in (c.failure_counts, c.bad_gateway_counts, c.response_counts)]
    s = c.stats
    return findings, counters, (s.bad_gateway, s.uncorrelated_bad_gateway, s.cert_failures, s.absorbed_errors)


def shown(evidence: str) -> str:
    return "a 502" if "502" in evidence else evidence


def run(order: Sequence[str], parts: dict[str, str], settings: EngineSettings | None = None) -> Engine:
    engine = Engine(settings or EngineSettings())
    feed(engine, *(parts[name] for name in order))
    return engine


IN_ORDER = ("request", "upstream", "warning", "error", "event", "response")


@pytest.mark.parametrize(
    "order",
    [
        ("request", "upstream", "event", "response", "warning", "error"),  # both diagnostics after the 502
        ("request", "upstream", "response", "event", "error", "warning"),  # and the ERROR before its WARNING
        ("request", "upstream", "error", "event", "warning", "response"),
        ("request", "upstream", "warning", "response", "error", "event"),  # the event after Sending Response
    ],
)
def test_a_502_arriving_before_its_warning_gives_the_same_finding_port_and_counts(order: Sequence[str]) -> None:
    """One finding with the transaction's port, one certificate failure, one correlated 502, as in event order."""
    parts = failing(Lines())
    expected = outcome(run(IN_ORDER, parts))
    engine = run(order, parts)
    (finding,) = engine.correlator.findings()
    assert (8443, Cause.UNTRUSTED_SELF_SIGNED, 1, 1) == (
        finding.key.port,
        finding.key.cause,
        finding.cert_failures,
        finding.bad_gateway,
    )
    assert expected == outcome(engine)
    assert 0 == engine.correlator.stats.uncorrelated_bad_gateway


def test_live_counters_never_go_down_and_a_known_cause_is_counted_at_once() -> None:
    """The daemon: a 502 waits for its late WARNING and is then counted correlated; the next 502 of the same
    failing origin is counted the moment it arrives; no counter ever decreases."""
    engine, lines = Engine(EngineSettings(reorder_wait=2.0)), Lines()
    first, second = failing(lines, 1, 0.0, 41000), failing(lines, 2, 1.0, 41001)
    arrivals = [first[k] for k in ("request", "upstream", "event", "response", "warning", "error")]
    arrivals += [second[k] for k in ("request", "upstream", "event", "response")]
    c, now, seen = engine.correlator, 1000.0, []
    for line in arrivals:
        now += 0.05
        feed(engine, line, now=now)
        c.decide_late(now)
        seen.append((dict(c.bad_gateway_counts.items()), dict(c.failure_counts.items())))
    for before, after in itertools.pairwise(seen):
        for b, a in zip(before, after, strict=True):
            assert all(a.get(k, 0) >= v for k, v in b.items())
    correlated = ("expc01", SUB1, "8443", "untrusted_self_signed")
    assert 0 == seen[3][0].get(correlated, 0)  # first 502 waiting: its cause is not known yet
    assert 1 == seen[4][0][correlated]  # its WARNING arrived: counted on that incident at once
    assert 2 == seen[-1][0][correlated]  # the second 502: cause known, counted at once, nothing waiting
    assert (0, 0) == (c.stats.uncorrelated_bad_gateway, c.table_sizes()["waiting_502"][0])


def test_a_502_with_no_failure_is_uncorrelated_after_reorder_wait_and_stays_so() -> None:
    """Counted once ``reorder_wait`` of receive time is over; a failure arriving later still finds the transaction
    (its port is right) but the count already made is not taken back."""
    engine, lines = Engine(EngineSettings(reorder_wait=2.0)), Lines()
    parts = failing(lines)
    feed(engine, parts["request"], parts["upstream"], parts["response"], now=1000.0)
    c = engine.correlator
    c.decide_late(1001.9)
    assert (0, 1) == (c.stats.bad_gateway, c.table_sizes()["waiting_502"][0])
    c.decide_late(1002.1)
    assert (1, 1, 0) == (c.stats.bad_gateway, c.stats.uncorrelated_bad_gateway, c.table_sizes()["waiting_502"][0])
    feed(engine, parts["warning"], now=1002.2)
    (finding,) = c.findings()
    assert (8443, 0, 1) == (finding.key.port, finding.bad_gateway, c.stats.uncorrelated_bad_gateway)


def test_an_error_alone_is_decided_after_the_wait_and_explains_the_502_that_waited_with_it() -> None:
    """No WARNING ever comes: the ERROR becomes other_verify_error when its wait is over, and the 502 that waited
    behind it is counted on that finding (as when the ERROR is taken at once, in arrival order)."""
    parts = failing(Lines())
    order = ("request", "upstream", "error", "event", "response")
    engine = run(order, parts)
    expected = outcome(run(order, parts, EngineSettings(reorder_wait=0)))
    assert [] == engine.correlator.findings()
    assert expected == outcome(engine)
    (finding,) = engine.correlator.findings()
    assert (Cause.OTHER_VERIFY_ERROR, 8443, 1) == (finding.key.cause, finding.key.port, finding.bad_gateway)


def test_reorder_wait_zero_is_arrival_order() -> None:
    """0: nothing waits; the 502 before its WARNING is counted uncorrelated at once (the WARNING still finds the
    transaction that was answered, so its port is right); an ERROR before its WARNING is a failure of its own."""
    parts = failing(Lines())
    engine = run(("request", "upstream", "response", "warning"), parts, EngineSettings(reorder_wait=0))
    (finding,) = engine.correlator.findings()
    assert (8443, 0, 1) == (finding.key.port, finding.bad_gateway, engine.correlator.stats.uncorrelated_bad_gateway)
    engine = run(("request", "upstream", "error", "warning"), parts, EngineSettings(reorder_wait=0))
    assert {Cause.OTHER_VERIFY_ERROR, Cause.UNTRUSTED_SELF_SIGNED} == {
        f.key.cause for f in engine.correlator.findings()
    }


def test_what_waits_is_bounded_per_node_and_every_early_decision_is_counted() -> None:
    """MAX_LATE_PER_NODE 502s wait at most; the oldest beyond is counted at once (uncorrelated), never lost.
    Answered transactions are remembered up to ANSWERED_PER_NODE; the older ones are counted as evicted."""
    engine, lines = Engine(EngineSettings(reorder_wait=2.0)), Lines()
    extra = 5
    for txn in range(MAX_LATE_PER_NODE + extra):
        parts = failing(lines, txn, 0.0, 40000 + txn)
        feed(engine, parts["upstream"], parts["response"], now=1000.0)
    c = engine.correlator
    assert (MAX_LATE_PER_NODE, extra, extra) == (
        c.table_sizes()["waiting_502"][0],
        c.stats.late_overflow,
        c.stats.uncorrelated_bad_gateway,
    )
    assert MAX_LATE_PER_NODE + extra - ANSWERED_PER_NODE == c.table_evictions()["answered_502"]
    c.decide_late(1002.5)
    assert (MAX_LATE_PER_NODE + extra, 0) == (c.stats.uncorrelated_bad_gateway, c.table_sizes()["waiting_502"][0])


def test_held_errors_are_bounded_per_node() -> None:
    """ERRORs waiting for a WARNING: at most MAX_LATE_PER_NODE per node; the oldest beyond is decided at once."""
    engine, lines = Engine(EngineSettings(reorder_wait=2.0)), Lines()
    for n in range(MAX_LATE_PER_NODE + 3):
        feed(engine, lines.at(0).ssl_error(f"cucm{n}.example.com"), now=1000.0)
    c = engine.correlator
    assert (MAX_LATE_PER_NODE, 3, 3) == (c.table_sizes()["held_errors"][0], c.stats.late_overflow, len(c.findings()))
    c.decide_late(1002.5)
    assert (0, MAX_LATE_PER_NODE + 3) == (c.table_sizes()["held_errors"][0], len(c.findings()))


def test_an_evicted_node_decides_what_it_held() -> None:
    """max_nodes 1: a second node evicts the first, whose waiting 502 is counted then, not lost."""
    engine = Engine(EngineSettings(reorder_wait=2.0, max_nodes=1))
    parts = failing(Lines("expc01"))
    feed(engine, parts["upstream"], parts["response"], now=1000.0)
    assert 0 == engine.correlator.stats.bad_gateway
    feed(engine, Lines("expc02").sending_request(9, SUB1_IP, 8443), now=1000.1)
    assert (1, 1) == (engine.correlator.stats.bad_gateway, engine.correlator.stats.uncorrelated_bad_gateway)


def test_what_waits_on_all_nodes_together_is_bounded() -> None:
    """MAX_LATE 502s and ERRORs at most on all nodes (each holds its line); beyond, decided at once and counted."""
    engine = Engine(EngineSettings(reorder_wait=2.0))
    nodes = MAX_LATE // MAX_LATE_PER_NODE + 2
    sent = 0
    for n in range(nodes):
        lines = Lines(f"expc{n:03d}")
        for txn in range(MAX_LATE_PER_NODE):
            parts = failing(lines, txn, 0.0, 40000 + txn)
            feed(engine, parts["upstream"], parts["response"], now=1000.0)
            sent += 1
        feed(engine, lines.at(0).ssl_error(f"cucm{n}.example.com"), now=1000.0)
        sent += 1
    c = engine.correlator
    waiting, held = c.table_sizes()["waiting_502"][0], c.table_sizes()["held_errors"][0]
    assert MAX_LATE == waiting + held
    assert sent - MAX_LATE == c.stats.late_overflow == c.stats.bad_gateway + len(c.findings())
    c.decide_late(1002.5)
    assert (0, 0) == (c.table_sizes()["waiting_502"][0], c.table_sizes()["held_errors"][0])
    assert sent == c.stats.bad_gateway + c.stats.cert_failures


@pytest.mark.parametrize("fast", [True, False])
def test_a_failure_after_an_earlier_502_does_not_take_that_502_or_its_port(fast: bool) -> None:
    """A 502 of another kind (``connect failed``) on port 8443 of an origin, then, a second later and inside the
    window, the next connection to that origin, on port 6972, fails its certificate: the failure happened after the
    first 502 was sent, so it is the second transaction's (port 6972), and the first 502 stays uncorrelated. (The
    bench's Debug-level corpus showed such failures attributed to port 8443.)"""
    lines = Lines()
    parts = [
        lines.at(0.0).receive_request(1, "/cucm-uds/user", 41000),
        lines.at(0.01).sending_request(1, SUB1_IP, 8443, host=SUB1),
        lines.at(1.0).sending_response(1, 502, 41000),
        lines.at(1.0).error_event(41000, reason="connect failed"),
        lines.at(2.0).receive_request(2, "/CSFjdoe.cnf.xml", 41001),
        lines.at(2.01).sending_request(2, SUB1_IP, 6972, host=SUB1),
        lines.at(2.02).verify(SUB1, SUB1_IP),
        lines.at(2.02).ssl_error(SUB1),
        lines.at(2.05).sending_response(2, 502, 41001),
        lines.at(2.05).error_event(41001),
    ]
    engine = Engine(EngineSettings(), fast=fast)
    feed(engine, *parts)
    engine.correlator.flush(engine.latest)
    findings = engine.correlator.findings()
    assert [(SUB1, 6972, 1, 1)] == [(f.key.origin, f.key.port, f.cert_failures, f.bad_gateway) for f in findings]
    stats = engine.correlator.stats
    assert (2, 1) == (stats.bad_gateway, stats.uncorrelated_bad_gateway)


@pytest.mark.parametrize("fast", [True, False])
def test_a_permissive_failure_is_not_given_to_a_502_of_another_cause(fast: bool) -> None:
    """A permissive failure (``Action=Continue``) while two connections to the origin are open, on ports 8443 and
    6972: the 8443 one ends in a ``connect failed`` 502, the 6972 one in a 200. A permissive failure stops no
    connection, so that 502 does not tell which one it was: the latest connection, 6972, is taken. (The bench's
    Debug-level corpus showed 23 such failures as a second, wrong finding on port 8443.)"""
    lines = Lines()
    parts = [
        lines.at(0.0).sending_request(1, SUB1_IP, 8443, host=SUB1),
        lines.at(1.0).sending_request(2, SUB1_IP, 6972, host=SUB1),
        lines.at(1.01).verify(SUB1, SUB1_IP, action="Continue"),
        lines.at(1.1).sending_response(2, 200, 41001),
        lines.at(1.5).sending_response(1, 502, 41000),
        lines.at(1.5).error_event(41000, reason="connect failed"),
    ]
    engine = Engine(EngineSettings(), fast=fast)
    feed(engine, *parts)
    engine.correlator.flush(engine.latest)
    found = [(f.key.port, f.key.enforced, f.cert_failures, f.bad_gateway) for f in engine.correlator.findings()]
    assert [(6972, False, 1, 0)] == found
