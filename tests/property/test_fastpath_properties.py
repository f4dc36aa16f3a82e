"""The fused fast path (certwatch.fastpath) agrees exactly with the layered reference path.

Generated corpora (the shapes of every example, variants of each field of the request/response lines, hostile
mutations of them, other programs' lines, arbitrary bytes) go through ``Engine(fast=True)`` and
``Engine(fast=False)`` with any batching, in both modes (``analyze``: message time; daemon: a receive clock), with
small table bounds so that evictions happen. Everything the engine holds must be identical: counters, node
activity, findings (evidence included), every correlator table in its order, label counters, state changes.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from certwatch.correlate import Change, EngineSettings, Finding
from certwatch.engine import Engine
from certwatch.testing import Lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_LINES = sorted(
    {line for path in sorted(EXAMPLES.glob("*.log")) for line in path.read_bytes().splitlines() if line.strip()}
)
NODES = ["expc01", "expc02", "expc03"]
ORIGINS = [
    ("cucm-sub1.example.com", "10.10.10.12"),
    ("cuc01.example.com", "10.10.10.31"),
    ("10.10.10.11", "10.10.10.11"),
]
PORTS = [443, 6972, 8443]


def mra(host: str, port: int) -> str:
    return "/" + base64.b64encode(f"example.com/https/{host}/{port}".encode()).decode().rstrip("=") + "/x.xml"


# ---- pieces of a request/response line, each with variants the fast path must own or refuse correctly ---------------

PRIS = ["<183>", "", "<7>", "<1000>", "<>"]
STAMPS = [
    "2022-09-14T10:15:02.117+02:00",
    "2022-09-14 10:15:02,117+02:00",
    "2022-09-14T10:15:02Z",
    "2022-09-14T10:15:02.123456789z",
    "2022-09-14T10:15:02.1234567890+02:00",
    "2022-09-14T10:15:02+0200",
    "2022-09-14T10:15:02",
    "2022-02-30T10:15:02.117+02:00",
    "2022-09-14T10:15:61.117+02:00",
    "2022-09-14T10:15:02.117+25:00",
    "Sep 14 10:15:02",
    "1 2022-09-14T08:15:02.131Z",
]
HOSTS = ["expc01", "expc02:", "expc01 ", "exp\u00e9c", "a:b", ""]
TAGS = ["traffic_server[3120]: ", "traffic_server: ", "traffic_server[3120]:", "traffic_server.x[1]: ", "tvcs: "]
PREFIXES = [
    'UTCTime="2022-09-14 08:15:02,117" Module="network.http.trafficserver" Level="DEBUG": ',
    'Level="DEBUG": ',
    'UTCTime="x" Module="y" Level="DEBUG":  ',
    'UTCTime="Detail" Module="y" Level="DEBUG": ',
    "",
]
KINDS = [
    ("Receive Request", "Src"),
    ("Sending Request", "Dst"),
    ("Receive Response", "Src"),
    ("Sending Response", "Dst"),
    ("Receive Request", "Dst"),
    ("Sending Response", "Src"),
    ("Access allowed", "Src"),
]
TXNS = ["5121", "1", "2", "", "7 8"]
TRACKING = ['TrackingID="JA_1" ', "", 'TrackingID="" ', 'TrackingID="a b" ']
IPS = ["127.0.0.1", "10.10.10.12", "10.10.10.31", "", "::1"]
PORT_TEXTS = ["41000", "6972", "443", "", "0", "65536", "123456", "\u0663", "\u00b2", "8443"]
BODIES = [
    "HTTPMSG: |HTTP/1.1 200 OK |",
    "HTTPMSG: |HTTP/1.1 502 Bad Gateway Connection: close |",
    "HTTPMSG: |HTTP/2 503 x",
    "HTTPMSG: |HTTP/1.1 20 x",
    "HTTPMSG: |HTTP/1.1 099 x",
    "HTTPMSG: | HTTP/1.1 404 x",
    "HTTPMSG: |x HTTP/1.1 401 y",
    "HTTPMSG:",
    "HTTPMSG: |GET /CSFjdoe.cnf.xml HTTP/1.1 Host: cucm-sub1.example.com:6972 |",
    "HTTPMSG: |GET /x HTTP/1.1 Host: [2001:db8::1]:8443 |",
    "HTTPMSG: |GET /x HTTP/1.1 Host: CUC01.Example.COM |",
    "HTTPMSG: |GET /x HTTP/1.1 Host:10.10.10.11:8443 |",
    "HTTPMSG: |GET /x HTTP/1.1 Host: |",
    "HTTPMSG: |GET /a|Host:evil HTTP/1.1 Host: cucm-sub1.example.com |",
    "HTTPMSG: |GET Host://evil HTTP/1.1 Host: cucm-sub1.example.com |",
    "HTTPMSG: |GET /aHost:b HTTP/1.1 Host: cuc01.example.com |",
    "HTTPMSG: |GET /x HTTP/1.1 X-Forwarded-Host: evil Host: cuc01.example.com |",
    "HTTPMSG: |GET /x HTTP/1.1 host: cuc01.example.com |",
    "HTTPMSG: |GET https://cuc01.example.com/x HTTP/1.1 Host: cuc01.example.com |",
    f"HTTPMSG: |GET {mra('cucm-sub1.example.com', 6972)} HTTP/1.1 |",
    f"HTTPMSG: |POST {mra('cuc01.example.com', 443)} HTTP/1.1 |",
    f"HTTPMSG: |GET {mra('10.10.10.11', 8443)} HTTP/1.1 |",
    f"HTTPMSG: |GET {mra('cucm-sub1.example.com', 99999)} HTTP/1.1 |",
    "HTTPMSG: |GET /ZZZZZZZZZZZZZZZZ/x HTTP/1.1 |",
    "HTTPMSG: |get /x HTTP/1.1 |",
    "HTTPMSG:\n|GET /x HTTP/1.1\n Host: cuc01.example.com:443",
    "HTTPMSG:\n|HTTP/1.1 200 OK",
    "",
]
MUTATIONS = ['"', "|", " ", "\n", "\t", ":", "=", "\u00ff", "Host:", "HTTP/1.1 ", "Detail=", "0"]


def usually_first(variants: list[Any]) -> st.SearchStrategy[Any]:
    """The usual value (the first) most of the time, so that one odd field at a time meets an otherwise valid line."""
    return st.integers(0, 3 * len(variants)).map(lambda i: variants[i] if i < len(variants) else variants[0])


@st.composite
def detail_lines(draw: st.DrawFn) -> bytes:
    """A request/response line assembled from variants of each field."""
    kind, side = draw(st.sampled_from(KINDS[:4]) | st.sampled_from(KINDS))
    text = (
        f"{draw(usually_first(PRIS))}{draw(usually_first(STAMPS))} {draw(usually_first(HOSTS))} "
        f"{draw(usually_first(TAGS))}{draw(usually_first(PREFIXES))}"
        f'Detail="{kind}" Txn-id="{draw(usually_first(TXNS))}" {draw(usually_first(TRACKING))}'
        f'{side}-ip="{draw(usually_first(IPS))}" {side}-port="{draw(usually_first(PORT_TEXTS))}" '
        f"{draw(st.sampled_from(BODIES))}"
    )
    return text.encode()


@st.composite
def transaction_lines(draw: st.DrawFn) -> bytes:
    """A line of a plausible transaction (healthy or not), a failure, a 502 event: what the correlator joins."""
    writer = Lines(node=draw(st.sampled_from([*NODES, "new-node"]))).at(draw(st.floats(0, 40, allow_nan=False)))
    host, ip = draw(st.sampled_from(ORIGINS))
    port = draw(st.sampled_from(PORTS))
    txn = draw(st.integers(0, 12))
    client = 40000 + draw(st.integers(0, 3))
    kind = draw(st.integers(0, 9))
    if kind == 0:
        path = draw(st.sampled_from(["/x", mra(host, port)]))
        line = writer.receive_request(txn, path, client)
    elif kind == 1:
        line = writer.sending_request(txn, ip, port, host=draw(st.sampled_from([None, host])))
    elif kind == 2:
        line = writer.receive_response(txn, ip, port, draw(st.sampled_from([200, 401, 500, 502])))
    elif kind == 3:
        line = writer.sending_response(txn, draw(st.sampled_from([200, 404, 502, 503])), client)
    elif kind == 4:
        line = writer.error_event(client)
    elif kind == 5:
        action = draw(st.sampled_from(["Terminate", "Continue"]))
        line = writer.verify(host, ip, "self signed certificate", draw(st.integers(0, 1)), action)
    elif kind == 6:
        line = writer.sni(host, ip, draw(st.sampled_from(["Terminate", "Continue"])))
    elif kind == 7:
        line = writer.ssl_error(host)
    elif kind == 8:
        line = writer._prefix(182) + 'Event="Request Allowed" Detail="Access allowed" Reason="In allow list"'
    else:
        line = writer._prefix(166).replace("traffic_server[3120]", "tvcs") + 'Detail="Receive Request x"'
    return line.encode()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid line with a few hostile edits (insertions, deletions, cuts)."""
    data = bytearray(draw(transaction_lines() | detail_lines()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.integers(0, 2))
        if edit == 0:
            data[at:at] = draw(st.sampled_from(MUTATIONS)).encode()
        elif edit == 1:
            del data[at : at + draw(st.integers(1, 4))]
        else:
            del data[at:]
    return bytes(data)


messages = st.lists(
    transaction_lines()
    | transaction_lines()
    | detail_lines()
    | mutated()
    | st.sampled_from(EXAMPLE_LINES)
    | st.binary(max_size=60)
    | st.just(b"\xff\xfe traffic_server"),
    max_size=60,
)
SETTINGS = st.sampled_from(
    [
        EngineSettings(),
        EngineSettings(
            join_window=2.0, max_transactions=3, max_index_entries=4, max_findings=2, max_nodes=2, max_series=3
        ),
        EngineSettings(max_transactions=8, max_index_entries=6, transaction_ttl=5.0, resolve_after=10.0),
    ]
)


def run(fast: bool, settings: EngineSettings, batches: list[list[bytes]], clock: list[float] | None) -> dict[str, Any]:
    changes: list[tuple[Any, ...]] = []

    def on_change(finding: Finding, change: Change, now: float) -> None:
        changes.append((finding.key, change, now, finding.state))

    engine = Engine(settings, {"expc01": "c1", "expc02": "c1"}, on_change=on_change, fast=fast)
    for i, batch in enumerate(batches):
        now = None if clock is None else clock[i]
        engine.feed(batch, now)
        if now is not None:
            engine.correlator.expire(now)
        else:
            engine.correlator.sweep(engine.latest)
    engine.correlator.flush(engine.latest)
    return snapshot(engine) | {"changes": changes}


def snapshot(engine: Engine) -> dict[str, Any]:
    c = engine.correlator
    return {
        "stats": dataclasses.asdict(engine.stats),
        "latest": engine.latest,
        "nodes": [(name, dataclasses.asdict(a)) for name, a in engine.nodes.items()],
        "overflowed": engine.nodes.overflowed,
        "correlator": dataclasses.asdict(c.stats),
        "findings": [dataclasses.asdict(f) for f in c.findings()],
        "tables": {name: list(table._data.items()) for name, table in c._tables().items()},
        "evictions": c.table_evictions(),
        "expired": {name: table.expired for name, table in c._tables().items()},
        "counters": [list(x.items()) for x in (c.failure_counts, c.bad_gateway_counts, c.response_counts)],
        "indexes": (c._by_finding_origin, c._by_origin_name),
    }


def split(items: list[bytes], cuts: list[int]) -> list[list[bytes]]:
    bounds = sorted({0, len(items), *(c for c in cuts if c < len(items))})
    return [items[a:b] for a, b in itertools.pairwise(bounds)] or [[]]


@given(messages, st.lists(st.integers(0, 60), max_size=6), SETTINGS, st.booleans(), st.floats(0.0, 3.0))
def test_fast_path_equals_reference(
    items: list[bytes], cuts: list[int], settings: EngineSettings, live: bool, step: float
) -> None:
    batches = split(items, cuts)
    clock = [1_663_142_400.0 + i * step for i in range(len(batches))] if live else None
    assert run(True, settings, batches, clock) == run(False, settings, batches, clock)


@settings(max_examples=1000)
@given(st.lists(detail_lines() | mutated(), min_size=1, max_size=30), st.booleans())
def test_fast_path_equals_reference_on_line_variants(items: list[bytes], live: bool) -> None:
    """Every field variant and mutation, one line at a time after a warm-up that makes the nodes known."""
    warm = [Lines(node=node).sending_request(99, "10.0.0.1", 443).encode() for node in ("expc01", "expc02:")]
    clock = [1_663_142_400.0, 1_663_142_401.0] if live else None
    settings = EngineSettings()
    assert run(True, settings, [warm, items], clock) == run(False, settings, [warm, items], clock)


def test_examples_agree_in_one_batch_and_line_by_line() -> None:
    """The example corpus as one batch, and as one batch per line."""
    settings = EngineSettings()
    whole = run(True, settings, [list(EXAMPLE_LINES)], None)
    assert whole == run(False, settings, [list(EXAMPLE_LINES)], None)
    assert whole == run(True, settings, [[line] for line in EXAMPLE_LINES], None)
    assert whole["stats"]["events"] > 100  # the examples are read, not refused
