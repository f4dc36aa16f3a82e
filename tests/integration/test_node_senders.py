"""Peers bound to their senders (``node_senders``) with the real daemon: a forged UDP peer from another loopback
address, and TLS peers bound to client certificate names."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from peers import certwatch_send
from pki import Pki, make_pki
from structlog.testing import capture_logs

from certwatch.testing import eventually, running_daemon
from conftest import EXAMPLES, address, api, keys, loopback, metrics, run, send_tcp, value

SELF_SIGNED = EXAMPLES / "a_self_signed_tomcat_ecdsa.log"
EXPIRED = EXAMPLES / "e_expired_unity_and_reverse.log"  # expc02's lines


def datagrams(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


async def send_udp_from(source: str, target: tuple[str, int], lines: list[bytes]) -> None:
    """Datagrams from a chosen loopback address (all of 127.0.0.0/8 is the loopback interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for line in lines:
            sock.sendto(line, target)
            await asyncio.sleep(0)


def test_a_forged_peer_is_dropped_and_counted_and_the_real_peer_still_opens_its_incident() -> None:
    """expc02 is bound to 127.0.0.1: the same failures claiming expc02 from 127.0.0.2 are dropped (counted, logged
    once), from 127.0.0.1 they open expc02's incidents; expc01 is not bound and is accepted from anywhere."""
    config = loopback(node_senders={"expc02": ["127.0.0.1/32"]})
    forged = datagrams(EXPIRED)

    async def scenario() -> None:
        with capture_logs() as logs:
            async with running_daemon(config) as daemon:
                udp = address(daemon, "udp")
                await send_udp_from("127.0.0.2", udp, forged)
                await send_udp_from("127.0.0.2", udp, forged)
                await send_udp_from("127.0.0.2", udp, datagrams(SELF_SIGNED))
                dropped = {"reason": "node_sender_mismatch"}
                await eventually(
                    lambda: received_and_dropped(daemon, 2 * len(forged) + len(datagrams(SELF_SIGNED)), 2 * len(forged))
                )
                await asyncio.sleep(0.3)  # (the last message waited for continuation lines)
                assert ["expc01"] == sorted({i["node"] for i in await api(daemon)})
                await send_udp_from("127.0.0.1", udp, forged)
                await eventually(lambda: nodes_with_incidents(daemon, 2))
                samples = await metrics(daemon)
                assert 2 * len(forged) == value(samples, "certwatch_messages_dropped_total", **dropped)
        warned = [(e["node"], e["sender"]) for e in logs if e["event"] == "node_sender_mismatch"]
        assert [("expc02", "127.0.0.2")] == warned  # at most once a minute per node and sender

    run(scenario)


async def received_and_dropped(daemon: Any, received: int, dropped: int) -> bool:
    samples = await metrics(daemon)
    got = value(samples, "certwatch_messages_received_total", transport="udp") or 0
    lost = value(samples, "certwatch_messages_dropped_total", reason="node_sender_mismatch") or 0
    return got >= received - 1 and lost == dropped  # (one message may still wait for continuation lines)


async def nodes_with_incidents(daemon: Any, count: int) -> bool:
    return len({i["node"] for i in await api(daemon)}) == count


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_and_tcp(pki: Pki, names: list[str]) -> Any:
    tls = {
        "protocol": "tls",
        "address": "127.0.0.1:0",
        "cert_file": str(pki.server.cert),
        "key_file": str(pki.server.key),
        "client_ca_file": str(pki.ca),
    }
    listeners = [tls, {"protocol": "tcp", "address": "127.0.0.1:0"}]
    return loopback(listeners=listeners, node_senders={"expc01": names})


@pytest.mark.parametrize(
    ("names", "accepted"),
    [(["expc01.example.com"], True), (["127.0.0.1/32", "EXPC01.example.com"], True), (["expc09.example.com"], False)],
    ids=["its-name", "address-and-name", "another-name"],
)
def test_a_node_bound_to_certificate_names_is_accepted_only_over_tls_from_them(
    pki: Pki, names: list[str], accepted: bool
) -> None:
    """The client certificate is CN/DNS expc01.example.com. Bound to that name, expc01's log is accepted over TLS
    and refused over plain TCP (no certificate); bound to another name, refused on both."""

    async def scenario() -> None:
        async with running_daemon(tls_and_tcp(pki, names)) as daemon:
            await send_tcp(address(daemon, "tcp"), SELF_SIGNED.read_bytes())
            options: list[str | Path] = [
                "--ca-file",
                pki.ca,
                "--cert-file",
                pki.client.cert,
                "--key-file",
                pki.client.key,
            ]
            sent = await certwatch_send(daemon, "tls", *options, SELF_SIGNED)
            assert 0 == sent.returncode, sent.stderr
            lines = len(datagrams(SELF_SIGNED))
            dropped = lines if accepted else 2 * lines
            await eventually(lambda: dropped_count(daemon, dropped))
            expected = [("expc01", "cucm-sub1.example.com", 6972, "untrusted_self_signed", True, 2, 1)]
            if accepted:
                assert expected == keys(await eventually(lambda: api(daemon)))
            else:
                assert [] == await api(daemon)

    run(scenario)


async def dropped_count(daemon: Any, count: int) -> bool:
    samples = await metrics(daemon)
    return value(samples, "certwatch_messages_dropped_total", reason="node_sender_mismatch") == count
