"""Line reading and continuation joining, by example (the invariants are in tests/property)."""

from __future__ import annotations

import pytest

from certwatch.reader import Joiner, LineReader, ReadStats, Scanner


def read(reader: LineReader | Scanner, data: bytes, step: int | None = None) -> list[bytes]:
    step = step or len(data) or 1
    out: list[bytes] = []
    for i in range(0, len(data), step):
        out += reader.feed(data[i : i + step])
    return out + reader.finish()


def test_httpmsg_body_lines_join_their_message() -> None:
    """HTTPMSG:, | and space-led lines continue the message; blank lines are skipped; CRLF is accepted."""
    data = (
        b"<1>2022-01-01T00:00:00Z a traffic_server: x\r\nHTTPMSG:\r\n|GET / HTTP/1.1\r\n Host: h\r\n\r\n"
        b" |\r\n<1>next\r\n"
    )
    reader = LineReader()
    assert [
        b"<1>2022-01-01T00:00:00Z a traffic_server: x\nHTTPMSG:\n|GET / HTTP/1.1\n Host: h\n |",
        b"<1>next",
    ] == read(reader, data)
    assert (7, 2, 1, 4) == (
        reader.stats.lines,
        reader.stats.messages,
        reader.stats.blank_lines,
        reader.stats.continuation_lines,
    )


def test_continuation_lines_without_a_message_are_orphans() -> None:
    """A file that starts inside a body: those lines are counted and dropped."""
    reader = LineReader()
    assert [b"<1>m"] == read(reader, b" Host: h\n |\n<1>m\n")
    assert 2 == reader.stats.orphan_lines


@pytest.mark.parametrize("reader_type", [LineReader, Scanner])
@pytest.mark.parametrize("step", [None, 1, 3])
def test_a_cut_line_keeps_a_carriage_return_at_the_cut(reader_type: type, step: int | None) -> None:
    """Only a real line end loses its CR: the head of an over-long line is its first bytes, however it arrives."""
    reader = reader_type(limit=8) if reader_type is LineReader else reader_type(b"x", limit=8)
    assert [b"xxxxxxx\r"] == read(reader, b"xxxxxxx\ryyy\n", step)
    assert 1 == reader.stats.overlong_lines


def test_a_message_stops_growing_at_the_bound() -> None:
    """Continuation lines beyond the bound are dropped, the crossing one cut; counted once."""
    stats = ReadStats()
    joiner = Joiner(16, stats)
    for piece in (b"<1>head", b" 12345", b" 67890", b" more"):
        joiner.push(piece)
    assert (b"<1>head\n 12345\n ", 1) == (joiner.flush(), stats.overlong_lines)  # 16 bytes


def test_scanner_emits_only_needle_messages_and_counts_the_rest() -> None:
    """Lines of other programs are counted in bulk, garbage as not syslog; needle messages come whole."""
    data = b"<1>a tvcs: x\nhello\n<2>b traffic_server[1]: y\n |body\n<3>c tvcs: z\n"
    scanner = Scanner()
    assert [b"<2>b traffic_server[1]: y\n |body"] == read(scanner, data, 5)
    assert (5, 4, 1, 1) == (
        scanner.stats.lines,
        scanner.stats.messages,
        scanner.stats.continuation_lines,
        scanner.stats.not_syslog,
    )
