"""``node_senders``: the configuration, the decision per sender, and the vetting joiner."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certwatch.config import ConfigInvalidError, parse
from certwatch.listeners.binding import Bindings, VettedJoiner
from certwatch.reader import Joiner, ReadStats
from certwatch.telemetry import Telemetry


class Log:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})


def bindings(node_senders: dict[str, list[str]], clock: list[float] | None = None) -> tuple[Bindings, Telemetry, Log]:
    telemetry, log, now = Telemetry(), Log(), clock or [0.0]
    config = parse({"node_senders": node_senders})
    return Bindings(config.node_bindings(), telemetry, log, lambda: now[0]), telemetry, log


def test_every_bad_entry_is_reported_with_its_path() -> None:
    with pytest.raises(ConfigInvalidError) as caught:
        parse({"node_senders": {"expc01": ["10.0.0.0/33", "has space", "10.0.0.1/32"], "expc02": [], "expc03": "x"}})
    problems = caught.value.problems
    assert any(p.startswith("node_senders.expc01.0: '10.0.0.0/33' is neither a CIDR") for p in problems)
    assert any(p.startswith("node_senders.expc01.1: 'has space'") for p in problems)
    assert any(p.startswith("node_senders.expc02:") for p in problems)
    assert any(p.startswith("node_senders.expc03:") for p in problems)
    assert 4 == len(problems)


@pytest.mark.parametrize(
    ("entries", "address", "names", "allowed"),
    [
        (["10.10.20.11/32"], "10.10.20.11", None, True),
        (["10.10.20.11/32"], "10.10.20.12", None, False),
        (["10.10.20.0/24"], "::ffff:10.10.20.7", None, True),  # an IPv4 peer on a dual-stack socket
        (["2001:db8::/64"], "2001:db8::5", None, True),
        (["10.10.20.11"], "not an address", None, False),
        (["expc01.example.com"], "10.10.20.11", frozenset({"expc01.example.com"}), True),
        (["expc01.example.com"], "10.10.20.11", None, False),  # no certificate: plain TCP or UDP
        (["expc01.example.com"], "10.10.20.11", frozenset({"other.example.com"}), False),
        (["10.10.20.11/32", "Expc01.Example.com"], "10.10.20.11", frozenset({"expc01.example.com"}), True),
        (["10.10.20.11/32", "expc01.example.com"], "10.10.20.12", frozenset({"expc01.example.com"}), False),
    ],
)
def test_a_sender_may_speak_for_a_bound_node(
    entries: list[str], address: str, names: frozenset[str] | None, allowed: bool
) -> None:
    b, _, _ = bindings({"expc01": entries})
    (binding,) = parse({"node_senders": {"expc01": entries}}).node_bindings().values()
    assert allowed == b.allows(binding, address, names)


MESSAGES = [b"<14>2022-09-14T10:15:02Z expc01 traffic_server[1]: x", b"<14>2022-09-14T10:15:02Z expc02 app: y"]


def test_mismatches_are_dropped_counted_as_received_and_logged_once_a_minute_per_node_and_sender() -> None:
    now = [1000.0]
    b, telemetry, log = bindings({"expc01": ["10.10.20.11/32"]}, now)
    assert [MESSAGES[1]] == b.vet(MESSAGES, "10.9.9.9", None, "udp")  # expc02 is not bound: accepted
    assert MESSAGES == b.vet(MESSAGES, "10.10.20.11", None, "udp")
    b.vet(MESSAGES, "10.9.9.9", None, "udp")
    now[0] += 61
    b.vet(MESSAGES, "10.9.9.9", None, "udp")
    b.vet(MESSAGES, "10.9.9.8", None, "tcp")
    assert (4, 3, 1) == (
        telemetry.dropped["node_sender_mismatch"],
        telemetry.received["udp"],
        telemetry.received["tcp"],
    )
    assert [("expc01", "10.9.9.9"), ("expc01", "10.9.9.9"), ("expc01", "10.9.9.8")] == [
        (line["node"], line["sender"]) for line in log.lines
    ]


def test_a_reload_binds_a_node_on_senders_already_known() -> None:
    b, telemetry, _ = bindings({})
    joiner = VettedJoiner(65536, ReadStats(), b, "10.9.9.9", "udp", None)
    assert [MESSAGES[0]] == joiner.push_many([MESSAGES[0], MESSAGES[0]])
    b.configure(parse({"node_senders": {"expc01": ["10.10.20.11/32"]}}).node_bindings())
    assert joiner.flush() is None
    assert 1 == telemetry.dropped["node_sender_mismatch"]


pieces = st.lists(
    st.sampled_from([*MESSAGES, b" continuation", b"", b"\tmore", b"<14>2022-09-14T10:15:02Z expc03 app: z"]),
    max_size=30,
)


@given(pieces, st.integers(1, 8))
def test_the_vetting_joiner_is_the_joiner_minus_the_refused_messages(data: list[bytes], step: int) -> None:
    """Whatever the pieces and however they are pushed (one by one, in bulk), the vetting joiner gives what the
    plain joiner gives, without expc01's messages when the sender may not speak for it."""
    b, telemetry, _ = bindings({"expc01": ["10.10.20.11/32"]})
    plain, vetted = Joiner(65536, ReadStats()), VettedJoiner(65536, ReadStats(), b, "10.9.9.9", "udp", None)
    expected: list[bytes] = []
    got: list[bytes] = []
    for start in range(0, len(data), step):
        chunk = data[start : start + step]
        if step == 1:
            expected += [done for piece in chunk if (done := plain.push(piece)) is not None]
            got += [done for piece in chunk if (done := vetted.push(piece)) is not None]
        else:
            expected += plain.push_many(chunk)
            got += vetted.push_many(chunk)
    expected += [done] if (done := plain.flush()) is not None else []
    got += [done] if (done := vetted.flush()) is not None else []
    refused = [m for m in expected if m.startswith(b"<14>2022-09-14T10:15:02Z expc01 ")]
    assert [m for m in expected if m not in refused] == got
    assert len(refused) == telemetry.dropped["node_sender_mismatch"]
