"""Fuzz targets: one function per part of certwatch that takes outside input, each ``(data: bytes) -> None``.

A target decodes the fuzzer's bytes itself (a few control bytes, then the payload), so this module needs no
atheris: ``run.py`` drives the targets with atheris/libFuzzer, and ``test_fuzz_targets.py`` runs them on their
seed inputs in the ordinary test suite. A target fails by raising: any exception that escapes certwatch (every bad
input must end as a counted outcome: a ``Failure``, a counter, a ``ConfigInvalidError``), or a
:class:`CheckFailedError` when an invariant does not hold: state stays within its bounds, any chunking or batching
gives the same result, the fast path agrees with the layered reference path.

Seeds (:func:`Target.seeds`) come from ``examples/*.log``, ``tests/golden/cases/*.log`` and
``config/certwatch.yaml``, encoded in each target's input format.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import ipaddress
import itertools
import json
import math
import shutil
import tempfile
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, timedelta, timezone, tzinfo
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

import orjson
import uvloop
from pydantic import BaseModel

from certwatch import config as configuration
from certwatch import persist
from certwatch.correlate import Change, EngineSettings, Finding
from certwatch.engine import Engine
from certwatch.export import webconfig
from certwatch.framing import StreamFramer
from certwatch.incidents import Incidents
from certwatch.ingress import Ingress
from certwatch.listeners.senders import SenderFilter
from certwatch.listeners.udp import UdpProtocol
from certwatch.model import FAILURE_REASONS, Cause, CertFailure, ErrorResponse, Failure, Header, HttpKind, HttpLine
from certwatch.parse import read_event
from certwatch.reader import Joiner, LineReader, ReadStats, Scanner, looks_like_header
from certwatch.report import findings_doc, iso
from certwatch.syslog import HOST, HeaderReader
from certwatch.telemetry import Telemetry
from certwatch.testing import FakeClock

ROOT: Final = Path(__file__).resolve().parents[2]
STRETCH_TO: Final = 65536  # input.max_message_bytes, by default: the longest message the daemon takes
SLOW: Final = 1.0  # seconds: one message (or one batch) taking longer is a finding (the event loop stalls)
T = TypeVar("T")


class CheckFailedError(AssertionError):
    """An invariant of certwatch does not hold for this input (a finding, like an exception that escapes)."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailedError(message)


class Input:
    """The fuzzer's bytes, read front to back; past the end every read gives zero (or nothing)."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def choice(self, options: Sequence[T]) -> T:
        return options[self.byte() % len(options)]

    def take(self, size: int) -> bytes:
        piece = self._data[self._pos : self._pos + size]
        self._pos += len(piece)
        return piece

    def rest(self) -> bytes:
        return self.take(len(self._data))

    def stretch(self, payload: bytes, size: int = STRETCH_TO) -> bytes:
        """When the next control byte is odd: a short run of ``payload`` (1 to 8 bytes, from a chosen offset)
        repeated until ``size`` bytes in all, the way long hostile lines are built (a 64 KiB datagram of spaces
        inside a warning). Superlinear matching shows up as a slow input."""
        how = self.byte()
        if not how & 1:
            return payload
        at = (self.byte() << 8 | self.byte()) % (len(payload) + 1)
        # mostly the one byte at that offset (a run of spaces, of letters, of digits), else up to 8 bytes
        unit = payload[at : at + (1 + (how >> 2) % 8 if how & 2 else 1)] or b" "
        return payload[:at] + unit * max(0, (size - len(payload)) // len(unit)) + payload[at:]

    def stretched_rest(self) -> bytes:
        """The rest, after four control bytes for :meth:`stretch`."""
        controls = Input(self.take(4))
        return controls.stretch(self.rest())

    def records(self) -> list[tuple[int, bytes]]:
        """The rest as records: a meta byte, a two-byte length (big-endian), that many bytes (fewer at the end)."""
        out = []
        while self._pos < len(self._data):
            meta = self.byte()
            size = self.byte() << 8 | self.byte()
            out.append((meta, self.take(size)))
        return out


def timed(what: str, fn: Callable[[], T]) -> T:
    """``fn()``, which must take less than :data:`SLOW` seconds."""
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    check(elapsed < SLOW, f"{what} took {elapsed:.2f} s")
    return result


def record(meta: int, payload: bytes) -> bytes:
    """One record of :meth:`Input.records` (seeds are built with it)."""
    size = min(len(payload), 0xFFFF)
    return bytes((meta & 0xFF, size >> 8, size & 0xFF)) + payload[:size]


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length + 1), in order."""
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def cut_points(inp: Input) -> list[int]:
    """Up to 15 cut offsets, two bytes each."""
    return [inp.byte() << 8 | inp.byte() for _ in range(inp.byte() % 16)]


# ---- seeds ---------------------------------------------------------------------------------------------------------


def sample_files() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.log")) + sorted((ROOT / "tests" / "golden" / "cases").glob("*.log"))


@cache
def sample_documents() -> tuple[bytes, ...]:
    """Every sample file, those over 16 KiB in pieces cut at line ends (the noise case has 70 KB lines)."""
    out: list[bytes] = []
    for path in sample_files():
        out += chunks(path.read_bytes(), 16384)
    return tuple(out)


def chunks(data: bytes, size: int) -> list[bytes]:
    """``data`` in pieces of at most ``size`` bytes, cut after a newline where there is one."""
    out = []
    while data:
        if len(data) <= size:
            out.append(data)
            break
        nl = data.rfind(b"\n", 0, size)
        stop = nl + 1 if nl > 0 else size
        out.append(data[:stop])
        data = data[stop:]
    return out


@cache
def sample_lines() -> tuple[bytes, ...]:
    """Every distinct line of the samples (cut to 4 KiB), blank lines excepted."""
    lines = {line[:4096] for path in sample_files() for line in path.read_bytes().splitlines() if line.strip()}
    return tuple(sorted(lines))


@cache
def sample_messages() -> tuple[tuple[bytes, ...], ...]:
    """The messages of each sample file (header line and continuation lines), as the line reader joins them."""
    out = []
    for path in sample_files():
        reader = LineReader(65536)
        messages = reader.feed(path.read_bytes()) + reader.finish()
        out += [tuple(m[:2048] for m in messages[at : at + 40]) for at in range(0, len(messages), 40)]
    return tuple(out)


# ---- syslog header reader ------------------------------------------------------------------------------------------

ZONES: Final[tuple[tzinfo, ...]] = (
    UTC,
    ZoneInfo("Europe/Brussels"),
    ZoneInfo("America/Chicago"),
    ZoneInfo("Australia/Lord_Howe"),  # a 30-minute DST shift
    timezone(timedelta(hours=14)),
    timezone(-timedelta(hours=12)),
)
REFERENCES: Final = (
    1_663_632_000.0,  # 2022-09-20, the golden files' modification time
    0.0,
    1_672_531_199.0,  # 2022-12-31T23:59:59Z: classic stamps of January belong to the next year
    1_709_164_800.0,  # 2024-02-29
    253_402_300_799.0,  # 9999-12-31T23:59:59Z: the year after does not exist
)


def syslog_header(data: bytes) -> None:
    """``HeaderReader.read`` on any text: a Header or a counted Failure; the stamp cache changes no result."""
    inp = Input(data)
    zone, reference = inp.choice(ZONES), inp.choice(REFERENCES)
    raw = inp.stretched_rest()
    text = raw.decode(errors="replace")
    reader = HeaderReader(zone, reference)
    first = timed("reading a header", lambda: reader.read(text))
    check(first == reader.read(text), "reading a header twice (the second from the stamp cache) differs")
    check(first == HeaderReader(zone, reference).read(text), "a fresh reader reads the header differently")
    if isinstance(first, Failure):
        check(first.reason in FAILURE_REASONS, f"unknown failure reason {first.reason!r}")
    else:
        check(isinstance(first, Header), f"read returned {type(first).__name__}")
        check(math.isfinite(first.ts), f"time stamp {first.ts!r} is not finite")
        check(-86400 < first.offset < 86400, f"UTC offset {first.offset} out of range")
        check(first.host != "", "empty host")
        check(first.text is text and text.endswith(first.body), "body is not the end of the text")
        try:
            iso(first.ts, first.offset)  # as every report shows it
        except (ValueError, OverflowError) as exc:
            raise CheckFailedError(f"time stamp {first.ts} (offset {first.offset}) is no date: {exc}") from None
    host = HOST.match(raw)
    check(host is None or host[1], "HOST matched an empty host")


def syslog_header_seeds() -> list[bytes]:
    lines = sample_lines()
    regressions = [  # year 0 and year 10000 in UTC (tests/unit/test_fuzz_regressions.py)
        b"<28>0001-01-01T00:00:00.000+01:00 expc01 traffic_server[1]: x",
        b"<28>9999-12-31 23:59:59,999-0100 expc01 traffic_server[1]: x",
    ]
    return [b"\x00\x00\x00\x00\x00\x00" + line for line in [*lines, *regressions]] + [
        b"\x01\x02\x00\x00\x00\x00" + line for line in lines[::7]
    ]


# ---- traffic_server event parsers ----------------------------------------------------------------------------------


def traffic_server(data: bytes) -> None:
    """``read_event`` on any body: an event with sane fields, None (ignored) or a counted Failure."""
    inp = Input(data)
    body = inp.stretched_rest().decode(errors="replace")
    event = timed("reading an event", lambda: read_event(body))
    check(event == read_event(body), "reading an event twice (the second from the caches) differs")
    if event is None:
        return
    if isinstance(event, Failure):
        check(event.reason in FAILURE_REASONS, f"unknown failure reason {event.reason!r}")
    elif isinstance(event, HttpLine):
        check(isinstance(event.kind, HttpKind) and event.txn, f"bad request/response line {event!r}")
        check(event.port is None or 0 < event.port < 65536, f"port {event.port!r}")
        check(event.target_port is None or 0 < event.target_port < 65536, f"target port {event.target_port!r}")
        check(event.status is None or 0 <= event.status <= 999, f"status {event.status!r}")
    elif isinstance(event, ErrorResponse):
        check(event.status >= 0 and (event.port is None or 0 < event.port < 65536), f"bad error response {event!r}")
    else:
        check(isinstance(event, CertFailure), f"read_event returned {type(event).__name__}")
        check(event.cause is None or isinstance(event.cause, Cause), f"cause {event.cause!r}")
        check(event.depth is None or event.depth >= 0, f"depth {event.depth!r}")


def traffic_server_seeds() -> list[bytes]:
    reader = HeaderReader(UTC, REFERENCES[0])
    bodies = set()
    for messages in sample_messages():
        for message in messages:
            header = reader.read(message.decode(errors="replace"))
            if isinstance(header, Header) and header.app == "traffic_server":
                bodies.add(b"\x00\x00\x00\x00" + header.body.encode())
    return sorted(bodies) + traffic_server_regressions()


def stretched(body: bytes, at: int) -> bytes:
    """A seed in stretch mode: the byte at ``at`` repeated to 64 KiB (see :meth:`Input.stretch`)."""
    return bytes((1, at >> 8, at & 0xFF, 0)) + body


def traffic_server_regressions() -> list[bytes]:
    """What this target found (tests/unit/test_fuzz_regressions.py), as inputs of its own."""
    verify = (
        b"[ET_NET 2] WARNING: Core server certificate verification failed for (cucm-sub1.example.com). "
        b"Action=Terminate Error=self signed certificate server=cucm-sub1.example.com(10.10.10.12) depth=0"
    )
    return [
        b'\x00\x00\x00\x00Ev="Sending HTTP error response" Status="40\xc2\xb24".Dst-port="40\x00\x00002"',  # ValueError
        b'1\x00\x00wed" d"\x00DetEvent="Sending HTTP error response*ail="Access allgw',  # a hang: 22 s
        stretched(verify, verify.index(b"Error=self ") + 10),  # 7 s
        stretched(verify, len(verify) - 1),  # depth=000...0: ValueError
    ]


# ---- reading files: LF framing, continuation joining (LineReader, Scanner) ----------------------------------------

LIMITS: Final = (65536, 8, 16, 33, 64, 100, 1024)


def _read_all(reader: LineReader | Scanner, pieces: Sequence[bytes], limit: int) -> list[bytes]:
    out: list[bytes] = []
    for piece in pieces:
        out += reader.feed(piece)
        if isinstance(reader, LineReader):
            check(len(reader._buf) <= limit + 1, f"line reader holds {len(reader._buf)} bytes, limit {limit}")
        else:
            check(len(reader._carry) <= limit + 1, f"scanner holds {len(reader._carry)} bytes, limit {limit}")
    out += reader.finish()
    check(all(len(m) <= limit for m in out), f"a message over the limit {limit}")
    return out


def _read_counts(stats: ReadStats) -> tuple[int, ...]:
    return (stats.lines, stats.messages, stats.blank_lines, stats.continuation_lines, stats.orphan_lines)


def lf_reader(data: bytes) -> None:
    """The file reader (LF framing and continuation joining) and the offline scanner: any chunking gives the same
    messages and counts; the scanner emits exactly the reader's messages that hold the needle in their header."""
    inp = Input(data)
    limit = inp.choice(LIMITS)
    cuts = cut_points(inp)
    doc = inp.rest()
    pieces = split(doc, cuts)
    whole, chunked = LineReader(limit), LineReader(limit)
    messages = _read_all(whole, [doc], limit)
    check(messages == _read_all(chunked, pieces, limit), "line reader: chunking changed the messages")
    check(whole.stats == chunked.stats, "line reader: chunking changed the counts")
    scanner, scanner_chunked = Scanner(limit=limit), Scanner(limit=limit)
    emitted = _read_all(scanner, [doc], limit)
    check(emitted == _read_all(scanner_chunked, pieces, limit), "scanner: chunking changed the messages")
    check(scanner.stats == scanner_chunked.stats, "scanner: chunking changed the counts")
    expected = [m for m in messages if b"traffic_server" in m.split(b"\n", 1)[0]]
    check(expected == emitted, "the scanner's messages are not the line reader's traffic_server messages")
    check(_read_counts(whole.stats) == _read_counts(scanner.stats), "scanner and line reader count differently")
    skipped = [m for m in messages if b"traffic_server" not in m.split(b"\n", 1)[0]]
    not_syslog = sum(1 for m in skipped if not looks_like_header(m))
    check(not_syslog == scanner.stats.not_syslog, "the scanner's not_syslog count is not the line reader's")


def lf_reader_seeds() -> list[bytes]:
    docs = sample_documents()
    found = b'\x03\x01\x00\x10traffic_server\r\nf-93be-53d7e6f7a8b-7feb-4b99" Sec2d'  # limit 33, cut at 16: the CR
    return [b"\x00\x00" + doc for doc in docs] + [b"\x03\x02\x00\x40\x01\x00" + doc for doc in docs[:4]] + [found]


# ---- TCP/TLS stream framing: LF and octet counting (StreamFramer) -------------------------------------------------


def _frame_all(framer: StreamFramer, pieces: Sequence[bytes], limit: int) -> list[bytes]:
    out: list[bytes] = []
    bound = max(limit + 2, 10)
    for piece in pieces:
        out += framer.feed(piece)
        check(framer.buffered <= bound, f"the framer holds {framer.buffered} bytes, bound {bound}")
    out += framer.finish()
    check(framer.buffered == 0, "the framer holds bytes after finish")
    check(all(0 < len(f) <= limit for f in out), f"an empty frame or one over the limit {limit}")
    return out


def _framing(stream: bytes, limit: int, cuts: Sequence[int]) -> None:
    """Whole or chunked, the same frames and counts; joined frame by frame or a read at a time, the same messages."""
    whole, chunked = StreamFramer(limit), StreamFramer(limit)
    frames = _frame_all(whole, [stream], limit)
    pieces = split(stream, cuts)
    check(frames == _frame_all(chunked, pieces, limit), "stream framer: chunking changed the frames")
    check(whole.stats == chunked.stats, "stream framer: chunking changed the counts")
    s = whole.stats
    check(s.frames == len(frames) == s.octet_counted + s.lf_framed, f"frame counts do not add up: {s}")
    check(s.bytes == len(stream), "framer byte count")
    one, many = Joiner(limit, ReadStats()), Joiner(limit, ReadStats())
    expected = [done for frame in frames if (done := one.push(frame)) is not None]
    framer = StreamFramer(limit)
    got = [message for piece in pieces for message in many.push_many(framer.feed(piece))]
    got += many.push_many(framer.finish())
    check(expected == got, "frames joined a read at a time differ from frames joined one by one")
    check(one.flush() == many.flush(), "the message held differs")


def lf_framing(data: bytes) -> None:
    """A TCP/TLS stream as it comes (LF-framed logs, digits that may be a MSG-LEN, anything)."""
    inp = Input(data)
    limit = inp.choice(LIMITS)
    cuts = cut_points(inp)
    _framing(inp.rest(), limit, cuts)


def lf_framing_seeds() -> list[bytes]:
    docs = sample_documents()
    return [b"\x00\x00" + doc for doc in docs] + [b"\x04\x03\x00\x10\x02\x00\x07\x77" + doc for doc in docs[:4]]


def octet_counting(data: bytes) -> None:
    """Octet-counted streams (RFC 6587 §3.4.1) built from records: the meta byte bends the announced length (too
    short, too long, a leading zero, none), adds LFs or CRs, or sends the record as a plain line."""
    inp = Input(data)
    limit = inp.choice(LIMITS)
    cuts = cut_points(inp)
    stream = bytearray()
    for meta, payload in inp.records():
        length = len(payload)
        mode = meta & 0x07
        if mode == 1:
            length = max(0, length - 1 - (meta >> 4))
        elif mode == 2:
            length += 1 + (meta >> 4)
        if mode == 3:
            stream += b"0%d %s" % (length, payload)
        elif mode == 4:
            stream += payload + b"\n"  # a plain line between octet-counted frames
        elif mode == 5:
            stream += b"%d%s" % (length, payload)  # no space after the length
        else:
            stream += b"%d %s" % (length, payload)
        if meta & 0x08:
            stream += b"\n"
        if meta & 0x80:
            stream += b"\r\n"
    _framing(bytes(stream), limit, cuts)


def octet_counting_seeds() -> list[bytes]:
    out = []
    for messages in sample_messages():
        body = b"".join(record(0, m) for m in messages)
        out.append(b"\x00\x00" + body)
        out.append(b"\x04\x02\x00\x30\x01\x00" + b"".join(record(i % 16 | 0x08, m) for i, m in enumerate(messages)))
    return out


# ---- continuation joining (Joiner) ---------------------------------------------------------------------------------


def joiner(data: bytes) -> None:
    """Pieces pushed one at a time or in groups (``push_many``): the same messages, counts and held message, every
    message within the limit."""
    inp = Input(data)
    limit = inp.choice(LIMITS)
    records = inp.records()
    pieces = [payload[:limit] for _, payload in records]  # callers cut pieces to the bound
    one, many = Joiner(limit, ReadStats()), Joiner(limit, ReadStats())
    expected = [done for piece in pieces if (done := one.push(piece)) is not None]
    got: list[bytes] = []
    group: list[bytes] = []
    for (meta, _), piece in zip(records, pieces, strict=True):
        group.append(piece)
        if meta & 0x80:
            got += many.push_many(group)
            group = []
    got += many.push_many(group)
    check(expected == got, "push_many gives other messages than push")
    check(one.pending == many.pending, "push_many holds another message than push")
    check(_read_counts(one._stats) == _read_counts(many._stats), "push_many counts differently from push")
    check(one._stats.overlong_lines == many._stats.overlong_lines, "push_many counts overlong lines differently")
    check(one._size <= limit and many._size <= limit + 1, f"a held message over the limit {limit}")
    last = [one.flush(), many.flush()]
    check(last[0] == last[1], "the last message differs")
    check(all(len(m) <= limit for m in [*expected, *(m for m in last if m is not None)]), "a message over the limit")


def joiner_seeds() -> list[bytes]:
    out = []
    for messages in sample_messages():
        lines = [line for message in messages for line in message.split(b"\n")]
        out.append(b"\x00" + b"".join(record(0x80 if i % 5 == 4 else 0, line) for i, line in enumerate(lines)))
    return out


# ---- UDP datagrams (UdpProtocol: per-wake-up batching, per-sender joining) -----------------------------------------

SENDERS: Final = (("10.0.0.1", 514), ("10.0.0.2", 514), ("10.0.0.1", 40000), ("192.0.2.9", 514), ("::1", 514, 0, 0))
ALLOWED: Final = SenderFilter([ipaddress.ip_network("10.0.0.0/8")])
_loop: asyncio.AbstractEventLoop | None = None


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop  # noqa: PLW0603 - one uvloop loop per process, made on first use
    if _loop is None:
        _loop = uvloop.new_event_loop()
    return _loop


class _NoTransport(asyncio.DatagramTransport):
    """The protocol is driven by hand: no socket."""


Datagram = tuple[tuple[Any, ...], bytes, bool]  # (sender, datagram, end of the wake-up after it)


def _udp_run(
    datagrams: Sequence[Datagram], limit: int, max_senders: int, allowed: SenderFilter | None, bulk_from: int
) -> tuple[Any, ...]:
    """The listener's protocol as its transport drives it: ``datagram_received`` per datagram, a loop iteration
    (its flush, the ingress drain) wherever a wake-up ends; every message held is flushed at the end."""
    telemetry, stats = Telemetry(), ReadStats()
    out: list[bytes] = []
    protocol = UdpProtocol(allowed, Ingress(1 << 30, telemetry, budget=1 << 30), telemetry, stats, limit,
                           max_senders, FakeClock())  # fmt: skip
    protocol.bulk_from = bulk_from

    async def drive() -> None:
        protocol._ingress.start(lambda messages, _now: out.extend(messages))
        protocol.connection_made(_NoTransport())
        for addr, datagram, wake_up_ends in datagrams:
            protocol.datagram_received(datagram, addr)
            if wake_up_ends:
                await asyncio.sleep(0)  # the flush runs, then the drain
                await asyncio.sleep(0)
                check(len(protocol._senders) <= max_senders, "more senders remembered than max_senders")
        await asyncio.sleep(0)
        protocol.flush_all()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        check(protocol._ingress.idle, "the ingress did not drain")

    _event_loop().run_until_complete(drive())
    check(all(len(m) <= limit for m in out), f"a message over the limit {limit}")
    check(len(protocol._senders) <= max_senders, "more senders remembered than max_senders")
    check(telemetry.received["udp"] == len(out), "messages received is not messages queued")
    check(telemetry.received_bytes["udp"] == sum(len(d) for _, d, _ in datagrams), "received bytes miscounted")
    return out, _read_counts(stats), stats.overlong_lines, telemetry.dropped["sender_refused"]


def udp(data: bytes) -> None:
    """Datagrams of up to five senders, wake-ups ending anywhere: the bulk path (every wake-up) and the plain rules
    (one datagram at a time) give the same messages, in the same order, and the same counts; bounded."""
    inp = Input(data)
    limit = inp.choice(LIMITS)
    max_senders = 1 + inp.byte() % 6
    allowed = inp.choice((None, ALLOWED))
    datagrams = [(SENDERS[meta % 5], payload, bool(meta & 0x08)) for meta, payload in inp.records()]
    bulk = _udp_run(datagrams, limit, max_senders, allowed, 1)
    plain = _udp_run(datagrams, limit, max_senders, allowed, 1 << 30)
    check(bulk == plain, "the bulk path and the plain rules disagree")


def udp_seeds() -> list[bytes]:
    out = []
    for messages in sample_messages():
        lines = [line for message in messages for line in message.split(b"\n")]
        out.append(b"\x00\x05\x00" + b"".join(record(i % 3 | (8 if i % 4 == 3 else 0), d) for i, d in enumerate(lines)))
        out.append(b"\x05\x00\x01" + b"".join(record(i % 5 | 8, d + b"\n") for i, d in enumerate(lines)))
    return out


# ---- the engine on whole batches (fast path against the layered reference path) -----------------------------------

ENGINE_SETTINGS: Final = (
    EngineSettings(),
    EngineSettings(join_window=2.0, max_transactions=3, max_index_entries=4, max_findings=2, max_nodes=2, max_series=3),
    EngineSettings(max_transactions=8, max_index_entries=6, transaction_ttl=5.0, resolve_after=10.0, reorder_wait=0.0),
)
CLUSTERS: Final = {"expc01": "c1", "expc02": "c1"}


def _engine_bounds(engine: Engine) -> None:
    c = engine.correlator
    for table, (size, bound) in c.table_sizes().items():
        check(size <= bound, f"table {table}: {size} entries, bound {bound}")
    s = c.settings
    nodes = engine.nodes
    check(len(nodes._nodes) <= s.max_nodes + len(nodes.configured) + 1, f"{len(nodes._nodes)} node counters")
    for counters in (c.failure_counts, c.bad_gateway_counts, c.response_counts):
        check(len(counters) <= s.max_series + 1, f"{len(counters)} label sets, max_series {s.max_series}")
    for finding in c.findings():
        check(len(finding.evidence) <= s.evidence_lines, f"{len(finding.evidence)} evidence lines")
    check(len(engine.headers._stamps._cache) <= 4096, "the stamp cache grew past its bound")


def _engine_snapshot(engine: Engine, changes: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Everything the engine holds (as tests/property/test_fastpath_properties.py compares it)."""
    c = engine.correlator
    return {
        "stats": dataclasses.asdict(engine.stats),
        "latest": engine.latest,
        "nodes": [(name, dataclasses.asdict(a)) for name, a in engine.nodes.items()],
        "overflowed": engine.nodes.overflowed,
        "correlator": dataclasses.asdict(c.stats),
        "findings": [dataclasses.asdict(f) for f in c.findings()],
        "tables": {name: list(table._data.items()) for name, table in c._tables().items()},
        "evictions": c.table_evictions(),
        "expired": {name: table.expired for name, table in c._tables().items()},
        "counters": [list(x.items()) for x in (c.failure_counts, c.bad_gateway_counts, c.response_counts)],
        "indexes": (c._by_finding_origin, c._by_origin_name),
        "changes": list(changes),
    }


class _EngineRun:
    def __init__(self, settings: EngineSettings, fast: bool) -> None:
        self.changes: list[tuple[Any, ...]] = []
        self.engine = Engine(settings, CLUSTERS, reference=REFERENCES[0], on_change=self._changed, fast=fast)

    def _changed(self, finding: Finding, change: Change, now: float) -> None:
        self.changes.append((finding.key, change, now, finding.state))

    def batch(self, messages: list[bytes], now: float | None) -> dict[str, Any]:
        engine = self.engine
        engine.feed(messages, now)
        if now is not None:
            engine.correlator.expire(now)
        else:
            engine.correlator.sweep(engine.latest)
        _engine_bounds(engine)
        return _engine_snapshot(engine, self.changes)


def engine(data: bytes) -> None:
    """Batches of messages (a record's meta byte ends a batch) through ``Engine(fast=True)`` and
    ``Engine(fast=False)``, offline (message time) or live (a receive clock): the same state after every batch,
    every table within its bound, every message counted."""
    inp = Input(data)
    settings = inp.choice(ENGINE_SETTINGS)
    live = inp.byte() & 1
    step = inp.byte() / 8.0
    long_one = inp.byte()  # the message that may be stretched
    stretch = Input(inp.take(4))
    batches: list[list[bytes]] = [[]]
    for i, (meta, payload) in enumerate(inp.records()):
        batches[-1].append(stretch.stretch(payload) if i == long_one else payload)
        if meta & 0x01:
            batches.append([])
    fast, reference = _EngineRun(settings, True), _EngineRun(settings, False)
    fed = 0
    for i, batch in enumerate(batches):
        now = 1_663_142_400.0 + i * step if live else None
        fed += len(batch)
        state = timed("a batch on the fast path", lambda: fast.batch(batch, now))  # noqa: B023 - called at once
        expected = timed("a batch on the layered path", lambda: reference.batch(batch, now))  # noqa: B023
        check(state == expected, f"fast and layered paths differ at batch {i}")
        check(fast.engine.stats.messages == fed, "a message was not counted")
    for run in (fast, reference):
        run.engine.correlator.flush(run.engine.latest if not live else 1_663_142_400.0 + len(batches) * step)
    json.dumps(findings_doc(fast.engine.correlator.findings()))  # what analyze prints and the incident API serves
    check(
        _engine_snapshot(fast.engine, fast.changes) == _engine_snapshot(reference.engine, reference.changes),
        "fast and layered paths differ after the final flush",
    )


def engine_seeds() -> list[bytes]:
    out = []
    for i, messages in enumerate(sample_messages()):
        body = b"".join(record(1 if j % 7 == 6 else 0, m) for j, m in enumerate(messages))
        out.append(bytes((i % 3, i % 2, 8, 255, 0, 0, 0, 0)) + body)
    return out


# ---- the configuration (certwatch.config.parse on structures, load on file bytes) ----------------------------------


def _model_keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[str]:
    seen.add(model)
    for name, info in model.model_fields.items():
        yield name
        stack: list[Any] = [info.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                if annotation not in seen:
                    yield from _model_keys(annotation, seen)
            else:
                stack += typing.get_args(annotation)


CONFIG_KEYS: Final = tuple(sorted(set(_model_keys(configuration.Config, set()))))
_scratch = Path(tempfile.mkdtemp(prefix="certwatch-fuzz-"))  # a readable file, a directory, a config file
atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
_readable = _scratch / "readable.pem"
_readable.write_bytes(b"not a certificate")
CONFIG_STRINGS: Final = (
    "",
    "udp",
    "tcp",
    "tls",
    "127.0.0.1:5514",
    "127.0.0.1:0",
    "[::1]:0",
    "0.0.0.0:65535",
    "::1:5514",
    "host:99999",
    "localhost:",
    ":5514",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "::/0",
    "fe80::1%eth0/64",
    "5s",
    "500ms",
    "1h30m",
    "15m",
    "1d",
    "0",
    "0s",
    "-1s",
    "1e400",
    "nan",
    "inf",
    "5 s",
    "5x",
    "UTC",
    "Europe/Brussels",
    "../../etc/passwd",
    "Mars/Olympus",
    "info",
    "debug",
    "expc01",
    "expc02",
    "default",
    "__overflow__",
    str(_readable),
    str(_scratch),
    "/nonexistent/file.pem",
    "\x00",
    "\u00e9\u0663",
)
CONFIG_NUMBERS: Final = (0, 1, -1, 2, 10, 1024, 65536, 65535, 8 * 1024 * 1024, 1 << 30, 1 << 63, 0.5, -0.0, 1e-9,
                         1e308, math.inf, -math.inf, math.nan)  # fmt: skip


def _config_value(inp: Input, depth: int) -> Any:
    kind = inp.byte() % (11 if depth < 4 else 6)
    if kind == 0:
        return inp.choice((None, True, False))
    if kind == 1:
        return inp.choice(CONFIG_NUMBERS)
    if kind in (2, 3):
        return inp.choice(CONFIG_STRINGS)
    if kind == 4:
        return inp.take(inp.byte() % 24).decode(errors="replace")
    if kind == 5:
        return int.from_bytes(inp.take(4), "big", signed=True)
    if kind in (6, 7):
        return _config_mapping(inp, depth + 1)
    if kind == 8:
        return [_config_value(inp, depth + 1) for _ in range(inp.byte() % 5)]
    if kind == 9:  # a listener, the usual shape
        listener = {"protocol": inp.choice(("udp", "tcp", "tls")), "address": inp.choice(CONFIG_STRINGS)}
        listener.update(_config_mapping(inp, depth + 1))
        return listener
    return [_config_value(inp, depth + 1)]  # a one-item list, as allowed_senders and clusters often are


def _config_key(inp: Input) -> Any:
    which = inp.byte()
    if which < 224:
        return CONFIG_KEYS[which % len(CONFIG_KEYS)]
    if which < 240:
        return inp.take(inp.byte() % 12).decode(errors="replace")
    return inp.choice((0, None, 1.5, True))


def _config_mapping(inp: Input, depth: int) -> dict[Any, Any]:
    return {_config_key(inp): _config_value(inp, depth) for _ in range(inp.byte() % 6)}


def _exercise(config: configuration.Config) -> None:
    """What the daemon and ``analyze`` derive from a valid configuration must not fail either."""
    settings = config.engine()
    Engine(settings, config.node_clusters(), config.input.zone)
    for listener in config.listeners:
        _, port = listener.host_port
        check(0 <= port <= 65535, f"listener port {port}")
    configuration.split_address(config.http.address)
    check(0 <= settings.reorder_wait <= settings.join_window, "reorder_wait not capped at join_window")


def config_parse(data: bytes) -> None:
    """``parse`` on decoded YAML/JSON structures built from the input (known keys, typical and hostile values), with
    dotted overrides or ``CERTWATCH_*`` environment overrides: a Config, or ConfigInvalidError with its problems."""
    inp = Input(data)
    document: Any = _config_mapping(inp, 0) if inp.byte() % 8 else _config_value(inp, 0)
    overrides: dict[str, Any] = {}
    for _ in range(inp.byte() % 4):
        path = ".".join(str(_config_key(inp)) for _ in range(1 + inp.byte() % 3))
        if inp.byte() & 1:
            environ = {"CERTWATCH_" + path.upper().replace(".", "__"): inp.take(inp.byte() % 32).decode("latin-1")}
            overrides.update(configuration.env_overrides(environ))
        else:
            overrides[path] = _config_value(inp, 2)
    try:
        config = configuration.parse(document, "<fuzz>", overrides)
    except configuration.ConfigInvalidError as exc:
        check(exc.problems and all(isinstance(p, str) for p in exc.problems), "an error without its problems")
        return
    _exercise(config)


def config_parse_seeds() -> list[bytes]:
    return [
        b"",
        b"\x01\x05" + bytes((CONFIG_KEYS.index("listeners"), 8, 2, 9, 0, 4, 1)),
        b"\x01\x03" + bytes((CONFIG_KEYS.index("correlation"), 6, 2, CONFIG_KEYS.index("join_window"), 2, 16)),
        b"\x01\x01" + bytes((CONFIG_KEYS.index("clusters"), 6, 2, 230, 3)) + b"lon" + bytes((8, 2, 2, 35, 2, 36)),
    ]


_config_file = _scratch / "certwatch.yaml"


def config_load(data: bytes) -> None:
    """``load`` on any file: a Config, or ConfigInvalidError (unreadable, not UTF-8, bad YAML, invalid)."""
    _config_file.write_bytes(data)
    try:
        config = configuration.load(_config_file)
    except configuration.ConfigInvalidError as exc:
        check(exc.problems and all(isinstance(p, str) for p in exc.problems), "an error without its problems")
        return
    _exercise(config)


def config_load_seeds() -> list[bytes]:
    full = (ROOT / "config" / "certwatch.yaml").read_bytes()
    return [
        full,
        b"",
        b"correlation: {join_window: 2s, reorder_wait: 5s}\nclusters: {lon: [a, b], par: [c]}\n",
        b'listeners:\n  - {protocol: udp, address: "[::1]:0", allowed_senders: ["::1/128"]}\n',
        b"input:\n  timezone: Europe/Brussels\n  max_message_bytes: 1024\n",
    ]


# ---- the web configuration file (certwatch.export.webconfig.load) ---------------------------------------------------

_web = _scratch / "web"
_web.mkdir()
for _name in ("server.crt", "server.key", "ca.crt"):
    (_web / _name).write_bytes(b"-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
_web_file = _web / "web.yml"
BCRYPT_EXAMPLE: Final = "$2y$10$" + "N" * 53


def web_config(data: bytes) -> None:
    """``webconfig.load`` on any file (names of readable and missing files beside it): WebSettings, or
    WebConfigError with its problems."""
    _web_file.write_bytes(data)
    try:
        settings = webconfig.load(_web_file)
    except webconfig.WebConfigError as exc:
        check(exc.problems and all(isinstance(p, str) for p in exc.problems), "an error without its problems")
        return
    tls = settings.config.tls_server_config
    check(len(settings.tls_digest) == 64, "the TLS digest")
    check(tls.enabled or not tls.verifies_clients, "client verification without TLS")


def web_config_seeds() -> list[bytes]:
    return [
        b"",
        b"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        b"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS12\n"
        b"  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n"
        b"http_server_config:\n  headers: {Strict-Transport-Security: max-age=31536000, X-Frame-Options: deny}\n"
        b"basic_auth_users:\n  prometheus: "
        + BCRYPT_EXAMPLE.encode()
        + b"\nrate_limit: {interval: 1m30s, burst: 20}\n",
        b"tls_server_config:\n  cert: |\n    x\n  key: y\n  client_allowed_sans: [a]\n  max_version: TLS11\n",
        (
            b"basic_auth_users: {a: $2b$04$x, b: ~}\nrate_limit: {interval: 100, burst: -1}\n"
            b"http_server_config: {http2: no}\n"
        ),
        (
            b"tls_server_config: {cert_file: missing.crt, key_file: ../web/server.key,"
            b" client_auth_type: RequireClientCert}\n"
        ),
    ]


# ---- the state file (certwatch.persist: StateStore.restore, then the restored incidents in use) ------------------

_state_file = _scratch / "state" / "state.json"
_state_file.parent.mkdir()
STATE_NOW: Final = 1_663_200_000.0


class _NullLog:
    def _ignore(self, event: str, **fields: object) -> None:
        pass

    info = warning = error = debug = _ignore


def state(data: bytes) -> None:
    """A state file restored at start (unusable: moved aside and counted), then the restored incidents served by the
    API, fed new traffic and expired: nothing raises, every table stays within its bound (the bounds are small when
    the file's length is odd)."""
    for stale in _state_file.parent.iterdir():
        stale.unlink()
    _state_file.write_bytes(data)
    telemetry = Telemetry()
    settings = ENGINE_SETTINGS[len(data) % 2]
    engine = Engine(settings, CLUSTERS, reference=REFERENCES[0])
    restored = persist.StateStore(_state_file, 60.0, telemetry, _NullLog()).restore(engine.correlator, STATE_NOW)
    if telemetry.state_load_failures:
        check(restored == 0 and not _state_file.exists(), "an unusable state file was not moved aside")
    else:
        check(restored == len(engine.correlator.findings()) <= settings.max_findings, f"{restored} restored")
    incidents = Incidents(telemetry, 3600.0)
    incidents.correlator = engine.correlator
    json.dumps(incidents.documents())
    for i, messages in enumerate(sample_messages()[:3]):
        engine.feed(list(messages), STATE_NOW + i)
    engine.correlator.expire(STATE_NOW + 1000.0)
    json.dumps(incidents.documents())
    incidents.forget(STATE_NOW + 5000.0)
    c = engine.correlator
    for table, (size, bound) in c.table_sizes().items():
        check(size <= bound, f"table {table}: {size} entries, bound {bound}")


def state_seeds() -> list[bytes]:
    out = [b"", b"{}", b'{"version": 1, "saved_at": 0, "findings": []}']
    for i, messages in enumerate(sample_messages()):
        engine = Engine(ENGINE_SETTINGS[0], CLUSTERS, reference=REFERENCES[0])
        engine.feed(list(messages))
        engine.correlator.flush(engine.latest)
        if engine.correlator.findings():
            out.append(orjson.dumps(persist.snapshot(engine.correlator, STATE_NOW - 60.0 * i)))
    document = orjson.loads(out[-1])
    document["findings"][0]["first_offset"] = -180_018_000  # what this target found: -2,084 days
    return [*out, orjson.dumps(document)]


# ---- libFuzzer dictionaries ------------------------------------------------------------------------------------------

# Tokens libFuzzer splices into inputs (its -dict): the literals the regexes look for, which the bytecode
# instrumentation cannot see (the re engine is C).
SYSLOG_TOKENS: Final = (
    "<183>",
    "<28>1 ",
    "2022-09-14T10:15:02.117+02:00",
    "2022-09-14 10:15:02,117",
    "Sep 14 10:15:02",
    "Feb 29 ",
    "Z",
    "+02:00",
    "-0530",
    " expc01 ",
    "expc01: ",
    "traffic_server[3120]: ",
    "traffic_server",
    " - - ",
    '[a b="c"]',
    "\ufeff",
    "\n",
    "\r\n",
)
EVENT_TOKENS: Final = (
    'Detail="Receive Request"',
    'Detail="Sending Request"',
    'Detail="Receive Response"',
    'Detail="Sending Response"',
    ' Txn-id="',
    ' TrackingID="',
    ' Src-ip="',
    ' Src-port="',
    ' Dst-ip="',
    ' Dst-port="',
    "HTTPMSG: |",
    "\n|",
    "GET /",
    " HTTP/1.1 ",
    "HTTP/1.1 502 ",
    "Host: ",
    'Event="Sending HTTP error response"',
    ' Status="',
    "[ET_NET 2] WARNING: ",
    "ERROR: ",
    "Core server certificate verification failed for (",
    "). Action=Terminate",
    " Action=Continue",
    " Error=",
    " server=",
    " depth=",
    "SNI (",
    ") not in certificate.",
    "SSL connection failed for '",
    "': error:1416F086:SSL routines:",
    "certificate verify failed",
    "alert unknown ca",
    "self signed certificate",
    "unable to get local issuer certificate",
    "certificate has expired",
    "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1zdWIxLmV4YW1wbGUuY29tLzY5NzI/",
    '="',
    "\u00b2",
    "\u0663",
)
FRAMING_TOKENS: Final = ("\n", "\r\n", " ", "|", "HTTPMSG:", "SIPMSG:", "0 ", "1 ", "12 ", "9999999999 ", "007 ")
CONFIG_TOKENS: Final = (*CONFIG_KEYS, *(s for s in CONFIG_STRINGS if s), ": ", "\n  - ", "{", "}", "[", "]", "&a ",
                        "*a", "!!binary ", "? ", "'", '"', "\t", "---\n", ".inf", ".nan", "~")  # fmt: skip

WEB_TOKENS: Final = (
    "tls_server_config:", "http_server_config:", "basic_auth_users:", "rate_limit:", "cert_file: server.crt",
    "key_file: server.key", "client_ca_file: ca.crt", "cert: ", "key: ", "client_ca: ", "client_auth_type: ",
    "RequireAndVerifyClientCert", "VerifyClientCertIfGiven", "RequireAnyClientCert", "NoClientCert",
    "client_allowed_sans: ", "min_version: ", "max_version: ", "TLS10", "TLS13", "cipher_suites: ",
    "TLS_AES_128_GCM_SHA256", "curve_preferences: ", "X25519", "prefer_server_cipher_suites: ", "headers: ",
    "Strict-Transport-Security", "X-Frame-Options", "sameorigin", "http2: ", "interval: ", "burst: ", "1m30s", "µs",
    BCRYPT_EXAMPLE, "$2a$31$", "\n  ", "{", "}", "[", "]", "~", "''", ": ",
)  # fmt: skip
STATE_TOKENS: Final = (
    '"version":1', '"saved_at":', '"findings":[', '"node":', '"origin":', '"port":', '"cause":"expired"',
    '"enforced":', '"cluster":', '"origin_ip":', '"first_seen":', '"first_offset":', '"last_seen":', '"last_offset":',
    '"state":"failing"', '"state":"resolved"', '"state":"new"', '"cert_failures":', '"bad_gateway":', '"error":',
    '"depth":', '"last_failure":', '"last_activity":', '"changed_at":', '"evidence":[', "null", "true", "1e308",
    "-1", "1.5", "18446744073709551616",
)  # fmt: skip


# ---- the registry ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]
    max_len: int  # longest input the fuzzer makes
    modules: tuple[str, ...]  # the certwatch modules whose line coverage is reported
    tokens: tuple[str, ...] = ()  # its libFuzzer dictionary

    def seed_inputs(self) -> list[bytes]:
        return [seed[: self.max_len] for seed in self.seeds()]


TARGETS: Final = {
    t.name: t
    for t in (
        Target("syslog_header", syslog_header, syslog_header_seeds, 4096, ("syslog",), SYSLOG_TOKENS),
        Target("traffic_server", traffic_server, traffic_server_seeds, 4096,
               ("parse/traffic_server", "parse/_patterns", "parse/mra", "parse/openssl"), EVENT_TOKENS),
        Target("lf_reader", lf_reader, lf_reader_seeds, 16384, ("reader",), FRAMING_TOKENS),
        Target("lf_framing", lf_framing, lf_framing_seeds, 16384, ("framing", "reader"), FRAMING_TOKENS),
        Target("octet_counting", octet_counting, octet_counting_seeds, 16384, ("framing", "reader"), FRAMING_TOKENS),
        Target("joiner", joiner, joiner_seeds, 16384, ("reader",), FRAMING_TOKENS),
        Target("udp", udp, udp_seeds, 16384, ("listeners/udp", "reader", "ingress"), FRAMING_TOKENS),
        Target("engine", engine, engine_seeds, 8192,
               ("engine", "fastpath", "syslog", "parse/traffic_server", "correlate/correlator", "nodes"),
               SYSLOG_TOKENS + EVENT_TOKENS),
        Target("config_parse", config_parse, config_parse_seeds, 2048, ("config",)),
        Target("config_load", config_load, config_load_seeds, 8192, ("config",), CONFIG_TOKENS),
        Target("web_config", web_config, web_config_seeds, 4096, ("export/webconfig",), WEB_TOKENS),
        Target("state", state, state_seeds, 16384, ("persist", "incidents", "report"), STATE_TOKENS),
    )
}  # fmt: skip
