"""``certwatch send``: replay Expressway log files to a syslog listener over UDP, TCP or TLS (I/O shell).

The inputs are opened by :func:`certwatch.inputs.open_sources` (plain, ``.gz``/``.bz2``/``.xz``, diagnostic
archives, ``-`` for standard input) and framed into messages by :class:`certwatch.reader.LineReader`: a header
line and its continuation lines (starting with a space, ``|``, ``HTTPMSG:`` or ``SIPMSG:``) stay one message;
blank lines are skipped; a message is cut at :data:`MESSAGE_LIMIT` bytes, the receiver's default
``input.max_message_bytes``. Each message is sent as it is in the file: it already carries its ``<PRI>`` and
header, so none is added.

Framing (RFC 6587 for TCP, RFC 5425 for TLS):

* UDP: one datagram per message, embedded LFs kept, no trailing LF, one socket for the whole replay. A message
  over :data:`UDP_MAX_PAYLOAD` bytes cannot be a datagram: it is skipped and counted in the summary.
* TCP/TLS with ``--octet-counting``: ``LEN SP MSG`` frames, ``LEN`` the byte length of the message.
* TCP/TLS without it: the message and one LF. The continuation lines then travel as lines of their own, which
  the receiver joins again per connection by the same continuation rules.

TLS: the server's certificate chain and host name are verified, against ``--ca-file`` when given, else against
the system trust store (as ``curl`` does): a private CA needs ``--ca-file``. ``--insecure`` turns verification off
and excludes ``--ca-file``. ``--cert-file`` and ``--key-file`` (both or neither) present a client certificate.

What comes from aiosyslog 0.2.1, and what does not:

* Used: ``SyslogClient.get_ssl_context()``, the TLS client context (``ssl.create_default_context`` for server
  authentication, the CA file, the client certificate chain), and its ``ServerCertificateLoadError`` and
  ``ClientCertificateLoadError``, which become the one-line error for an unusable ``--ca-file`` or client pair.
* Bypassed: its whole sending path, for plain ``asyncio`` streams (one connection, ``drain()`` after every write)
  and one connected datagram endpoint whose protocol honours ``pause_writing``. Its ``send()`` cuts every
  message at ``maxMessageLength`` (2048 bytes in RFC 3164 mode, 4096 in RFC 5424); its ``log()`` methods add a
  second header; ``_send_udp()`` opens and closes a socket per datagram; it has no octet-counting framing, and no
  framing constant to reuse (``aiosyslog.const`` holds facilities and severities only); its RFC 5424 client opens
  a TCP connection per message by default, and its TCP path takes a lock and a ``wait_for`` task per message,
  reconnects and resends silently, and recognises errors by macOS errno numbers in their text (``"Errno 61"``),
  so on Linux a refused connection is reported as ``Unknown OSError exception``.
* Import: aiosyslog runs ``logging.basicConfig(level=logging.INFO)`` when imported. It is imported only when a
  TLS context is built (:func:`tls_context`), never by ``import certwatch.send`` nor for UDP and TCP, and the
  root-logger handler and level that import sets are removed again.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import logging
import math
import os
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Final, Literal, Protocol

from certwatch.inputs import InputError, open_sources
from certwatch.reader import LineReader, ReadStats

EXIT_OK: Final = 0
EXIT_ERROR: Final = 2
MESSAGE_LIMIT: Final = 65536
UDP_MAX_PAYLOAD: Final = 65507  # 65535 - 8 (UDP header) - 20 (IPv4 header)
CONNECT_TIMEOUT: Final = 10.0  # seconds, TLS handshake included
CLOSE_TIMEOUT: Final = 10.0  # seconds to flush what is buffered when closing
SHUTDOWN_TIMEOUT: Final = 2.0  # seconds a TLS receiver has to answer close_notify once everything is flushed
CATCH_UP: Final = 0.1  # seconds of lateness a paced sender may make up back to back (see Pacer)

Transport = Literal["udp", "tcp", "tls"]
TRANSPORTS: Final[tuple[Transport, ...]] = ("udp", "tcp", "tls")


class SendError(Exception):
    """A usage, input or connection problem; the message is one line."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send: a host name or IP address (IPv6 without brackets) and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SendOptions:
    """A validated ``certwatch send`` command line."""

    target: Target
    files: tuple[str, ...]
    transport: Transport = "udp"
    octet_counting: bool = False
    rate: float | None = None
    tls: ssl.SSLContext | None = None


@dataclass(slots=True)
class SendStats:
    """What a replay did: messages and bytes (framing included) handed to the socket, and how long it took."""

    messages: int = 0
    bytes: int = 0
    skipped: int = 0  # UDP: messages too long for a datagram
    seconds: float = 0.0
    read: ReadStats = field(default_factory=ReadStats)


def parse_target(text: str) -> Target:
    """Parse ``HOST:PORT``, with an IPv6 address in brackets (``[::1]:5514``).

    Args:
        text: The command-line argument.

    Returns:
        The host (brackets removed) and the port.

    Raises:
        SendError: The text is not ``HOST:PORT``, the host is not a valid name, the port is not 1-65535, or an
            IPv6 address lacks brackets.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise SendError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:514 or [::1]:5514")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SendError(f"{text!r}: {host!r} in brackets is not an IPv6 address") from None
    elif "[" in host or "]" in host or ":" in host:
        raise SendError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:5514")
    else:
        try:
            host.encode("idna")  # what the resolver will do: empty or over-long labels fail
        except UnicodeError:
            raise SendError(f"{text!r}: {host!r} is not a valid host name") from None
    if not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise SendError(f"{text!r}: the port must be a number from 1 to 65535")
    return Target(host, int(port_text))


def frame(message: bytes, octet_counting: bool) -> bytes:
    """Frame one message for a stream: ``LEN SP MSG`` (RFC 6587 octet counting), else ``MSG LF``.

    Args:
        message: The message, embedded LFs included, without a trailing LF.
        octet_counting: Whether to prefix the length instead of appending a LF.

    Returns:
        The bytes to write.
    """
    if octet_counting:
        return b"%d %b" % (len(message), message)
    return message + b"\n"


class Pacer:
    """Spaces messages ``1/rate`` seconds apart. Pure: the caller passes the time and does the waiting.

    Message *k* is due ``1/rate`` seconds after message *k-1* was due. A sender that fell behind (a sleep that
    overshot, a receiver applying backpressure) sends the overdue messages back to back, but never more than
    ``catch_up`` seconds' worth: any two messages *i* < *j* are sent at least ``(j - i) / rate - catch_up``
    seconds apart, so a window of *W* seconds holds at most ``(W + catch_up) * rate + 1`` messages.
    """

    __slots__ = ("_catch_up", "_interval", "_next")

    def __init__(self, rate: float | None, catch_up: float = CATCH_UP) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._catch_up = catch_up
        self._next: float | None = None

    def delay(self, now: float) -> float:
        """Reserve the next message's slot.

        Args:
            now: The current time, in seconds of a monotonic clock.

        Returns:
            How many seconds to wait before sending the message (0 when unlimited or overdue).
        """
        if not self._interval:
            return 0.0
        due = now if self._next is None else max(self._next, now - self._catch_up)
        self._next = due + self._interval
        return max(due - now, 0.0)


def messages(files: Iterable[str], stats: ReadStats) -> Iterator[bytes]:
    """Yield every message of the inputs, in order; each source gets its own reader (no joining across files).

    Raises:
        InputError: An input cannot be opened or read (named in the message).
    """
    for arg in files:
        for source in open_sources(arg):
            reader = LineReader(MESSAGE_LIMIT, stats)
            for chunk in source.chunks():
                yield from reader.feed(chunk)
            yield from reader.finish()


def _import_aiosyslog() -> ModuleType:
    """Import aiosyslog and undo the ``logging.basicConfig(level=INFO)`` it runs at import time."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    module = importlib.import_module("aiosyslog")  # deferred: importing it configures logging
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return module


def tls_context(ca_file: str | None, cert_file: str | None, key_file: str | None, insecure: bool) -> ssl.SSLContext:
    """Build the TLS client context with aiosyslog's ``get_ssl_context()``.

    Args:
        ca_file: PEM CA certificates to verify the server with; ``None`` for the system trust store.
        cert_file: PEM client certificate (chain) to present, with ``key_file``; ``None`` for none.
        key_file: PEM private key of ``cert_file``.
        insecure: Do not verify the server at all (``ca_file`` must then be ``None``).

    Returns:
        A context that verifies the server's chain and host name, unless ``insecure``.

    Raises:
        SendError: A file cannot be loaded.
    """
    aiosyslog = _import_aiosyslog()
    cert_data = {"cafile": ca_file, "certfile": cert_file, "keyfile": key_file}
    # clientname given: the constructor would otherwise resolve this host's FQDN, which we never send.
    client = aiosyslog.SyslogClientRFC5424("unused", 0, proto="tls", clientname="certwatch", cert_data=cert_data)
    errors = aiosyslog.exceptions
    try:
        context: ssl.SSLContext = client.get_ssl_context()
    except errors.ServerCertificateLoadError as exc:
        raise SendError(f"--ca-file {ca_file}: {exc}") from None
    except errors.ClientCertificateLoadError as exc:
        raise SendError(f"--cert-file {cert_file} / --key-file {key_file}: {exc}") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Sink(Protocol):
    async def send(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class _DatagramProtocol(asyncio.DatagramProtocol):
    """Keeps the first socket error (an ICMP port unreachable arrives as one) and the writing pauses."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.error: OSError | None = None

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def error_received(self, exc: Exception) -> None:
        if self.error is None and isinstance(exc, OSError):
            self.error = exc

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, OSError):
            self.error_received(exc)
        if not self.closed.done():
            self.closed.set_result(None)


class _DatagramSink:
    """One connected UDP socket for the whole replay; waits while the transport's buffer is over its limit."""

    def __init__(self, transport: asyncio.DatagramTransport, protocol: _DatagramProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def send(self, data: bytes) -> None:
        self._raise_error()
        if not self._protocol.writable.is_set():
            await self._protocol.writable.wait()
        self._transport.sendto(data)

    async def close(self) -> None:
        self._transport.close()  # sends what is buffered first
        await self._protocol.closed
        self._raise_error()

    def _raise_error(self) -> None:
        if self._protocol.error is not None:
            raise self._protocol.error


class _StreamSink:
    """One TCP or TLS connection; ``drain()`` after every write applies the receiver's backpressure."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        """Flush everything, then close. A TLS receiver that does not answer ``close_notify`` is cut off, not an
        error: the messages have been written by then."""
        self._writer.transport.set_write_buffer_limits(high=0)
        await self._writer.drain()  # returns once the buffer is empty
        self._writer.close()
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                await self._writer.wait_closed()
        except TimeoutError:
            self._writer.transport.abort()


def _reason(exc: OSError) -> str:
    """A short, one-line reason for a socket or TLS error."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host: {exc.strerror}"
    if exc.errno:
        return os.strerror(exc.errno)
    return " ".join(str(exc).split()) or type(exc).__name__


async def _open_sink(options: SendOptions) -> _Sink:
    host, port = options.target.host, options.target.port
    async with asyncio.timeout(CONNECT_TIMEOUT):
        if options.transport == "udp":
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.create_datagram_endpoint(_DatagramProtocol, remote_addr=(host, port))
            return _DatagramSink(transport, protocol)
        _, writer = await asyncio.open_connection(host, port, ssl=options.tls)
        return _StreamSink(writer)


@asynccontextmanager
async def _connected(options: SendOptions) -> AsyncIterator[_Sink]:
    """Connect, and close on the way out: flushing what is buffered, within :data:`CLOSE_TIMEOUT`."""
    where = f"{options.transport} {options.target}"
    try:
        sink = await _open_sink(options)
    except OSError as exc:
        raise SendError(f"cannot connect to {where}: {_reason(exc)}") from None
    try:
        yield sink
    except BaseException:
        with suppress(OSError):  # already failing: the first error is the one reported
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await sink.close()
        raise
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await sink.close()
    except OSError as exc:
        raise SendError(f"closing {where}: {_reason(exc)}") from None


async def _pump(options: SendOptions, sink: _Sink, stats: SendStats) -> None:
    loop = asyncio.get_running_loop()
    pacer = Pacer(options.rate)
    stream = options.transport != "udp"
    for message in messages(options.files, stats.read):
        if not stream and len(message) > UDP_MAX_PAYLOAD:
            stats.skipped += 1
            continue
        wait = pacer.delay(loop.time())
        if wait > 0:
            await asyncio.sleep(wait)
        data = frame(message, options.octet_counting) if stream else message
        await sink.send(data)
        stats.messages += 1
        stats.bytes += len(data)


async def replay(options: SendOptions) -> SendStats:
    """Send every message of ``options.files`` to ``options.target`` over one socket.

    Args:
        options: A validated command line (see :func:`options_from`).

    Returns:
        What was sent, and how long it took from connecting to closing.

    Raises:
        SendError: Connecting, sending or an input failed; the message says so in one line.
    """
    stats = SendStats()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with _connected(options) as sink:
            await _pump(options, sink, stats)
    except (OSError, InputError) as exc:
        reason = _reason(exc) if isinstance(exc, OSError) else str(exc)
        where = "" if isinstance(exc, InputError) else f"sending to {options.transport} {options.target}: "
        raise SendError(f"{where}{reason} (after {_count(stats.messages, 'message')})") from None
    stats.seconds = loop.time() - started
    return stats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``certwatch send`` options and arguments to its (sub)parser.

    Args:
        parser: The parser of the ``send`` subcommand; :func:`run` reads the namespace it produces.
    """
    parser.add_argument("--transport", choices=TRANSPORTS, default="udp", help="(default: udp)")
    parser.add_argument(
        "--octet-counting",
        action="store_true",
        help="TCP/TLS: frame as 'LEN SP MSG' (RFC 6587 octet counting) instead of LF-terminated",
    )
    parser.add_argument(
        "--ca-file",
        metavar="FILE",
        help="TLS: CA certificates (PEM) to verify the server with (default: system trust store)",
    )
    parser.add_argument("--cert-file", metavar="FILE", help="TLS: client certificate (PEM) to present")
    parser.add_argument("--key-file", metavar="FILE", help="TLS: private key (PEM) of --cert-file")
    parser.add_argument("--insecure", action="store_true", help="TLS: do not verify the server's certificate")
    parser.add_argument("--rate", type=float, metavar="N", help="at most N messages per second (default: unlimited)")
    parser.add_argument("target", metavar="HOST:PORT", help="listener address; IPv6 in brackets: [::1]:5514")
    parser.add_argument("files", nargs="+", metavar="FILE", help="log file, archive, or - for standard input")


def _check_usage(args: argparse.Namespace) -> None:
    """Reject option combinations that would otherwise be silently ignored."""
    tls_options = args.ca_file or args.cert_file or args.key_file or args.insecure
    if args.transport != "tls" and tls_options:
        raise SendError("--ca-file, --cert-file, --key-file and --insecure need --transport tls")
    if args.transport == "udp" and args.octet_counting:
        raise SendError("--octet-counting needs --transport tcp or tls")
    if (args.cert_file is None) != (args.key_file is None):
        raise SendError("--cert-file and --key-file go together")
    if args.insecure and args.ca_file:
        raise SendError("--insecure turns off the verification --ca-file is for: give one of them")
    if args.rate is not None and not (math.isfinite(args.rate) and args.rate > 0):
        raise SendError("--rate must be a positive number of messages per second")


def _check_readable(files: Iterable[str]) -> None:
    """Open each named file once before connecting, so a mistyped name fails before anything is sent."""
    for name in files:
        if name == "-":
            continue
        try:
            Path(name).open("rb").close()
        except OSError as exc:
            raise InputError(f"{name}: {exc.strerror or exc}") from None


def options_from(args: argparse.Namespace) -> SendOptions:
    """Validate the namespace of :func:`add_arguments` and build the TLS context.

    Raises:
        SendError: A usage error, an unreadable input or an unusable certificate file.
    """
    _check_usage(args)
    target = parse_target(args.target)
    try:
        _check_readable(args.files)
    except InputError as exc:
        raise SendError(str(exc)) from None
    context = None
    if args.transport == "tls":
        context = tls_context(args.ca_file, args.cert_file, args.key_file, args.insecure)
    return SendOptions(target, tuple(args.files), args.transport, args.octet_counting, args.rate, context)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def summary(options: SendOptions, stats: SendStats) -> str:
    """The one-line report printed on standard error after a replay."""
    text = (
        f"certwatch send: {_count(stats.messages, 'message')}, {_count(stats.bytes, 'byte')} "
        f"in {stats.seconds:.3f} s to {options.transport} {options.target}"
    )
    notes = []
    if stats.skipped:
        notes.append(f"{stats.skipped} skipped (over {UDP_MAX_PAYLOAD} bytes, too long for a datagram)")
    if stats.read.overlong_lines:
        notes.append(f"{_count(stats.read.overlong_lines, 'line')} cut at {MESSAGE_LIMIT} bytes")
    if stats.read.orphan_lines:
        notes.append(f"{_count(stats.read.orphan_lines, 'continuation line')} without a message dropped")
    return f"{text}; {'; '.join(notes)}" if notes else text


def run(args: argparse.Namespace) -> int:
    """Run ``certwatch send``.

    Args:
        args: The namespace parsed by a parser set up with :func:`add_arguments`.

    Returns:
        0 when every message was sent (summary on standard error); 2 on a usage, input or connection error,
        with one line on standard error.
    """
    # asyncio logs "socket.send() raised exception." while a refused connection goes down: the error line says it
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    try:
        options = options_from(args)
        stats = asyncio.run(replay(options))
    except SendError as exc:
        sys.stderr.write(f"certwatch send: error: {' '.join(str(exc).split())}\n")
        return EXIT_ERROR
    sys.stderr.write(summary(options, stats) + "\n")
    return EXIT_OK
