"""Invariants of stream framing: any bytes in, never an exception; any chunking gives the same frames and counts
as a plain one-frame-at-a-time reading of the rules; the buffer stays bounded; framing resynchronises."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from certwatch.framing import FramingStats, StreamFramer

LOGGER = b'<13>1 2022-09-14T10:15:02.131018+02:00 expc01 admin - - [timeQuality tzKnown="1"] hello'
# Fragments that exercise every branch: lengths valid, bad, over-long and not lengths, line ends, digit lines.
FRAGMENTS = [
    b"\n",
    b"\r\n",
    b"\r",
    b" ",
    b"0 ",
    b"007 ",
    b"1 ",
    b"5 ",
    b"12 ",
    b"40 ",
    b"99999 ",
    b"9999999999 ",
    b"12345678901 ",
    b"123",
    b"2022-07-11T18:55:25.910+02:00 vcsc traffic_server[18242]: ",
    b"|HTTP/1.1 502 Bad Gateway",
    b"x" * 40,
    LOGGER,
]
MAX_FRAMES = st.sampled_from([1, 2, 8, 16, 33, 100, 65536])
MSG_LEN = re.compile(rb"([0-9]{1,10}) ")
VALID_MSG_LEN = re.compile(rb"[1-9][0-9]{0,9} ")


def octet(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


streams = st.lists(
    st.sampled_from(FRAGMENTS) | st.binary(max_size=30) | st.binary(max_size=60).map(octet), max_size=40
).map(b"".join)
cut_points = st.lists(st.integers(0, 3000), max_size=12)


def feed(framer: StreamFramer, data: bytes, cuts: list[int]) -> list[bytes]:
    """Feed ``data`` split at ``cuts``; check the buffer bound after every chunk; finish."""
    frames: list[bytes] = []
    previous = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        frames += framer.feed(data[previous:cut])
        previous = cut
        assert framer.buffered <= framer._max + 12
    return frames + framer.finish()


def reference(data: bytes, max_frame: int) -> tuple[list[bytes], FramingStats]:
    """The framing rules applied to a whole stream, one frame at a time, as plainly as possible."""
    stats = FramingStats(bytes=len(data))
    frames: list[bytes] = []
    pos = 0
    while pos < len(data):
        header = MSG_LEN.match(data, pos)
        if header is not None and not header.group(1).startswith(b"0"):
            pos = reference_octet(data, header.end(), int(header.group(1)), max_frame, frames, stats)
            continue
        if header is not None:
            stats.bad_length += 1
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl
        deliver(data[pos:end].removesuffix(b"\r"), max_frame, frames, stats, octet_counted=False)
        pos = end + 1
    stats.frames = len(frames)
    return frames, stats


def reference_octet(
    data: bytes, start: int, length: int, max_frame: int, frames: list[bytes], stats: FramingStats
) -> int:
    body = data[start : start + length]
    if len(body) == length:
        deliver(body.removesuffix(b"\n").removesuffix(b"\r"), max_frame, frames, stats, octet_counted=True)
    elif length > max_frame + 2 and len(body) >= max_frame:  # the head of an over-long message was delivered
        stats.octet_counted += 1
        stats.frame_too_long += 1
        frames.append(body[:max_frame])
    else:
        stats.truncated_frame += 1
    return start + length


def deliver(frame: bytes, max_frame: int, frames: list[bytes], stats: FramingStats, *, octet_counted: bool) -> None:
    if not frame:
        stats.blank_lines += 1
        return
    if octet_counted:
        stats.octet_counted += 1
    else:
        stats.lf_framed += 1
    if len(frame) > max_frame:
        stats.frame_too_long += 1
    frames.append(frame[:max_frame])


def is_subsequence(needles: list[bytes], haystack: list[bytes]) -> bool:
    rest = iter(haystack)
    return all(any(needle == item for item in rest) for needle in needles)


@given(st.binary(max_size=3000), cut_points, MAX_FRAMES)
def test_framer_takes_any_bytes(data: bytes, cuts: list[int], max_frame: int) -> None:
    """Arbitrary bytes, arbitrarily split: no exception, the buffer stays bounded, every frame is non-empty and
    within the bound, and every frame is counted once."""
    framer = StreamFramer(max_frame)
    frames = feed(framer, data, cuts)

    assert all(0 < len(frame) <= max_frame for frame in frames)
    stats = framer.stats
    assert (len(data), len(frames)) == (stats.bytes, stats.frames)
    assert stats.frames == stats.octet_counted + stats.lf_framed


@given(streams, cut_points, MAX_FRAMES)
def test_framer_follows_the_rules_however_the_stream_is_chunked(data: bytes, cuts: list[int], max_frame: int) -> None:
    """Any chunking gives exactly the frames and counts of the rules applied one frame at a time to the whole
    stream (which also makes every chunking agree with one feed)."""
    framer = StreamFramer(max_frame)

    frames = feed(framer, data, cuts)

    assert reference(data, max_frame) == (frames, framer.stats)


@given(streams, MAX_FRAMES)
def test_one_byte_feeds_give_the_same_frames(data: bytes, max_frame: int) -> None:
    """Feeding one byte at a time (a sender dribbling bytes) gives the frames and counts of one feed."""
    whole, dribbled = StreamFramer(max_frame), StreamFramer(max_frame)

    expected = feed(whole, data, [])
    actual = feed(dribbled, data, list(range(len(data))))

    assert (expected, whole.stats) == (actual, dribbled.stats)


line_messages = st.binary(max_size=80).map(lambda b: b.replace(b"\n", b""))
encoded = st.tuples(st.booleans(), st.binary(max_size=80) | st.sampled_from(FRAGMENTS[:4]) | line_messages)


def encode(octet_counted: bool, message: bytes) -> tuple[bytes, bytes]:
    """The bytes on the wire for ``message`` and the frame the rules make of it (empty: a blank).

    An empty message is sent as a line: MSG-LEN 0 is not a frame."""
    if octet_counted and message:
        return octet(message), message.removesuffix(b"\n").removesuffix(b"\r")
    line = message.replace(b"\n", b"")
    if MSG_LEN.match(line):
        line = b"<" + line  # a line that starts like a MSG-LEN would be read as one
    return line + b"\n", line.removesuffix(b"\r")


@given(st.lists(encoded, max_size=30), cut_points, MAX_FRAMES)
def test_mixed_framing_round_trip(items: list[tuple[bool, bytes]], cuts: list[int], max_frame: int) -> None:
    """Messages sent octet-counted or LF-terminated, mixed on one connection, come back one frame each, cut to
    the bound, blanks skipped, each counted by its framing."""
    wire, sent = zip(*(encode(*item) for item in items), strict=True) if items else ((), ())
    data = b"".join(wire)
    framer = StreamFramer(max_frame)

    frames = feed(framer, data, cuts)

    assert [frame[:max_frame] for frame in sent if frame] == frames
    non_blank = [(octet_counted, frame) for (octet_counted, _), frame in zip(items, sent, strict=True) if frame]
    expected = FramingStats(
        bytes=len(data),
        frames=len(non_blank),
        octet_counted=sum(1 for octet_counted, _ in non_blank if octet_counted),
        lf_framed=sum(1 for octet_counted, _ in non_blank if not octet_counted),
        blank_lines=len(sent) - len(non_blank),
        frame_too_long=sum(1 for _, frame in non_blank if len(frame) > max_frame),
    )
    assert expected == framer.stats


def defuse(junk: bytes) -> bytes:
    """Junk whose lines never start with a valid MSG-LEN (such a line is an octet-counted frame, not junk)."""
    lines = junk.split(b"\n")
    return b"\n".join(b"#" + line if VALID_MSG_LEN.match(line) else line for line in lines) + b"\n"


junk = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=100), min_size=1, max_size=6).map(b"".join)


@given(st.lists(st.tuples(junk, encoded), max_size=12), cut_points, MAX_FRAMES)
def test_framing_resynchronises_after_junk(
    items: list[tuple[bytes, tuple[bool, bytes]]], cuts: list[int], max_frame: int
) -> None:
    """Junk (bad or over-long lengths, digit runs, CRs, over-long lines, any bytes) that ends with LF, then a
    well-formed frame: every such frame is recovered, in order."""
    data = b""
    expected: list[bytes] = []
    for garbage, (octet_counted, message) in items:
        wire, frame = encode(octet_counted, message)
        data += defuse(garbage) + wire
        if frame:
            expected.append(frame[:max_frame])

    frames = feed(StreamFramer(max_frame), data, cuts)

    assert is_subsequence(expected, frames)


@given(st.integers(1, 300), st.booleans(), st.booleans(), cut_points, st.sampled_from([1, 8, 16, 33]))
def test_over_long_frame_gives_one_error_then_the_next_frame(
    extra: int, octet_counted: bool, next_octet: bool, cuts: list[int], max_frame: int
) -> None:
    """A frame over the bound gives its head and one `frame_too_long`, then the next frame intact."""
    message = bytes(range(65, 91)) * 12
    long_message = message[: max_frame + extra].replace(b"\r", b"")
    wire = octet(long_message + b"\r\n") if octet_counted else long_message + b"\r\n"
    next_wire, next_frame = encode(next_octet, LOGGER)
    framer = StreamFramer(max_frame)

    frames = feed(framer, wire + next_wire, cuts)

    assert [long_message[:max_frame], next_frame[:max_frame]] == frames
    assert 1 + (len(LOGGER) > max_frame) == framer.stats.frame_too_long
