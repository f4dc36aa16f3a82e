"""Incident lifecycle on the receive clock, reloads, and node silence, with an injected clock."""

from __future__ import annotations

from certwatch.testing import FakeClock, eventually, running_daemon
from conftest import EXAMPLES, address, api, loopback, metrics, run, send_tcp, value

SELF_SIGNED = EXAMPLES / "a_self_signed_tomcat_ecdsa.log"


def test_quiet_incident_resolves_then_is_forgotten() -> None:
    """No new failure for resolve_after: resolved (and logged), still listed for keep_resolved, then gone."""
    clock = FakeClock()
    config = loopback(correlation={"resolve_after": "15m"}, incidents={"keep_resolved": "1h"})

    async def scenario() -> None:
        async with running_daemon(config, clock) as daemon:
            await send_tcp(address(daemon, "tcp"), SELF_SIGNED.read_bytes())
            await eventually(lambda: api(daemon, "?status=active"))
            clock.advance(15 * 60 + 1)
            resolved = await eventually(lambda: api(daemon, "?status=resolved"))
            samples = await metrics(daemon)
            assert ["resolved"] == [i["status"] for i in resolved]
            assert value(samples, "certwatch_incident_changes_total", change="resolved") == 1.0
            assert not [k for k in samples if k[0] == "certwatch_incident_active"]
            clock.advance(3600 + 2)
            await eventually(lambda: _empty(api(daemon)))
            counters = await metrics(daemon)
            assert 2.0 == value(
                counters,
                "certwatch_cert_verify_failures_total",
                cluster="default",
                node="expc01",
                origin="cucm-sub1.example.com",
                port="6972",
                cause="untrusted_self_signed",
                enforced="true",
            )  # counters outlive the incident

    run(scenario)


async def _empty(incidents: object) -> bool:
    return await incidents == []  # type: ignore[misc]


def test_a_node_that_stops_sending_becomes_silent() -> None:
    """silence_after on the receive clock: a node that sent and then went quiet is flagged."""
    clock = FakeClock()
    config = loopback(nodes={"silence_after": "10m"})

    async def scenario() -> None:
        async with running_daemon(config, clock) as daemon:
            await send_tcp(address(daemon, "tcp"), SELF_SIGNED.read_bytes())
            labels = {"cluster": "default", "node": "expc01"}
            await eventually(lambda: _metric(daemon, "certwatch_node_silent", labels, 0.0))
            last = value(await metrics(daemon), "certwatch_node_last_message_timestamp_seconds", **labels)
            clock.advance(601)
            await eventually(lambda: _metric(daemon, "certwatch_node_silent", labels, 1.0))
            assert clock.now - 601 == last

    run(scenario)


async def _metric(daemon: object, name: str, labels: dict[str, str], expected: float) -> bool:
    return value(await metrics(daemon), name, **labels) == expected


def test_reload_applies_clusters_and_rebinds_a_changed_listener(tmp_path: object) -> None:
    """A reload with a new cluster mapping and a new TCP port: new port bound, old one closed, clusters applied."""
    from pathlib import Path  # noqa: PLC0415

    from certwatch.app import Daemon  # noqa: PLC0415
    from certwatch.config import load  # noqa: PLC0415

    path = Path(str(tmp_path)) / "certwatch.yaml"
    path.write_text("listeners:\n  - {protocol: tcp, address: '127.0.0.1:0'}\nhttp: {address: '127.0.0.1:0'}\n")

    async def scenario() -> None:
        daemon = Daemon(load(path), path)
        await daemon.start()
        try:
            old = address(daemon, "tcp")
            await send_tcp(old, SELF_SIGNED.read_bytes())
            await eventually(lambda: api(daemon))
            path.write_text(
                "listeners:\n  - {protocol: tcp, address: '127.0.0.1:0', max_connections: 5}\n"
                "http: {address: '127.0.0.1:0'}\nclusters: {emea: [expc01]}\n"
            )
            assert await daemon.reload()
            new = address(daemon, "tcp")
            assert old != new
            assert ["emea"] == [i["cluster"] for i in await api(daemon)]
            path.write_text("listeners: [{protocol: carrier-pigeon}]\n")
            assert not await daemon.reload()
            samples = await metrics(daemon)
            assert (0.0, new) == (value(samples, "certwatch_config_last_reload_success"), address(daemon, "tcp"))
        finally:
            await daemon.shutdown()

    run(scenario)
