"""Message bytes in, findings out: header reading, event parsing and correlation, with their counters. Pure.

Shared by ``analyze`` (fed by the :class:`~certwatch.reader.Scanner`) and the daemon (fed by its listeners), so
nothing is parsed or correlated twice in different code. :meth:`Engine.feed` takes a batch of messages: the fused
fast path (:mod:`certwatch.fastpath`) takes the shapes that dominate traffic and hands everything else, one message
at a time, to the layered reference path (:meth:`Engine.message`, :meth:`Engine.live`). ``Engine(fast=False)``
runs the reference path alone; a property test requires both to agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Final

from certwatch.correlate import ChangeListener, Correlator, EngineSettings
from certwatch.fastpath import FastPath
from certwatch.model import FAILURE_REASONS, Failure, HttpLine, Record
from certwatch.nodes import NodeActivity, Nodes
from certwatch.parse import read_event
from certwatch.syslog import HOST, HeaderReader

TRAFFIC_SERVER: Final = "traffic_server"
_NEEDLE: Final = TRAFFIC_SERVER.encode()


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


__all__ = ["TRAFFIC_SERVER", "Engine", "MessageStats", "NodeActivity", "Nodes"]


class Engine:
    """Reads batches (:meth:`feed`) or one message at a time (the reference path). ``now`` is the receive clock;
    ``None`` means the message's own time."""

    __slots__ = ("_fast", "_latest", "correlator", "headers", "nodes", "stats")

    def __init__(
        self,
        settings: EngineSettings | None = None,
        clusters: Mapping[str, str] | None = None,
        zone: tzinfo = UTC,
        reference: float = 0.0,
        on_change: ChangeListener | None = None,
        fast: bool = True,
    ) -> None:
        self.headers = HeaderReader(zone, reference)
        self.correlator = Correlator(settings, clusters, on_change)
        self.nodes = Nodes(clusters or {}, self.correlator.settings.max_nodes)
        self.stats = MessageStats()
        self._latest = 0.0
        self._fast = FastPath(self) if fast else None

    @property
    def latest(self) -> float:
        """The latest message time seen (``analyze``'s clock)."""
        return self._latest

    def feed(self, messages: Sequence[bytes], now: float | None = None) -> None:
        """The one entry for a batch (a file chunk, a UDP wake-up, a TCP read). ``now`` is the receive clock of
        the batch (the daemon); ``None`` means each message's own time (``analyze``)."""
        if self._fast is not None:
            self._fast.feed(messages, now)
        elif now is None:
            for raw in messages:
                self.message(raw)
        else:
            for raw in messages:
                self.live(raw, now)

    def live(self, raw: bytes, now: float) -> None:
        """The daemon's entry: full parsing for ``traffic_server`` messages, only the host for the others."""
        if _NEEDLE in raw:
            self.message(raw, now)
            return
        stats = self.stats
        stats.messages += 1
        m = HOST.match(raw)
        if m is None:
            stats.failures["not_syslog"] += 1
            return
        stats.ignored += 1
        activity = self.nodes.get(m[1].decode(errors="replace"))
        activity.messages += 1
        activity.last_message = now

    def message(self, raw: bytes, now: float | None = None) -> None:
        stats = self.stats
        if now is not None:
            self.headers.reference = now  # classic RFC 3164 stamps take their year from the receive time
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
        activity = self.nodes.get(header.host)
        activity.messages += 1
        activity.last_message = header.ts if now is None else now
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
        if type(event) is HttpLine:
            activity.request_lines += 1
        self._latest = max(self._latest, header.ts)
        self.correlator.observe(Record(header, event), self._latest if now is None else now)
