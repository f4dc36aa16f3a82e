"""The daemon end to end, in-process: real sockets on loopback, real HTTP, the example scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from certwatch.reader import LineReader
from certwatch.testing import eventually, running_daemon
from conftest import EXAMPLES, address, api, get, keys, loopback, metrics, run, send_tcp, send_udp, value

SELF_SIGNED = EXAMPLES / "a_self_signed_tomcat_ecdsa.log"
INCIDENT = {
    "cluster": "default",
    "node": "expc01",
    "origin": "cucm-sub1.example.com",
    "port": "6972",
    "cause": "untrusted_self_signed",
}


def analyze_keys(path: str) -> list[tuple[object, ...]]:
    out = subprocess.run(
        [sys.executable, "-m", "certwatch", "analyze", "--format", "json", path], capture_output=True, check=True
    ).stdout
    return keys(json.loads(out)["findings"])


def test_tcp_line_framing_gives_the_incident_metric_and_hint() -> None:
    """A whole log over plain TCP: the incident, its counters and its remediation are served."""

    async def scenario() -> None:
        async with running_daemon(loopback()) as daemon:
            await send_tcp(address(daemon, "tcp"), SELF_SIGNED.read_bytes())
            incidents = await eventually(lambda: api(daemon))
            samples = await metrics(daemon)
            assert [("expc01", "cucm-sub1.example.com", 6972, "untrusted_self_signed", True, 2, 1)] == keys(incidents)
            assert "Trust or CA-sign the origin's self-signed certificate" == incidents[0]["summary"]
            assert 1.0 == value(samples, "certwatch_incident_active", **INCIDENT, enforced="true")
            assert 2.0 == value(samples, "certwatch_cert_verify_failures_total", **INCIDENT, enforced="true")
            assert 1.0 == value(samples, "certwatch_bad_gateway_total", **INCIDENT)
            assert 8.0 == value(samples, "certwatch_messages_received_total", transport="tcp")
            assert 3.0 == value(samples, "certwatch_node_request_lines_total", cluster="default", node="expc01")

    run(scenario)


def test_octet_counting_keeps_multiline_messages_whole() -> None:
    """RFC 6587 octet counting: a diagnostic-snapshot log with HTTPMSG bodies, each message one frame."""
    log = EXAMPLES / "i_diagnostic_snapshot_multiline.log"

    async def scenario() -> None:
        async with running_daemon(loopback()) as daemon:
            reader = LineReader()
            messages = [*reader.feed(log.read_bytes()), *reader.finish()]
            frames = b"".join(b"%d %s" % (len(m), m) for m in messages)
            await send_tcp(address(daemon, "tcp"), frames)
            incidents = await eventually(lambda: api(daemon))
            assert [("vcsc", "cucm.steven.lab", 6972, "untrusted_self_signed", True, 1, 1)] == keys(incidents)

    run(scenario)


def test_udp_datagrams_and_continuation_datagrams() -> None:
    """One datagram per line: HTTPMSG continuation lines in their own datagrams join their message."""
    log = EXAMPLES / "i_diagnostic_snapshot_multiline.log"

    async def scenario() -> None:
        async with running_daemon(loopback()) as daemon:
            await send_udp(address(daemon, "udp"), [line for line in log.read_bytes().split(b"\n") if line])
            incidents = await eventually(lambda: api(daemon))
            assert [("vcsc", "cucm.steven.lab", 6972, "untrusted_self_signed", True, 1, 1)] == keys(incidents)
            # the last message waits ingress.continuation_wait for continuation datagrams before it is counted
            await eventually(lambda: _node_messages(daemon, "vcsc", 11.0))

    run(scenario)


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.log")), ids=lambda p: p.stem)
def test_replay_gives_the_findings_of_analyze(example: object) -> None:
    """Replaying an example log through the daemon gives analyze's findings (before quiet-period expiry)."""
    path = str(example)
    expected = analyze_keys(path)
    data = Path(path).read_bytes()
    reader = LineReader()
    messages = len(reader.feed(data) + reader.finish())

    async def scenario() -> None:
        async with running_daemon(loopback()) as daemon:
            await send_tcp(address(daemon, "tcp"), data)
            await eventually(lambda: daemon.state.engine.stats.messages >= messages)
            daemon.state.engine.correlator.flush(daemon.clock())
            assert expected == keys(await api(daemon))

    run(scenario)


def test_configured_nodes_are_present_before_their_first_message() -> None:
    """A configured peer that never sent is in the node metrics, silent, with a zero last-message time."""

    async def scenario() -> None:
        async with running_daemon(loopback(clusters={"london": ["vcs-c-lon1", "vcs-c-lon2"]})) as daemon:
            samples = await metrics(daemon)
            for node in ("vcs-c-lon1", "vcs-c-lon2"):
                labels = {"cluster": "london", "node": node}
                assert 0.0 == value(samples, "certwatch_node_messages_total", **labels)
                assert 1.0 == value(samples, "certwatch_node_silent", **labels)
                assert 0.0 == value(samples, "certwatch_node_last_message_timestamp_seconds", **labels)

    run(scenario)


def test_readyz_lists_the_real_bound_addresses() -> None:
    """Port 0 resolves to real ports; /readyz says so, /healthz answers."""

    async def scenario() -> None:
        async with running_daemon(loopback()) as daemon:
            status, body = await get(daemon, "/readyz")
            ready = json.loads(body)
            assert (200, True) == (status, ready["ready"])
            assert ["tcp", "udp"] == sorted(b["protocol"] for b in ready["listeners"])
            assert all(not b["address"].endswith(":0") for b in ready["listeners"])
            assert (200, '{"status":"ok"}') == await get(daemon, "/healthz")

    run(scenario)


def test_api_filters_by_cluster_node_and_status() -> None:
    """?cluster=, ?node= and ?status= narrow the incident list; a bad status is a 400."""

    async def scenario() -> None:
        async with running_daemon(loopback(clusters={"emea": ["expc02"]})) as daemon:
            await send_tcp(address(daemon, "tcp"), (EXAMPLES / "b_untrusted_chain_two_peers.log").read_bytes())
            await eventually(lambda: _count(api(daemon), 2))
            assert ["expc02"] == [i["node"] for i in await api(daemon, "?cluster=emea")]
            assert ["expc01"] == [i["node"] for i in await api(daemon, "?node=expc01")]
            assert [] == await api(daemon, "?status=resolved")
            assert 400 == (await get(daemon, "/api/v1/incidents?status=bogus"))[0]

    run(scenario)


async def _node_messages(daemon: object, node: str, expected: float) -> bool:
    samples = await metrics(daemon)
    return value(samples, "certwatch_node_messages_total", cluster="default", node=node) == expected


async def _count(incidents: object, n: int) -> bool:
    return len(await incidents) == n  # type: ignore[misc, arg-type]
