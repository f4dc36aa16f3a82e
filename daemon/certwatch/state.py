"""What the daemon's shell shares with its readers (metrics, API): one object, written only on the event loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from certwatch.config import Config
from certwatch.engine import Engine
from certwatch.incidents import Incidents
from certwatch.ingress import Ingress
from certwatch.listeners import kernel
from certwatch.listeners.stream import StreamListener
from certwatch.listeners.udp import UdpListenerHandle
from certwatch.reader import ReadStats
from certwatch.telemetry import Telemetry

if TYPE_CHECKING:
    from certwatch.probe.service import ProbeService


@dataclass
class State:
    config: Config
    engine: Engine
    incidents: Incidents
    telemetry: Telemetry
    read_stats: ReadStats
    clock: Callable[[], float]
    ingress: Ingress | None = None
    udp: list[UdpListenerHandle] = field(default_factory=list)
    streams: list[StreamListener] = field(default_factory=list)
    http_address: str | None = None
    ready: bool = False
    host_udp_errors: Callable[[], int | None] = kernel.host_receive_buffer_errors
    probes: ProbeService | None = None

    def bound(self) -> list[dict[str, str]]:
        """Every bound listener with its real address (port 0 resolved)."""
        out = [{"protocol": "udp", "address": h.address} for h in self.udp]
        out += [{"protocol": s.transport_name, "address": s.address} for s in self.streams]
        return out
