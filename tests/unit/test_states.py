"""The state tables: every (state, signal) pair is a transition, ignored, or reported as unexpected."""

from __future__ import annotations

import itertools

from certwatch.correlate.machine import step, txn_step
from certwatch.correlate.states import (
    IGNORED,
    TRANSITIONS,
    TXN_IGNORED,
    TXN_TRANSITIONS,
    Change,
    FindingState,
    Signal,
    TxnSignal,
    TxnState,
)

# Pairs that cannot happen when the correlator is right (a NEW finding only ever receives a failure; a finding's
# key fixes whether it is enforced). They are counted, never raised.
IMPOSSIBLE = {
    (FindingState.NEW, Signal.BAD_GATEWAY),
    (FindingState.NEW, Signal.CLEAN_SUCCESS),
    (FindingState.NEW, Signal.QUIET),
    (FindingState.FAILING, Signal.PERMISSIVE_FAILURE),
    (FindingState.AT_RISK, Signal.ENFORCED_FAILURE),
    (FindingState.AT_RISK, Signal.BAD_GATEWAY),
}
TXN_IMPOSSIBLE = {(TxnState.CLOSED, TxnSignal.REQUEST)}


def test_every_finding_pair_is_classified_exactly_once() -> None:
    """Transitions, ignored pairs and impossible pairs partition all pairs."""
    pairs = set(itertools.product(FindingState, Signal))
    transitions = set(TRANSITIONS)
    assert (set(), set(), set()) == (transitions & IGNORED, transitions & IMPOSSIBLE, IGNORED & IMPOSSIBLE)
    assert pairs == transitions | IGNORED | IMPOSSIBLE


def test_unknown_pairs_keep_the_state_and_report_it() -> None:
    """An impossible pair is an Unexpected outcome, not an exception; an ignored one is silent."""
    for state, signal in IMPOSSIBLE:
        assert (state, None, True) == tuple(step(state, signal))
    for state, signal in IGNORED:
        assert (state, None, False) == tuple(step(state, signal))


def test_changes_are_reported_for_opening_reopening_and_resolving() -> None:
    """The operator-visible changes come from the table, nothing else."""
    assert Change.OPENED == step(FindingState.NEW, Signal.ENFORCED_FAILURE).change
    assert Change.REOPENED == step(FindingState.RESOLVED, Signal.PERMISSIVE_FAILURE).change
    assert Change.RESOLVED == step(FindingState.FAILING, Signal.CLEAN_SUCCESS).change
    assert step(FindingState.FAILING, Signal.ENFORCED_FAILURE).change is None


def test_at_risk_is_never_resolved_by_a_success() -> None:
    """Keep-alive and session reuse make later requests succeed without a new handshake."""
    assert (FindingState.AT_RISK, None, False) == tuple(step(FindingState.AT_RISK, Signal.CLEAN_SUCCESS))


def test_every_transaction_pair_is_classified_exactly_once() -> None:
    """Same partition for the transaction machine."""
    pairs = set(itertools.product(TxnState, TxnSignal))
    assert pairs == set(TXN_TRANSITIONS) | TXN_IGNORED | TXN_IMPOSSIBLE
    for state, signal in TXN_IMPOSSIBLE:
        assert (state, True) == txn_step(state, signal)
