"""Which origin the daemon probes when (pure: time is a parameter, the random jitter is injected).

A target is an (origin, port) pair: configured ones (``probes.targets``) always, plus, with
``probes.from_incidents``, the origin and port of every open incident whose port is known, at most
:data:`MAX_INCIDENT_TARGETS` of them (the others are refused and counted, until a place frees up). A new target is
due at once; after each probe it is due again ``interval`` later, give or take :data:`JITTER` at random, so the
probes of many targets spread out. At most ``concurrency`` probes are in flight, and never two for one target: a
target dropped while its probe runs cannot start again (re-added) before that probe has finished.

:mod:`certwatch.probe.service` is the asyncio shell around it; the metrics and the incident API read the
:class:`Slot` of each target.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from certwatch.probe.model import CONNECT_ERRORS, ProbeResult, Target

MAX_INCIDENT_TARGETS: Final = 256
"""Targets from open incidents kept at most (configured targets are always kept)."""

JITTER: Final = 0.1
"""Each target is probed again after ``interval`` times a factor drawn from [1 - JITTER, 1 + JITTER]."""

ERROR_REASONS: Final = (*CONNECT_ERRORS, "tls")
"""``reason`` of ``certwatch_probe_errors_total``: the probe could not judge a certificate. The ``X`` of
``"connect: X"``, or ``tls`` for an answer that is not a TLS server's (``"tls: ..."``)."""

Key = tuple[str, int]


def key_of(target: Target) -> Key:
    return (target.name, target.port)


def error_reason(result: ProbeResult) -> str | None:
    """The :data:`ERROR_REASONS` entry of a probe that judged no certificate; ``None`` when it did (ok, or a
    cause)."""
    if result.ok or result.cause is not None:
        return None
    error = result.error or ""
    if error.startswith("connect: "):
        kind = error.removeprefix("connect: ")
        return kind if kind in CONNECT_ERRORS else "unreachable"
    return "tls"


def not_after_seconds(text: str) -> float:
    """``"2026-12-05T22:25:02Z"`` (a :class:`~certwatch.probe.model.CertFacts` date) -> Unix seconds."""
    return datetime.fromisoformat(text).timestamp()


def iso_seconds(timestamp: float) -> str:
    """Unix seconds -> ISO 8601 in UTC, as the incident API writes its other times."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class Slot:
    """One target and what its last probe found."""

    target: Target
    configured: bool
    from_incident: bool
    due: float  # on the scheduler's clock
    result: ProbeResult | None = None
    finished_at: float | None = None  # wall clock (Unix seconds) of the last probe's end
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_REASONS, 0))
    fix_verified_logged: bool = False  # the service logged probe_fix_verified since the last failure

    @property
    def key(self) -> Key:
        return key_of(self.target)

    def document(self) -> dict[str, Any] | None:
        """The ``"probe"`` object of the incident API and log lines; ``None`` before the first probe."""
        result = self.result
        if result is None or self.finished_at is None:
            return None
        return {
            "ok": result.ok,
            "cause": None if result.cause is None else str(result.cause),
            "depth": result.depth,
            "error": result.error,
            "timestamp": iso_seconds(self.finished_at),
            "not_after": result.chain[0].not_after if result.chain else None,
            "x14_2_trap": result.x14_2_trap,
            "summary": result.summary,
        }


class Schedule:
    """The targets, their due times and what runs. Single writer (the event loop); ``now`` is any monotonic clock,
    the same for every call."""

    def __init__(
        self,
        interval: float,
        concurrency: int,
        targets: Sequence[Target] = (),
        now: float = 0.0,
        random: Callable[[], float] = _random.random,
        max_incident_targets: int = MAX_INCIDENT_TARGETS,
    ) -> None:
        self.interval = interval
        self.concurrency = concurrency
        self.max_incident_targets = max_incident_targets
        self.from_incidents = False
        self.refused = 0  # incident targets refused beyond the bound (each counted once while it stays refused)
        self._random = random
        self._slots: dict[Key, Slot] = {}
        self._running: set[Key] = set()
        self._refused_keys: set[Key] = set()
        self.configure(interval, concurrency, targets, False, now)

    # ---- what is there -----------------------------------------------------------------------------------------

    def slots(self) -> list[Slot]:
        return list(self._slots.values())

    def get(self, origin: str, port: int | None) -> Slot | None:
        return None if port is None else self._slots.get((origin, port))

    @property
    def running(self) -> int:
        return len(self._running)

    def is_running(self, key: Key) -> bool:
        return key in self._running

    @property
    def capacity(self) -> int:
        """Targets kept at most: the configured ones plus the incident bound (when ``from_incidents``)."""
        configured = sum(1 for s in self._slots.values() if s.configured)
        return configured + (self.max_incident_targets if self.from_incidents else 0)

    def next_due(self) -> float | None:
        """When the next target not running now is due (``None``: no target)."""
        waiting = [s.due for k, s in self._slots.items() if k not in self._running]
        return min(waiting, default=None)

    # ---- changes -----------------------------------------------------------------------------------------------

    def configure(
        self, interval: float, concurrency: int, targets: Sequence[Target], from_incidents: bool, now: float
    ) -> None:
        """Apply a configuration (at start and at reload): new targets are due at once, removed ones forgotten
        (unless an open incident still names them); a shorter interval brings due times forward."""
        self.interval, self.concurrency = interval, concurrency
        self.from_incidents = from_incidents
        wanted = {key_of(t): t for t in targets}
        for key, slot in list(self._slots.items()):
            slot.configured = key in wanted
            slot.from_incident = slot.from_incident and from_incidents
            if not (slot.configured or slot.from_incident):
                del self._slots[key]
                continue
            if slot.configured and slot.target != wanted[key]:  # another address: probe it there soon
                slot.target = wanted[key]
                slot.due = now
            slot.due = min(slot.due, now + interval * (1 + JITTER))
        for key, target in wanted.items():
            if key not in self._slots:
                self._slots[key] = Slot(target, configured=True, from_incident=False, due=now)
        if not from_incidents:
            self._refused_keys = set()

    def sync_incidents(self, keys: Iterable[Key], now: float) -> int:
        """The (origin, port) of the open incidents, oldest first: each becomes a target (due at once when it is
        new, or was never probed), up to the bound; targets that only an incident named and no open incident
        names any more are dropped. Returns how many keys were newly refused."""
        if not self.from_incidents:
            return 0
        open_keys = dict.fromkeys(keys)
        for key, slot in list(self._slots.items()):
            if slot.from_incident and key not in open_keys:
                slot.from_incident = False
                if not slot.configured:
                    del self._slots[key]
        incident_only = sum(1 for s in self._slots.values() if not s.configured)
        refused: set[Key] = set()
        for key in open_keys:
            known = self._slots.get(key)
            if known is not None:
                known.from_incident = True
                if known.result is None:
                    known.due = min(known.due, now)  # an incident opened for a target never probed: soon
                continue
            if incident_only >= self.max_incident_targets:
                refused.add(key)
                continue
            self._slots[key] = Slot(Target(key[0], key[1]), configured=False, from_incident=True, due=now)
            incident_only += 1
        fresh = len(refused - self._refused_keys)
        self.refused += fresh
        self._refused_keys = refused
        return fresh

    def take(self, now: float) -> list[Target]:
        """The targets to probe now (due, not running, earliest first), as many as ``concurrency`` leaves room for;
        they count as running until :meth:`finished`."""
        room = self.concurrency - len(self._running)
        if room <= 0:
            return []
        due = sorted(
            (s for k, s in self._slots.items() if s.due <= now and k not in self._running), key=lambda s: s.due
        )
        chosen = [s.target for s in due[:room]]
        self._running.update(key_of(t) for t in chosen)
        return chosen

    def finished(self, target: Target, result: ProbeResult | None, wall: float, now: float) -> Slot | None:
        """A probe ended (``result`` ``None``: it crashed; nothing is recorded): record it and schedule the next
        one. The target's slot, or ``None`` when it was dropped meanwhile."""
        key = key_of(target)
        self._running.discard(key)
        slot = self._slots.get(key)
        if slot is None:
            return None
        slot.due = now + self.interval * (1 + JITTER * (2 * self._random() - 1))
        if result is None:
            return slot
        slot.result, slot.finished_at = result, wall
        if (reason := error_reason(result)) is not None:
            slot.errors[reason] += 1
        return slot
