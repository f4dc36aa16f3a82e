"""Between the listeners and the engine: a bounded queue of message batches, with flow control (I/O shell).

Listeners offer one batch per wake-up (a burst of datagrams, one TCP read). When the queue is full a stream
connection stops reading (its peer's TCP window closes: backpressure, nothing lost) and resumes once the queue is
half empty; a UDP batch is dropped and counted (``queue_full``), since UDP cannot be pushed back.

The consumer is a plain callback, not a task. ``offer`` appends to a deque; when no drain is pending it runs one at
once (in the producer's callback: a UDP flush, a TCP read). A drain hands at most ``budget`` messages to the
consumer (the engine's ``feed``, its only writer, in arrival order), then, if work remains, asks the event loop
for another one (``call_soon``), so the loop polls for I/O (HTTP, the watchdog, more datagrams) between drains;
batches offered meanwhile wait their turn. At a few thousand messages a second, where every wake-up brings one
datagram, that costs no queue put, future, task step or extra loop iteration per batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from certwatch import logs
from certwatch.telemetry import Telemetry

Consumer = Callable[[Sequence[bytes], float], None]
BUDGET = 1024  # messages per drain: a bigger backlog waits for the next loop iteration, after I/O


class Batch(NamedTuple):
    transport: str  # udp | tcp | tls
    received: float  # receive clock (wall time, seconds)
    messages: list[bytes]


class Pausable(Protocol):
    def resume(self) -> None:
        """Offer the batch held back (the queue has room again, or is closed), and read again."""


class Ingress:
    """The one queue; ``offer`` never blocks. The consumer given to :meth:`start` is its only reader."""

    def __init__(self, max_batches: int, telemetry: Telemetry, budget: int = BUDGET) -> None:
        self.capacity = max_batches
        self.budget = budget
        self.failures = 0  # consumer calls that raised (logged; their messages are not retried)
        self._telemetry = telemetry
        self._queue: deque[Batch] = deque()
        self._done = 0  # messages of the head batch already consumed (a batch bigger than the budget)
        self._paused: set[Pausable] = set()
        self._consumer: Consumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False  # a drain is pending, or running
        self._closed = False
        self._idle_waiters: list[asyncio.Future[None]] = []

    # ---- the producer side ------------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Batches waiting (the one being consumed included)."""
        return len(self._queue)

    @property
    def full(self) -> bool:
        return len(self._queue) >= self.capacity

    def offer(self, batch: Batch) -> bool:
        """Queue ``batch``; count its messages as received. False when full (the caller decides what to do)."""
        if len(self._queue) >= self.capacity:
            return False
        received = len(batch.messages)
        self._telemetry.received[batch.transport] += received
        if self._closed:  # after the shutdown deadline: received, never processed, counted
            self._telemetry.dropped["shutdown"] += received
            return True
        self._queue.append(batch)
        if not self._scheduled and self._consumer is not None:
            self._scheduled = True
            self._drain()  # nothing was waiting: the drain runs now, in the producer's callback
        return True

    def offer_or_drop(self, batch: Batch) -> None:
        """For UDP: queue, or drop and count."""
        if not self.offer(batch):
            self.drop(batch)

    def drop(self, batch: Batch) -> None:
        """A batch the full queue refused, not held back (UDP): received, and dropped (``queue_full``)."""
        self._telemetry.received[batch.transport] += len(batch.messages)
        self._telemetry.dropped["queue_full"] += len(batch.messages)

    def wait_for_room(self, who: Pausable) -> None:
        """A stream listener paused itself; it is resumed when the queue has room again."""
        self._telemetry.backpressure_pauses += 1
        self._paused.add(who)

    def forget(self, who: Pausable) -> None:
        self._paused.discard(who)

    # ---- the consumer side ------------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing queued and no paused reader holding messages back."""
        return not self._queue and not self._paused

    async def drained(self) -> None:
        """Wait until :attr:`idle` (the consumer must be attached for that to happen)."""
        while not self.idle:
            waiter = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(waiter)
            await waiter

    def start(self, consumer: Consumer) -> None:
        """Attach the consumer (on the event loop that runs the listeners); batches already queued are drained."""
        self._consumer = consumer
        self._loop = asyncio.get_running_loop()
        self._closed = False
        if self._queue and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._drain)

    def stop(self) -> None:
        """Detach the consumer: batches stay queued (and stream readers paused) until :meth:`start`."""
        self._consumer = None

    def close(self) -> int:
        """Shutdown, after the deadline: detach the consumer and count what was not processed as dropped
        (``shutdown``): the queue, the paused readers' backlogs (offered now, so received too) and whatever is
        offered later (the last lines of the connections being closed). Returns that first count."""
        self.stop()
        self._closed = True
        left = sum(len(batch.messages) for batch in self._queue) - self._done
        self._telemetry.dropped["shutdown"] += left
        self._queue.clear()
        self._done = 0
        before = self._telemetry.dropped["shutdown"]
        self._resume_paused()  # their backlogs are offered to the closed queue: counted
        return left + self._telemetry.dropped["shutdown"] - before

    def _drain(self) -> None:
        """One turn of the consumer: at most ``budget`` messages, in arrival order; again soon if work remains."""
        queue = self._queue
        try:
            room = self.budget
            while queue and room > 0 and (consumer := self._consumer) is not None:
                batch = queue[0]
                messages = batch.messages
                start = self._done
                if start == 0 and len(messages) <= room:
                    queue.popleft()
                    chunk = messages
                else:  # a batch bigger than what is left of the budget: a slice now, the rest next turn
                    stop = start + room
                    chunk = messages[start:stop]
                    if stop >= len(messages):
                        queue.popleft()
                        self._done = 0
                    else:
                        self._done = stop
                room -= len(chunk)
                try:
                    consumer(chunk, batch.received)
                except Exception:  # noqa: BLE001 - a bug in the engine must not stop the consumer, nor pass unnoticed
                    self.failures += 1
                    logs.get().exception("consumer_failed", transport=batch.transport, messages=len(chunk))
                if self._paused and len(queue) <= self.capacity // 2:
                    self._resume_paused()
        finally:
            if queue and self._consumer is not None and self._loop is not None:
                self._loop.call_soon(self._drain)  # still scheduled: offers meanwhile need not ask again
            else:
                self._scheduled = False
                if self._idle_waiters:
                    waiters, self._idle_waiters = self._idle_waiters, []
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)

    def _resume_paused(self) -> None:
        """Below half the bound: paused readers queue their backlog and read again."""
        paused, self._paused = self._paused, set()
        for who in paused:
            who.resume()
