"""The daemon fed by the syslog senders it meets in the field, each test named after its sender: util-linux
``logger``, rsyslog as a relay (plain TCP and TLS forwarding), and ``certwatch send``. The tools are Debian
packages, installed when missing (``bsdutils`` for logger, ``rsyslog`` and ``rsyslog-gnutls``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from peers import PROCESS_TIMEOUT, analyze, certwatch_send, free_port, handshake_failures, run_process, without
from pki import Pki, ensure_debs, make_pki
from structlog.testing import capture_logs

from certwatch.reader import LineReader
from certwatch.testing import eventually, running_daemon
from conftest import EXAMPLES, address, api, keys, loopback, metrics, run, send_tcp, value

SELF_SIGNED = EXAMPLES / "a_self_signed_tomcat_ecdsa.log"
TWO_PEERS = EXAMPLES / "b_untrusted_chain_two_peers.log"
MULTILINE = EXAMPLES / "i_diagnostic_snapshot_multiline.log"
SBIN_PATH = os.pathsep.join((os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"))
VERIFY_WARNING = (
    "[ET_NET 1] WARNING: Core server certificate verification failed for (cucm-pub.example.com). "
    "Action=Terminate Error=self signed certificate server=cucm-pub.example.com(10.10.10.11) depth=0"
)


def message_count(path: Path) -> int:
    reader = LineReader()
    return len(reader.feed(path.read_bytes()) + reader.finish())


async def processed(daemon: Any, count: int) -> None:
    """Wait until the engine took ``count`` messages, then close the open join windows, as analyze does at EOF."""
    await eventually(lambda: daemon.state.engine.stats.messages >= count)
    daemon.state.engine.correlator.flush(daemon.clock())


async def ingestion(daemon: Any) -> dict[str, Any]:
    """The ingestion counters from one scrape (non-zero series only): received per transport, messages per node,
    parse and frame errors, and the well-formed messages certwatch has no use for."""
    samples = await metrics(daemon)

    def by(name: str, label: str) -> dict[str, float]:
        return {dict(labels)[label]: n for (sample, labels), n in samples.items() if sample == name and n}

    return {
        "received": by("certwatch_messages_received_total", "transport"),
        "nodes": by("certwatch_node_messages_total", "node"),
        "parse_failures": by("certwatch_parse_failures_total", "reason"),
        "frame_errors": by("certwatch_frame_errors_total", "reason"),
        "ignored": value(samples, "certwatch_messages_ignored_total"),
    }


# --- util-linux logger ------------------------------------------------------------------------------------------


@pytest.fixture(name="logger", scope="session")
def fixture_logger() -> str:
    ensure_debs(("bsdutils",), lambda: shutil.which("logger") is not None)
    path = shutil.which("logger")
    assert path is not None
    return path


def logger_host(flags: list[str]) -> str:
    """The HOSTNAME logger writes: gethostname() in RFC 5424, its first label in RFC 3164 (logger(1) cannot be
    told another one)."""
    host = socket.gethostname()
    return host.split(".", 1)[0] if "--rfc3164" in flags else host


async def run_logger(logger: str, daemon: Any, transport: str, flags: list[str], stdin: bytes) -> None:
    """One logger run: every line of ``stdin`` is one message to the daemon's listener."""
    host, port = address(daemon, transport)
    mode = "--udp" if transport == "udp" else "--tcp"
    done = await run_process(logger, mode, "--server", host, "--port", str(port), *flags, stdin=stdin)
    assert (0, "") == (done.returncode, done.stderr)


LOGGER_CASES = [
    ("udp", ["--rfc3164"]),
    ("udp", ["--rfc5424"]),
    ("tcp", ["--rfc3164"]),
    ("tcp", ["--rfc5424"]),
    ("tcp", ["--rfc5424", "--octet-count"]),
]


@pytest.mark.parametrize(
    ("transport", "flags"), LOGGER_CASES, ids=["udp-3164", "udp-5424", "tcp-3164", "tcp-5424", "tcp-5424-octets"]
)
def test_logger_framing_and_headers(logger: str, transport: str, flags: list[str]) -> None:
    """logger(1) over UDP (a datagram per line) and TCP (LF or RFC 6587 octet counting), RFC 3164 and RFC 5424
    headers (with logger's ``timeQuality`` structured data): each of three lines is one well-formed message of
    the node logger names (this host), read without a parse or frame error and ignored (not traffic_server)."""
    flags = [*flags, "--tag", "certwatch-test", "--id=4242"]
    lines = b"".join(b"certwatch real-sender check %d\n" % i for i in range(3))

    async def scenario() -> None:
        async with running_daemon(loopback()) as daemon:
            await run_logger(logger, daemon, transport, flags, lines)
            await processed(daemon, 3)
            expected = {"received": {transport: 3.0}, "nodes": {logger_host(flags): 3.0}, "ignored": 3.0}
            assert {**expected, "parse_failures": {}, "frame_errors": {}} == await ingestion(daemon)
            assert [] == await api(daemon)

    run(scenario)


@pytest.mark.parametrize(
    ("transport", "flags"), [("udp", ["--rfc3164"]), ("tcp", ["--rfc5424", "--octet-count"])], ids=["udp", "tcp"]
)
def test_logger_traffic_server_warning_opens_an_incident_for_this_host(
    logger: str, transport: str, flags: list[str]
) -> None:
    """``logger -t traffic_server`` with an Expressway verify WARNING: an incident on the node logger names,
    self-signed origin certificate, port unknown (no request line), enforced, one failure, no 502."""
    flags = [*flags, "--tag", "traffic_server", "--id=3120", "--priority", "local0.warning"]

    async def scenario() -> None:
        async with running_daemon(loopback()) as daemon:
            await run_logger(logger, daemon, transport, flags, VERIFY_WARNING.encode() + b"\n")
            incidents = await eventually(lambda: api(daemon))
            node = logger_host(flags)
            assert [(node, "cucm-pub.example.com", 0, "untrusted_self_signed", True, 1, 0)] == keys(incidents)
            assert ("10.10.10.11", "self signed certificate", 0) == (
                incidents[0]["origin_ip"],
                incidents[0]["error"],
                incidents[0]["depth"],
            )
            assert {transport: 1.0} == (await ingestion(daemon))["received"]

    run(scenario)


# --- rsyslog as a relay -------------------------------------------------------------------------------------------


@pytest.fixture(name="rsyslogd", scope="session")
def fixture_rsyslogd() -> str:
    def present() -> bool:  # the daemon, and the GnuTLS network stream driver of rsyslog-gnutls
        gtls = [*Path("/usr/lib").glob("*/rsyslog/lmnsd_gtls.so"), *Path("/usr/lib/rsyslog").glob("lmnsd_gtls.so")]
        return shutil.which("rsyslogd", path=SBIN_PATH) is not None and bool(gtls)

    ensure_debs(("rsyslog", "rsyslog-gnutls"), present)
    path = shutil.which("rsyslogd", path=SBIN_PATH)
    assert path is not None
    return path


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


RSYSLOG_CONFIG = """\
global(workDirectory="{work}" maxMessageSize="64k"{tls})
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="relay")
ruleset(name="relay") {{
  action(type="omfwd" target="{target_host}" port="{target_port}" protocol="tcp" TCP_Framing="octet-counted"
         template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="1"{driver})
}}
"""


@asynccontextmanager
async def rsyslog_relay(
    rsyslogd: str, work: Path, target: tuple[str, int], tls: Pki | None = None
) -> AsyncIterator[int]:
    """``rsyslogd -n`` relaying what its plain-TCP input (returned: its port) receives to ``target`` with omfwd:
    RFC 6587 octet counting, RFC 5424 (``RSYSLOG_SyslogProtocol23Format``: the original stamp and host kept),
    over TLS (GnuTLS, the daemon verified as ``localhost`` by the test CA, a client certificate) with ``tls``.
    Only the relay's input goes out (rsyslogd's own messages stay in the default ruleset, which has no action).
    The process is stopped on exit, SIGTERM then SIGKILL."""
    port = free_port()  # rsyslog cannot report a port-0 bind: a port free a moment ago (a small race, accepted)
    global_tls = driver = ""
    if tls is not None:
        global_tls = (
            f' DefaultNetstreamDriverCAFile="{tls.ca}" DefaultNetstreamDriverCertFile="{tls.client.cert}"'
            f' DefaultNetstreamDriverKeyFile="{tls.client.key}"'
        )
        driver = (
            ' StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"'
            ' StreamDriverPermittedPeers="localhost"'
        )
    config = work / "rsyslog.conf"
    config.write_text(
        RSYSLOG_CONFIG.format(
            work=work, tls=global_tls, port=port, target_host=target[0], target_port=target[1], driver=driver
        )
    )
    errors = work / "rsyslogd.stderr"
    with errors.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            rsyslogd, "-n", "-f", str(config), "-i", str(work / "rsyslogd.pid"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        await eventually(lambda: _accepting(proc, port, errors))
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(PROCESS_TIMEOUT):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _accepting(proc: asyncio.subprocess.Process, port: int, errors: Path) -> bool:
    assert proc.returncode is None, f"rsyslogd exited with {proc.returncode}: {_text(errors)}"
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


def _text(path: Path) -> str:
    return path.read_text(errors="replace")


def relayed(incident: dict[str, Any]) -> dict[str, Any]:
    """An incident without what a relay changes: evidence lines carry rsyslog's RFC 5424 header."""
    return without(incident, "evidence", "status_changed_at")


def test_rsyslog_relays_over_tcp_with_octet_counting(rsyslogd: str, tmp_path: Path) -> None:
    """rsyslog receives the two-peer example and forwards it over TCP, octet-counted, as RFC 5424: every message
    arrives and parses, the nodes are the Expressway peers (not the relay's host), and the incidents (cause, port,
    502s, time stamps, hint and steps) are analyze's for the original file."""
    expected = analyze(TWO_PEERS)
    count = message_count(TWO_PEERS)

    async def scenario() -> None:
        async with (
            running_daemon(loopback()) as daemon,
            rsyslog_relay(rsyslogd, tmp_path, address(daemon, "tcp")) as port,
        ):
            await send_tcp(("127.0.0.1", port), TWO_PEERS.read_bytes())
            await processed(daemon, count)
            assert [relayed(f) for f in expected] == [relayed(i) for i in await api(daemon)]
            counts = await ingestion(daemon)
            assert {"tcp": float(count)} == counts["received"]
            assert {"expc01": 2.0, "expc02": 4.0} == counts["nodes"]
            assert ({}, {}) == (counts["parse_failures"], counts["frame_errors"])

    run(scenario)


def test_rsyslog_relays_over_mutual_tls(rsyslogd: str, pki: Pki, tmp_path: Path) -> None:
    """rsyslog forwards the self-signed example over TLS (GnuTLS, the daemon's certificate checked for the name
    localhost against the test CA, a client certificate of that CA): no handshake fails, the daemon logs the
    relay's identity, every message arrives, and the incident is analyze's, on the Expressway peer."""
    expected = analyze(SELF_SIGNED)
    count = message_count(SELF_SIGNED)
    listener = {
        "protocol": "tls",
        "address": "127.0.0.1:0",
        "cert_file": str(pki.server.cert),
        "key_file": str(pki.server.key),
        "client_ca_file": str(pki.ca),
        "handshake_timeout": 1.0,
    }

    async def scenario() -> None:
        with capture_logs() as logs:
            async with (
                running_daemon(loopback(listeners=[listener])) as daemon,
                rsyslog_relay(rsyslogd, tmp_path, address(daemon, "tls"), tls=pki) as port,
            ):
                await send_tcp(("127.0.0.1", port), SELF_SIGNED.read_bytes())
                await eventually(lambda: api(daemon))
                assert {} == await handshake_failures(daemon)
                await processed(daemon, count)
                assert [relayed(f) for f in expected] == [relayed(i) for i in await api(daemon)]
                assert {"tls": float(count)} == (await ingestion(daemon))["received"]
        identities = [e["identity"] for e in logs if e["event"] == "tls_client"]
        assert ["CN=expc01.example.com, DNS:expc01.example.com"] == identities

    run(scenario)


# --- certwatch send ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transport", "options"),
    [("udp", []), ("tcp", []), ("tcp", ["--octet-counting"])],
    ids=["udp", "tcp-lf", "tcp-octet-counting"],
)
def test_certwatch_send_multiline_gives_the_incident_of_analyze(transport: str, options: list[str]) -> None:
    """``certwatch send`` (aiosyslog's TLS context; plain asyncio sockets for UDP and TCP) replays the diagnostic
    snapshot whose messages carry HTTP bodies on continuation lines: one datagram per message, LF lines joined
    again by the daemon, or one octet-counted frame per message. The daemon's incident is analyze's, field for
    field (evidence included), from every message and with no parse error."""
    expected = analyze(MULTILINE)
    count = message_count(MULTILINE)

    async def scenario() -> None:
        async with running_daemon(loopback()) as daemon:
            sent = await certwatch_send(daemon, transport, *options, MULTILINE)
            assert 0 == sent.returncode, sent.stderr
            await processed(daemon, count)
            assert [without(f, "status_changed_at") for f in expected] == [
                without(i, "status_changed_at") for i in await api(daemon)
            ]
            counts = await ingestion(daemon)
            assert ({transport: float(count)}, {"vcsc": float(count)}, {}) == (
                counts["received"],
                counts["nodes"],
                counts["parse_failures"],
            )

    run(scenario)
