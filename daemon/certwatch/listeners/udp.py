"""UDP syslog: one message per datagram (embedded LFs kept); a datagram that starts like a continuation line
continues the previous message of the same source address. Work is batched per event-loop wake-up.

``datagram_received`` only appends the datagram to a list and, on the first of a batch, asks for a flush
``batch_wait`` seconds later (``ingress.udp_batch_wait``; at once when 0, or when :data:`FLUSH_AT` datagrams are
waiting): at 10k msg/s a datagram wakes the loop every 100 µs, and waiting 10 ms makes batches of about 100. The
byte count, the allowed-senders check (once per distinct address), line ends, the size bound and the joining are
done per batch by the flush, in bulk. The joining keeps the rules of one datagram at a time exactly: a sender's
message is held until its next datagram that is not a continuation (or ``ingress.continuation_wait`` idle), and
messages complete in the order of the datagrams that complete them.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import OrderedDict
from collections.abc import Callable, Sequence
from itertools import compress, islice
from operator import itemgetter, ne
from typing import Any, Final

from certwatch.config import UdpListener, split_address
from certwatch.ingress import Batch, Ingress
from certwatch.listeners import binding, kernel
from certwatch.listeners.binding import Bindings
from certwatch.listeners.senders import SenderFilter
from certwatch.reader import Joiner, ReadStats
from certwatch.telemetry import Telemetry

Address = tuple[Any, ...]

FLUSH_AT: Final = 1024  # datagrams waiting: flushed without waiting longer (a bound on the list)
_FIRST: Final = itemgetter(0)
_SECOND: Final = itemgetter(1)
_LAST: Final = itemgetter(-1)


def _ends_a_line(last_bytes: bytes) -> bool:
    return b"\n" in last_bytes or b"\r" in last_bytes


class _Sender:
    __slots__ = ("joiner", "last")

    def __init__(self, joiner: Joiner, last: float) -> None:
        self.joiner = joiner
        self.last = last


class UdpProtocol(asyncio.DatagramProtocol):
    """Collects the datagrams of one loop iteration, then joins and queues them as one batch.

    ``allowed`` None: every sender is allowed (no check at all). A wake-up's datagrams go through the plain
    per-datagram rules when they are fewer than ``bulk_from``, else through the bulk path (same result).
    """

    bulk_from = 12

    def __init__(
        self,
        allowed: SenderFilter | None,
        ingress: Ingress,
        telemetry: Telemetry,
        read_stats: ReadStats,
        limit: int,
        max_senders: int,
        clock: Callable[[], float],
        batch_wait: float = 0.0,
        bindings: Bindings | None = None,
    ) -> None:
        self._allowed = allowed
        self._bindings = bindings
        self.batch_wait = batch_wait
        self._ingress = ingress
        self._telemetry = telemetry
        self._read_stats = read_stats
        self._limit = limit
        self._max_senders = max_senders
        self._clock = clock
        self._senders: OrderedDict[Address, _Sender] = OrderedDict()
        self._pending: list[tuple[bytes, Address]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        pending = self._pending
        if not pending:
            loop: asyncio.AbstractEventLoop = self._loop  # type: ignore[assignment]  # connection_made came first
            if self.batch_wait:
                loop.call_later(self.batch_wait, self._flush)
            else:
                loop.call_soon(self._flush)
        elif len(pending) >= FLUSH_AT:
            self._flush()  # the timer that is pending finds this batch gone, or flushes the next one early
            pending = self._pending
        pending.append((data, addr))

    def _flush(self) -> None:
        """The datagrams of one wake-up: count, check, cut, join; queue the messages they complete as a batch."""
        pending, self._pending = self._pending, []
        if not pending:
            return  # flushed early by flush_all
        now = self._clock()
        if len(pending) < self.bulk_from:
            messages = self._one_at_a_time(pending, now)
        else:
            messages = self._in_bulk(pending, now)
        if messages:
            batch = Batch("udp", now, messages)
            if not self._ingress.offer(batch):  # offer_or_drop, inline
                self._ingress.drop(batch)

    def _one_at_a_time(self, pending: list[tuple[bytes, Address]], now: float) -> list[bytes]:
        """The plain rules, datagram by datagram: the cheapest for the few datagrams of a wake-up at low rates."""
        telemetry, allowed, senders = self._telemetry, self._allowed, self._senders
        messages = []
        for data, addr in pending:
            telemetry.received_bytes["udp"] += len(data)
            if allowed is not None and not allowed(addr[0]):
                telemetry.dropped["sender_refused"] += 1
                continue
            sender = senders.get(addr)
            if sender is None:
                sender = self._sender(addr, now)
            else:  # a known sender: what _sender does, inline
                senders.move_to_end(addr)
                sender.last = now
            # the datagram as a message piece: one trailing LF then one CR removed, bounded
            piece = data[:-1] if data.endswith(b"\n") else data
            if piece.endswith(b"\r"):
                piece = piece[:-1]
            if len(piece) > self._limit:
                self._read_stats.overlong_lines += 1
                piece = piece[: self._limit]
            done = sender.joiner.push(piece)
            if done is not None:
                messages.append(done)
        return messages

    def _in_bulk(self, pending: list[tuple[bytes, Address]], now: float) -> list[bytes]:
        """The same rules for many datagrams at once, with C-level passes over the whole batch."""
        datas: Sequence[bytes] = list(map(_FIRST, pending))
        addrs: Sequence[Address] = list(map(_SECOND, pending))
        self._telemetry.received_bytes["udp"] += sum(map(len, datas))
        if self._allowed is not None:
            datas, addrs = self._admit(datas, addrs)
            if not datas:
                return []
        return self._join(self._pieces(datas), addrs, now)

    def _admit(self, datas: Sequence[bytes], addrs: Sequence[Address]) -> tuple[Sequence[bytes], Sequence[Address]]:
        """Drop (and count) the datagrams of senders outside ``allowed_senders``: one check per distinct host."""
        allowed = self._allowed
        assert allowed is not None
        refused = {host for host in set(map(_FIRST, addrs)) if not allowed(host)}
        if not refused:
            return datas, addrs
        keep = [i for i, addr in enumerate(addrs) if addr[0] not in refused]
        self._telemetry.dropped["sender_refused"] += len(addrs) - len(keep)
        return [datas[i] for i in keep], [addrs[i] for i in keep]

    def _pieces(self, datas: Sequence[bytes]) -> Sequence[bytes]:
        """Datagrams as message pieces: one trailing LF then one CR removed, bounded (cut and counted)."""
        if b"" in datas or _ends_a_line(bytes(map(_LAST, datas))):
            datas = [data.removesuffix(b"\n").removesuffix(b"\r") for data in datas]
        limit = self._limit
        if max(map(len, datas)) > limit:
            self._read_stats.overlong_lines += sum(1 for data in datas if len(data) > limit)
            datas = [data[:limit] for data in datas]
        return datas

    def _join(self, pieces: Sequence[bytes], addrs: Sequence[Address], now: float) -> list[bytes]:
        """Each sender's pieces through its joiner, a run of consecutive datagrams of one sender at a time: the same
        messages, in the same order, as one datagram at a time (a message completes at its sender's next piece
        that is not a continuation, which is in the same run or a later one)."""
        first = addrs[0]
        if addrs.count(first) == len(addrs):  # one sender: the common case
            return self._sender(first, now).joiner.push_many(pieces)
        changes = list(compress(range(1, len(addrs)), map(ne, islice(addrs, 1, None), addrs)))
        if len(changes) * self.bulk_from > len(addrs):  # short runs: senders interleave datagram by datagram
            return self._push_each(pieces, addrs, now)
        messages: list[bytes] = []
        start = 0
        for stop in [*changes, len(addrs)]:
            messages += self._sender(addrs[start], now).joiner.push_many(pieces[start:stop])
            start = stop
        return messages

    def _push_each(self, pieces: Sequence[bytes], addrs: Sequence[Address], now: float) -> list[bytes]:
        """Piece by piece, for a batch in which senders take turns datagram by datagram."""
        messages = []
        for piece, addr in zip(pieces, addrs, strict=True):
            done = self._sender(addr, now).joiner.push(piece)
            if done is not None:
                messages.append(done)
        return messages

    def _sender(self, addr: Address, now: float) -> _Sender:
        sender = self._senders.get(addr)
        if sender is None:
            joiner = binding.joiner(self._limit, self._read_stats, self._bindings, str(addr[0]), "udp", None)
            sender = self._senders[addr] = _Sender(joiner, now)
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
        """Closing: the datagrams of this wake-up, then every message held."""
        self._flush()
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
    batch_wait: float = 0.0,
    bindings: Bindings | None = None,
) -> UdpListenerHandle:
    sock = _socket(config)
    allowed = SenderFilter(config.allowed_senders) if config.allowed_senders else None
    protocol = UdpProtocol(allowed, ingress, telemetry, read_stats, limit, max_senders, clock, batch_wait, bindings)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
    return UdpListenerHandle(config, transport, protocol)
