"""Invariants of the correlator under arbitrary event sequences: bounded tables, consistent 502 accounting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from certwatch.correlate import EngineSettings
from certwatch.engine import Engine
from certwatch.testing import Lines

NODES = ["expc01", "expc02", "expc03"]
ORIGINS = [(f"cucm{i}.example.com", f"10.0.0.{i}") for i in range(6)]
PORTS = [443, 6972, 8443]
ERRORS = ["self signed certificate", "certificate has expired", "unable to get local issuer certificate"]


@st.composite
def lines(draw: st.DrawFn) -> str:
    """One random traffic_server line of one of the shapes the correlator uses."""
    writer = Lines(node=draw(st.sampled_from(NODES))).at(draw(st.floats(0, 30, allow_nan=False)))
    host, ip = draw(st.sampled_from(ORIGINS))
    txn = draw(st.integers(0, 40))
    client = 40000 + draw(st.integers(0, 5))
    kind = draw(st.integers(0, 8))
    if kind == 0:
        return writer.sending_request(txn, ip, draw(st.sampled_from(PORTS)), host=draw(st.sampled_from([None, host])))
    if kind == 1:
        return writer.receive_response(txn, ip, draw(st.sampled_from(PORTS)), draw(st.sampled_from([200, 401, 502])))
    if kind == 2:
        return writer.sending_response(txn, draw(st.sampled_from([200, 502])), client)
    if kind == 3:
        return writer.error_event(client)
    if kind == 4:
        action = draw(st.sampled_from(["Terminate", "Continue"]))
        return writer.verify(host, ip, draw(st.sampled_from(ERRORS)), draw(st.integers(0, 2)), action)
    if kind == 5:
        return writer.sni(host, ip, draw(st.sampled_from(["Terminate", "Continue"])))
    if kind == 6:
        return writer.ssl_error(host)
    if kind == 7:
        return writer.ssl_error(ip, "error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca")
    return writer.receive_request(txn, "/cucm-uds/servers", client)


BOUNDS = st.builds(
    EngineSettings,
    join_window=st.sampled_from([0.001, 1.0, 5.0]),
    transaction_ttl=st.sampled_from([1.0, 300.0]),
    max_transactions=st.integers(1, 8),
    max_index_entries=st.integers(1, 8),
    max_findings=st.integers(1, 6),
    max_nodes=st.integers(1, 3),
    evidence_lines=st.integers(0, 3),
)


@given(BOUNDS, st.lists(lines(), max_size=80), st.lists(st.floats(0, 100, allow_nan=False), max_size=80))
def test_tables_never_exceed_their_bounds(settings: EngineSettings, sequence: list[str], nows: list[float]) -> None:
    """After every message and every expiry, each table holds at most its bound; evidence lists too."""
    engine = Engine(settings)
    correlator = engine.correlator
    clock = 0.0
    for i, line in enumerate(sequence):
        clock += nows[i] if i < len(nows) else 1.0
        engine.message(line.encode(), clock)
        if i % 7 == 0:
            correlator.expire(clock)
        sizes = correlator.table_sizes()
        assert {k: v for k, v in sizes.items() if v[0] > v[1]} == {}
        assert all(len(f.evidence) <= settings.evidence_lines for f in correlator.findings())


@given(st.lists(lines(), max_size=80))
def test_every_502_is_either_explained_or_uncorrelated(sequence: list[str]) -> None:
    """With room for everything, the 502s on findings plus the uncorrelated ones are all the 502s counted."""
    engine = Engine(EngineSettings())
    for line in sequence:
        engine.message(line.encode())
    correlator = engine.correlator
    explained = sum(f.bad_gateway for f in correlator.findings())
    assert correlator.stats.bad_gateway == explained + correlator.stats.uncorrelated_bad_gateway
    assert all(f.cert_failures >= 1 for f in correlator.findings())
