"""Opening what ``analyze`` reads: plain logs, compressed logs and Expressway diagnostic archives (I/O shell).

The container is detected from the content, not the name: gzip, bzip2 and xz layers are unwrapped, then a tar or
zip archive yields its ``loggingsnapshot_*.txt`` members (one per Expressway peer, Admin Guide diagnostics
chapter); anything else is read as a log.
"""

from __future__ import annotations

import bz2
import calendar
import fnmatch
import gzip
import io
import lzma
import os
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Final, cast

if TYPE_CHECKING:
    from typing_extensions import Buffer

CHUNK: Final = 1 << 20
SNAPSHOT: Final = "loggingsnapshot_*.txt"
_COMPRESSED: Final = (
    (b"\x1f\x8b", lambda f: gzip.GzipFile(fileobj=f, mode="rb")),
    (b"BZh", bz2.BZ2File),
    (b"\xfd7zXZ\x00", lzma.LZMAFile),
)


# What a damaged or cut input raises while it is read (gzip: EOFError, BadGzipFile, zlib.error).
_READ_ERRORS: Final = (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError)


class InputError(Exception):
    """An input that cannot be read; the message names it."""


@dataclass(slots=True)
class Source:
    """One log to scan. ``position``/``size`` are bytes of the file on disk, for progress."""

    name: str
    stream: IO[bytes]
    mtime: float
    position: Callable[[], int]
    size: int

    def chunks(self) -> Iterator[bytes]:
        """The content, decompressed; a damaged or cut container raises :class:`InputError` naming it."""
        read = self.stream.read
        try:
            while chunk := read(CHUNK):
                yield chunk
        except _READ_ERRORS as exc:  # raised in the caller's loop, outside open_sources()
            raise InputError(f"{self.name}: {exc}") from None


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read to sniff its format."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def _sniff(stream: IO[bytes]) -> tuple[bytes, IO[bytes]]:
    head = stream.read(512)
    return head, io.BufferedReader(_Prefixed(head, stream), CHUNK)


def _is_tar(head: bytes) -> bool:
    return head[257:262] == b"ustar"


def open_sources(arg: str) -> Iterator[Source]:
    """Yield every log inside ``arg`` (a path, or ``-`` for standard input). Raises :class:`InputError`."""
    try:
        if arg == "-":
            raw: IO[bytes] = sys.stdin.buffer
            mtime, size = 0.0, 0
        else:
            raw = Path(arg).open("rb")  # noqa: SIM115 - closed in the finally below
            st = os.fstat(raw.fileno())
            mtime, size = st.st_mtime, st.st_size
    except OSError as exc:
        raise InputError(f"{arg}: {exc.strerror or exc}") from None
    position = raw.tell if raw.seekable() else (lambda: 0)
    name = "<stdin>" if arg == "-" else arg
    try:
        yield from _layers(name, raw, mtime, position, size)
    except _READ_ERRORS as exc:
        raise InputError(f"{name}: {exc}") from None
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def _layers(name: str, raw: IO[bytes], mtime: float, position: Callable[[], int], size: int) -> Iterator[Source]:
    head, stream = _sniff(raw)
    for _ in range(3):  # at most a few compression layers (a .tar.gz is one)
        for magic, opener in _COMPRESSED:
            if head.startswith(magic):
                head, stream = _sniff(cast("IO[bytes]", opener(stream)))
                break
        else:
            break
    if head.startswith(b"PK\x03\x04"):
        yield from _zip(name, raw, position, size)
    elif _is_tar(head):
        yield from _tar(name, stream, position, size)
    else:
        yield Source(name, stream, mtime, position, size)


def _tar(name: str, stream: IO[bytes], position: Callable[[], int], size: int) -> Iterator[Source]:
    found = False
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not member.isfile() or not fnmatch.fnmatch(PurePosixPath(member.name).name, SNAPSHOT):
                continue
            member_stream = tar.extractfile(member)
            if member_stream is None:
                continue
            found = True
            yield Source(f"{name}:{member.name}", member_stream, float(member.mtime), position, size)
    if not found:
        raise InputError(f"{name}: no {SNAPSHOT} in this archive")


def _zip(name: str, raw: IO[bytes], position: Callable[[], int], size: int) -> Iterator[Source]:
    if not raw.seekable():
        raise InputError(f"{name}: a zip archive must be given as a file, not on standard input")
    raw.seek(0)
    found = False
    with zipfile.ZipFile(raw) as archive:
        for info in archive.infolist():
            if info.is_dir() or not fnmatch.fnmatch(PurePosixPath(info.filename).name, SNAPSHOT):
                continue
            found = True
            member_mtime = float(calendar.timegm((*info.date_time, 0, 0, 0)))
            with archive.open(info) as member:
                yield Source(f"{name}:{info.filename}", member, member_mtime, position, size)
    if not found:
        raise InputError(f"{name}: no {SNAPSHOT} in this archive")
