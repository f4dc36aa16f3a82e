"""Arrival order inside the join window does not change what certwatch concludes.

Generated Expressway traffic (several nodes; per origin, bursts of transactions that fail on its certificate, with
or without the ERROR logged next to the WARNING, fail with an ERROR alone, get a 502 with no certificate failure at
all, or succeed) is written in event order, then *delivered* in another order: per node, the two streams that reach
syslog by different paths, Traffic Server's diagnostics (WARNING, ERROR) and Cisco's HTTP debug lines (requests,
responses, the error-response event), are merged with the diagnostics late by up to a second, each stream keeping
its own order. Findings (key, state, counts, first and last seen), the labelled counters and the statistics must be
those of the event order, through the layered reference path and the fast path with any batching.

Not generated, and why: a failure delivered before its own request line (nothing to join it to yet: it is taken
at once, since an incident must open when its failure arrives); permissive failures delivered after their
transaction's successful response (a success does not name a transaction the way a 502 does); concurrent
transactions of one origin on two ports (the deferral of ``Pending``, which depends on which response comes first).
The evidence lines of a finding are the first ones to arrive, so they are not compared.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass

import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from certwatch.config import parse
from certwatch.correlate import EngineSettings
from certwatch.engine import Engine
from certwatch.testing import Lines, eventually, running_daemon

ORIGINS = [  # name, address, port, how its certificate fails
    ("cucm-sub1.example.com", "10.10.10.12", 8443, "self_signed"),
    ("cucm-pub.example.com", "10.10.10.11", 6972, "chain"),
    ("cuc01.example.com", "10.10.10.31", 443, "sni"),
]
NODES = ["expc01", "expc02"]
MAX_DELAY = 1.0  # seconds a diagnostics line may arrive after its time; bursts are 10 s apart, the window is 5 s


@dataclass(frozen=True)
class Line:
    ts: float
    diagnostic: bool  # Traffic Server's diagnostics stream; else the HTTP debug stream
    text: str


def transaction(lines: Lines, txn: int, t: float, origin: int, kind: str) -> list[Line]:
    """One transaction's lines in event order. ``kind``: healthy, enforced, enforced_error, retried (two
    handshakes, each a WARNING and an ERROR), lone_error, down."""
    host, ip, port, failure = ORIGINS[origin]
    client = 40000 + txn

    def http(dt: float, text: str) -> Line:
        return Line(t + dt, False, text)

    out = [
        http(0.0, lines.at(t).receive_request(txn, "/cucm-uds/user", client)),
        http(0.01, lines.at(t + 0.01).sending_request(txn, ip, port, host=host)),
    ]
    if kind == "healthy":
        out.append(http(0.02, lines.at(t + 0.02).receive_response(txn, ip, port, 200)))
        out.append(http(0.03, lines.at(t + 0.03).sending_response(txn, 200, client)))
        return out
    lines.at(t + 0.015)
    if kind in ("enforced", "enforced_error", "retried"):
        warning = (
            lines.sni(host, ip)
            if failure == "sni"
            else lines.verify(host, ip, "unable to get local issuer certificate", 1)
            if failure == "chain"
            else lines.verify(host, ip)
        )
        out.append(Line(t + 0.015, True, warning))
    if kind in ("enforced_error", "lone_error", "retried"):
        out.append(Line(t + 0.015, True, lines.ssl_error(host)))
    if kind == "retried":
        out += out[-2:]
    out.append(http(0.02, lines.at(t + 0.02).error_event(client)))
    out.append(http(0.02, lines.at(t + 0.02).sending_response(txn, 502, client)))
    return out


def traffic(rng: random.Random) -> list[Line]:
    """Event order: per node and origin, up to three bursts of one to four transactions, 10 s apart."""
    out: list[Line] = []
    txn = 0
    for node in rng.sample(NODES, rng.randint(1, len(NODES))):
        lines = Lines(node)
        for origin in range(len(ORIGINS)):
            for burst in range(3):
                story = rng.choice(["failing", "lone", "healthy", "down", "none"])
                if story == "none":
                    continue
                t = 10.0 * burst + 0.3 * origin + rng.uniform(0, 0.2)
                for _ in range(rng.randint(1, 4)):
                    txn += 1
                    kind = {
                        "failing": rng.choice(["enforced", "enforced_error", "retried", "down"]),
                        "lone": rng.choice(["lone_error", "down"]),
                        "healthy": "healthy",
                        "down": "down",
                    }[story]
                    out += transaction(lines, txn, t, origin, kind)
                    t += rng.uniform(0.05, 0.3)
    return sorted(out, key=lambda line: line.ts)  # stable: a transaction's lines keep their order


def delivered(events: list[Line], rng: random.Random) -> list[Line]:
    """Another arrival order: diagnostics late by up to MAX_DELAY, each stream in its own order."""
    keys, last = [], 0.0
    for line in events:
        if line.diagnostic:
            last = max(last, line.ts + rng.uniform(0, MAX_DELAY))
            keys.append(last)
        else:
            keys.append(line.ts)
    order = sorted(range(len(events)), key=lambda i: (keys[i], i))
    return [events[i] for i in order]


def outcome(engine: Engine) -> tuple[object, ...]:
    c = engine.correlator
    c.flush(engine.latest)
    findings = sorted((f.key, f.state, f.cert_failures, f.bad_gateway, f.first_seen, f.last_seen) for f in c.findings())
    counters = [sorted(counts.items()) for counts in (c.failure_counts, c.bad_gateway_counts, c.response_counts)]
    s = c.stats
    return findings, counters, (s.bad_gateway, s.uncorrelated_bad_gateway, s.cert_failures, s.absorbed_errors)


def analyze(lines: list[Line], fast: bool, batches: random.Random | None = None) -> Engine:
    engine = Engine(EngineSettings(), fast=fast)
    raw = [line.text.encode() for line in lines]
    if batches is None:
        engine.feed(raw)
        return engine
    start = 0
    while start < len(raw):
        size = batches.randint(1, 64)
        engine.feed(raw[start : start + size])
        start += size
    return engine


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_findings_and_counts_do_not_depend_on_arrival_order_inside_the_window(seed: int) -> None:
    rng = random.Random(seed)
    events = traffic(rng)
    expected = outcome(analyze(events, fast=False))
    arrival = delivered(events, rng)
    assert expected == outcome(analyze(arrival, fast=False))
    assert expected == outcome(analyze(arrival, fast=True, batches=rng))


def test_the_generator_reorders_and_makes_late_joins() -> None:
    """The property is not vacuous: deliveries differ from event order, and failures do arrive after their 502s."""
    late = moved = 0
    for seed in range(40):
        rng = random.Random(seed)
        events = traffic(rng)
        arrival = delivered(events, rng)
        moved += arrival != events
        late += analyze(arrival, fast=False).correlator.stats.late_failures
    assert moved >= 30
    assert late >= 30


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_a_live_listener_concludes_what_analyze_does_of_the_event_order(seed: int) -> None:
    """The daemon, over a real TCP connection, given the reordered delivery (each line a message, all inside
    ``reorder_wait``): once the 502s waiting for a late failure are decided, its findings, counters and statistics
    are those of ``analyze`` on the event order; sampled every 20 ms meanwhile, no counter went down."""
    rng = random.Random(seed)
    events = traffic(rng)
    expected = outcome(analyze(events, fast=False))
    payload = b"".join(line.text.encode() + b"\n" for line in delivered(events, rng))
    config = parse(
        {"listeners": [{"protocol": "tcp", "address": "127.0.0.1:0"}], "http": {"address": "127.0.0.1:0"},
         "correlation": {"reorder_wait": "1s"}},
    )  # fmt: skip

    async def scenario() -> None:
        async with running_daemon(config) as daemon:
            host, port = daemon.state.bound()[0]["address"].rsplit(":", 1)
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(payload)
            await writer.drain()
            c = daemon.state.engine.correlator
            samples = []

            async def settled() -> bool:
                samples.append([dict(k.items()) for k in (c.failure_counts, c.bad_gateway_counts)])
                sizes = c.table_sizes()
                done = daemon.state.engine.stats.messages == len(events)
                return bool(done and sizes["waiting_502"][0] == 0 and sizes["held_errors"][0] == 0)

            await eventually(settled, interval=0.02)
            writer.close()
            await writer.wait_closed()
            for before, after in itertools.pairwise(samples):
                for b, a in zip(before, after, strict=True):
                    assert all(a.get(key, 0) >= n for key, n in b.items())
            assert expected == outcome(daemon.state.engine)

    uvloop.run(scenario())
