"""From a syslog TCP/TLS byte stream to frames: RFC 6587 framing, detected per frame, bounded. Pure, no I/O.

RFC 6587 (https://www.rfc-editor.org/rfc/rfc6587) gives two ways to delimit syslog messages on a stream, and
senders mix them (rsyslog's imtcp accepts both on one connection). At every frame boundary:

* **Octet counting** (§3.4.1, ``MSG-LEN SP SYSLOG-MSG``): 1 to 10 ASCII digits and one space announce exactly
  ``MSG-LEN`` bytes of message, which may contain LF (a multi-line message stays one frame). One trailing LF, then
  one trailing CR, is removed from the message. rsyslog ``omfwd`` with ``TCP_Framing="octet-counted"`` and
  util-linux ``logger --octet-count`` send this.
* **Non-transparent framing** (§3.4.2): anything else is a line up to the next LF, one trailing CR removed.
  ``logger --tcp`` and rsyslog's default TCP framing send this. Expressway diagnostic lines start with digits
  (``2022-07-11T18:55:25.910+02:00 vcsc ...``): digits followed by anything but a space are a line.

Errors are counted, never raised, and every error path consumes the bad bytes, so the framer resynchronises:

* ``bad_length``: ``MSG-LEN`` is ``0`` or has a leading zero; the bytes are taken as a line (resync at the LF).
* ``frame_too_long``: a message (after its LF/CR are removed) longer than ``max_frame`` is cut to ``max_frame``
  bytes. The rest of an octet-counted message is skipped as it arrives, and framing resumes right after it; the
  rest of a line is skipped up to its LF. The head of a message is never held beyond ``max_frame`` + 2 bytes.
* ``truncated_frame``: the stream ended inside an octet-counted message that had not been delivered: dropped.
* ``blank_lines``: empty lines (or a lone CR) between frames, which some senders add after octet-counted frames,
  and octet-counted messages that are empty once their LF/CR are removed: skipped.

The frames are the pieces a :class:`certwatch.reader.Joiner` joins into messages: continuation lines (Expressway
HTTP and SIP bodies on lines of their own) stay separate frames here. Any chunking of a stream gives the same
frames and counts; the framer holds at most ``max(max_frame + 2, 10)`` bytes between calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

_MAX_DIGITS: Final = 10  # MSG-LEN digits; more than that is not a length (rsyslog caps it the same way)
# A line, inside a run of lines, that starts like an octet-counted frame (or a bad MSG-LEN): the run ends there.
_HEADER_AFTER_LF: Final = re.compile(rb"\n[0-9]{1,%d} " % _MAX_DIGITS)


@dataclass(slots=True)
class FramingStats:
    """Plain counters of one connection's framing (or of several, added up): ints the hot path increments."""

    bytes: int = 0  # bytes fed
    frames: int = 0  # frames returned, octet_counted + lf_framed
    octet_counted: int = 0
    lf_framed: int = 0
    blank_lines: int = 0
    frame_too_long: int = 0  # frames cut to max_frame (they are still returned)
    bad_length: int = 0  # MSG-LEN 0 or with a leading zero: taken as a line
    truncated_frame: int = 0  # octet-counted frames cut short by the end of the stream (dropped)


class _State(Enum):
    FRAME_START = auto()  # at a frame boundary; ``_pending`` may hold up to 10 digits that may be a MSG-LEN
    IN_LINE = auto()  # inside a line: ``_pending`` holds its start (at most max_frame + 1 bytes)
    IN_OCTET = auto()  # inside an octet-counted frame: ``_pending`` holds its start, ``_need`` more bytes are kept
    DISCARDING = auto()  # skipping the ``_need`` remaining bytes of an over-long octet-counted frame
    DISCARDING_TO_EOL = auto()  # skipping the rest of an over-long line, up to its LF


class StreamFramer:
    """Splits one connection's byte stream into bounded frames. ``feed`` never raises; ``finish`` at EOF."""

    __slots__ = ("_max", "_need", "_pending", "_skip", "_state", "stats")

    def __init__(self, max_frame: int = 65536, stats: FramingStats | None = None) -> None:
        if max_frame < 1:
            raise ValueError(f"max_frame must be at least 1, not {max_frame}")
        self.stats = stats if stats is not None else FramingStats()
        self._max = max_frame
        self._state = _State.FRAME_START
        self._pending = bytearray()  # the start of the current frame (or undecided digits)
        self._need = 0  # IN_OCTET: bytes still to keep; DISCARDING: bytes still to skip
        self._skip = 0  # IN_OCTET: bytes to skip once the kept head is complete (an over-long frame)

    @property
    def buffered(self) -> int:
        """Bytes held between calls (the start of an incomplete frame)."""
        return len(self._pending)

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next bytes of the stream; return the frames they complete, in order."""
        self.stats.bytes += len(data)
        out: list[bytes] = []
        pos = 0
        if self._state is not _State.FRAME_START:
            pos = self._resume(data, out)
        elif self._pending:  # undecided digits: decide with the new bytes
            data = bytes(self._pending) + data
            self._pending.clear()
        if pos >= 0:
            self._scan(data, pos, out)
        self.stats.frames += len(out)
        return out

    def finish(self) -> list[bytes]:
        """The stream ended: flush a last line without LF; drop (and count) an incomplete octet-counted frame."""
        out: list[bytes] = []
        if self._state is _State.IN_OCTET:
            self.stats.truncated_frame += 1
        elif self._state in (_State.FRAME_START, _State.IN_LINE) and self._pending:
            self._line(bytes(self._pending), out)
        # DISCARDING (the head of that frame was delivered) and DISCARDING_TO_EOL have nothing left to flush.
        self._pending.clear()
        self._state = _State.FRAME_START
        self._need = self._skip = 0
        self.stats.frames += len(out)
        return out

    # -- inside a frame when the chunk arrives ------------------------------------------------------------------

    def _resume(self, data: bytes, out: list[bytes]) -> int:
        """Continue the frame the previous chunk ended in; return where the next frame starts, or -1."""
        state = self._state
        if state is _State.IN_LINE:
            return self._resume_line(data, out)
        if state is _State.IN_OCTET:
            return self._resume_octet(data, out)
        if state is _State.DISCARDING:
            return self._discard(data, 0, self._need)
        nl = data.find(b"\n")  # DISCARDING_TO_EOL
        if nl < 0:
            return -1
        self._state = _State.FRAME_START
        return nl + 1

    def _resume_line(self, data: bytes, out: list[bytes]) -> int:
        nl = data.find(b"\n")
        if nl < 0:
            self._hold_line(data, 0, out)
            return -1
        line = bytes(self._pending) + data[:nl]
        self._pending.clear()
        self._state = _State.FRAME_START
        self._line(line, out)
        return nl + 1

    def _resume_octet(self, data: bytes, out: list[bytes]) -> int:
        need = self._need
        if len(data) < need:
            self._pending += data
            self._need = need - len(data)
            return -1
        self._pending += data[:need]
        kept = bytes(self._pending)
        self._pending.clear()
        self._state = _State.FRAME_START
        if self._skip:
            self._octet_head(kept, out)
            return self._discard(data, need, self._skip)
        self._octet(kept, out)
        return need

    def _discard(self, buf: bytes, pos: int, count: int) -> int:
        """Skip ``count`` bytes of an over-long octet-counted frame from ``pos``; they may run past ``buf``."""
        stop = pos + count
        if stop <= len(buf):
            self._state = _State.FRAME_START
            return stop
        self._state = _State.DISCARDING
        self._need = stop - len(buf)
        return -1

    # -- at a frame boundary ------------------------------------------------------------------------------------

    def _scan(self, buf: bytes, pos: int, out: list[bytes]) -> None:
        """Frame ``buf`` from the boundary at ``pos`` to its end; an incomplete last frame is held."""
        end = len(buf)
        while 0 <= pos < end:
            first = buf[pos]
            if 48 <= first <= 57:  # a digit: maybe MSG-LEN
                pos = self._octets(buf, pos, out)
                if pos < end and 48 <= buf[pos] <= 57:  # not a plain octet-counted frame
                    pos = self._after_digit(buf, pos, out)
            elif first == 10:  # an empty line, as between octet-counted frames
                self.stats.blank_lines += 1
                pos += 1
            else:
                pos = self._lines(buf, pos, out)

    def _octets(self, buf: bytes, pos: int, out: list[bytes]) -> int:
        """Consecutive complete octet-counted frames within the bound, in one loop: the octet-counting hot path.

        Stops at anything else (a line, a bad MSG-LEN, an over-long or incomplete frame) for the general path.
        """
        end, limit, find, append = len(buf), self._max, buf.find, out.append
        frames = blank = 0
        while pos < end:
            sp = find(b" ", pos + 1, pos + _MAX_DIGITS + 1)
            digits = buf[pos:sp] if sp > 0 else b""
            if not digits.isdigit() or digits[0] == 48:
                break
            start = sp + 1
            stop = start + int(digits)
            if stop > end or stop - start > limit:
                break
            pos = stop
            if buf[stop - 1] == 10:  # a LF counted in MSG-LEN (rsyslog templates that end with one)
                stop -= 1
            if stop > start and buf[stop - 1] == 13:
                stop -= 1
            if stop > start:
                append(buf[start:stop])
                frames += 1
            else:
                blank += 1
            while pos < end and buf[pos] == 10:  # a LF after the frame (some senders add one)
                blank += 1
                pos += 1
        self.stats.octet_counted += frames
        self.stats.blank_lines += blank
        return pos

    def _after_digit(self, buf: bytes, pos: int, out: list[bytes]) -> int:
        """A frame that starts with a digit: octet-counted if 1-10 digits and SP follow, else a line."""
        sp = buf.find(b" ", pos + 1, pos + _MAX_DIGITS + 1)
        digits = buf[pos:sp] if sp > 0 else b""
        if not digits.isdigit():
            if sp < 0 and len(buf) - pos <= _MAX_DIGITS and buf[pos:].isdigit():
                self._pending += buf[pos:]  # the SP may still come
                return -1
            return self._lines(buf, pos, out)
        if digits[0] == 48:  # "0", or a leading zero
            self.stats.bad_length += 1
            return self._lines(buf, pos, out)
        return self._octet_at(buf, sp + 1, int(digits), out)

    def _octet_at(self, buf: bytes, start: int, length: int, out: list[bytes]) -> int:
        """An octet-counted frame of ``length`` bytes from ``start``; an over-long one keeps only its head."""
        keep = length if length <= self._max + 2 else self._max  # +2: a CR LF ending is removed, not counted
        stop = start + keep
        if stop > len(buf):
            self._pending += buf[start:]
            self._state = _State.IN_OCTET
            self._need = stop - len(buf)
            self._skip = length - keep
            return -1
        if keep < length:
            self._octet_head(buf[start:stop], out)
            return self._discard(buf, stop, length - keep)
        self._octet(buf[start:stop], out)
        return stop

    def _lines(self, buf: bytes, pos: int, out: list[bytes]) -> int:
        """The run of complete lines from ``pos`` up to the next line that starts with a MSG-LEN, in bulk."""
        nl = buf.find(b"\n", pos)
        if nl < 0:
            self._hold_line(buf, pos, out)
            return -1
        header = _HEADER_AFTER_LF.search(buf, nl)  # the first line is a line, whatever it starts with
        stop = header.start() if header is not None else buf.rfind(b"\n", nl)
        if stop == nl:  # a single line
            self._line(buf[pos:nl], out)
            return nl + 1
        run = buf[pos : stop + 1]
        lines = run.split(b"\n")
        lines.pop()  # after the last LF
        if b"\r" in run:
            lines = [line.removesuffix(b"\r") for line in lines]
        if b"" in lines:
            self.stats.blank_lines += lines.count(b"")
            lines = list(filter(None, lines))
        if len(run) > self._max and max(map(len, lines), default=0) > self._max:
            lines = self._cut_all(lines)
        self.stats.lf_framed += len(lines)
        out += lines
        return stop + 1

    def _hold_line(self, buf: bytes, pos: int, out: list[bytes]) -> None:
        """Keep the start of a line until its LF, or deliver its head now if it is already too long."""
        pending, limit = self._pending, self._max
        if len(pending) + len(buf) - pos <= limit + 1:  # +1: a CR before the LF is not part of the line
            pending += buf[pos:]
            self._state = _State.IN_LINE
            return
        head = bytes(pending) + buf[pos : pos + limit]
        pending.clear()
        self._state = _State.DISCARDING_TO_EOL
        self.stats.lf_framed += 1
        self._cut(head, out)

    # -- delivering ---------------------------------------------------------------------------------------------

    def _line(self, line: bytes, out: list[bytes]) -> None:
        """A complete line (without its LF): remove one CR, skip it if blank, cut it to the bound."""
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            self.stats.blank_lines += 1
            return
        self.stats.lf_framed += 1
        if len(line) > self._max:
            self._cut(line, out)
        else:
            out.append(line)

    def _octet(self, frame: bytes, out: list[bytes]) -> None:
        """A complete octet-counted message: remove one LF then one CR, skip it if empty, cut it to the bound."""
        if frame.endswith(b"\n"):
            frame = frame[:-1]
        if frame.endswith(b"\r"):
            frame = frame[:-1]
        if not frame:
            self.stats.blank_lines += 1
            return
        self.stats.octet_counted += 1
        if len(frame) > self._max:
            self._cut(frame, out)
        else:
            out.append(frame)

    def _octet_head(self, head: bytes, out: list[bytes]) -> None:
        """The first ``max_frame`` bytes of an over-long octet-counted frame, delivered as soon as they are in."""
        self.stats.octet_counted += 1
        self._cut(head, out)

    def _cut(self, frame: bytes, out: list[bytes]) -> None:
        self.stats.frame_too_long += 1
        out.append(frame[: self._max])

    def _cut_all(self, lines: list[bytes]) -> list[bytes]:
        limit = self._max
        self.stats.frame_too_long += sum(1 for line in lines if len(line) > limit)
        return [line[:limit] for line in lines]
