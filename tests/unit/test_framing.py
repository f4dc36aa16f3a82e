"""RFC 6587 stream framing: octet counting and LF framing detected per frame, bounds, resynchronisation, EOF."""

from __future__ import annotations

import pytest

from certwatch.framing import FramingStats, StreamFramer
from certwatch.reader import Joiner, ReadStats

WARNING = (
    b"<28>2022-09-14T10:15:02.131+02:00 expc01 traffic_server[3120]: [ET_NET 2] WARNING: Core server certificate "
    b"verification failed for (cucm-sub1.example.com). Action=Terminate Error=self signed certificate "
    b"server=cucm-sub1.example.com(10.10.10.12) depth=0"
)
RESPONSE = (
    b'<183>2022-09-14T10:15:02.160+02:00 expc01 traffic_server[3120]: Detail="Sending Response" Txn-id="880" '
    b'Dst-ip="10.10.10.12" Dst-port="6972" HTTPMSG:'
)
BODY = b"|HTTP/1.1 502 Bad Gateway"
# What util-linux logger (RFC 5424 by default) writes.
LOGGER = b'<13>1 2022-09-14T10:15:02.131018+02:00 expc01 admin - - [timeQuality tzKnown="1" isSynced="1"] hello'
DIAGNOSTIC = b"2022-07-11T18:55:25.910+02:00 vcsc traffic_server[18242]: [ET_NET 2] ERROR: SSL connection failed"


def octet(message: bytes) -> bytes:
    """``MSG-LEN SP SYSLOG-MSG`` (RFC 6587 §3.4.1)."""
    return b"%d %s" % (len(message), message)


def run(data: bytes, max_frame: int = 65536, sizes: list[int] | None = None) -> tuple[list[bytes], FramingStats]:
    """Frames and counts of ``data`` fed at once, or in chunks of the given sizes (the rest as the last chunk)."""
    framer = StreamFramer(max_frame)
    frames: list[bytes] = []
    pos = 0
    for size in sizes or []:
        frames += framer.feed(data[pos : pos + size])
        pos += size
    frames += framer.feed(data[pos:])
    return frames + framer.finish(), framer.stats


def test_rsyslog_omfwd_octet_counted():
    """
    rsyslog omfwd with `TCP_Framing="octet-counted"` and an RFC 5424 template that ends with LF: the LF is counted
    in MSG-LEN and removed from the frame.
    """
    first = b"<13>1 2022-09-14T10:15:02.131+02:00 relay01 traffic_server 3120 - - [ET_NET 2] WARNING: x\n"
    second = b"<13>1 2022-09-14T10:15:02.160+02:00 relay01 traffic_server 3120 - - Detail=y\n"
    data = octet(first) + octet(second)

    frames, stats = run(data)

    assert [first[:-1], second[:-1]] == frames
    assert FramingStats(bytes=len(data), frames=2, octet_counted=2) == stats


def test_logger_octet_count():
    """
    util-linux `logger --tcp --octet-count` sends `MSG-LEN SP MSG` without any LF; frames follow each other.
    """
    data = octet(LOGGER) * 3

    frames, stats = run(data)

    assert [LOGGER] * 3 == frames
    assert FramingStats(bytes=len(data), frames=3, octet_counted=3) == stats


def test_logger_tcp_is_lf_terminated():
    """
    util-linux `logger --tcp` without `--octet-count` ends each message with LF (non-transparent framing).
    """
    data = LOGGER + b"\n" + LOGGER + b"\n"

    frames, stats = run(data)

    assert [LOGGER, LOGGER] == frames
    assert FramingStats(bytes=len(data), frames=2, lf_framed=2) == stats


def test_octet_counted_multi_line_message_stays_one_frame():
    """
    An octet-counted message may contain LF: the whole message is one frame, its inner LFs kept.
    """
    message = RESPONSE + b"\n" + BODY + b"\r\n Host: cucm-sub1.example.com:6972"

    frames, _ = run(octet(message) + octet(WARNING))

    assert [message, WARNING] == frames


def test_lf_frames_are_not_joined():
    """
    Continuation lines are separate LF frames: joining them is the Joiner's job, fed frame by frame.
    """
    data = RESPONSE + b"\n" + BODY + b"\n" + WARNING + b"\n"
    joiner = Joiner(65536, ReadStats())

    frames, _ = run(data)
    messages = [m for m in map(joiner.push, frames) if m is not None] + [joiner.flush()]

    assert [RESPONSE, BODY, WARNING] == frames
    assert [RESPONSE + b"\n" + BODY, WARNING] == messages


def test_one_cr_is_removed_from_lines():
    """
    CR LF line ends lose their CR; only one CR is removed, and a CR inside a line stays.
    """
    frames, _ = run(b"a\r\nb\r\r\nc\rd\n")

    assert [b"a", b"b\r", b"c\rd"] == frames


def test_octet_counted_message_loses_one_lf_then_one_cr():
    """
    One trailing LF, then one trailing CR, are removed from an octet-counted message; nothing more.
    """
    frames, _ = run(octet(b"a\r\n") + octet(b"b\n\n") + octet(b"c\r") + octet(b"d\r\r\n"))

    assert [b"a", b"b\n", b"c", b"d\r"] == frames


def test_expressway_diagnostic_lines_start_with_digits():
    """
    Digits followed by anything but a space start a line, not a MSG-LEN (Expressway diagnostic-log lines).
    """
    data = DIAGNOSTIC + b"\n" + DIAGNOSTIC + b"\n"

    frames, stats = run(data)

    assert [DIAGNOSTIC, DIAGNOSTIC] == frames
    assert FramingStats(bytes=len(data), frames=2, lf_framed=2) == stats


@pytest.mark.parametrize(
    "line",
    [b"12345678901 eleven digits are no MSG-LEN", b"123", b"42:17 a time", b"7\tseven"],
)
def test_digits_without_a_valid_length_are_a_line(line):
    """
    More than ten digits, digits alone, or digits followed by another byte than SP: a line, no error counted.
    """
    frames, stats = run(line + b"\n" + WARNING + b"\n")

    assert [line, WARNING] == frames
    assert (2, 0) == (stats.lf_framed, stats.bad_length)


@pytest.mark.parametrize("header", [b"0 ", b"00 ", b"012 "])
def test_zero_or_leading_zero_length_is_a_bad_length(header):
    """
    MSG-LEN 0 or with a leading zero is invalid: counted, taken as a line, and framing resumes after its LF.
    """
    data = header + b"<13>junk\n" + octet(WARNING)

    frames, stats = run(data)

    assert [header + b"<13>junk", WARNING] == frames
    assert FramingStats(bytes=len(data), frames=2, octet_counted=1, lf_framed=1, bad_length=1) == stats


def test_blank_lines_between_frames_are_skipped_and_counted():
    """
    Empty lines and lone CRs between frames (rsyslog and logger sometimes add a LF after an octet-counted
    frame) are no frames; they are counted.
    """
    data = octet(WARNING) + b"\n" + octet(LOGGER) + b"\r\n\n" + WARNING + b"\n\r\n"

    frames, stats = run(data)

    assert [WARNING, LOGGER, WARNING] == frames
    assert FramingStats(bytes=len(data), frames=3, octet_counted=2, lf_framed=1, blank_lines=4) == stats


def test_empty_octet_counted_message_is_blank():
    """
    An octet-counted message that is empty once its LF and CR are removed is counted as blank, not a frame.
    """
    frames, stats = run(b"1 \n2 \r\n" + octet(WARNING))

    assert [WARNING] == frames
    assert (1, 2) == (stats.octet_counted, stats.blank_lines)


def test_framing_is_detected_per_frame():
    """
    A connection may mix octet-counted frames and lines; each frame is detected at its own boundary.
    """
    data = octet(WARNING) + LOGGER + b"\n" + octet(RESPONSE + b"\n" + BODY) + DIAGNOSTIC + b"\n" + octet(LOGGER)

    frames, stats = run(data)

    assert [WARNING, LOGGER, RESPONSE + b"\n" + BODY, DIAGNOSTIC, LOGGER] == frames
    assert (3, 2) == (stats.octet_counted, stats.lf_framed)


def test_over_long_octet_counted_frame_is_cut_and_skipped():
    """
    An octet-counted message over `max_frame` gives its first `max_frame` bytes (counted once); the rest is
    skipped and the next frame is read exactly after it.
    """
    data = octet(b"a" * 10 + b"b" * 30) + octet(b"next")

    frames, stats = run(data, max_frame=10)

    assert [b"a" * 10, b"next"] == frames
    assert FramingStats(bytes=len(data), frames=2, octet_counted=2, frame_too_long=1) == stats


def test_over_long_octet_counted_frame_across_chunks():
    """
    The skipped rest of an over-long message may span several chunks; its head is delivered as soon as it is in.
    """
    framer = StreamFramer(10)

    first = framer.feed(b"40 " + b"a" * 12)
    middle = framer.feed(b"b" * 20)
    last = framer.feed(b"c" * 8 + octet(b"next"))

    assert ([b"a" * 10], [], [b"next"]) == (first, middle, last)
    assert 0 == framer.buffered


def test_octet_counted_frame_whose_lf_and_cr_make_it_fit():
    """
    The bound applies to the message without its LF and CR: `max_frame` bytes plus CR LF is not too long.
    """
    frames, stats = run(octet(b"x" * 10 + b"\r\n") + octet(b"y" * 10 + b"\n"), max_frame=10)

    assert [b"x" * 10, b"y" * 10] == frames
    assert 0 == stats.frame_too_long


def test_over_long_line_is_cut_and_the_rest_discarded_to_its_lf():
    """
    A line over `max_frame` gives its first `max_frame` bytes (counted once); the rest is dropped up to its LF.
    """
    data = b"a" * 10 + b"b" * 30 + b"\n" + b"next\n"

    frames, stats = run(data, max_frame=10)

    assert [b"a" * 10, b"next"] == frames
    assert FramingStats(bytes=len(data), frames=2, lf_framed=2, frame_too_long=1) == stats


def test_over_long_line_across_chunks_is_cut_before_its_lf_arrives():
    """
    An incomplete line is held only up to the bound: its head is delivered early, the rest skipped as it comes.
    """
    framer = StreamFramer(10)

    first = framer.feed(b"a" * 12)
    middle = framer.feed(b"b" * 30)
    last = framer.feed(b"b\nnext\n")

    assert ([b"a" * 10], [], [b"next"]) == (first, middle, last)
    assert (1, 0) == (framer.stats.frame_too_long, framer.buffered)


def test_line_of_max_frame_bytes_and_cr_is_not_too_long():
    """
    A CR before the LF does not count against the bound, however the line is chunked.
    """
    data = b"x" * 10 + b"\r\n"

    assert ([b"x" * 10], 0) == (run(data, 10)[0], run(data, 10)[1].frame_too_long)
    assert ([b"x" * 10], 0) == (run(data, 10, [11])[0], run(data, 10, [11])[1].frame_too_long)


def test_truncated_octet_counted_frame_at_eof_is_dropped():
    """
    A connection that closes inside an octet-counted message: the partial message is dropped and counted.
    """
    data = octet(WARNING) + octet(LOGGER)[:-5]

    frames, stats = run(data)

    assert [WARNING] == frames
    assert FramingStats(bytes=len(data), frames=1, octet_counted=1, truncated_frame=1) == stats


def test_over_long_frame_cut_short_by_eof_is_not_truncated():
    """
    When the head of an over-long octet-counted frame was delivered, the stream ending in its skipped rest drops
    nothing more: no `truncated_frame`.
    """
    frames, stats = run(b"40 " + b"a" * 20, max_frame=10)

    assert [b"a" * 10] == frames
    assert (1, 0) == (stats.frame_too_long, stats.truncated_frame)


def test_last_line_without_lf_is_flushed_at_eof():
    """
    `finish()` delivers a last line that has no LF, with its CR removed (`logger` closing right after writing).
    """
    frames, stats = run(WARNING + b"\n" + LOGGER + b"\r")

    assert [WARNING, LOGGER] == frames
    assert FramingStats(bytes=len(WARNING) + len(LOGGER) + 2, frames=2, lf_framed=2) == stats


def test_digits_at_eof_are_a_line():
    """
    Digits that could still have become a MSG-LEN when the stream ends are a last line.
    """
    frames, stats = run(octet(LOGGER) + b"1234")

    assert [LOGGER, b"1234"] == frames
    assert (1, 1, 0) == (stats.octet_counted, stats.lf_framed, stats.truncated_frame)


def test_msg_len_split_across_chunks():
    """
    A MSG-LEN cut by a chunk boundary (or several) is recognised once the SP arrives.
    """
    data = octet(WARNING) * 2

    assert [WARNING, WARNING] == run(data, sizes=[len(octet(WARNING)) + 1, 1, 1])[0]


def test_one_byte_chunks_give_the_same_frames():
    """
    Feeding one byte at a time gives the frames and counts of one feed.
    """
    data = octet(WARNING) + b"\n" + DIAGNOSTIC + b"\r\n" + b"0 bad\n" + octet(b"x" * 20) + b"y" * 15 + b"\nend"

    assert run(data, max_frame=12) == run(data, max_frame=12, sizes=[1] * len(data))


def test_empty_feed_returns_nothing():
    """
    An empty chunk completes no frame and changes nothing.
    """
    framer = StreamFramer()

    assert ([], [], [], 2) == (framer.feed(b""), framer.feed(b"12"), framer.feed(b""), framer.buffered)
    assert ([b"<13>abcdefgh"], [b"<1>y"]) == (framer.feed(b" <13>abcdefgh<1>y"), framer.feed(b"") + framer.finish())


def test_stats_may_be_shared():
    """
    Counters may be an outside object, for instance one per listener added up over its connections.
    """
    stats = FramingStats()
    for _ in range(2):
        framer = StreamFramer(stats=stats)
        framer.feed(octet(WARNING) + b"0 x\n")
        framer.finish()

    assert FramingStats(bytes=2 * (len(octet(WARNING)) + 4), frames=4, octet_counted=2, lf_framed=2, bad_length=2) == (
        stats
    )


def test_max_frame_must_be_positive():
    """
    A bound below one byte is a configuration error, raised at construction.
    """
    with pytest.raises(ValueError, match="max_frame"):
        StreamFramer(0)
