"""The ingress queue and its callback-driven consumer: arrival order, the bound, a budget per loop turn, TCP
backpressure over real loopback connections, the shutdown count, and a consumer that raises."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import uvloop

from certwatch.config import TcpListener, parse
from certwatch.ingress import Batch, Ingress
from certwatch.listeners.stream import StreamListener
from certwatch.listeners.udp import FLUSH_AT, UdpProtocol
from certwatch.reader import ReadStats
from certwatch.telemetry import Telemetry
from certwatch.testing import FakeClock, eventually


class Recorder:
    """The consumer: keeps what it is given, as the engine's ``feed`` would process it."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[bytes], float]] = []

    def __call__(self, messages: Sequence[bytes], now: float) -> None:
        self.calls.append((list(messages), now))

    @property
    def messages(self) -> list[bytes]:
        return [m for messages, _ in self.calls for m in messages]


def batch(transport: str, received: float, *messages: bytes) -> Batch:
    return Batch(transport, received, list(messages))


def turns(count: int = 3) -> asyncio.Future[None]:
    """A few loop iterations: enough for the drains scheduled so far."""

    async def wait() -> None:
        for _ in range(count):
            await asyncio.sleep(0)

    return asyncio.ensure_future(wait())


def test_batches_reach_the_consumer_in_arrival_order_with_their_receive_time() -> None:
    """Offered before the consumer starts or after: one writer, batches in order, each with its own clock."""

    async def scenario() -> None:
        telemetry, recorder = Telemetry(), Recorder()
        ingress = Ingress(8, telemetry)
        assert ingress.offer(batch("udp", 1.0, b"a", b"b"))
        ingress.start(recorder)
        assert ingress.offer(batch("tcp", 2.0, b"c"))
        assert ingress.offer(batch("tls", 3.0, b"d", b"e"))
        await turns()
        assert [([b"a", b"b"], 1.0), ([b"c"], 2.0), ([b"d", b"e"], 3.0)] == recorder.calls
        assert ({"udp": 2, "tcp": 1, "tls": 2}, 0, True) == (dict(telemetry.received), ingress.queued, ingress.idle)

    uvloop.run(scenario())


def test_the_bound_refuses_and_udp_batches_are_dropped_and_counted() -> None:
    """``queue_batches`` batches at most: ``offer`` says no beyond it, ``offer_or_drop`` counts queue_full."""

    async def scenario() -> None:
        telemetry = Telemetry()
        ingress = Ingress(2, telemetry)
        assert ingress.offer(batch("tcp", 0.0, b"a"))
        ingress.offer_or_drop(batch("udp", 0.0, b"b", b"c"))
        assert ingress.full
        assert not ingress.offer(batch("tcp", 0.0, b"d"))
        ingress.offer_or_drop(batch("udp", 0.0, b"e", b"f", b"g"))
        dropped, received = telemetry.dropped["queue_full"], dict(telemetry.received)
        assert (2, 3, {"tcp": 1, "udp": 5, "tls": 0}) == (ingress.queued, dropped, received)
        recorder = Recorder()
        ingress.start(recorder)
        await turns()
        assert [b"a", b"b", b"c"] == recorder.messages

    uvloop.run(scenario())


def test_a_drain_takes_at_most_its_budget_then_lets_the_loop_run() -> None:
    """A batch bigger than the budget is sliced: the first slice at once (nothing was waiting), the next ones
    in later loop turns, with other callbacks (I/O, HTTP) in between."""

    async def scenario() -> None:
        order: list[object] = []
        ingress = Ingress(8, Telemetry(), budget=4)
        ingress.start(lambda messages, _now: order.append(len(messages)))
        ingress.offer(batch("tcp", 0.0, *[b"m"] * 10))
        ingress.offer(batch("tcp", 0.0, b"n"))
        asyncio.get_running_loop().call_soon(order.append, "other")
        await turns(5)
        assert [4, 4, "other", 2, 1] == order

    uvloop.run(scenario())


def test_a_consumer_that_raises_is_counted_and_the_next_batches_still_flow() -> None:
    """An engine bug loses its batch (logged, counted), never the consumer: later batches are processed."""

    async def scenario() -> None:
        seen: list[bytes] = []

        def consumer(messages: Sequence[bytes], _now: float) -> None:
            if b"boom" in messages:
                raise ValueError("engine bug")
            seen.extend(messages)

        ingress = Ingress(8, Telemetry())
        ingress.start(consumer)
        for messages in ([b"a"], [b"boom"], [b"b"]):
            ingress.offer(Batch("udp", 0.0, messages))
        await turns()
        ingress.offer(batch("udp", 0.0, b"c"))
        await turns()
        assert ([b"a", b"b", b"c"], 1, True) == (seen, ingress.failures, ingress.idle)

    uvloop.run(scenario())


def test_close_counts_what_is_left_and_later_arrivals() -> None:
    """Shutdown after the deadline: the unprocessed messages (a partly consumed batch's rest too) and anything
    offered afterwards are counted, never processed."""

    async def scenario() -> None:
        telemetry, recorder = Telemetry(), Recorder()
        ingress = Ingress(8, telemetry, budget=3)
        ingress.offer(batch("tcp", 0.0, *[b"m"] * 5))
        ingress.offer(batch("udp", 0.0, b"x", b"y"))
        ingress.start(recorder)
        await asyncio.sleep(0)  # one drain: three messages
        assert 4 == ingress.close()
        assert ingress.offer(batch("tcp", 0.0, b"late"))
        await turns()
        assert (3, 5, 6) == (len(recorder.messages), telemetry.dropped["shutdown"], telemetry.received["tcp"])

    uvloop.run(scenario())


def test_drained_waits_for_the_queue_to_empty() -> None:
    async def scenario() -> None:
        ingress = Ingress(8, Telemetry(), budget=1)
        ingress.offer(batch("tcp", 0.0, b"a", b"b", b"c"))
        recorder = Recorder()
        ingress.start(recorder)
        await asyncio.wait_for(ingress.drained(), 5)
        assert ([b"a", b"b", b"c"], True) == (recorder.messages, ingress.idle)

    uvloop.run(scenario())


LINE = b"<166>2022-09-14T13:00:02.000+02:00 expc01 tvcs: message %d\n"


def test_full_queue_pauses_tcp_readers_and_resumes_them_without_loss() -> None:
    """Real loopback connections, a stalled consumer and a one-batch queue: the readers pause (counted) instead of
    buffering; once the consumer runs, the queue empties below half, they resume, and every message of every
    connection arrives in its connection's order, the last one included once the connection closes."""
    config = parse({"listeners": [{"protocol": "tcp", "address": "127.0.0.1:0"}]}, "<test>")
    per_connection = 3000

    async def scenario() -> None:
        telemetry, recorder = Telemetry(), Recorder()
        ingress = Ingress(1, telemetry)
        tcp = config.listeners[0]
        assert isinstance(tcp, TcpListener)
        listener = StreamListener(tcp, ingress, telemetry, ReadStats(), 65536, FakeClock())
        await listener.start()
        host, port = listener.address.rsplit(":", 1)
        writers = []
        for c in range(3):
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"".join(LINE % (c * per_connection + i) for i in range(per_connection)))
            writers.append(writer)
        await eventually(lambda: telemetry.backpressure_pauses >= 2)
        assert ingress.full
        for writer in writers:
            writer.close()
        ingress.start(recorder)
        await eventually(lambda: len(recorder.messages) == 3 * per_connection)
        await eventually(lambda: ingress.idle)
        numbers = [int(m.rsplit(b" ", 1)[1]) for m in recorder.messages]
        for c in range(3):
            mine = [n for n in numbers if n // per_connection == c]
            assert list(range(c * per_connection, (c + 1) * per_connection)) == mine
        assert (3 * per_connection, 0) == (telemetry.received["tcp"], telemetry.dropped["queue_full"])
        listener.stop_accepting()
        listener.close_all("shutdown")

    uvloop.run(scenario())


def test_udp_continuation_datagrams_join_per_source_address_over_real_sockets() -> None:
    """Three senders interleave headers and continuation datagrams (a burst: the listener sees several per
    wake-up); each continuation joins its own sender's message, and the last message of each sender waits for
    more until the listener is flushed."""
    head = b"<14>Sep 14 10:15:02 host%d app: message %d HTTPMSG:"
    traffic = []  # (sender, datagram): headers of all three senders, then their continuations
    for n in range(4):
        traffic += [(s, head % (s, n) + b"\n") for s in range(3)]
        for s in range(3):
            traffic += [(s, b"|GET /%d HTTP/1.1" % n), (s, b" Host: h%d\r\n" % s)]

    async def scenario() -> None:
        telemetry, recorder = Telemetry(), Recorder()
        ingress = Ingress(64, telemetry)
        ingress.start(recorder)
        loop = asyncio.get_running_loop()
        protocol = UdpProtocol(None, ingress, telemetry, ReadStats(), 65536, 100, FakeClock())
        transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", 0))
        target = transport.get_extra_info("sockname")[:2]
        endpoints = [await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=target) for _ in "abc"]
        senders = [sender for sender, _ in endpoints]
        for s, datagram in traffic:
            senders[s].sendto(datagram)
        await eventually(lambda: telemetry.received_bytes["udp"] == sum(len(d) for _, d in traffic))
        protocol.flush_all()
        await eventually(lambda: len(recorder.messages) == 12)
        for s in range(3):
            mine = [m for m in recorder.messages if m.startswith(b"<14>Sep 14 10:15:02 host%d " % s)]
            assert [head % (s, n) + b"\n|GET /%d HTTP/1.1\n Host: h%d" % (n, s) for n in range(4)] == mine
        for sender in senders:
            sender.close()
        transport.close()

    uvloop.run(scenario())


def test_udp_datagrams_wait_batch_wait_then_reach_the_engine_as_one_batch() -> None:
    """``ingress.udp_batch_wait``: the datagrams of the window form one batch, none before the wait is over; at
    FLUSH_AT datagrams the list is flushed without waiting (the bound on what waits)."""

    async def scenario() -> None:
        telemetry, recorder = Telemetry(), Recorder()
        ingress = Ingress(64, telemetry)
        ingress.start(recorder)
        loop = asyncio.get_running_loop()
        protocol = UdpProtocol(None, ingress, telemetry, ReadStats(), 65536, 100, FakeClock(), batch_wait=0.5)
        transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", 0))
        target = transport.get_extra_info("sockname")[:2]
        sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=target)
        datagrams = [b"<14>Sep 14 10:15:02 host app: message %d" % n for n in range(6)]
        started = loop.time()
        for datagram in datagrams:
            sender.sendto(datagram)
        await eventually(lambda: telemetry.received_bytes["udp"] == sum(map(len, datagrams)))
        if loop.time() - started < 0.4:  # (a stalled machine may have passed the wait already)
            assert [] == recorder.calls
        await eventually(lambda: len(recorder.calls) == 1)
        assert [datagrams[:5]] == [messages for messages, _ in recorder.calls]  # the last waits for continuations

        recorder.calls.clear()
        addr = ("127.0.0.1", 9)
        burst = [b"<14>Sep 14 10:15:02 host app: burst %d" % n for n in range(FLUSH_AT + 2)]
        for datagram in burst:
            protocol.datagram_received(datagram, addr)
        assert [FLUSH_AT - 1] == [len(messages) for messages, _ in recorder.calls]  # at once, not after 0.5 s
        protocol.flush_all()
        await turns()
        assert burst == [m for m in recorder.messages if b"burst" in m]  # none lost, in order
        assert sorted([datagrams[5], *burst]) == sorted(recorder.messages)
        sender.close()
        transport.close()

    uvloop.run(scenario())
