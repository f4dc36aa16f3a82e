"""TCP and TLS syslog (RFC 6587 framing, RFC 5425 TLS): one protocol object per connection.

Each connection has its own framer (octet counting or LF, detected per frame) and its own joiner (continuation
lines attach to the previous message of the same connection).

TLS connections are accepted by a loop of our own (``sock_accept``), checked (allowed sender, connection limit)
and handed to the event loop's TLS with ``connect_accepted_socket(..., ssl=...)`` from their first byte, so the
handshake's outcome is ours to count by reason, and nothing a peer sends is read before its handshake succeeded.
(Upgrading a plain transport with ``start_tls`` loses a ClientHello that arrives with the connection under uvloop,
which starts reading right after ``connection_made``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import cast

from certwatch.config import TcpListener, TlsListener, split_address
from certwatch.framing import FramingStats, StreamFramer
from certwatch.ingress import Batch, Ingress
from certwatch.listeners import binding, tls
from certwatch.listeners.binding import Bindings
from certwatch.listeners.senders import SenderFilter
from certwatch.reader import Joiner, ReadStats
from certwatch.telemetry import Telemetry

log = logging.getLogger("certwatch.listeners")


class StreamListener:
    """One bound TCP or TLS socket and its open connections."""

    def __init__(
        self,
        config: TcpListener | TlsListener,
        ingress: Ingress,
        telemetry: Telemetry,
        read_stats: ReadStats,
        limit: int,
        clock: Callable[[], float],
        context: ssl.SSLContext | None = None,
        on_identity: Callable[[str, str | None], None] | None = None,
        bindings: Bindings | None = None,
    ) -> None:
        self.config = config
        self.bindings = bindings
        self.transport_name = "tls" if context is not None else "tcp"
        self.ingress = ingress
        self.telemetry = telemetry
        self.read_stats = read_stats
        self.limit = limit
        self.clock = clock
        self.context = context
        self.on_identity = on_identity
        self.allowed = SenderFilter(config.allowed_senders)
        self.framing = FramingStats()  # shared by the connections' framers: read at scrape time
        self.connections: set[StreamProtocol] = set()
        self.server: asyncio.Server | None = None
        self.address = config.address
        self._socket: socket.socket | None = None  # TLS: our listening socket
        self._acceptor: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        host, port = split_address(self.config.address)
        loop = asyncio.get_running_loop()
        if self.context is None:
            self.server = await loop.create_server(lambda: StreamProtocol(self), host, port, reuse_address=True)
            sock = self.server.sockets[0]
        else:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = self._socket = socket.create_server((host, port), family=family, backlog=1024)
            sock.setblocking(False)
            self._acceptor = loop.create_task(self._accept(sock))
        sockname = sock.getsockname()
        bound_host, bound_port = sockname[0], sockname[1]
        self.address = f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}"

    def refuse(self, host: str) -> str | None:
        """Why a new connection from ``host`` is closed at once (counted), or None to accept it."""
        if not self.allowed(host):
            return "sender"
        if len(self.connections) + len(self._handshakes) >= self.config.max_connections:
            return "limit"
        return None

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(listening)
            except OSError as exc:  # out of file descriptors and the like: wait, do not spin
                log.warning("tls accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            reason = self.refuse(str(peer[0]))
            if reason is not None:
                self.telemetry.refused[(self.transport_name, reason)] += 1
                conn.close()
                continue
            task = loop.create_task(self._handshake(conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, conn: socket.socket) -> None:
        assert self.context is not None
        config = self.config
        timeout = config.handshake_timeout if isinstance(config, TlsListener) else 10.0
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                lambda: StreamProtocol(self), conn, ssl=self.context, ssl_handshake_timeout=timeout
            )
        except (OSError, TimeoutError, EOFError, ValueError) as exc:  # ssl.SSLError is an OSError
            # an accepted connection, closed on error: counted like one, plus the handshake failure's reason
            telemetry = self.telemetry
            telemetry.tls_failures[tls.failure_reason(exc)] += 1
            telemetry.connections["tls"] += 1
            telemetry.closed[("tls", "error")] += 1
            with contextlib.suppress(OSError):
                conn.close()

    def stop_accepting(self) -> None:
        if self.server is not None:
            self.server.close()
        if self._acceptor is not None:
            self._acceptor.cancel()
            self._acceptor = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def flush_idle(self, now: float, wait: float) -> None:
        for connection in list(self.connections):
            connection.flush_idle(now, wait)
            if now - connection.last_activity > self.config.idle_timeout:
                connection.close("idle")

    def close_all(self, reason: str) -> None:
        for task in list(self._handshakes):
            task.cancel()
        for connection in list(self.connections):
            connection.close(reason)


class StreamProtocol(asyncio.Protocol):
    """One connection: frames bytes, joins continuation lines, queues batches; pauses when the queue is full."""

    def __init__(self, listener: StreamListener) -> None:
        self.listener = listener
        self.framer = StreamFramer(listener.limit, listener.framing)
        self.joiner = Joiner(listener.limit, listener.read_stats)
        self.transport: asyncio.Transport | None = None
        self.last_activity = listener.clock()
        self.last_push = self.last_activity
        self.identity: str | None = None
        self._registered = False
        self._backlog: Batch | None = None
        self._close_reason = "peer"

    # ---- connection lifecycle ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """TCP: a new connection. TLS: a connection whose handshake succeeded (the listener checked it before)."""
        transport = cast("asyncio.Transport", transport)  # uvloop's transports are not asyncio.Transport instances
        listener = self.listener
        name = listener.transport_name
        self.transport = transport
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if peer else ""
        if listener.context is None and (reason := listener.refuse(host)) is not None:
            listener.telemetry.refused[(name, reason)] += 1
            transport.abort()
            return
        listener.connections.add(self)
        self._registered = True
        listener.telemetry.connections[name] += 1
        listener.telemetry.connections_open[name] += 1
        names = None
        if listener.context is not None:
            peercert = transport.get_extra_info("peercert")
            self.identity = tls.peer_identity(peercert)
            names = tls.peer_names(peercert)
            if listener.on_identity is not None:
                listener.on_identity(host, self.identity)
        self.joiner = binding.joiner(listener.limit, listener.read_stats, listener.bindings, host, name, names)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._registered:
            self._queue(self.framer.finish())
            done = self.joiner.flush()
            if done is not None:
                self._offer([done])
        self._unregister(self._close_reason if exc is None else "error")

    def _unregister(self, reason: str) -> None:
        if not self._registered:
            return
        self._registered = False
        listener = self.listener
        listener.connections.discard(self)
        if self._backlog is None:
            listener.ingress.forget(self)  # else it stays queued for room: its backlog is still to be delivered
        name = listener.transport_name
        listener.telemetry.connections_open[name] -= 1
        listener.telemetry.closed[(name, reason)] += 1

    def close(self, reason: str) -> None:
        self._close_reason = reason
        if self.transport is not None:
            self.transport.close()

    # ---- data ------------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self._registered:
            return  # a refused connection, being aborted
        listener = self.listener
        listener.telemetry.received_bytes[listener.transport_name] += len(data)
        self.last_activity = listener.clock()
        self._queue(self.framer.feed(data))

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def _queue(self, frames: list[bytes]) -> None:
        """The frames of one read, joined in bulk (the last one is held: the next read may continue it)."""
        if not frames:
            return
        self.last_push = self.last_activity
        messages = self.joiner.push_many(frames)
        if messages:
            self._offer(messages)

    def _offer(self, messages: list[bytes]) -> None:
        """Queue a batch; when the queue is full, hold it back and stop reading until there is room. A closed
        connection's last batch waits the same way: nothing received is dropped (except at shutdown, counted)."""
        listener = self.listener
        batch = Batch(listener.transport_name, listener.clock(), messages)
        if self._backlog is not None:
            self._backlog = Batch(batch.transport, batch.received, self._backlog.messages + messages)
            return
        if listener.ingress.offer(batch):
            return
        self._backlog = batch
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        listener.ingress.wait_for_room(self)

    def resume(self) -> None:
        """Called by the ingress when the queue has room: queue the backlog, read again."""
        backlog, self._backlog = self._backlog, None
        if backlog is not None and not self.listener.ingress.offer(backlog):
            self._backlog = backlog
            self.listener.ingress.wait_for_room(self)
            return
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def flush_idle(self, now: float, wait: float) -> None:
        if self._backlog is None and self.joiner.pending and now - self.last_push >= wait:
            done = self.joiner.flush()
            if done is not None:
                self._offer([done])
