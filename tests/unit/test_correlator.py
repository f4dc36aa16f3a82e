"""The correlation rules, one behaviour per test, driven by real log lines through the shared engine."""

from __future__ import annotations

import pytest

from certwatch.correlate import Change, EngineSettings, Finding, FindingState
from certwatch.engine import Engine
from certwatch.model import Cause
from certwatch.testing import Lines, feed

SUB1, SUB1_IP = "cucm-sub1.example.com", "10.10.10.12"
PUB, PUB_IP = "cucm-pub.example.com", "10.10.10.11"
# base64("example.com/https/cucm-sub1.example.com/6972"), padding stripped
MRA_SUB1_6972 = "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1zdWIxLmV4YW1wbGUuY29tLzY5NzI/CSFjdoe.cnf.xml"


@pytest.fixture(name="engine")
def fixture_engine() -> Engine:
    return Engine(EngineSettings(join_window=5.0, resolve_after=900.0))


@pytest.fixture(name="lines")
def fixture_lines() -> Lines:
    return Lines()


def only(engine: Engine) -> Finding:
    (finding,) = engine.correlator.findings()
    return finding


def summary(engine: Engine) -> list[tuple[object, ...]]:
    return sorted(
        (f.key.node, f.key.origin, f.key.port, f.key.cause, f.key.enforced, f.state, f.cert_failures, f.bad_gateway)
        for f in engine.correlator.findings()
    )


def test_port_comes_from_the_open_transaction_to_that_origin(engine: Engine, lines: Lines) -> None:
    """A verify WARNING has no port: it takes the Dst-port of the request to the same Dst-ip."""
    feed(engine, lines.at(0).sending_request(1, SUB1_IP, 6972), lines.at(0.01).verify(SUB1, SUB1_IP))
    assert (6972, Cause.UNTRUSTED_SELF_SIGNED, True) == (only(engine).key.port, only(engine).key.cause, True)


def test_overlapping_ports_wait_for_the_502_that_names_the_transaction(engine: Engine, lines: Lines) -> None:
    """Open requests to one origin on two ports: the failure waits, and the 502 says which port failed."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972, host=SUB1),
        lines.at(0.01).sending_request(2, SUB1_IP, 8443, host=SUB1),
        lines.at(0.02).verify(SUB1, SUB1_IP),
    )
    waiting = engine.correlator.findings()
    feed(engine, lines.at(0.03).sending_response(1, 502))
    assert ([], 6972, 1) == (waiting, only(engine).key.port, only(engine).bad_gateway)


def test_overlapping_ports_a_success_rules_a_transaction_out(engine: Engine, lines: Lines) -> None:
    """The 8443 request is answered (kept-alive connection, no handshake): the failure was 6972's."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972, host=SUB1),
        lines.at(0.01).sending_request(2, SUB1_IP, 8443, host=SUB1),
        lines.at(0.02).verify(SUB1, SUB1_IP),
        lines.at(0.05).receive_response(2, SUB1_IP, 8443, 200),
    )
    assert (6972, FindingState.FAILING) == (only(engine).key.port, only(engine).state)


def test_overlapping_ports_without_news_take_the_latest_after_the_window(engine: Engine, lines: Lines) -> None:
    """Nothing decides within the window: the most recent candidate is taken, as the next event shows."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 8443, host=SUB1),
        lines.at(1).sending_request(2, SUB1_IP, 6972, host=SUB1),
        lines.at(1.01).verify(SUB1, SUB1_IP),
        lines.at(7).sending_request(3, PUB_IP, 8443, host=PUB),
    )
    assert (6972, 1) == (only(engine).key.port, engine.correlator.stats.deferred_failures)


def test_a_connection_by_another_name_is_not_a_candidate(engine: Engine, lines: Lines) -> None:
    """A request to the same address by its FQDN does not share the failure of the by-IP connection."""
    feed(
        engine,
        lines.at(0).sending_request(1, PUB_IP, 8443, host=PUB),
        lines.at(0.01).sni(PUB_IP, PUB_IP),
        lines.at(0.02).receive_response(1, PUB_IP, 8443, 200),
        lines.at(10).sending_request(2, PUB_IP, 8443, host=PUB),
        lines.at(10.02).receive_response(2, PUB_IP, 8443, 200),
    )
    key = only(engine).key
    assert (PUB_IP, None, Cause.NAME_MISMATCH, FindingState.FAILING) == (
        key.origin,
        key.port,
        key.cause,
        only(engine).state,
    )


def test_port_from_host_header_or_mra_target(lines: Lines) -> None:
    """Without a matching Dst-ip, the Host header or the decoded MRA segment names the origin and port."""
    by_host = feed(Engine(), lines.at(0).sending_request(1, "192.0.2.1", 8443, host=SUB1), lines.verify(SUB1, SUB1_IP))
    by_target = feed(Engine(), lines.at(0).receive_request(1, MRA_SUB1_6972), lines.verify(SUB1, SUB1_IP))
    assert (8443, 6972) == (only(by_host).key.port, only(by_target).key.port)


def test_a_transaction_outside_the_window_gives_no_port(engine: Engine, lines: Lines) -> None:
    """The join window bounds how far back a WARNING looks for its request."""
    feed(engine, lines.at(0).sending_request(1, SUB1_IP, 6972), lines.at(6).verify(SUB1, SUB1_IP))
    assert only(engine).key.port is None


def test_retries_count_failures_but_one_502(engine: Engine, lines: Lines) -> None:
    """Two handshake attempts, one 502 reported twice (Sending Response and the error event)."""
    feed(
        engine,
        lines.at(0).receive_request(1, MRA_SUB1_6972, client_port=41822),
        lines.sending_request(1, SUB1_IP, 6972),
        lines.at(0.01).verify(SUB1, SUB1_IP),
        lines.ssl_error(SUB1),
        lines.at(0.03).verify(SUB1, SUB1_IP),
        lines.ssl_error(SUB1),
        lines.at(0.04).sending_response(1, 502, client_port=41822),
        lines.error_event(client_port=41822),
    )
    finding = only(engine)
    assert (2, 1, 2) == (finding.cert_failures, finding.bad_gateway, engine.correlator.stats.absorbed_errors)


def test_error_event_before_the_response_line_is_the_same_502(engine: Engine, lines: Lines) -> None:
    """The two shapes of one 502 may arrive in either order."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972),
        lines.verify(SUB1, SUB1_IP),
        lines.at(0.02).error_event(client_port=40000),
        lines.sending_response(1, 502, client_port=40000),
    )
    assert 1 == only(engine).bad_gateway


def test_two_transactions_on_one_client_connection_are_two_502s(engine: Engine, lines: Lines) -> None:
    """Keep-alive: two requests on the same client port within the window are two 502s, not one."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972),
        lines.verify(SUB1, SUB1_IP),
        lines.sending_response(1, 502, client_port=40000),
        lines.error_event(client_port=40000),
        lines.at(0.5).sending_request(2, SUB1_IP, 6972),
        lines.verify(SUB1, SUB1_IP),
        lines.sending_response(2, 502, client_port=40000),
        lines.error_event(client_port=40000),
    )
    assert (2, 2) == (only(engine).cert_failures, only(engine).bad_gateway)


def test_a_502_without_a_certificate_failure_is_uncorrelated(engine: Engine, lines: Lines) -> None:
    """Origin down, not a certificate: counted, no finding."""
    feed(engine, lines.at(0).sending_request(1, PUB_IP, 8443), lines.at(30).sending_response(1, 502))
    assert 0 == engine.correlator.stats.bad_gateway  # waiting: its failure may arrive after it
    engine.correlator.flush(engine.latest)
    assert ([], 1) == (engine.correlator.findings(), engine.correlator.stats.uncorrelated_bad_gateway)


def test_a_failure_on_another_port_does_not_explain_a_502(engine: Engine, lines: Lines) -> None:
    """The 8443 request's 502 is not blamed on a 6972 failure of the same origin."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972),
        lines.verify(SUB1, SUB1_IP),
        lines.at(0.1).sending_request(2, SUB1_IP, 8443),
        lines.at(0.2).sending_response(2, 502, client_port=40002),
    )
    engine.correlator.flush(engine.latest)
    assert (0, 1) == (only(engine).bad_gateway, engine.correlator.stats.uncorrelated_bad_gateway)


def test_peer_alert_without_warning_means_our_certificate_was_refused(engine: Engine, lines: Lines) -> None:
    """`tlsv1 alert unknown ca` with no WARNING: the origin does not trust Expressway-C (doc 225746)."""
    feed(
        engine,
        lines.at(0).sending_request(1, "192.0.2.7", 6972, host="expc.cisco.com"),
        lines.ssl_error("expc.cisco.com", "error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca"),
    )
    key = only(engine).key
    assert ("expc.cisco.com", 6972, Cause.PEER_REJECTED_CLIENT_CERT, True) == (
        key.origin,
        key.port,
        key.cause,
        key.enforced,
    )


def test_verify_failed_error_alone_is_other_verify_error(engine: Engine, lines: Lines) -> None:
    """Without the WARNING (filtered, lost) the ERROR still reports a failure, cause unknown."""
    feed(engine, lines.at(0).ssl_error(PUB))
    assert [] == engine.correlator.findings()  # waiting: its WARNING may arrive after it
    engine.correlator.flush(engine.latest)
    finding = only(engine)
    assert (Cause.OTHER_VERIFY_ERROR, 1, "certificate verify failed") == (
        finding.key.cause,
        finding.cert_failures,
        finding.error,
    )


def test_permissive_failure_is_at_risk_and_survives_successes(engine: Engine, lines: Lines) -> None:
    """Action=Continue: no 502, an at-risk finding that a later success does not resolve."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 8443),
        lines.verify(SUB1, SUB1_IP, action="Continue"),
        lines.sni(SUB1, SUB1_IP, action="Continue"),
        lines.receive_response(1, SUB1_IP, 8443, 200),
        lines.at(60).sending_request(2, SUB1_IP, 8443),
        lines.receive_response(2, SUB1_IP, 8443, 200),
    )
    assert [
        ("expc01", SUB1, 8443, Cause.NAME_MISMATCH, False, FindingState.AT_RISK, 1, 0),
        ("expc01", SUB1, 8443, Cause.UNTRUSTED_SELF_SIGNED, False, FindingState.AT_RISK, 1, 0),
    ] == summary(engine)


def test_a_permissive_failure_does_not_explain_a_502(engine: Engine, lines: Lines) -> None:
    """The connection continued, so a 502 on the same transaction has another cause."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 8443),
        lines.verify(SUB1, SUB1_IP, action="Continue"),
        lines.sending_response(1, 502),
    )
    engine.correlator.flush(engine.latest)
    assert (0, 1) == (only(engine).bad_gateway, engine.correlator.stats.uncorrelated_bad_gateway)


def test_later_success_resolves_and_new_failure_reopens(engine: Engine, lines: Lines) -> None:
    """Resolved by a clean later transaction to the same origin and port; reopened with counts kept."""
    changes: list[Change] = []
    engine.correlator._on_change = lambda _f, change, _now: changes.append(change)
    feed(engine, lines.at(0).sending_request(1, SUB1_IP, 6972), lines.verify(SUB1, SUB1_IP))
    feed(engine, lines.at(100).sending_request(2, SUB1_IP, 6972), lines.receive_response(2, SUB1_IP, 6972, 200))
    resolved = only(engine).state
    feed(engine, lines.at(200).sending_request(3, SUB1_IP, 6972), lines.verify(SUB1, SUB1_IP))
    assert (FindingState.RESOLVED, FindingState.FAILING, 2) == (
        resolved,
        only(engine).state,
        only(engine).cert_failures,
    )
    assert [Change.OPENED, Change.RESOLVED, Change.REOPENED] == changes


def test_success_on_another_port_does_not_resolve(engine: Engine, lines: Lines) -> None:
    """8443 answering says nothing about the certificate served on 6972."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972),
        lines.verify(SUB1, SUB1_IP),
        lines.at(10).sending_request(2, SUB1_IP, 8443),
        lines.receive_response(2, SUB1_IP, 8443, 200),
    )
    assert FindingState.FAILING == only(engine).state


def test_success_of_a_transaction_started_before_the_failure_does_not_resolve(engine: Engine, lines: Lines) -> None:
    """Only a *later* transaction proves the certificate is fixed."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972),
        lines.at(0.5).sending_request(2, SUB1_IP, 6972),
        lines.at(0.6).verify(SUB1, SUB1_IP),
        lines.at(0.7).receive_response(1, SUB1_IP, 6972, 200),
    )
    assert FindingState.FAILING == only(engine).state


def test_unknown_port_finding_is_resolved_by_success_on_any_port(engine: Engine, lines: Lines) -> None:
    """A finding without port (no request in the window) resolves on any later clean transaction."""
    feed(
        engine,
        lines.at(0).verify(PUB, PUB_IP, error="unable to get local issuer certificate", depth=1),
        lines.at(50).sending_request(2, PUB_IP, 8443),
        lines.receive_response(2, PUB_IP, 8443, 401),
    )
    assert (None, FindingState.RESOLVED) == (only(engine).key.port, only(engine).state)


def test_degraded_input_joins_a_502_by_time_to_the_only_failing_origin(engine: Engine, lines: Lines) -> None:
    """No request lines: a 502 event in the window of exactly one failing origin is correlated."""
    feed(engine, lines.at(0).verify(SUB1, SUB1_IP, error="certificate has expired"), lines.at(0.1).error_event(51000))
    info = dict(engine.correlator.nodes())["expc01"]
    assert (1, 0) == (only(engine).bad_gateway, info.request_lines)


def test_degraded_input_with_two_failing_origins_leaves_the_502_uncorrelated(engine: Engine, lines: Lines) -> None:
    """Two candidates: blaming either would be a guess."""
    feed(engine, lines.at(0).verify(SUB1, SUB1_IP), lines.verify(PUB, PUB_IP), lines.at(0.1).error_event(51000))
    engine.correlator.flush(engine.latest)
    assert 1 == engine.correlator.stats.uncorrelated_bad_gateway


def test_quiet_period_resolves_enforced_and_at_risk(engine: Engine, lines: Lines) -> None:
    """expire(now) resolves findings without failures for resolve_after, and not one second earlier."""
    feed(engine, lines.at(0).verify(SUB1, SUB1_IP), lines.verify(PUB, PUB_IP, action="Continue"), now=1000.0)
    engine.correlator.expire(1899.0)
    before = {f.state for f in engine.correlator.findings()}
    engine.correlator.expire(1900.0)
    after = {f.state for f in engine.correlator.findings()}
    assert ({FindingState.FAILING, FindingState.AT_RISK}, {FindingState.RESOLVED}) == (before, after)


def test_cluster_comes_from_the_configured_mapping(lines: Lines) -> None:
    """Nodes listed under a cluster get its name; others are in `default`."""
    engine = Engine(clusters={"expc01": "emea"})
    feed(engine, lines.verify(SUB1, SUB1_IP), Lines(node="expc09").verify(SUB1, SUB1_IP))
    assert {"emea", "default"} == {f.cluster for f in engine.correlator.findings()}


def test_tables_stay_within_their_bounds_and_count_evictions(lines: Lines) -> None:
    """Far more transactions and findings than the bounds allow: sizes capped, evictions counted."""
    settings = EngineSettings(max_transactions=10, max_index_entries=10, max_findings=5, max_nodes=2)
    engine = Engine(settings)
    for i in range(200):
        host = f"cucm{i}.example.com"
        feed(engine, lines.at(i).sending_request(i, f"10.0.{i // 250}.{i % 250}", 8443), lines.verify(host, "1.1.1.1"))
    feed(engine, Lines(node="n2").verify(SUB1, SUB1_IP), Lines(node="n3").verify(SUB1, SUB1_IP))
    sizes = engine.correlator.table_sizes()
    assert all(size <= bound for size, bound in sizes.values()), sizes
    evictions = engine.correlator.table_evictions()
    assert (195 + 2, 1) == (evictions["findings"], evictions["nodes"])


def test_an_undecided_failure_goes_to_the_port_where_it_is_already_known(engine: Engine, lines: Lines) -> None:
    """Permissive failures never get a 502: with 8443 and 6972 open, the port already failing this way wins."""
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972, host=SUB1),
        lines.at(0.01).verify(SUB1, SUB1_IP, action="Continue"),
        lines.at(10).sending_request(2, SUB1_IP, 6972, host=SUB1),
        lines.at(10.01).sending_request(3, SUB1_IP, 8443, host=SUB1),
        lines.at(10.02).verify(SUB1, SUB1_IP, action="Continue"),
        lines.at(10.05).receive_response(3, SUB1_IP, 8443, 200),
        lines.at(10.06).receive_response(2, SUB1_IP, 6972, 200),
    )
    engine.correlator.flush(20.0)
    assert [("expc01", SUB1, 6972, Cause.UNTRUSTED_SELF_SIGNED, False, FindingState.AT_RISK, 2, 0)] == summary(engine)
