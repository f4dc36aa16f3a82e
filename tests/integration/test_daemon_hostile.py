"""Hostile and heavy input: the daemon stays up, stays bounded, and counts every drop by reason."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

from process import daemon_process

from certwatch.testing import FakeClock, Lines, eventually, running_daemon
from conftest import EXAMPLES, address, api, loopback, metrics, run, send_tcp, value

SELF_SIGNED = (EXAMPLES / "a_self_signed_tomcat_ecdsa.log").read_bytes()


def test_senders_outside_allowed_senders_are_refused_and_counted() -> None:
    """UDP datagrams are dropped (sender_refused), TCP connections closed at once (refused: sender)."""
    only_tens = ["10.0.0.0/8"]
    config = loopback(
        listeners=[
            {"protocol": "udp", "address": "127.0.0.1:0", "allowed_senders": only_tens},
            {"protocol": "tcp", "address": "127.0.0.1:0", "allowed_senders": only_tens},
        ]
    )

    async def scenario() -> None:
        async with running_daemon(config) as daemon:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=address(daemon, "udp")
            )
            for line in SELF_SIGNED.splitlines():
                transport.sendto(line)
            transport.close()
            reader, writer = await asyncio.open_connection(*address(daemon, "tcp"))
            writer.write(SELF_SIGNED)
            assert b"" == await reader.read()  # closed by the daemon
            writer.close()
            await eventually(lambda: daemon.state.telemetry.dropped["sender_refused"] == 8)
            samples = await metrics(daemon)
            assert 1.0 == value(samples, "certwatch_connections_refused_total", transport="tcp", reason="sender")
            assert (0, []) == (daemon.state.engine.stats.messages, await api(daemon))

    run(scenario)


def test_connections_beyond_the_limit_are_refused() -> None:
    """max_connections 3: the 4th and 5th connections are closed at once and counted."""
    config = loopback(listeners=[{"protocol": "tcp", "address": "127.0.0.1:0", "max_connections": 3}])

    async def scenario() -> None:
        async with running_daemon(config) as daemon:
            streams = [await asyncio.open_connection(*address(daemon, "tcp")) for _ in range(5)]
            await eventually(lambda: daemon.state.telemetry.refused[("tcp", "limit")] == 2)
            samples = await metrics(daemon)
            assert 3.0 == value(samples, "certwatch_connections_open", transport="tcp")
            for _, writer in streams:
                writer.close()

    run(scenario)


def test_garbage_and_huge_frames_are_counted_and_the_stream_resynchronises() -> None:
    """Binary junk, a 1 MB octet-counted frame and a 1 MB line, then a real log on the same connection."""

    async def scenario() -> None:
        async with running_daemon(loopback()) as daemon:
            huge = b"<13>" + b"x" * (1 << 20)
            payload = (
                b"\x00\xff\xfe garbage that is not syslog\n" + b"%d " % len(huge) + huge + huge + b"\n" + SELF_SIGNED
            )
            await send_tcp(address(daemon, "tcp"), payload)
            incidents = await eventually(lambda: api(daemon))
            samples = await metrics(daemon)
            assert ["untrusted_self_signed"] == [i["cause"] for i in incidents]
            assert 2.0 == value(samples, "certwatch_frame_errors_total", transport="tcp", reason="frame_too_long")
            assert 3.0 <= value(samples, "certwatch_parse_failures_total", reason="not_syslog")

    run(scenario)


def test_a_stalled_half_frame_is_closed_when_idle_and_counted() -> None:
    """Half an octet-counted frame, then silence: closed after idle_timeout, the partial frame counted."""
    clock = FakeClock()
    config = loopback(listeners=[{"protocol": "tcp", "address": "127.0.0.1:0", "idle_timeout": "30s"}])

    async def scenario() -> None:
        async with running_daemon(config, clock) as daemon:
            reader, writer = await asyncio.open_connection(*address(daemon, "tcp"))
            writer.write(b"500 <13>1 2022-09-14T10:15:02Z expc01 traffic_server - - - half a frame")
            await writer.drain()
            await eventually(lambda: daemon.state.telemetry.received_bytes["tcp"] > 0)
            clock.advance(31)
            assert b"" == await asyncio.wait_for(reader.read(), 10)
            writer.close()
            samples = await metrics(daemon)
            assert 1.0 == value(samples, "certwatch_connections_closed_total", transport="tcp", reason="idle")
            assert 1.0 == value(samples, "certwatch_messages_dropped_total", reason="truncated_frame")

    run(scenario)


def test_tcp_backpressure_loses_nothing() -> None:
    """The engine stalls: the connections stop being read (paused, counted) instead of buffering or dropping;
    once it runs again, every message of three senders is processed."""
    config = loopback(ingress={"queue_batches": 1})
    lines = Lines()
    per_sender = 20_000
    body = b"".join(lines.at(i / 1000).sending_request(i, "10.0.0.1", 8443).encode() + b"\n" for i in range(per_sender))

    async def scenario() -> None:
        async with running_daemon(config) as daemon:
            ingress = daemon.state.ingress
            ingress.stop()  # stall the consumer, as a slow engine would
            target = address(daemon, "tcp")
            senders = [asyncio.ensure_future(send_tcp(target, body)) for _ in range(3)]
            telemetry = daemon.state.telemetry
            await eventually(lambda: telemetry.backpressure_pauses >= 2)
            assert ingress.full
            ingress.start(daemon.state.engine.feed)
            await asyncio.gather(*senders)
            await eventually(lambda: daemon.state.engine.stats.messages == 3 * per_sender, timeout=60)
            assert (0, 3 * per_sender) == (telemetry.dropped["queue_full"], telemetry.received["tcp"])


def test_what_the_shutdown_deadline_leaves_is_counted_as_dropped() -> None:
    """A stalled engine at shutdown: after daemon.shutdown_timeout, the queued batch, the paused connection's
    held-back messages and its last lines are all counted as received and dropped (reason shutdown)."""
    config = loopback(ingress={"queue_batches": 1}, daemon={"shutdown_timeout": "200ms"})
    lines = Lines()
    body = b"".join(lines.at(i / 1000).sending_request(i, "10.0.0.1", 8443).encode() + b"\n" for i in range(20_000))

    async def scenario() -> None:
        async with running_daemon(config) as daemon:
            daemon.state.ingress.stop()  # the engine stalls
            _, writer = await asyncio.open_connection(*address(daemon, "tcp"))
            writer.write(body)
            telemetry = daemon.state.telemetry
            await eventually(lambda: telemetry.backpressure_pauses >= 1)
        await asyncio.sleep(0.1)  # the connection's last callbacks
        writer.close()
        received, dropped = telemetry.received["tcp"], telemetry.dropped["shutdown"]
        assert (0, received) == (daemon.state.engine.stats.messages, dropped)
        assert received > 0

    run(scenario)


SENDER = """
import socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line = b'<166>2022-09-14T13:00:02.000+02:00 expc01 tvcs: UTCTime="2022-09-14 11:00:02,000" Module="network.sip" '
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for i in range(count):
        s.sendto(line + str(i).encode(), (host, port))
"""


def test_udp_flood_every_datagram_is_processed_or_counted_as_dropped() -> None:
    """A flood beyond capacity from another process: processed + queue_full + kernel drops = sent."""
    config = loopback(ingress={"queue_batches": 2})
    sent = 200_000

    async def scenario() -> None:
        async with running_daemon(config) as daemon:
            host, port = address(daemon, "udp")
            sender = await asyncio.create_subprocess_exec(sys.executable, "-c", SENDER, host, str(port), str(sent))
            assert 0 == await sender.wait()
            handle = daemon.state.udp[0]

            def accounted() -> int:
                processed = daemon.state.engine.stats.messages
                return processed + daemon.state.telemetry.dropped["queue_full"] + (handle.kernel_drops() or 0)

            await eventually(lambda: accounted() == sent, timeout=60)
            samples = await metrics(daemon)
            kernel = value(samples, "certwatch_udp_kernel_drops_total", listener=handle.address)
            assert kernel == handle.kernel_drops()

    run(scenario)


def test_label_sets_beyond_the_cap_go_to_one_overflow_series() -> None:
    """metrics.max_series 10 and 30 failing origins: 10 series, then one __overflow__ series, counted."""
    config = loopback(metrics={"max_series": 10})
    lines = Lines()
    log = b"".join(lines.verify(f"cucm{i}.example.com", f"10.0.0.{i}").encode() + b"\n" for i in range(30))

    async def scenario() -> None:
        async with running_daemon(config) as daemon:
            await send_tcp(address(daemon, "tcp"), log)
            await eventually(lambda: daemon.state.engine.correlator.stats.cert_failures == 30)
            samples = await metrics(daemon)
            failures = [k for k in samples if k[0] == "certwatch_cert_verify_failures_total"]
            overflow = dict.fromkeys(("cause", "cluster", "enforced", "node", "origin", "port"), "__overflow__")
            assert (11, 20.0) == (len(failures), value(samples, "certwatch_cert_verify_failures_total", **overflow))
            metric = "certwatch_cert_verify_failures_total"
            assert 20.0 == value(samples, "certwatch_label_overflow_total", metric=metric)

    run(scenario)


def test_a_thousand_idle_connections_keep_memory_bounded(tmp_path: Path) -> None:
    """1,000 connections that send nothing: all open, RSS grows by a bounded amount, the daemon still works."""
    config = (
        "listeners:\n  - {protocol: tcp, address: '127.0.0.1:0', max_connections: 2000}\n"
        "http: {address: '127.0.0.1:0'}\n"
    )
    with daemon_process(config, tmp_path) as daemon:
        tcp = daemon.listeners()["tcp"]
        before = daemon.rss_bytes()
        idle = [socket.create_connection(tcp) for _ in range(1000)]
        try:
            wait = 'certwatch_connections_open{transport="tcp"} 1000.0'
            deadline = 30
            _until(lambda: wait in daemon.get("/metrics")[1], deadline)
            grown = daemon.rss_bytes() - before
            with socket.create_connection(tcp) as conn:
                conn.sendall(SELF_SIGNED)
            _until(lambda: '"cause":"untrusted_self_signed"' in daemon.get("/api/v1/incidents")[1], deadline)
            assert grown < 64 << 20, grown  # about 10 KiB per idle connection here
        finally:
            for sock in idle:
                sock.close()


def _until(check: object, timeout: float) -> None:
    proc = subprocess  # keep the import used for the sender's type
    del proc
    import time  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)
