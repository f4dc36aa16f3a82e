"""Peers bound to their senders (``node_senders``): who may speak for which Expressway node.

A syslog message names its node in its header, and over UDP anyone who can reach the port can write any name: a
forged datagram could open (or hide behind noise) another peer's incidents. A node listed in ``node_senders`` is
accepted only from its networks and, when certificate names are listed, only over TLS from a client certificate
with one of them (subject CN or SAN DNS name). Any other message naming it is dropped and counted
(``certwatch_messages_dropped_total{reason="node_sender_mismatch"}``) and logged at most once a minute per node
and sender. Nodes not listed are accepted from anyone, as before.

The check runs on whole messages, after continuation joining, in a :class:`VettedJoiner`: the joiner of one UDP
source address or one TCP/TLS connection, which knows that sender's address and certificate names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from certwatch.config import NodeBinding
from certwatch.reader import Joiner, ReadStats
from certwatch.syslog import HOST
from certwatch.telemetry import Telemetry

REASON: Final = "node_sender_mismatch"
LOG_EVERY: Final = 60.0  # seconds between two log lines for one node and sender
_LOGGED_LIMIT: Final = 4096


class Bindings:
    """The bound nodes (by their raw host bytes) and the shared drop counter and log."""

    def __init__(
        self, bindings: Mapping[str, NodeBinding], telemetry: Telemetry, log: Any, clock: Callable[[], float]
    ) -> None:
        self._bound = {node.encode(): binding for node, binding in bindings.items()}
        self._telemetry = telemetry
        self._log = log
        self._clock = clock
        self._logged: dict[tuple[bytes, str], float] = {}

    def configure(self, bindings: Mapping[str, NodeBinding]) -> None:
        """A reload: the new bindings apply to every message from now on, on every sender."""
        self._bound = {node.encode(): binding for node, binding in bindings.items()}

    def allows(self, binding: NodeBinding, address: str, names: frozenset[str] | None) -> bool:
        if binding.networks:
            try:
                ip = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                return False
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            if not any(ip in network for network in binding.networks if ip.version == network.version):
                return False
        return not binding.names or (names is not None and not binding.names.isdisjoint(names))

    def vet(self, messages: Sequence[bytes], address: str, names: frozenset[str] | None, transport: str) -> list[bytes]:
        """``messages`` of one sender without those that name a node this sender may not speak for."""
        bound = self._bound
        if not bound:
            return list(messages)
        out = []
        for message in messages:
            m = HOST.match(message)
            binding = bound.get(m[1]) if m is not None else None
            if binding is None or self.allows(binding, address, names):
                out.append(message)
            else:
                self._drop(m[1], address, transport)  # type: ignore[index]
        return out

    def _drop(self, node: bytes, address: str, transport: str) -> None:
        telemetry = self._telemetry
        telemetry.received[transport] += 1  # received, not processed: counted as a drop (as queue_full is)
        telemetry.dropped[REASON] += 1
        now = self._clock()
        key = (node, address)
        if now - self._logged.get(key, float("-inf")) < LOG_EVERY:
            return
        if len(self._logged) >= _LOGGED_LIMIT:
            self._logged.clear()
        self._logged[key] = now
        self._log.warning(REASON, node=node.decode(errors="replace"), sender=address, transport=transport)


class VettedJoiner(Joiner):
    """A :class:`~certwatch.reader.Joiner` for one sender whose completed messages are vetted by ``node_senders``."""

    __slots__ = ("_address", "_bindings", "_bulk", "_transport", "names")

    def __init__(
        self,
        limit: int,
        stats: ReadStats,
        bindings: Bindings,
        address: str,
        transport: str,
        names: frozenset[str] | None,
    ) -> None:
        super().__init__(limit, stats)
        self._bindings = bindings
        self._address = address
        self._transport = transport
        self.names = names  # the client certificate's names (TLS), once its handshake is done
        self._bulk = False  # inside push_many, whose own calls of push and flush are vetted with its result

    def push(self, piece: bytes) -> bytes | None:
        done = super().push(piece)
        return done if done is None or self._bulk else self._one(done)

    def push_many(self, pieces: Sequence[bytes]) -> list[bytes]:
        self._bulk = True
        try:
            done = super().push_many(pieces)
        finally:
            self._bulk = False
        return self._bindings.vet(done, self._address, self.names, self._transport)

    def flush(self) -> bytes | None:
        done = super().flush()
        return done if done is None or self._bulk else self._one(done)

    def _one(self, message: bytes) -> bytes | None:
        kept = self._bindings.vet((message,), self._address, self.names, self._transport)
        return kept[0] if kept else None


def joiner(
    limit: int, stats: ReadStats, bindings: Bindings | None, address: str, transport: str, names: frozenset[str] | None
) -> Joiner:
    """The joiner of one sender: vetting when the listener has bindings (the daemon's always do, so a reload that
    binds a node applies to senders already known), plain otherwise."""
    if bindings is None:
        return Joiner(limit, stats)
    return VettedJoiner(limit, stats, bindings, address, transport, names)
