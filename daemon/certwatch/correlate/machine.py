"""Pure steps of the two machines in :mod:`certwatch.correlate.states`."""

from __future__ import annotations

from typing import NamedTuple

from certwatch.correlate.states import (
    CHANGES,
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


class Step(NamedTuple):
    state: FindingState
    change: Change | None
    unexpected: bool


def step(state: FindingState, signal: Signal) -> Step:
    """The finding state after ``signal``; unknown pairs keep the state and say so."""
    new = TRANSITIONS.get((state, signal))
    if new is None:
        return Step(state, None, (state, signal) not in IGNORED)
    return Step(new, CHANGES.get((state, new)), False)


def txn_step(state: TxnState, signal: TxnSignal) -> tuple[TxnState, bool]:
    """The transaction state after ``signal`` and whether the pair was unexpected."""
    new = TXN_TRANSITIONS.get((state, signal))
    if new is None:
        return state, (state, signal) not in TXN_IGNORED
    return new, False
