"""certwatch.probe.schedule: due times, jitter, one probe per target, the concurrency bound, targets from open
incidents and their bound, on a clock the test moves (pure: no sockets, no threads)."""

from __future__ import annotations

import pytest

from certwatch.model import Cause
from certwatch.probe.model import CertFacts, ProbeResult, Target
from certwatch.probe.schedule import (
    ERROR_REASONS,
    JITTER,
    MAX_INCIDENT_TARGETS,
    Schedule,
    error_reason,
    iso_seconds,
    not_after_seconds,
)

PUB = Target("cucm-pub.example.com", 8443)
SUB = Target("cucm-sub1.example.com", 6972, "10.10.10.12")
WALL = 1_700_000_000.0


def ok(target: Target) -> ProbeResult:
    return ProbeResult(target.name, target.port, "10.0.0.1", True, None, None, None)


def failing(target: Target, cause: Cause = Cause.UNTRUSTED_SELF_SIGNED) -> ProbeResult:
    return ProbeResult(target.name, target.port, "10.0.0.1", False, cause, 0, "self-signed certificate")


def error(target: Target, text: str) -> ProbeResult:
    return ProbeResult(target.name, target.port, None, False, None, None, text)


class Draws:
    """The injected random source: returns the values given, in turn."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_configured_targets_are_due_at_once_then_every_interval() -> None:
    schedule = Schedule(60.0, 4, [PUB, SUB], now=100.0, random=Draws(0.5))
    assert [PUB, SUB] == schedule.take(100.0)
    assert [] == schedule.take(100.0)  # running: not again
    assert schedule.next_due() is None  # nothing waits that is not running
    schedule.finished(PUB, ok(PUB), WALL, 105.0)
    schedule.finished(SUB, ok(SUB), WALL, 107.0)
    assert 165.0 == schedule.next_due()  # 105 + 60 (draw 0.5: no jitter)
    assert [] == schedule.take(164.9)
    assert [PUB] == schedule.take(165.0)
    assert [SUB] == schedule.take(167.0)


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 1 - JITTER), (0.5, 1.0), (0.999999, 1 + JITTER)])
def test_jitter_stays_within_ten_percent(draw: float, factor: float) -> None:
    schedule = Schedule(300.0, 1, [PUB], now=0.0, random=Draws(draw))
    schedule.take(0.0)
    slot = schedule.finished(PUB, ok(PUB), WALL, 10.0)
    assert slot is not None
    assert 10.0 + 300.0 * factor == pytest.approx(slot.due, abs=1e-3)
    assert 10.0 + 270.0 <= slot.due <= 10.0 + 330.0


def test_concurrency_bounds_what_runs() -> None:
    targets = [Target(f"cucm{i}.example.com", 8443) for i in range(10)]
    schedule = Schedule(60.0, 3, targets, now=0.0)
    first = schedule.take(0.0)
    assert 3 == len(first) == schedule.running
    assert [] == schedule.take(1.0)
    schedule.finished(first[0], ok(first[0]), WALL, 2.0)
    second = schedule.take(2.0)
    assert 1 == len(second)
    assert second[0] not in first
    assert 3 == schedule.running


def test_one_probe_per_target_even_when_dropped_and_readded() -> None:
    """A target removed by a reload while its probe runs, then configured again, does not start a second probe
    before the first has finished."""
    schedule = Schedule(60.0, 4, [PUB], now=0.0)
    assert [PUB] == schedule.take(0.0)
    schedule.configure(60.0, 4, [], False, 1.0)
    assert [] == schedule.slots()
    schedule.configure(60.0, 4, [PUB], False, 2.0)
    assert [] == schedule.take(2.0)  # the first probe still runs
    assert schedule.finished(PUB, ok(PUB), WALL, 3.0) is not None  # recorded on the new slot
    assert [] == schedule.take(3.0)  # and scheduled an interval later
    assert [PUB] == schedule.take(3.0 + 66.0)


def test_results_errors_and_the_document() -> None:
    schedule = Schedule(60.0, 4, [PUB], now=0.0)
    schedule.take(0.0)
    leaf = CertFacts(0, "CN=x", "CN=x", (), "2026-01-01T00:00:00Z", "2026-12-05T22:25:02Z", "ECDSA", 256, "e", "AB")
    result = ProbeResult(
        PUB.name, PUB.port, "10.0.0.1", False, Cause.UNTRUSTED_SELF_SIGNED, 0, "self-signed certificate",
        chain=(leaf,), x14_2_trap=True, summary="fix it",
    )  # fmt: skip
    slot = schedule.finished(PUB, result, WALL, 1.0)
    assert slot is not None
    assert {
        "ok": False,
        "cause": "untrusted_self_signed",
        "depth": 0,
        "error": "self-signed certificate",
        "timestamp": "2023-11-14T22:13:20+00:00",
        "not_after": "2026-12-05T22:25:02Z",
        "x14_2_trap": True,
        "summary": "fix it",
    } == slot.document()
    assert dict.fromkeys(ERROR_REASONS, 0) == slot.errors  # a certificate cause is not an error
    for text in ("connect: refused", "connect: refused", "connect: timeout", "tls: wrong version number"):
        schedule.take(1e9)
        schedule.finished(PUB, error(PUB, text), WALL, 1e9)
    assert {"refused": 2, "timeout": 1, "dns": 0, "reset": 0, "unreachable": 0, "tls": 1} == slot.errors
    assert slot.result is not None
    assert slot.result.error == "tls: wrong version number"


def test_a_crashed_probe_records_nothing_but_is_scheduled_again() -> None:
    schedule = Schedule(60.0, 4, [PUB], now=0.0, random=Draws(0.5))
    schedule.take(0.0)
    slot = schedule.finished(PUB, None, WALL, 1.0)
    assert slot is not None
    assert (None, 61.0, 0) == (slot.result, slot.due, schedule.running)


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (ok(PUB), None),
        (failing(PUB), None),
        (error(PUB, "connect: dns"), "dns"),
        (error(PUB, "connect: reset"), "reset"),
        (error(PUB, "connect: unreachable"), "unreachable"),
        (error(PUB, "connect: something new"), "unreachable"),
        (error(PUB, "tls: no certificate"), "tls"),
        (error(PUB, None), "tls"),  # type: ignore[arg-type]
    ],
)
def test_error_reasons(result: ProbeResult, reason: str | None) -> None:
    assert reason == error_reason(result)


def test_incident_targets_come_and_go() -> None:
    """from_incidents: an open incident's origin and port is due at once; it is dropped when no open incident
    names it, unless it is configured; a configured target an incident names, never probed, is brought forward."""
    schedule = Schedule(60.0, 4, [PUB], now=0.0)
    schedule.configure(60.0, 4, [PUB], True, 0.0)
    schedule.take(0.0)
    schedule.finished(PUB, ok(PUB), WALL, 1.0)
    incident = ("cucm-sub2.example.com", 6971)
    assert 0 == schedule.sync_incidents([incident, (PUB.name, PUB.port)], 5.0)
    assert [Target(*incident)] == schedule.take(5.0)  # soon, not after an interval
    assert {(PUB.name, PUB.port), incident} == {s.key for s in schedule.slots()}
    schedule.sync_incidents([], 6.0)  # both resolved: the incident target goes, the configured one stays
    assert [(PUB.name, PUB.port)] == [s.key for s in schedule.slots()]
    assert schedule.slots()[0].from_incident is False
    assert schedule.finished(Target(*incident), ok(Target(*incident)), WALL, 7.0) is None  # dropped meanwhile
    assert 0 == schedule.running


def test_without_from_incidents_open_incidents_add_nothing() -> None:
    schedule = Schedule(60.0, 4, [PUB], now=0.0)
    assert 0 == schedule.sync_incidents([("cucm-sub2.example.com", 6971)], 1.0)
    assert [PUB] == [s.target for s in schedule.slots()]
    assert 1 == schedule.capacity


def test_a_reload_without_from_incidents_drops_incident_targets() -> None:
    schedule = Schedule(60.0, 4, [], now=0.0)
    schedule.configure(60.0, 4, [], True, 0.0)
    schedule.sync_incidents([("a.example.com", 8443)], 0.0)
    assert 1 == len(schedule.slots())
    schedule.configure(60.0, 4, [], False, 1.0)
    assert [] == schedule.slots()


def test_incident_targets_are_bounded_and_refusals_counted_once() -> None:
    """At most the bound from incidents; configured targets always kept; each refused key counted once while it
    stays refused; a freed place admits a refused key."""
    schedule = Schedule(60.0, 4, [PUB], now=0.0, max_incident_targets=2)
    schedule.configure(60.0, 4, [PUB], True, 0.0)
    keys = [(f"cucm{i}.example.com", 8443) for i in range(4)]
    assert 2 == schedule.sync_incidents([(PUB.name, PUB.port), *keys], 1.0)
    assert {(PUB.name, PUB.port), *keys[:2]} == {s.key for s in schedule.slots()}
    assert (2, 3) == (schedule.refused, schedule.capacity)
    assert 0 == schedule.sync_incidents(keys, 2.0)  # the same ones still refused: not counted again
    assert 2 == schedule.refused
    assert 0 == schedule.sync_incidents(keys[1:], 3.0)  # keys[0] resolved: keys[2] gets its place
    assert {(PUB.name, PUB.port), keys[1], keys[2]} == {s.key for s in schedule.slots()}
    assert 2 == schedule.refused


def test_the_default_bound() -> None:
    schedule = Schedule(60.0, 4, [], now=0.0)
    schedule.configure(60.0, 4, [], True, 0.0)
    keys = [(f"cucm{i}.example.com", 8443) for i in range(MAX_INCIDENT_TARGETS + 5)]
    assert 5 == schedule.sync_incidents(keys, 0.0)
    assert MAX_INCIDENT_TARGETS == len(schedule.slots()) == schedule.capacity


def test_a_reload_applies_interval_concurrency_and_addresses() -> None:
    schedule = Schedule(300.0, 1, [PUB, SUB], now=0.0, random=Draws(0.5))
    schedule.take(0.0)
    schedule.finished(PUB, ok(PUB), WALL, 1.0)  # next at 301
    moved = Target(SUB.name, SUB.port, "10.10.10.99")
    schedule.configure(10.0, 2, [PUB, moved], False, 2.0)
    assert 2 + 10.0 * (1 + JITTER) == schedule.get(PUB.name, PUB.port).due  # type: ignore[union-attr]
    assert [moved] == schedule.take(2.0)  # SUB was waiting for the one slot of concurrency 1; now 2
    assert moved == schedule.get(SUB.name, SUB.port).target  # type: ignore[union-attr]
    assert schedule.get(PUB.name, None) is None


def test_time_helpers() -> None:
    assert 1_796_509_502.0 == not_after_seconds("2026-12-05T22:25:02Z")
    assert "2023-11-14T22:13:20+00:00" == iso_seconds(WALL)
