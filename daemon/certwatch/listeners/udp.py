"""UDP syslog: one message per datagram (embedded LFs kept); a datagram that starts like a continuation line
continues the previous message of the same source address. Work is batched per event-loop wake-up."""

from __future__ import annotations

import asyncio
import os
import socket
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from certwatch.config import UdpListener, split_address
from certwatch.ingress import Batch, Ingress
from certwatch.listeners import kernel
from certwatch.listeners.senders import SenderFilter
from certwatch.reader import Joiner, ReadStats
from certwatch.telemetry import Telemetry

Address = tuple[Any, ...]


class _Sender:
    __slots__ = ("joiner", "last")

    def __init__(self, joiner: Joiner, last: float) -> None:
        self.joiner = joiner
        self.last = last


class UdpProtocol(asyncio.DatagramProtocol):
    """Collects the datagrams of one loop iteration, then joins and queues them as one batch."""

    def __init__(
        self,
        allowed: SenderFilter,
        ingress: Ingress,
        telemetry: Telemetry,
        read_stats: ReadStats,
        limit: int,
        max_senders: int,
        clock: Callable[[], float],
    ) -> None:
        self._allowed = allowed
        self._ingress = ingress
        self._telemetry = telemetry
        self._read_stats = read_stats
        self._limit = limit
        self._max_senders = max_senders
        self._clock = clock
        self._senders: OrderedDict[Address, _Sender] = OrderedDict()
        self._pending: list[tuple[bytes, Address]] = []
        self._scheduled = False
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._telemetry.received_bytes["udp"] += len(data)
        if not self._allowed(addr[0]):
            self._telemetry.dropped["sender_refused"] += 1
            return
        self._pending.append((data, addr))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        now = self._clock()
        messages: list[bytes] = []
        for data, addr in pending:
            done = self._sender(addr, now).joiner.push(self._piece(data))
            if done is not None:
                messages.append(done)
        if messages:
            self._ingress.offer_or_drop(Batch("udp", now, messages))

    def _piece(self, data: bytes) -> bytes:
        """A datagram as a message piece: trailing line end removed, bounded."""
        if data.endswith(b"\n"):
            data = data[:-1]
        if data.endswith(b"\r"):
            data = data[:-1]
        if len(data) > self._limit:
            self._read_stats.overlong_lines += 1
            data = data[: self._limit]
        return data

    def _sender(self, addr: Address, now: float) -> _Sender:
        sender = self._senders.get(addr)
        if sender is None:
            sender = self._senders[addr] = _Sender(Joiner(self._limit, self._read_stats), now)
            if len(self._senders) > self._max_senders:
                _, oldest = self._senders.popitem(last=False)
                done = oldest.joiner.flush()
                if done is not None:
                    self._ingress.offer_or_drop(Batch("udp", now, [done]))
        else:
            self._senders.move_to_end(addr)
            sender.last = now
        return sender

    def flush_idle(self, now: float, wait: float) -> None:
        """Queue the messages that waited ``wait`` seconds for a continuation that did not come."""
        idle = [s.joiner for s in self._senders.values() if now - s.last >= wait and s.joiner.pending]
        messages = [done for joiner in idle if (done := joiner.flush()) is not None]
        if messages:
            self._ingress.offer_or_drop(Batch("udp", now, messages))

    def flush_all(self) -> None:
        self.flush_idle(self._clock(), 0.0)


class UdpListenerHandle:
    """A bound UDP socket with its protocol; ``address`` is the real bound address (port 0 resolved)."""

    def __init__(self, config: UdpListener, transport: asyncio.DatagramTransport, protocol: UdpProtocol) -> None:
        self.config = config
        self.transport = transport
        self.protocol = protocol
        sock: socket.socket = transport.get_extra_info("socket")
        self.inode = os.fstat(sock.fileno()).st_ino
        self.receive_buffer = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        host, port = sock.getsockname()[:2]
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def kernel_drops(self) -> int | None:
        return kernel.socket_drops(self.inode)

    def close(self) -> None:
        self.protocol.flush_all()
        self.transport.close()


def _socket(config: UdpListener) -> socket.socket:
    host, port = split_address(config.address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; SO_RCVBUF is capped by rmem_max.
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), config.receive_buffer_bytes)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, config.receive_buffer_bytes)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


async def open_udp(
    config: UdpListener,
    ingress: Ingress,
    telemetry: Telemetry,
    read_stats: ReadStats,
    limit: int,
    max_senders: int,
    clock: Callable[[], float],
) -> UdpListenerHandle:
    sock = _socket(config)
    protocol = UdpProtocol(
        SenderFilter(config.allowed_senders), ingress, telemetry, read_stats, limit, max_senders, clock
    )
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
    return UdpListenerHandle(config, transport, protocol)
