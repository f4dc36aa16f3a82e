"""Opening ``analyze`` inputs: plain and compressed logs, tar and zip diagnostic archives, detected by content."""

from __future__ import annotations

import bz2
import calendar
import gzip
import io
import lzma
import os
import random
import sys
import tarfile
import types
import zipfile

import pytest

from certwatch.inputs import InputError, open_sources

SNAPSHOT = "loggingsnapshot_expc01_20220914.txt"
SNAPSHOT_MTIME = 1663143302  # 2022-09-14T08:15:02Z


@pytest.fixture(name="log")
def fixture_log() -> bytes:
    """A few lines of scenario (a), larger than the 512 bytes sniffed to detect the container."""
    line = (
        "<28>2022-09-14T10:15:02.131+02:00 expc01 traffic_server[3120]: [ET_NET 2] WARNING: Core server certificate "
        "verification failed for (cucm-sub1.example.com). Action=Terminate Error=self signed certificate "
        "server=cucm-sub1.example.com(10.10.10.12) depth=0\n"
    )
    return line.encode() * 8


@pytest.fixture(name="noise")
def fixture_noise() -> bytes:
    """Incompressible bytes, so a damaged compressed copy fails after the container was detected."""
    return random.Random(0).randbytes(512 * 1024)


def read_all(path) -> list[tuple[str, float, bytes]]:
    """Name, mtime and content of every source, each read before the next is opened (tar is streamed)."""
    return [(s.name, s.mtime, b"".join(s.chunks())) for s in open_sources(str(path))]


def write_tar(path, members, mode) -> None:
    with tarfile.open(path, mode) as tar:
        for name, data, mtime in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            tar.addfile(info, io.BytesIO(data))


def test_plain_file(tmp_path, log):
    """
    A plain log is read as is, with the file's modification time (the reference for classic stamps).
    """
    path = tmp_path / "expc01.log"
    path.write_bytes(log)
    os.utime(path, (SNAPSHOT_MTIME, SNAPSHOT_MTIME))

    assert [(str(path), float(SNAPSHOT_MTIME), log)] == read_all(path)


def test_plain_file_progress(tmp_path, log):
    """
    `size` is the file's size on disk and `position()` reaches it once the file is read.
    """
    path = tmp_path / "expc01.log"
    path.write_bytes(log)
    progress = []
    for source in open_sources(str(path)):
        b"".join(source.chunks())
        progress.append((source.size, source.position()))

    assert [(len(log), len(log))] == progress


def test_empty_file(tmp_path):
    """
    An empty file is one empty source, not an error.
    """
    path = tmp_path / "empty.log"
    path.write_bytes(b"")

    assert [b""] == [content for _, _, content in read_all(path)]


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("expc01.log.gz", gzip.compress),
        ("expc01.log", gzip.compress),  # named like a plain log: detected by content
        ("expc01.txt", bz2.compress),
        ("expc01.log.xz", lzma.compress),
    ],
)
def test_compressed_file_detected_by_content(tmp_path, log, name, compress):
    """
    gzip, bzip2 and xz logs are decompressed, whatever their name says.
    """
    path = tmp_path / name
    path.write_bytes(compress(log))

    assert [(str(path), log)] == [(n, content) for n, _, content in read_all(path)]


def test_tar_gz_diagnostic_archive_yields_only_the_snapshot(tmp_path, log):
    """
    Of a diagnostic archive, only `loggingsnapshot_*.txt` is read, named after the member, dated by its mtime.
    """
    path = tmp_path / "diagnostic_log_expc01_2022-09-14_08_20_00.tar.gz"
    write_tar(
        path,
        [
            ("xconf_dump_expc01.txt", b"xConfiguration ...\n", 1),
            (f"diagnostic/{SNAPSHOT}", log, SNAPSHOT_MTIME),
            ("xstat_dump_expc01.txt", b"xStatus ...\n", 2),
            ("server_expc01.pem", b"-----BEGIN CERTIFICATE-----\n", 3),
            ("eth0_diagnostic_logging_tcpdump00_expc01.pcap", b"\xd4\xc3\xb2\xa1", 4),
        ],
        "w:gz",
    )

    assert [(f"{path}:diagnostic/{SNAPSHOT}", float(SNAPSHOT_MTIME), log)] == read_all(path)


def test_tar_with_two_peers(tmp_path, log):
    """
    An uncompressed tar with one snapshot per peer yields both, in archive order.
    """
    path = tmp_path / "cluster.tar"
    other = "loggingsnapshot_expc02_20220914.txt"
    write_tar(path, [(SNAPSHOT, log, SNAPSHOT_MTIME), (other, b"expc02\n", SNAPSHOT_MTIME + 1)], "w")

    assert [
        (f"{path}:{SNAPSHOT}", float(SNAPSHOT_MTIME), log),
        (f"{path}:{other}", float(SNAPSHOT_MTIME + 1), b"expc02\n"),
    ] == read_all(path)


def test_zip_diagnostic_archive(tmp_path, log):
    """
    A zip archive yields its snapshot; the member's zip time (no zone) is read as UTC.
    """
    path = tmp_path / "diagnostic.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("xstat_dump_expc01.txt", (2022, 9, 14, 8, 0, 0)), b"xStatus\n")
        archive.writestr(zipfile.ZipInfo(f"logs/{SNAPSHOT}", (2022, 9, 14, 8, 15, 2)), log)

    assert [(f"{path}:logs/{SNAPSHOT}", float(calendar.timegm((2022, 9, 14, 8, 15, 2))), log)] == read_all(path)


@pytest.mark.parametrize("mode", ["w:gz", "w"])
def test_tar_without_snapshot(tmp_path, mode):
    """
    An archive without a `loggingsnapshot_*.txt` is an error naming it.
    """
    path = tmp_path / "diagnostic.tar.gz"
    write_tar(path, [("xconf_dump_expc01.txt", b"x\n", 1)], mode)

    with pytest.raises(InputError) as info:
        read_all(path)

    assert f"{path}: no loggingsnapshot_*.txt in this archive" == str(info.value)


def test_zip_without_snapshot(tmp_path):
    """
    A zip archive without a snapshot is an error naming it.
    """
    path = tmp_path / "diagnostic.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xstat_dump_expc01.txt", b"xStatus\n")

    with pytest.raises(InputError) as info:
        read_all(path)

    assert f"{path}: no loggingsnapshot_*.txt in this archive" == str(info.value)


def test_missing_file(tmp_path):
    """
    A missing file is an `InputError` naming it, raised when the sources are iterated.
    """
    path = tmp_path / "missing.log"

    with pytest.raises(InputError) as info:
        read_all(path)

    assert f"{path}: No such file or directory" == str(info.value)


def test_directory(tmp_path):
    """
    A directory is not an input.
    """
    with pytest.raises(InputError) as info:
        read_all(tmp_path)

    assert f"{tmp_path}: Is a directory" == str(info.value)


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("cut.log.gz", lambda data: data[: len(data) - 4096]),
        ("corrupt.log.gz", lambda data: data[:300_000] + b"\x00" * 64 + data[300_064:]),
    ],
)
def test_damaged_gzip_is_an_input_error(tmp_path, noise, name, damage):
    """
    A gzip file cut short or corrupted past its start is an `InputError` while it is read, not a crash.
    """
    path = tmp_path / name
    path.write_bytes(damage(gzip.compress(noise)))

    with pytest.raises(InputError) as info:
        read_all(path)

    assert str(info.value).startswith(f"{path}: ")


def test_corrupt_deflate_data_is_an_input_error(tmp_path, log):
    """
    Corrupt deflate data right after the gzip header (a `zlib.error`) is an `InputError` too.
    """
    data = gzip.compress(log * 64)
    path = tmp_path / "corrupt.log.gz"
    path.write_bytes(data[:100] + b"\xff" * 10 + data[110:])

    with pytest.raises(InputError) as info:
        read_all(path)

    assert f"{path}: Error -3 while decompressing data" == str(info.value).rsplit(":", 1)[0]


def test_damaged_tar_member_is_an_input_error(tmp_path, noise):
    """
    A tar.gz cut inside the snapshot member is an `InputError` naming the member.
    """
    whole = tmp_path / "whole.tar"
    write_tar(whole, [(SNAPSHOT, noise, SNAPSHOT_MTIME)], "w")
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(gzip.compress(whole.read_bytes()[: len(noise) // 2]))

    with pytest.raises(InputError) as info:
        read_all(path)

    assert str(info.value).startswith(f"{path}:{SNAPSHOT}: ")


def test_standard_input(monkeypatch, log):
    """
    `-` reads standard input (here gzip-compressed), named `<stdin>`, with no modification time.
    """
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(gzip.compress(log))))

    assert [("<stdin>", 0.0, log)] == read_all("-")
