"""Message bytes in, findings out: header reading, event parsing and correlation, with their counters. Pure.

Shared by ``analyze`` (fed by the :class:`~certwatch.reader.Scanner`) and the daemon (fed by its listeners), so
nothing is parsed or correlated twice in different code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from certwatch.correlate import ChangeListener, Correlator, EngineSettings
from certwatch.model import FAILURE_REASONS, Failure, Record
from certwatch.parse import read_event
from certwatch.syslog import HeaderReader

TRAFFIC_SERVER = "traffic_server"


@dataclass(slots=True)
class MessageStats:
    """Counters of the parsing stage; ``failures`` holds every reason from the start, at zero."""

    messages: int = 0
    traffic_server: int = 0
    events: int = 0
    ignored: int = 0
    invalid_utf8: int = 0
    failures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAILURE_REASONS, 0))

    @property
    def parse_failures(self) -> int:
        return sum(self.failures.values())


class Engine:
    """Reads one message at a time. ``now`` is the receive clock; ``None`` means the message's own time."""

    __slots__ = ("_latest", "correlator", "headers", "stats")

    def __init__(
        self,
        settings: EngineSettings | None = None,
        clusters: Mapping[str, str] | None = None,
        zone: tzinfo = UTC,
        reference: float = 0.0,
        on_change: ChangeListener | None = None,
    ) -> None:
        self.headers = HeaderReader(zone, reference)
        self.correlator = Correlator(settings, clusters, on_change)
        self.stats = MessageStats()
        self._latest = 0.0

    @property
    def latest(self) -> float:
        """The latest message time seen (``analyze``'s clock)."""
        return self._latest

    def message(self, raw: bytes, now: float | None = None) -> None:
        stats = self.stats
        stats.messages += 1
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = raw.decode(errors="replace")
            stats.invalid_utf8 += 1
        header = self.headers.read(text)
        if isinstance(header, Failure):
            stats.failures[header.reason] += 1
            return
        if header.app != TRAFFIC_SERVER:
            stats.ignored += 1
            return
        stats.traffic_server += 1
        event = read_event(header.body)
        if event is None:
            stats.ignored += 1
            return
        if isinstance(event, Failure):
            stats.failures[event.reason] += 1
            return
        stats.events += 1
        self._latest = max(self._latest, header.ts)
        self.correlator.observe(Record(header, event), self._latest if now is None else now)
