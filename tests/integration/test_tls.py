"""TLS syslog (RFC 5425) and mutual TLS against real peers: ``certwatch send`` (aiosyslog's TLS context), raw
sockets and a Python TLS client, with a CA, server and client certificates made for the test by ``openssl``.

A refused peer must leave no trace but its counter: what it sent is never framed, counted or correlated, which the
tests prove by sending a whole log from the refused peer, then the same log from a trusted one, and finding exactly
one log's worth of messages.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from peers import certwatch_send, counters, handshake_failures
from pki import Pki, make_pki
from structlog.testing import capture_logs

from certwatch.config import Config
from certwatch.testing import eventually, running_daemon
from conftest import EXAMPLES, address, api, keys, loopback, metrics, run, value

SELF_SIGNED = EXAMPLES / "a_self_signed_tomcat_ecdsa.log"
SELF_SIGNED_KEYS = [("expc01", "cucm-sub1.example.com", 6972, "untrusted_self_signed", True, 2, 1)]
SELF_SIGNED_MESSAGES = 8.0
CLIENT_IDENTITY = "CN=expc01.example.com, DNS:expc01.example.com"
WAIT = 10.0  # seconds a test waits for the daemon to close a connection; never slept


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_config(pki: Pki, *, client_ca: bool = False, handshake_timeout: float = 2.0) -> Config:
    """One TLS listener on 127.0.0.1:0 with the test server certificate; mutual TLS with ``client_ca``."""
    listener: dict[str, Any] = {
        "protocol": "tls",
        "address": "127.0.0.1:0",
        "cert_file": str(pki.server.cert),
        "key_file": str(pki.server.key),
        "handshake_timeout": handshake_timeout,
    }
    if client_ca:
        listener["client_ca_file"] = str(pki.ca)
    return loopback(listeners=[listener])


def client_options(pki: Pki, client: str | None) -> list[str | Path]:
    """``certwatch send`` TLS options: verify the daemon with the test CA; present the named client pair, if any."""
    options: list[str | Path] = ["--ca-file", pki.ca]
    pair = {"client": pki.client, "stranger": pki.stranger}.get(client or "")
    if pair is not None:
        options += ["--cert-file", pair.cert, "--key-file", pair.key]
    return options


async def received(daemon: Any) -> dict[str, float]:
    return await counters(daemon, "certwatch_messages_received_total", "transport")


async def assert_only_one_log_arrived(daemon: Any) -> None:
    """The incident of one copy of the example, from its 8 messages over TLS, and nothing else."""
    await eventually(lambda: daemon.state.engine.stats.messages >= SELF_SIGNED_MESSAGES)
    incidents = await api(daemon)
    samples = await metrics(daemon)
    assert SELF_SIGNED_KEYS == keys(incidents)
    assert {"tls": SELF_SIGNED_MESSAGES} == await received(daemon)
    assert SELF_SIGNED_MESSAGES == value(samples, "certwatch_node_messages_total", cluster="default", node="expc01")


def test_tls_without_client_auth_delivers_the_example(pki: Pki) -> None:
    """``certwatch send --transport tls --ca-file CA`` verifies the daemon's certificate for 127.0.0.1 and
    delivers the whole log: its incident is served and no handshake failed."""

    async def scenario() -> None:
        async with running_daemon(tls_config(pki)) as daemon:
            sent = await certwatch_send(daemon, "tls", *client_options(pki, None), SELF_SIGNED)
            assert 0 == sent.returncode, sent.stderr
            await assert_only_one_log_arrived(daemon)
            assert {} == await handshake_failures(daemon)

    run(scenario)


def test_mutual_tls_accepts_a_client_of_the_ca_and_logs_its_identity(pki: Pki) -> None:
    """With ``client_ca_file``, a client certificate signed by that CA is accepted: the log arrives, and the
    daemon logs the verified peer (``tls_client`` with its address, CN and DNS names)."""

    async def scenario() -> None:
        with capture_logs() as logs:
            async with running_daemon(tls_config(pki, client_ca=True)) as daemon:
                sent = await certwatch_send(daemon, "tls", *client_options(pki, "client"), SELF_SIGNED)
                assert 0 == sent.returncode, sent.stderr
                await assert_only_one_log_arrived(daemon)
                assert {} == await handshake_failures(daemon)
        identities = [(e["log_level"], e["peer"], e["identity"]) for e in logs if e["event"] == "tls_client"]
        assert [("info", "127.0.0.1", CLIENT_IDENTITY)] == identities

    run(scenario)


@pytest.mark.parametrize(
    ("client", "reason"),
    [(None, "no_client_certificate"), ("stranger", "client_certificate_untrusted")],
    ids=["no-certificate", "certificate-of-another-ca"],
)
def test_mutual_tls_refuses_a_client_and_processes_nothing_it_sent(pki: Pki, client: str | None, reason: str) -> None:
    """A client without a certificate, or with one of another CA (same subject as the trusted client), is refused
    with its reason counted, and the whole log it wrote is never processed. (Under TLS 1.3 the client finishes
    its side of the handshake first and writes everything before the refusal reaches it, so ``certwatch send``
    may or may not notice: its exit status is not checked.) The trusted client then sends the same log: exactly
    one copy is counted."""

    async def scenario() -> None:
        with capture_logs() as logs:
            async with running_daemon(tls_config(pki, client_ca=True)) as daemon:
                await certwatch_send(daemon, "tls", *client_options(pki, client), SELF_SIGNED)
                assert {reason: 1.0} == await eventually(lambda: handshake_failures(daemon))
                assert (0, {}, []) == (daemon.state.engine.stats.messages, await received(daemon), await api(daemon))

                sent = await certwatch_send(daemon, "tls", *client_options(pki, "client"), SELF_SIGNED)
                assert 0 == sent.returncode, sent.stderr
                await assert_only_one_log_arrived(daemon)
                assert {reason: 1.0} == await handshake_failures(daemon)
                closed = await counters(daemon, "certwatch_connections_closed_total", "reason")
                assert 1.0 == closed.get("error")
        identities = [e["identity"] for e in logs if e["event"] == "tls_client"]
        assert [CLIENT_IDENTITY] == identities  # the refused peer never got as far as an identity

    run(scenario)


async def send_until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> None:
    """Behave as a plain syslog sender: write a line, give the daemon 50 ms to hang up, write the next one."""
    async with asyncio.timeout(WAIT):
        while True:
            writer.write(line)
            try:
                await asyncio.wait_for(reader.read(), 0.05)  # returns at end of file
            except TimeoutError:
                continue
            except ConnectionError:
                pass
            return


def test_plain_text_on_the_tls_port_is_counted_and_the_daemon_keeps_serving(pki: Pki) -> None:
    """A plain-TCP syslog sender pointed at the TLS port is cut off and counted ``not_tls``; nothing it wrote is
    processed, and a TLS client right after is served."""
    line = SELF_SIGNED.read_bytes().splitlines(keepends=True)[2]

    async def scenario() -> None:
        async with running_daemon(tls_config(pki)) as daemon:
            reader, writer = await asyncio.open_connection(*address(daemon, "tls"))
            await send_until_closed(reader, writer, line)
            writer.close()
            assert {"not_tls": 1.0} == await eventually(lambda: handshake_failures(daemon))

            sent = await certwatch_send(daemon, "tls", *client_options(pki, None), SELF_SIGNED)
            assert 0 == sent.returncode, sent.stderr
            await assert_only_one_log_arrived(daemon)
            assert {"not_tls": 1.0} == await handshake_failures(daemon)

    run(scenario)


def test_a_client_that_never_completes_the_handshake_is_cut_off_after_the_timeout(pki: Pki) -> None:
    """A peer that connects and sends nothing is closed by the daemon once ``handshake_timeout`` passes, and
    counted ``timeout``; the connection is no longer open."""

    async def scenario() -> None:
        async with running_daemon(tls_config(pki, handshake_timeout=0.5)) as daemon:
            reader, writer = await asyncio.open_connection(*address(daemon, "tls"))
            try:
                async with asyncio.timeout(WAIT):
                    left = await reader.read()
            except ConnectionResetError:
                left = b""
            writer.close()
            assert b"" == left
            assert {"timeout": 1.0} == await eventually(lambda: handshake_failures(daemon))
            samples = await metrics(daemon)
            assert 0.0 == value(samples, "certwatch_connections_open", transport="tls")
            assert 1.0 == value(samples, "certwatch_connections_closed_total", transport="tls", reason="error")

    run(scenario)


def test_a_client_hello_sent_at_once_is_not_lost(pki: Pki) -> None:
    """A TLS client that sends its ClientHello as soon as the TCP connection is up completes the handshake and is
    served. A client on the daemon's own event loop always does so before the daemon's accept has run its course
    (rsyslog's GnuTLS driver often does, a ``certwatch send`` child process sometimes)."""
    # Fails while the listener drops bytes that arrive before loop.start_tls() takes the connection over: uvloop
    # starts reading as soon as StreamProtocol.connection_made returns, undoing its pause_reading(), and
    # data_received discards the ClientHello, so the handshake waits for handshake_timeout ("timeout").

    async def scenario() -> None:
        async with running_daemon(tls_config(pki, handshake_timeout=0.5)) as daemon:
            context = ssl.create_default_context(cafile=str(pki.ca))
            try:
                _, writer = await asyncio.open_connection(*address(daemon, "tls"), ssl=context)
            except ConnectionError as exc:
                raise AssertionError(f"handshake failed: {exc!r}, {await handshake_failures(daemon)}") from None
            writer.write(SELF_SIGNED.read_bytes())
            await writer.drain()
            writer.close()
            await assert_only_one_log_arrived(daemon)
            assert {} == await handshake_failures(daemon)

    run(scenario)
