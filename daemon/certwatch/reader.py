"""From bytes to syslog messages: line splitting, continuation joining and size bounds. Pure, no I/O.

A *message* is a header line plus its continuation lines. A line continues the previous message of the same
sender when it starts with a space, ``|``, ``HTTPMSG:`` or ``SIPMSG:`` (Expressway writes HTTP and SIP bodies
that way); blank lines are skipped. Messages are joined with ``\\n`` and carry no trailing newline or ``\\r``.

Bounds (``limit`` bytes): a longer line is cut to ``limit`` and counted in ``overlong_lines``; a message stops
growing at ``limit`` (the crossing line is cut, later continuation lines are dropped) and is counted once.

Two readers share these rules:

* :class:`LineReader` frames every message (files, TCP line framing) and feeds a :class:`Joiner`;
* :class:`Scanner` is the offline fast path: it emits only the messages whose header line contains a needle
  (``traffic_server``) and accounts for every other line in bulk with C-level ``bytes`` scans, so the lines
  certwatch ignores cost no Python bytecode. A property test checks that both agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import itemgetter
from typing import Final

_CONT_PREFIXES: Final = (b" ", b"|", b"HTTPMSG:", b"SIPMSG:")
_HEADER_FIRST: Final = frozenset(b"<0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# First bytes of a line that may continue the previous message, or be blank ("HTTPMSG:", "SIPMSG:").
_MAY_CONTINUE: Final = frozenset(b" |HS\r\n")
# The first bytes of the continuation prefixes: a piece starting otherwise starts a message (or is blank).
_MAY_CONTINUE_FIRST: Final = re.compile(rb"[ |HS]")
_FIRST: Final = itemgetter(0)
# Every line start that is not an ordinary header start: continuation, blank, or not syslog at all.
_ODD_LINE: Final = re.compile(rb"\n(?:([ |]|HTTPMSG:|SIPMSG:)|(?=\r?(?:\n|\Z))()|[^<0-9A-Z])")


def is_continuation(line: bytes) -> bool:
    """Whether ``line`` continues the previous message of its sender."""
    return line.startswith(_CONT_PREFIXES)


def is_blank(line: bytes) -> bool:
    """Whether a raw line (before its trailing ``\\r`` is removed) is blank."""
    return not line or line == b"\r"


def looks_like_header(line: bytes) -> bool:
    """The cheap test applied to lines the scanner skips: can this line start a syslog message at all?"""
    return bool(line) and line[0] in _HEADER_FIRST


@dataclass(slots=True)
class ReadStats:
    """Plain counters of the reading stage: the hot path increments ints, reports and exporters read them."""

    lines: int = 0
    blank_lines: int = 0
    continuation_lines: int = 0
    messages: int = 0
    overlong_lines: int = 0
    orphan_lines: int = 0  # continuation lines with no message before them (dropped)
    not_syslog: int = 0  # lines the scanner skipped that cannot start a syslog message

    def merge(self, other: ReadStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class Joiner:
    """Attaches continuation pieces to the previous message of one sender (a file, a connection, an address).

    ``push`` takes one piece (a line, or a whole datagram) and returns the message it completes, if any;
    ``push_many`` does the same for the pieces of one read or one wake-up, in bulk (a property test checks that
    both agree).
    """

    __slots__ = ("_capped", "_limit", "_parts", "_size", "_stats")

    def __init__(self, limit: int, stats: ReadStats) -> None:
        self._limit = limit
        self._stats = stats
        self._parts: list[bytes] = []
        self._size = 0
        self._capped = False

    @property
    def pending(self) -> bool:
        """Whether a message is waiting for possible continuation lines."""
        return bool(self._parts)

    def push(self, piece: bytes) -> bytes | None:
        """``piece`` has its line end removed (one trailing ``\\r`` included): empty means blank."""
        stats = self._stats
        if not piece:
            stats.blank_lines += 1
            return None
        if piece.startswith(_CONT_PREFIXES):  # is_continuation, inline: the per-message hot path
            stats.continuation_lines += 1
            if not self._parts:
                stats.orphan_lines += 1
            elif not self._capped:
                self._append(piece)
            return None
        stats.messages += 1
        parts = self._parts  # the message held is complete: flush, inline
        self._parts = [piece]
        self._size = len(piece)
        if not parts:
            return None
        self._capped = False
        return parts[0] if len(parts) == 1 else b"\n".join(parts)

    def push_many(self, pieces: Sequence[bytes]) -> list[bytes]:
        """``push`` of each piece in turn, the messages completed in order: same result, same counts.

        The bulk path: one C-level pass over the pieces' first bytes finds those that may continue a message;
        every other piece starts a message and is passed on as it is, and only the continuation pieces go
        through :meth:`push`. A run of plain messages costs no Python bytecode per piece.
        """
        if len(pieces) < 4:  # a few: the bulk set-up would cost more than it saves
            return [done for piece in pieces if (done := self.push(piece)) is not None]
        if b"" in pieces:  # blank pieces change nothing but a count
            self._stats.blank_lines += pieces.count(b"")
            pieces = [piece for piece in pieces if piece]
        out: list[bytes] = []
        start = 0
        for candidate in _MAY_CONTINUE_FIRST.finditer(bytes(map(_FIRST, pieces))):
            at = candidate.start()
            piece = pieces[at]
            if not piece.startswith(_CONT_PREFIXES):
                continue
            if at > start:
                self._start_all(pieces, start, at, out)
            self.push(piece)  # continues the message held: completes none
            start = at + 1
        if start < len(pieces):
            self._start_all(pieces, start, len(pieces), out)
        return out

    def _start_all(self, pieces: Sequence[bytes], start: int, stop: int, out: list[bytes]) -> None:
        """``pieces[start:stop]`` each start a message: the one held and all but the last are complete."""
        self._stats.messages += stop - start
        done = self.flush()
        if done is not None:
            out.append(done)
        out += pieces[start : stop - 1]
        last = pieces[stop - 1]
        self._parts = [last]
        self._size = len(last)

    def _append(self, piece: bytes) -> None:
        room = self._limit - self._size - 1
        if len(piece) > room:
            self._capped = True
            self._stats.overlong_lines += 1
            if room <= 0:
                return
            piece = piece[:room]
        self._parts.append(piece)
        self._size += len(piece) + 1

    def flush(self) -> bytes | None:
        """Complete the pending message (a new message started, the input ended, or the sender went idle)."""
        parts = self._parts
        if not parts:
            return None
        self._parts = []
        self._capped = False
        return parts[0] if len(parts) == 1 else b"\n".join(parts)


class LineReader:
    """Splits a byte stream into bounded lines and joins them into messages. Any chunking gives the same output."""

    __slots__ = ("_buf", "_discarding", "_joiner", "_limit", "stats")

    def __init__(self, limit: int = 65536, stats: ReadStats | None = None) -> None:
        self.stats = stats if stats is not None else ReadStats()
        self._limit = limit
        self._joiner = Joiner(limit, self.stats)
        self._buf = b""
        self._discarding = False  # inside an over-long line whose head was already taken

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        buf = self._buf + data if self._buf else data
        start = 0
        if self._discarding:
            nl = buf.find(b"\n")
            if nl < 0:
                self._buf = b""
                return out
            self._discarding = False
            start = nl + 1
        line = self._line
        while (nl := buf.find(b"\n", start)) >= 0:
            done = line(buf[start:nl])
            if done is not None:
                out.append(done)
            start = nl + 1
        rest = buf[start:]
        if len(rest) > self._limit + 1:  # +1: a trailing "\r" is not part of the line
            # An incomplete line already over the limit: take its head now (as a complete line is cut: the
            # "\r" a complete line loses is beyond the cut), drop the rest up to its newline.
            self.stats.lines += 1
            self.stats.overlong_lines += 1
            done = self._joiner.push(rest[: self._limit])
            if done is not None:
                out.append(done)
            rest = b""
            self._discarding = True
        self._buf = rest
        return out

    def finish(self) -> list[bytes]:
        """Flush a last line without newline and the pending message (the stream ended)."""
        out: list[bytes] = []
        if self._buf:
            done = self._line(self._buf)
            if done is not None:
                out.append(done)
        self._buf = b""
        self._discarding = False
        done = self._joiner.flush()
        if done is not None:
            out.append(done)
        return out

    def _line(self, line: bytes) -> bytes | None:
        """Count one complete line, strip its ``\\r``, cut it to the bound, hand it to the joiner."""
        self.stats.lines += 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self._limit:
            line = line[: self._limit]
            self.stats.overlong_lines += 1
        return self._joiner.push(line)


class Scanner:
    """The offline fast path: emits only messages whose header line contains ``needle``; counts every line.

    Feed it large chunks (a MiB or more). Each chunk is accounted for as a whole (one ``count`` of newlines and
    one regex pass that stops only at unusual line starts: continuation, blank, not syslog); then a ``find`` loop
    jumps from needle to needle and frames just those messages.
    """

    __slots__ = (
        "_carry", "_cut", "_discarding", "_joined", "_joiner", "_limit", "_needle", "_raw_first", "_started", "stats",
    )  # fmt: skip

    def __init__(self, needle: bytes = b"traffic_server", limit: int = 65536, stats: ReadStats | None = None) -> None:
        self.stats = stats if stats is not None else ReadStats()
        self._limit = limit
        self._needle = needle
        # The needle messages' lines are already counted with their chunk: their joiner counts into a scratch
        # object, of which only the capped messages are carried over.
        self._joined = ReadStats()
        self._joiner = Joiner(limit, self._joined)
        self._carry = b""
        self._cut = False  # the carry is the head of an over-long line: its end is not a line end
        self._raw_first = False  # the first line of the chunk being scanned is such a head
        self._discarding = False
        self._started = False  # a message has been seen, so continuation lines have a parent

    def feed(self, data: bytes) -> list[bytes]:
        if self._discarding:
            nl = data.find(b"\n")
            if nl < 0:
                return []
            data = data[nl:]  # the newline ends the line whose head is in the carry
            self._discarding = False
        buf = self._carry + data if self._carry else data
        end = buf.rfind(b"\n") + 1
        # The complete lines first: ``_cut`` still tells whether the first of them is the head of a cut line.
        out = self._scan(buf, end) if end else []
        self._carry = buf[end:]
        if len(self._carry) > self._limit + 1:  # +1: a trailing "\r" is not part of the line
            self._carry = self._carry[: self._limit]
            self.stats.overlong_lines += 1
            self._discarding = True
            self._cut = True  # for the next chunk's first line
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        if self._carry:
            buf, self._carry = self._carry + b"\n", b""
            out = self._scan(buf, len(buf))
        self._discarding = False
        self._flush(out)
        return out

    def _flush(self, out: list[bytes]) -> None:
        done = self._joiner.flush()
        if done is not None:
            out.append(done)
            self.stats.overlong_lines += self._joined.overlong_lines
            self._joined.overlong_lines = 0

    def _scan(self, buf: bytes, end: int) -> list[bytes]:
        """Account for the whole lines ``buf[:end]`` and emit the needle messages among them."""
        out: list[bytes] = []
        # A cut head keeps a "\r" at the cut: only a real line end loses one.
        self._raw_first, self._cut = self._cut, False
        self._account(buf, end)
        pos = self._continue(buf, 0, end) if self._joiner.pending else 0
        if pos < end:
            self._flush(out)
        needle, limit, find, rfind = self._needle, self._limit, buf.find, buf.rfind
        while pos < end:
            hit = find(needle, pos, end)
            if hit < 0:
                break
            ls = max(rfind(b"\n", pos, hit) + 1, pos)
            le = find(b"\n", hit, end)
            head = buf[ls:le]
            if hit + len(needle) > ls + limit or is_continuation(head):
                pos = le + 1  # the needle is in a continuation line, or beyond the cut
                continue
            if not looks_like_header(head):
                self.stats.not_syslog -= 1  # counted with the chunk, but the parser will count it too
            pos = le + 1
            if pos < end and buf[pos] not in _MAY_CONTINUE and not self._joiner.pending:
                # the common case: a one-line message, complete since the next line starts another one
                if head.endswith(b"\r") and not (ls == 0 and self._raw_first):
                    head = head[:-1]
                out.append(head[:limit])
                continue
            self._take(head, ls)
            pos = self._continue(buf, pos, end)
            if pos < end:
                self._flush(out)
        return out

    def _take(self, line: bytes, start: int) -> None:
        if line.endswith(b"\r") and not (start == 0 and self._raw_first):
            line = line[:-1]
        self._joiner.push(line[: self._limit])

    def _continue(self, buf: bytes, pos: int, end: int) -> int:
        """Give the continuation and blank lines after a needle message to its joiner; stop at a header line."""
        while pos < end:
            le = buf.find(b"\n", pos, end)
            text = buf[pos:le]
            if not is_blank(text) and not is_continuation(text):
                return pos
            self._take(text, pos)
            pos = le + 1
        return pos

    def _account(self, buf: bytes, end: int) -> None:
        """Count the whole lines ``buf[:end]`` (``end`` follows a newline) by their first bytes."""
        stats = self.stats
        lines = buf.count(b"\n", 0, end)
        cont = blank = odd = 0
        first = buf[: buf.find(b"\n", 0, end)]
        if is_blank(first):
            blank = 1
        elif is_continuation(first):
            cont = 1
        elif not looks_like_header(first):
            odd = 1
        for m in _ODD_LINE.finditer(buf, 0, end - 1):
            if m.group(1) is not None:
                cont += 1
            elif m.group(2) is not None:
                blank += 1
            else:
                odd += 1
        if not self._started and cont:
            stats.orphan_lines += self._leading_orphans(buf, 0, end)
        messages = lines - cont - blank
        if messages:
            self._started = True
        stats.lines += lines
        stats.continuation_lines += cont
        stats.blank_lines += blank
        stats.messages += messages
        stats.not_syslog += odd
        self._overlong(buf, 0, end)

    @staticmethod
    def _leading_orphans(buf: bytes, start: int, end: int) -> int:
        """Continuation lines before the first message of the whole input have no parent."""
        count = 0
        pos = start
        while pos < end:
            le = buf.find(b"\n", pos, end)
            text = buf[pos:le]
            if is_continuation(text):
                count += 1
            elif not is_blank(text):
                break
            pos = le + 1
        return count

    def _overlong(self, buf: bytes, start: int, end: int) -> None:
        """Count lines over the limit: each covers a whole aligned block of ``limit // 2`` bytes with no newline."""
        limit = self._limit
        if end - start <= limit:
            return
        block = max(limit // 2, 1)
        last = -1
        for s in range(start - start % block + block, end - block + 1, block):
            if buf.find(b"\n", s, s + block) >= 0:
                continue
            ls = max(buf.rfind(b"\n", start, s) + 1, start)
            if ls == last:
                continue
            le = buf.find(b"\n", s, end)
            length = le - ls - (1 if buf[le - 1] == 0x0D else 0)
            if length > limit:
                self.stats.overlong_lines += 1
                last = ls
