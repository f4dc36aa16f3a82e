"""The bulk joining of the receive side agrees exactly with the plain rules, one piece at a time: the joiner's
``push_many`` with its ``push``, the UDP listener's per-batch joining of several senders with one joiner per
source address fed datagram by datagram, and a TCP connection's per-read joining with the framer's frames joined
one by one, whatever the chunking."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from certwatch.framing import StreamFramer
from certwatch.ingress import Ingress
from certwatch.listeners.senders import SenderFilter
from certwatch.listeners.udp import UdpProtocol
from certwatch.reader import Joiner, ReadStats
from certwatch.telemetry import Telemetry
from certwatch.testing import FakeClock

HEADER = b"<183>2022-09-14T10:15:02.160+02:00 expc01 traffic_server[3120]: Detail=x HTTPMSG:"
PIECES = [
    HEADER,
    b"<166>2022-09-14T13:00:02.000+02:00 expc01 tvcs: hello",
    b"Sep 14 10:15:02 expc02 tvcs: a classic stamp starts with S",
    b"HTTP-like junk starts with H",
    b"HTTPMSG:",
    b"SIPMSG:",
    b"|HTTP/1.1 502 Bad Gateway",
    b" Host: a:1",
    b" |",
    b"",
    b"\r",
    b"\n",
    b"\r\n",
    b"x" * 40,
    b"|" + b"y" * 70,
]
LIMITS = st.sampled_from([8, 16, 33, 64, 65536])
pieces = st.sampled_from(PIECES) | st.binary(max_size=12)
endings = st.sampled_from([b"", b"", b"\n", b"\r\n", b"\r"])
datagrams = st.builds(lambda piece, end: piece + end, pieces, endings)
SENDERS = [("10.0.0.1", 514), ("10.0.0.2", 514), ("10.0.0.1", 40000), ("192.0.2.9", 514), ("::1", 514, 0, 0)]
# (sender, datagram, flush after it?): any interleaving of senders, any batch boundaries; or bursts, each of one
# sender's datagrams in a row (as a busy peer sends them)
interleaved = st.lists(
    st.tuples(st.sampled_from(SENDERS), datagrams, st.sampled_from([True, False, False, False])), max_size=60
)
bursts = st.lists(
    st.tuples(st.sampled_from(SENDERS), st.lists(datagrams, min_size=1, max_size=15), st.booleans()), max_size=8
).map(lambda runs: [(s, d, flush and i == len(ds) - 1) for s, ds, flush in runs for i, d in enumerate(ds)])
traffic = interleaved | bursts
# the wake-up size from which the listener joins in bulk: 1 takes the bulk path for every batch
BULK_FROM = st.sampled_from([1, 4, 12])


def stats_of(stats: ReadStats) -> tuple[int, ...]:
    return (stats.blank_lines, stats.continuation_lines, stats.messages, stats.overlong_lines, stats.orphan_lines)


def split(items: Sequence[Any], cuts: list[int]) -> list[list[Any]]:
    bounds = [0, *sorted(c for c in cuts if c <= len(items)), len(items)]
    return [list(items[a:b]) for a, b in itertools.pairwise(bounds)]


@given(st.lists(pieces, max_size=60), st.lists(st.integers(0, 60), max_size=8), LIMITS)
def test_push_many_is_push_one_at_a_time(items: list[bytes], cuts: list[int], limit: int) -> None:
    """Any pieces, grouped in any lists: the same messages, counts and held message as ``push`` piece by piece."""
    items = [piece[:limit] for piece in items]  # callers cut pieces to the bound
    one, many = Joiner(limit, ReadStats()), Joiner(limit, ReadStats())
    expected = [done for piece in items if (done := one.push(piece)) is not None]
    got = [message for group in split(items, cuts) for message in many.push_many(group)]
    assert expected == got
    assert (one.pending, one.flush()) == (many.pending, many.flush())
    assert stats_of(one._stats) == stats_of(many._stats)


def reference_udp(
    traffic: list[tuple[tuple[Any, ...], bytes, bool]], limit: int, allowed: SenderFilter, max_senders: int = 100
) -> tuple[list[bytes], ReadStats, int]:
    """Today's rules, one datagram at a time: line end, bound, the sender's own joiner; beyond ``max_senders`` the
    least recently heard sender is flushed (queued at once, ahead of the messages its wake-up completes) and
    forgotten. At the end, the messages held, least recently heard sender first."""
    stats = ReadStats()
    joiners: OrderedDict[tuple[Any, ...], Joiner] = OrderedDict()
    out: list[bytes] = []
    evicted: list[bytes] = []  # this wake-up's
    completed: list[bytes] = []
    refused = 0
    for addr, data, flush in traffic:
        if not allowed(addr[0]):
            refused += 1
        else:
            piece = data.removesuffix(b"\n").removesuffix(b"\r")
            if len(piece) > limit:
                stats.overlong_lines += 1
                piece = piece[:limit]
            if addr not in joiners and len(joiners) == max_senders:
                _, oldest = joiners.popitem(last=False)
                if (done := oldest.flush()) is not None:
                    evicted.append(done)
            joiner = joiners.setdefault(addr, Joiner(limit, stats))
            joiners.move_to_end(addr)
            if (done := joiner.push(piece)) is not None:
                completed.append(done)
        if flush:
            out += evicted + completed
            evicted, completed = [], []
    out += evicted + completed
    out += [done for joiner in joiners.values() if (done := joiner.flush()) is not None]
    return out, stats, refused


async def through_udp(
    traffic: list[tuple[tuple[Any, ...], bytes, bool]],
    limit: int,
    allowed: SenderFilter | None,
    max_senders: int,
    bulk_from: int,
) -> tuple[list[bytes], ReadStats, Telemetry, UdpProtocol]:
    """The listener's protocol on a real socket, given the datagrams as its transport would: a flush (one loop
    iteration) wherever the traffic says; its batches go through the ingress to a recording consumer."""
    telemetry, stats, clock = Telemetry(), ReadStats(), FakeClock()
    ingress = Ingress(1_000_000, telemetry)
    out: list[bytes] = []
    ingress.start(lambda messages, _now: out.extend(messages))
    protocol = UdpProtocol(allowed, ingress, telemetry, stats, limit, max_senders, clock)
    protocol.bulk_from = bulk_from
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", 0))
    try:
        for addr, data, flush in traffic:
            protocol.datagram_received(data, addr)
            if flush:
                await asyncio.sleep(0)  # the flush runs, then the drain
                await asyncio.sleep(0)
        await asyncio.sleep(0)
        protocol.flush_all()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert ingress.idle
    finally:
        transport.close()
    return out, stats, telemetry, protocol


@given(traffic, LIMITS, BULK_FROM)
def test_udp_batches_join_like_one_datagram_at_a_time(traffic: list[Any], limit: int, bulk_from: int) -> None:
    """Datagrams of several senders, split into flush batches anywhere: the same messages in the same order, the
    same counts, as per-sender joiners fed one datagram at a time; refused senders dropped and counted."""
    for networks in ([], [ipaddress.ip_network("10.0.0.0/8")]):
        allowed = SenderFilter(networks)
        got, stats, telemetry, _ = asyncio.run(
            through_udp(traffic, limit, allowed if networks else None, 100, bulk_from)
        )
        expected, expected_stats, refused = reference_udp(traffic, limit, allowed)
        assert expected == got
        assert stats_of(expected_stats) == stats_of(stats)
        assert (refused, sum(len(d) for _, d, _ in traffic)) == (
            telemetry.dropped["sender_refused"],
            telemetry.received_bytes["udp"],
        )
        assert len(got) == telemetry.received["udp"]


@given(traffic, st.integers(1, 3), BULK_FROM)
def test_udp_sender_table_stays_bounded(traffic: list[Any], max_senders: int, bulk_from: int) -> None:
    """More senders than ``max_senders``: the least recently heard one is flushed and forgotten, exactly as one
    datagram at a time does it; the table never grows past the bound."""
    got, stats, _, protocol = asyncio.run(through_udp(traffic, 65536, None, max_senders, bulk_from))
    expected, expected_stats, _ = reference_udp(traffic, 65536, SenderFilter([]), max_senders)
    assert len(protocol._senders) <= max_senders
    assert expected == got
    assert stats_of(expected_stats) == stats_of(stats)


streams = st.lists(st.sampled_from(PIECES) | st.binary(max_size=12), max_size=40).map(b"\n".join)
octet_streams = st.lists(st.sampled_from(PIECES) | st.binary(max_size=12), max_size=40).map(
    lambda ms: b"".join(b"%d %s" % (len(m), m) for m in ms)
)


@given(streams | octet_streams, st.lists(st.integers(0, 2000), max_size=10), LIMITS)
def test_tcp_reads_join_like_frame_by_frame(data: bytes, cuts: list[int], limit: int) -> None:
    """A connection's bytes in any reads: frames joined a read at a time give the messages, counts and held
    message of frames joined one by one."""
    one_stats, many_stats = ReadStats(), ReadStats()
    one, many = Joiner(limit, one_stats), Joiner(limit, many_stats)
    whole = StreamFramer(limit)
    expected = [done for frame in whole.feed(data) + whole.finish() if (done := one.push(frame)) is not None]
    framer = StreamFramer(limit)
    got = [message for chunk in split(data, cuts) for message in many.push_many(framer.feed(bytes(chunk)))]
    got += many.push_many(framer.finish())
    assert expected == got
    assert (one.flush(), stats_of(one_stats)) == (many.flush(), stats_of(many_stats))
