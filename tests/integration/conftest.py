"""Helpers for tests that run the real daemon in-process, on loopback ports picked by the kernel (port 0)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from certwatch.config import Config, parse
from certwatch.config import split_address as split

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def loopback(**sections: Any) -> Config:
    """A configuration with UDP and TCP syslog and HTTP on 127.0.0.1, kernel-chosen ports."""
    data: dict[str, Any] = {
        "listeners": [{"protocol": "udp", "address": "127.0.0.1:0"}, {"protocol": "tcp", "address": "127.0.0.1:0"}],
        "http": {"address": "127.0.0.1:0"},
    }
    data.update(sections)
    return parse(data, "<test>")


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run a test scenario on uvloop, as the daemon runs in production."""
    uvloop.run(scenario())  # type: ignore[arg-type]


def address(daemon: Any, protocol: str) -> tuple[str, int]:
    for bound in daemon.state.bound():
        if bound["protocol"] == protocol:
            return split(bound["address"])
    raise AssertionError(f"no {protocol} listener")


async def get(daemon: Any, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://{daemon.state.http_address}{path}") as r:
        return r.status, await r.text()


async def api(daemon: Any, query: str = "") -> list[dict[str, Any]]:
    status, body = await get(daemon, f"/api/v1/incidents{query}")
    assert status == 200, body
    import json  # noqa: PLC0415

    incidents: list[dict[str, Any]] = json.loads(body)["incidents"]
    return incidents


async def metrics(daemon: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` from a real scrape of /metrics."""
    status, body = await get(daemon, "/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def send_tcp(host_port: tuple[str, int], data: bytes) -> None:
    _, writer = await asyncio.open_connection(*host_port)
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def send_udp(host_port: tuple[str, int], datagrams: list[bytes]) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=host_port)
    for datagram in datagrams:
        transport.sendto(datagram)
    transport.close()


def keys(incidents: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (i["node"], i["origin"], i["port"] or 0, i["cause"], i["enforced"], i["cert_failures"], i["bad_gateway"])
        for i in incidents
    )
