"""Which messages the fast path owns: the shapes that dominate traffic stay on it, the rest go to the layered path.

(That both paths give the same results is tests/property/test_fastpath_properties.py.)"""

from __future__ import annotations

import base64

from certwatch.correlate import EngineSettings
from certwatch.engine import Engine
from certwatch.fastpath import MESSAGE, MESSAGE_EXAMPLE
from certwatch.testing import Lines

MRA = "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1zdWIxLmV4YW1wbGUuY29tLzY5NzI/CSFjdoe.cnf.xml"


class CountingEngine(Engine):
    """Counts the messages handed to the layered path."""

    __slots__ = ("layered",)

    def __init__(self) -> None:
        super().__init__()  # the default settings
        self.layered: list[bytes] = []

    def message(self, raw: bytes, now: float | None = None) -> None:
        self.layered.append(raw)
        super().message(raw, now)


def healthy(lines: Lines, txn: int) -> list[bytes]:
    return [
        lines.receive_request(txn, MRA).encode(),
        lines.sending_request(txn, "10.10.10.12", 6972, "cucm-sub1.example.com").encode(),
        lines.receive_response(txn, "10.10.10.12", 6972).encode(),
        lines.sending_response(txn, 200).encode(),
    ]


def test_the_example_matches() -> None:
    m = MESSAGE.match(MESSAGE_EXAMPLE)
    assert m is not None
    assert ("expc01", "Sending Request", "5121", "cucm-sub1.example.com") == (m[4], m[5], m[6], m[12])


def test_healthy_transactions_stay_on_the_fast_path() -> None:
    """After a node's first message, request/response lines and ignored events never reach the layered path."""
    engine = CountingEngine()
    lines = Lines()
    first = healthy(lines, 1)
    allowed = (lines._prefix(182) + 'Event="Request Allowed" Detail="Access allowed" Reason="x"').encode()
    engine.feed([*first, *healthy(lines.at(1), 2), allowed, *healthy(lines.at(2), 3)])
    assert [first[0]] == engine.layered  # the node's first record creates its entry there
    assert (13, 12, 1) == (engine.stats.traffic_server, engine.stats.events, engine.stats.ignored)
    assert 3 == sum(count for _, count in engine.correlator.response_counts.items())


def test_other_shapes_go_to_the_layered_path() -> None:
    """Failures, 502s, error events, non-ASCII bytes: the reference path takes them. (A request line whose HTTP
    message is on continuation lines stays: its fields are on the first line, its body is read by the reference's
    helpers.)"""
    engine = CountingEngine()
    lines = Lines()
    engine.feed(healthy(lines, 1))
    others = [
        lines.verify("cucm-sub1.example.com", "10.10.10.12").encode(),
        lines.ssl_error("cucm-sub1.example.com").encode(),
        lines.sending_response(2, 502).encode(),
        lines.error_event().encode(),
        lines.sending_request(4, "10.10.10.12", 6972, "c\u00e9.example.com").encode(),
    ]
    body = lines.sending_request(3, "10.10.10.12", 6972, "cucm-sub1.example.com").encode()
    multi_line = body.replace(b" HTTPMSG: |", b" HTTPMSG:\n|").replace(b" Host:", b"\n Host:")
    engine.layered.clear()
    engine.feed([*others, multi_line])
    assert others == engine.layered
    assert ("expc01", "cucm-sub1.example.com") in [k[:2] for k in engine.correlator._by_origin._data]


def test_daemon_mode_reads_only_the_host_of_other_programs() -> None:
    """With a receive clock, a message without traffic_server costs a host lookup: counted, never parsed."""
    engine = CountingEngine()
    tvcs = b'<166>2022-09-14T13:00:02.000+02:00 expc01 tvcs: UTCTime="x" Module="network.sip" Level="INFO": x'
    engine.feed([tvcs, tvcs, b"not syslog"], 1_700_000_000.0)
    assert [] == engine.layered
    activity = dict(engine.nodes.items())["expc01"]
    assert (2, 1_700_000_000.0) == (activity.messages, activity.last_message)
    assert (3, 2, 1) == (engine.stats.messages, engine.stats.ignored, engine.stats.failures["not_syslog"])


def test_memos_stay_bounded() -> None:
    """Ports, MRA targets, stamp fractions and raw host names are memoised in bounded dicts, whatever the input."""
    from certwatch.fastpath import _MEMO  # noqa: PLC0415

    engine = Engine(EngineSettings(max_nodes=4))
    lines = Lines()
    batch = []
    for i in range(_MEMO + 500):
        lines.at(i * 0.0013)
        path = "/" + base64.b64encode(f"example.com/https/h{i}.example.com/8443".encode()).decode().rstrip("=") + "/x"
        batch += [lines.receive_request(i, path, 1024 + i % 64000).encode()]
        batch += [f"<166>2022-09-14T10:00:00.000+02:00 node{i} tvcs: x".encode()]
    engine.feed(batch[:2], 1_700_000_000.0)  # the node's first record
    engine.feed(batch, 1_700_000_001.0)
    fast = engine._fast
    assert fast is not None
    sizes = {name: len(getattr(fast, name)) for name in ("_ports", "_targets", "_fractions", "_hosts")}
    assert all(0 < size <= _MEMO for size in sizes.values()), sizes
    assert engine.nodes.overflowed > 0  # hosts beyond max_nodes are counted together, never memoised
