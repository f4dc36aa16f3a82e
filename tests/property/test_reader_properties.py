"""Invariants of reading: any bytes in, never an exception; chunking never changes the messages; the fast scanner
agrees with the plain line reader."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from certwatch.engine import Engine
from certwatch.parse import read_event
from certwatch.reader import LineReader, ReadStats, Scanner, looks_like_header
from certwatch.syslog import HeaderReader

# Pieces that exercise every branch of the readers: headers, continuation shapes, blanks, CR, needles, junk.
PIECES = [
    (
        b"<28>2022-09-14T10:15:02.131+02:00 expc01 traffic_server[3120]: [ET_NET 2] WARNING: Core server certificate "
        b"verification failed for (a). Action=Terminate Error=self signed certificate server=a(10.0.0.1) depth=0"
    ),
    (
        b'<183>2022-09-14T10:15:02.160+02:00 expc01 traffic_server[3120]: Detail="Sending Response" Txn-id="1" '
        b'Dst-ip="127.0.0.1" Dst-port="1" HTTPMSG:'
    ),
    b"<166>2022-09-14T13:00:02.000+02:00 expc01 tvcs: hello",
    b"HTTPMSG:",
    b"|HTTP/1.1 502 Bad Gateway",
    b" Host: a:1",
    b" |",
    b"SIPMSG:",
    b"",
    b"\r",
    b"garbage traffic_server",
    b"traffic_server",
    b" traffic_server in a body",
    b"\xff\xfe\x00",
    b"x" * 40,
    b"<1>" + b"y" * 30 + b"traffic_server",
]
LIMITS = st.sampled_from([8, 16, 33, 64, 1000, 65536])
documents = st.lists(st.sampled_from(PIECES) | st.binary(max_size=40), max_size=30).map(b"\n".join)
tails = st.sampled_from([b"", b"\n", b"\r\n"])


def run(reader: LineReader | Scanner, data: bytes, cuts: list[int]) -> list[bytes]:
    out: list[bytes] = []
    previous = 0
    for cut in [*sorted(cuts), len(data)]:
        out += reader.feed(data[previous:cut])
        previous = cut
    return out + reader.finish()


def counts(stats: ReadStats) -> tuple[int, ...]:
    return (stats.lines, stats.messages, stats.blank_lines, stats.continuation_lines, stats.orphan_lines)


@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=8), LIMITS)
def test_readers_take_any_bytes(data: bytes, cuts: list[int], limit: int) -> None:
    """Arbitrary bytes, arbitrarily split: no exception, and every message respects the bound."""
    cuts = [c for c in cuts if c <= len(data)]
    for reader in (LineReader(limit), Scanner(limit=limit)):
        for message in run(reader, data, cuts):
            assert len(message) <= limit


@given(st.binary(max_size=600))
def test_parsers_take_any_bytes(data: bytes) -> None:
    """The header reader, the event parser and the whole engine are total."""
    text = data.decode(errors="replace")
    HeaderReader().read(text)
    read_event(text)
    Engine().message(data)


@given(documents, tails, st.lists(st.integers(0, 1500), max_size=6), LIMITS)
def test_chunking_does_not_change_messages(doc: bytes, tail: bytes, cuts: list[int], limit: int) -> None:
    """Feeding the same input in one piece or split anywhere gives the same messages and counts."""
    data = doc + tail
    cuts = [c for c in cuts if c <= len(data)]
    whole, split = LineReader(limit), LineReader(limit)
    assert run(whole, data, []) == run(split, data, cuts)
    assert whole.stats == split.stats
    fast_whole, fast_split = Scanner(limit=limit), Scanner(limit=limit)
    assert run(fast_whole, data, []) == run(fast_split, data, cuts)
    assert fast_whole.stats == fast_split.stats


@given(documents, tails, st.lists(st.integers(0, 1500), max_size=6), LIMITS)
def test_scanner_agrees_with_the_line_reader(doc: bytes, tail: bytes, cuts: list[int], limit: int) -> None:
    """The fast path emits exactly the line reader's messages whose header line holds the needle, with the same
    line, message, blank, continuation and orphan counts; the lines it skips that cannot start a message are the
    line reader's messages that do not look like a header."""
    data = doc + tail
    cuts = [c for c in cuts if c <= len(data)]
    plain = LineReader(limit)
    messages = run(plain, data, [])
    scanner = Scanner(limit=limit)
    emitted = run(scanner, data, cuts)
    expected = [m for m in messages if b"traffic_server" in m.split(b"\n", 1)[0]]
    assert expected == emitted
    assert counts(plain.stats) == counts(scanner.stats)
    skipped = [m for m in messages if b"traffic_server" not in m.split(b"\n", 1)[0]]
    assert sum(1 for m in skipped if not looks_like_header(m)) == scanner.stats.not_syslog


@given(st.lists(st.sampled_from(PIECES), max_size=20), st.integers(0, 300), LIMITS)
def test_single_long_lines_are_counted_alike(pieces: list[bytes], long_len: int, limit: int) -> None:
    """A line over the bound is cut and counted once by both readers (one-line messages only)."""
    lines = [p for p in pieces if p and not p.startswith((b" ", b"|", b"HTTPMSG:", b"SIPMSG:"))]
    data = b"\n".join([*lines, b"<1>" + b"z" * long_len + b" traffic_server", b"<2>" + b"w" * long_len]) + b"\n"
    plain, scanner = LineReader(limit), Scanner(limit=limit)
    assert [m for m in run(plain, data, []) if b"traffic_server" in m] == run(scanner, data, [])
    assert plain.stats.overlong_lines == scanner.stats.overlong_lines
