"""``certwatch send`` against real listeners on 127.0.0.1:0: framing per transport, TLS, inputs, errors, pacing."""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import re
import socket
import ssl
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certwatch import send as send_module
from certwatch.send import Pacer, SendError, Target, add_arguments, frame, parse_target, run
from certwatch.testing import make_pki

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.log"))
MULTILINE = ROOT / "examples" / "i_diagnostic_snapshot_multiline.log"
SELF_SIGNED = ROOT / "examples" / "a_self_signed_tomcat_ecdsa.log"
TIMEOUT = 10.0  # seconds a test waits for a socket before failing; never slept
CONTINUATION = (b" ", b"|", b"HTTPMSG:", b"SIPMSG:")


def expected_messages(*paths: Path) -> list[bytes]:
    """The messages of the files, by the documented rule: non-blank lines, continuation lines joined with LF."""
    out: list[list[bytes]] = []
    for path in paths:
        start = len(out)
        for line in path.read_bytes().split(b"\n"):
            if not line:
                continue
            if line.startswith(CONTINUATION) and len(out) > start:
                out[-1].append(line)
            else:
                out.append([line])
    return [b"\n".join(lines) for lines in out]


def octet_frames(data: bytes) -> list[bytes]:
    """Decode ``LEN SP MSG`` frames; the whole input must be frames."""
    frames = []
    while data:
        length, space, rest = data.partition(b" ")
        assert space
        frames.append(rest[: int(length)])
        assert int(length) == len(frames[-1])
        data = rest[int(length) :]
    return frames


def send(*argv: str | Path) -> int:
    """Parse ``argv`` with the ``send`` arguments and run, as the CLI does."""
    parser = argparse.ArgumentParser(prog="certwatch send")
    add_arguments(parser)
    return run(parser.parse_args([str(a) for a in argv]))


def stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


class StreamReceiver:
    """A one-connection TCP (or TLS) server on 127.0.0.1:0, in a thread: keeps every byte until the client closes."""

    def __init__(self, context: ssl.SSLContext | None = None, answer_close: bool = True) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._answer_close = answer_close
        self._released = threading.Event()
        self._listener.settimeout(TIMEOUT)
        self.port = self._listener.getsockname()[1]
        self._context = context
        self._chunks: list[bytes] = []
        self.peer_cert: dict[str, object] | None = None
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
            conn.settimeout(TIMEOUT)
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
                self.peer_cert = conn.getpeercert()
            with conn:
                while data := conn.recv(65536):
                    self._chunks.append(data)
                if not self._answer_close:
                    self._released.wait(TIMEOUT)  # keep the connection open, silent, until released
                elif isinstance(conn, ssl.SSLSocket):
                    conn.unwrap()  # answer the client's close_notify
        except OSError as exc:  # ssl.SSLError included: kept for the test to look at
            self.error = exc
        finally:
            self._listener.close()

    def received(self) -> bytes:
        """Everything the client sent, once it closed the connection."""
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()
        return b"".join(self._chunks)

    def close(self) -> None:
        self._released.set()
        with contextlib.suppress(OSError):  # already closed by the thread
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() if no client came
        self._thread.join(TIMEOUT)


@pytest.fixture(name="receivers")
def fixture_receivers() -> Iterator[list[StreamReceiver]]:
    """Receivers a test starts; stopped at teardown even when no client connected."""
    started: list[StreamReceiver] = []
    yield started
    for receiver in started:
        receiver.close()


@pytest.fixture(name="receiver")
def fixture_receiver(receivers: list[StreamReceiver]) -> StreamReceiver:
    receiver = StreamReceiver()
    receivers.append(receiver)
    return receiver


@pytest.fixture(name="udp")
def fixture_udp() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(TIMEOUT)
        yield sock


def datagrams(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` datagrams, then checks that no other one is queued. Loopback delivery is done once send returns."""
    out = [sock.recv(65536) for _ in range(count)]
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(65536)
    return out


def address(sock_or_port: socket.socket | int) -> str:
    port = sock_or_port if isinstance(sock_or_port, int) else sock_or_port.getsockname()[1]
    return f"127.0.0.1:{port}"


# --- Certificates (certwatch.testing.make_pki: the openssl command) -------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A throw-away CA, a server certificate for 127.0.0.1, ::1 and localhost, and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    # `make test` installs Debian's openssl when it is missing (TEST_DEBS)
    made = make_pki(tmp_path_factory.mktemp("pki"))
    return Pki(made.ca, made.server.cert, made.server.key, made.client.cert, made.client.key)


# --- Pure helpers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("127.0.0.1:514", Target("127.0.0.1", 514)),
        ("expc01.example.com:6514", Target("expc01.example.com", 6514)),
        ("[::1]:5514", Target("::1", 5514)),
        ("[fe80::1%eth0]:514", Target("fe80::1%eth0", 514)),
    ],
)
def test_parse_target(text: str, target: Target) -> None:
    """HOST:PORT gives the host and port; an IPv6 literal is written in brackets, which are removed."""
    assert target == parse_target(text)


def test_target_prints_ipv6_in_brackets() -> None:
    """A target prints as it is written on the command line."""
    assert ["[::1]:5514", "localhost:514"] == [str(Target("::1", 5514)), str(Target("localhost", 514))]


@pytest.mark.parametrize(
    "text",
    [
        "localhost",
        "localhost:",
        ":514",
        "host:0",
        "host:65536",
        "host:syslog",
        "::1:514",
        "[::1:514",
        "[x]:1",
        "a..b:514",
    ],
)
def test_parse_target_rejects(text: str) -> None:
    """No port, no host, a port out of range or not a number, an IPv6 address without brackets, and a host name
    the resolver would refuse (an empty label) are errors."""
    with pytest.raises(SendError):
        parse_target(text)


def test_frame() -> None:
    """Octet counting prefixes the byte length (LFs and UTF-8 included); line framing appends one LF."""
    message = "<183>x HTTPMSG:\n|GET / HTTP/1.1\n Host: é".encode()
    assert [b"%d " % len(message) + message, message + b"\n"] == [frame(message, True), frame(message, False)]


# --- Pacing, with the time passed in ------------------------------------------------------------------------------


def send_times(pacer: Pacer, work: list[float]) -> list[float]:
    """Drive ``pacer`` with a fake clock: wait what it says, send, then spend ``work[k]`` seconds on message k."""
    now, times = 0.0, []
    for seconds in work:
        now += pacer.delay(now)
        times.append(now)
        now += seconds
    return times


def test_pacer_unlimited() -> None:
    """Without a rate there is never a wait."""
    pacer = Pacer(None)
    assert [0.0, 0.0, 0.0] == [pacer.delay(t) for t in (0.0, 0.0, 5.0)]


def test_pacer_spaces_messages() -> None:
    """At 4 messages/s an instant sender sends at 0, 0.25, 0.5, ... seconds."""
    assert [0.0, 0.25, 0.5, 0.75, 1.0] == send_times(Pacer(4), [0.0] * 5)


def test_pacer_catch_up_is_bounded() -> None:
    """After a 10 s stall, a sender at 64/s makes up 0.125 s of messages back to back (8, plus the due one), no more."""
    times = send_times(Pacer(64, catch_up=0.125), [0.0, 10.0] + [0.0] * 11)
    after_stall = times[2:]
    assert [10.015625] * 9 + [10.03125, 10.046875] == after_stall


@given(
    rate=st.sampled_from([0.5, 3.0, 64.0, 1000.0]),
    catch_up=st.sampled_from([0.0, 0.1, 1.0]),
    work=st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=2, max_size=60),
)
def test_pacer_never_faster_than_rate(rate: float, catch_up: float, work: list[float]) -> None:
    """Whatever the sender's delays, messages i < j are at least (j - i) / rate - catch_up seconds apart."""
    times = send_times(Pacer(rate, catch_up), work)
    too_close = [
        (i, j)
        for i in range(len(times))
        for j in range(i + 1, len(times))
        if times[j] - times[i] < (j - i) / rate - catch_up - 1e-9
    ]
    assert [] == too_close


# --- Import side effects ------------------------------------------------------------------------------------------


def python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


def test_import_does_not_load_aiosyslog() -> None:
    """``import certwatch.send`` leaves aiosyslog (and the logging.basicConfig it runs on import) alone."""
    assert "False" == python("import sys, certwatch.send; print('aiosyslog' in sys.modules)")


def test_tls_context_undoes_aiosyslog_logging_setup() -> None:
    """Building a TLS context imports aiosyslog; the root-logger handler and level it sets are removed again."""
    code = (
        "import logging, sys, certwatch.send as s; s.tls_context(None, None, None, insecure=True); "
        "root = logging.getLogger(); print('aiosyslog' in sys.modules, root.handlers, logging.getLevelName(root.level))"
    )
    assert "True [] WARNING" == python(code)


# --- UDP ----------------------------------------------------------------------------------------------------------


def test_udp_multiline_message_is_one_datagram(udp: socket.socket, capsys: pytest.CaptureFixture[str]) -> None:
    """Over UDP a header line and its HTTPMSG continuation lines arrive as one datagram, LFs inside, none at the end."""
    assert 0 == send(address(udp), MULTILINE)

    received = datagrams(udp, 11)
    assert expected_messages(MULTILINE) == received
    assert b"HTTPMSG:\n|GET /c3RldmVuLmxhYi9odHRwcy9jdWNtLnN0ZXZlbi5sYWIvODQ0Mw/cucm-uds/user/jdoe/" in received[0]
    (line,) = stderr_lines(capsys)
    summary = re.fullmatch(r"certwatch send: 11 messages, (\d+) bytes in \d+\.\d{3} s to udp 127\.0\.0\.1:\d+", line)
    assert summary is not None
    assert sum(map(len, received)) == int(summary[1])


def test_udp_every_example_in_order(udp: socket.socket) -> None:
    """Several files are sent one after the other over one socket, each message as it is in its file."""
    expected = expected_messages(*EXAMPLES)

    assert 0 == send("--transport", "udp", address(udp), *EXAMPLES)

    assert expected == datagrams(udp, len(expected))


def test_udp_skips_message_too_long_for_a_datagram(
    tmp_path: Path, udp: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    """A message over 65507 bytes cannot be a UDP datagram: it is skipped and the summary says so."""
    short = b"<28>2022-09-14T10:15:02.131+02:00 expc01 traffic_server[3120]: [ET_NET 2] WARNING: x"
    log = tmp_path / "long.log"
    log.write_bytes(short + b"\n" + short + b"y" * 70_000 + b"\n" + short + b"\n")

    assert 0 == send(address(udp), log)

    assert [short, short] == datagrams(udp, 2)
    (line,) = stderr_lines(capsys)
    assert (
        "; 1 skipped (over 65507 bytes, too long for a datagram); 1 line cut at 65536 bytes" == line[line.index(";") :]
    )


def test_udp_ipv6_literal_in_brackets() -> None:
    """HOST may be an IPv6 literal in brackets."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    with sock:
        sock.settimeout(TIMEOUT)
        assert 0 == send(f"[::1]:{sock.getsockname()[1]}", SELF_SIGNED)
        assert expected_messages(SELF_SIGNED) == datagrams(sock, 8)


# --- TCP ----------------------------------------------------------------------------------------------------------


def test_tcp_line_framing(receiver: StreamReceiver) -> None:
    """Without octet counting each message ends with LF: continuation lines travel as lines of their own."""
    expected = b"".join(line + b"\n" for line in MULTILINE.read_bytes().split(b"\n") if line)

    assert 0 == send("--transport", "tcp", address(receiver.port), MULTILINE)

    assert expected == receiver.received()


def test_tcp_octet_counting_keeps_embedded_lf(receiver: StreamReceiver) -> None:
    """With octet counting each message is one ``LEN SP MSG`` frame, its embedded LFs inside, no LF added."""
    assert 0 == send("--transport", "tcp", "--octet-counting", address(receiver.port), MULTILINE)

    frames = octet_frames(receiver.received())
    assert expected_messages(MULTILINE) == frames
    assert 10 == frames[0].count(b"\n")


def test_tcp_with_rate(receiver: StreamReceiver) -> None:
    """``--rate`` paces the replay without changing what is sent (the pacing itself is tested with a fake clock)."""
    assert 0 == send("--transport", "tcp", "--octet-counting", "--rate", "100000", address(receiver.port), SELF_SIGNED)

    assert expected_messages(SELF_SIGNED) == octet_frames(receiver.received())


def test_gzip_input(tmp_path: Path, receiver: StreamReceiver) -> None:
    """A gzip-compressed log is sent decompressed, message by message."""
    compressed = tmp_path / "expc01.log.gz"
    compressed.write_bytes(gzip.compress(MULTILINE.read_bytes()))

    assert 0 == send("--transport", "tcp", "--octet-counting", address(receiver.port), compressed)

    assert expected_messages(MULTILINE) == octet_frames(receiver.received())


def test_diagnostic_archive_input(tmp_path: Path, receiver: StreamReceiver) -> None:
    """A diagnostic archive (.tar.gz) sends the messages of its logging snapshot."""
    archive = tmp_path / "diagnostic.tar.gz"
    data = MULTILINE.read_bytes()
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("diagnostic/loggingsnapshot_vcsc_20220711.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    assert 0 == send("--transport", "tcp", "--octet-counting", address(receiver.port), archive)

    assert expected_messages(MULTILINE) == octet_frames(receiver.received())


def test_standard_input(monkeypatch: pytest.MonkeyPatch, receiver: StreamReceiver) -> None:
    """``-`` reads the log from standard input."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MULTILINE.read_bytes())))

    assert 0 == send("--transport", "tcp", "--octet-counting", address(receiver.port), "-")

    assert expected_messages(MULTILINE) == octet_frames(receiver.received())


# --- TLS ----------------------------------------------------------------------------------------------------------


def test_tls_verifies_server_with_ca_file(pki: Pki, receivers: list[StreamReceiver]) -> None:
    """Over TLS the server certificate is verified against --ca-file (chain and the IP address in its SAN)."""
    receiver = StreamReceiver(pki.server_context())
    receivers.append(receiver)

    argv = ("--transport", "tls", "--octet-counting", "--ca-file", pki.ca, address(receiver.port), MULTILINE)
    assert 0 == send(*argv)

    assert expected_messages(MULTILINE) == octet_frames(receiver.received())


def test_tls_presents_client_certificate(pki: Pki, receivers: list[StreamReceiver]) -> None:
    """With --cert-file and --key-file the client authenticates to a server that requires it (mTLS)."""
    receiver = StreamReceiver(pki.server_context(require_client_cert=True))
    receivers.append(receiver)
    client = ("--cert-file", pki.client_cert, "--key-file", pki.client_key)

    assert 0 == send("--transport", "tls", "--ca-file", pki.ca, *client, address(receiver.port), SELF_SIGNED)

    assert b"".join(m + b"\n" for m in expected_messages(SELF_SIGNED)) == receiver.received()
    assert receiver.peer_cert is not None
    assert ((("commonName", "expc01.example.com"),),) == receiver.peer_cert["subject"]


def test_tls_without_ca_file_uses_system_trust_store(
    pki: Pki, receivers: list[StreamReceiver], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --ca-file the system trust store is used: a private CA's server is refused with one line, exit 2."""
    receiver = StreamReceiver(pki.server_context())
    receivers.append(receiver)

    assert 2 == send("--transport", "tls", address(receiver.port), SELF_SIGNED)

    (line,) = stderr_lines(capsys)
    assert line.startswith(f"certwatch send: error: cannot connect to tls {address(receiver.port)}: TLS certificate")
    assert "unable to get local issuer certificate" in line
    assert b"" == receiver.received()


def test_tls_insecure_skips_verification(pki: Pki, receivers: list[StreamReceiver]) -> None:
    """--insecure sends to a server whose certificate cannot be verified."""
    receiver = StreamReceiver(pki.server_context())
    receivers.append(receiver)

    assert 0 == send("--transport", "tls", "--insecure", "--octet-counting", address(receiver.port), SELF_SIGNED)

    assert expected_messages(SELF_SIGNED) == octet_frames(receiver.received())


def test_tls_receiver_not_answering_close_notify(
    pki: Pki, receivers: list[StreamReceiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver that neither answers close_notify nor closes is cut off once everything is flushed: exit 0."""
    monkeypatch.setattr(send_module, "SHUTDOWN_TIMEOUT", 0.01)
    receiver = StreamReceiver(pki.server_context(), answer_close=False)
    receivers.append(receiver)

    assert 0 == send("--transport", "tls", "--ca-file", pki.ca, "--octet-counting", address(receiver.port), MULTILINE)

    receiver.close()
    assert expected_messages(MULTILINE) == octet_frames(receiver.received())


def test_tls_unloadable_client_key(pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    """A client certificate that does not load is one line naming the files, exit 2, before connecting."""
    argv = ("--transport", "tls", "--cert-file", pki.client_cert, "--key-file", pki.ca, "127.0.0.1:1", SELF_SIGNED)

    assert 2 == send(*argv)

    (line,) = stderr_lines(capsys)
    assert line.startswith(f"certwatch send: error: --cert-file {pki.client_cert} / --key-file {pki.ca}: ")


def test_tls_missing_ca_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --ca-file that does not load is one line naming it, exit 2, before connecting."""
    missing = tmp_path / "ca.pem"

    assert 2 == send("--transport", "tls", "--ca-file", missing, "127.0.0.1:1", SELF_SIGNED)

    expected = f"certwatch send: error: --ca-file {missing}: Could not load server certificate: [Errno 2] No such file"
    assert [expected] == [line[: len(expected)] for line in stderr_lines(capsys)]


# --- Errors -------------------------------------------------------------------------------------------------------


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A TCP port nobody listens on (bound here, so no one else takes it) is one line, exit 2."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        target = address(bound)
        assert 2 == send("--transport", "tcp", target, SELF_SIGNED)

    assert [f"certwatch send: error: cannot connect to tcp {target}: Connection refused"] == stderr_lines(capsys)


def test_unreadable_file(tmp_path: Path, udp: socket.socket, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be opened is one line naming it, exit 2, and nothing is sent."""
    missing = tmp_path / "missing.log"

    assert 2 == send(address(udp), SELF_SIGNED, missing)

    assert [f"certwatch send: error: {missing}: No such file or directory"] == stderr_lines(capsys)
    assert [] == datagrams(udp, 0)


def test_cut_gzip_file(tmp_path: Path, receiver: StreamReceiver, capsys: pytest.CaptureFixture[str]) -> None:
    """A gzip file cut short fails with one line naming it, exit 2; the line counts the messages sent before."""
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress(MULTILINE.read_bytes())[:-12])

    assert 2 == send("--transport", "tcp", "--octet-counting", address(receiver.port), cut)

    (line,) = stderr_lines(capsys)
    assert line.startswith(f"certwatch send: error: {cut}: ")
    assert line.endswith(f"(after {len(octet_frames(receiver.received()))} messages)")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["localhost"], "'localhost': expected HOST:PORT, e.g. 127.0.0.1:514 or [::1]:5514"),
        (["::1:514"], "'::1:514': write an IPv6 address in brackets, e.g. [::1]:5514"),
        (["host:99999"], "'host:99999': the port must be a number from 1 to 65535"),
        (["--octet-counting", "h:514"], "--octet-counting needs --transport tcp or tls"),
        (["--transport", "tcp", "--ca-file", "x", "h:514"], "--ca-file, --cert-file, --key-file and --insecure need "),
        (["--transport", "tls", "--cert-file", "x", "h:514"], "--cert-file and --key-file go together"),
        (["--transport", "tls", "--insecure", "--ca-file", "x", "h:514"], "--insecure turns off the verification "),
        (["--rate", "0", "h:514"], "--rate must be a positive number of messages per second"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad HOST:PORT or an option that would be ignored is one line, exit 2, before anything is opened."""
    assert 2 == send(*argv, SELF_SIGNED)

    (line,) = stderr_lines(capsys)
    assert f"certwatch send: error: {message}" == line[: len(f"certwatch send: error: {message}")]
