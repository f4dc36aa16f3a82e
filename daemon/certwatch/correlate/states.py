"""The two state machines of the correlator, as tables (after h11's ``_state.py``).

A *finding* (an incident, live) is one (node, origin, port, cause, enforced). Its key fixes whether it is enforced,
so an enforced finding moves between ``FAILING`` and ``RESOLVED`` and an at-risk one between ``AT_RISK`` and
``RESOLVED``. A *transaction* is one proxied HTTP request through Expressway-C's traffic server.

Pairs absent from both ``TRANSITIONS`` and ``IGNORED`` are unexpected: counted, never raised (syslog is lossy and
unordered). ``tests/unit/test_states.py`` walks every pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class FindingState(StrEnum):
    NEW = "new"  # created for this signal, not reported yet
    FAILING = "failing"  # enforced: connections are terminated, users get 502s
    AT_RISK = "at_risk"  # permissive: verification fails but the connection continues
    RESOLVED = "resolved"


class Signal(StrEnum):
    ENFORCED_FAILURE = "enforced_failure"  # Action=Terminate WARNING, or a failure known from an ERROR line
    PERMISSIVE_FAILURE = "permissive_failure"  # Action=Continue WARNING
    BAD_GATEWAY = "bad_gateway"  # a 502 explained by this finding
    CLEAN_SUCCESS = "clean_success"  # a later transaction to the origin got a response < 500, no failure of its own
    QUIET = "quiet"  # no failure for resolve_after (receive clock)


class Change(StrEnum):
    """What a transition means to an operator; one log line each."""

    OPENED = "opened"
    REOPENED = "reopened"
    RESOLVED = "resolved"


S, G = FindingState, Signal

TRANSITIONS: Final[Mapping[tuple[FindingState, Signal], FindingState]] = {
    (S.NEW, G.ENFORCED_FAILURE): S.FAILING,
    (S.NEW, G.PERMISSIVE_FAILURE): S.AT_RISK,
    (S.FAILING, G.ENFORCED_FAILURE): S.FAILING,
    (S.FAILING, G.BAD_GATEWAY): S.FAILING,
    (S.FAILING, G.CLEAN_SUCCESS): S.RESOLVED,
    (S.FAILING, G.QUIET): S.RESOLVED,
    (S.AT_RISK, G.PERMISSIVE_FAILURE): S.AT_RISK,
    (S.AT_RISK, G.QUIET): S.RESOLVED,
    (S.RESOLVED, G.ENFORCED_FAILURE): S.FAILING,
    (S.RESOLVED, G.PERMISSIVE_FAILURE): S.AT_RISK,
    (S.RESOLVED, G.BAD_GATEWAY): S.RESOLVED,  # a 502 of a request that started before the success
}

IGNORED: Final[frozenset[tuple[FindingState, Signal]]] = frozenset(
    {
        # keep-alive connections and TLS session reuse let requests succeed without a new handshake,
        # so a success says nothing about a permissive failure
        (S.AT_RISK, G.CLEAN_SUCCESS),
        (S.RESOLVED, G.CLEAN_SUCCESS),
        (S.RESOLVED, G.QUIET),
    },
)

CHANGES: Final[Mapping[tuple[FindingState, FindingState], Change]] = {
    (S.NEW, S.FAILING): Change.OPENED,
    (S.NEW, S.AT_RISK): Change.OPENED,
    (S.RESOLVED, S.FAILING): Change.REOPENED,
    (S.RESOLVED, S.AT_RISK): Change.REOPENED,
    (S.FAILING, S.RESOLVED): Change.RESOLVED,
    (S.AT_RISK, S.RESOLVED): Change.RESOLVED,
}


class TxnState(StrEnum):
    OPEN = "open"
    FAILED = "failed"  # a certificate failure was attached (retries may add more)
    CLOSED = "closed"  # a response was logged


class TxnSignal(StrEnum):
    REQUEST = "request"
    CERT_FAILURE = "cert_failure"
    RESPONSE = "response"


T, TS = TxnState, TxnSignal

TXN_TRANSITIONS: Final[Mapping[tuple[TxnState, TxnSignal], TxnState]] = {
    (T.OPEN, TS.REQUEST): T.OPEN,
    (T.OPEN, TS.CERT_FAILURE): T.FAILED,
    (T.OPEN, TS.RESPONSE): T.CLOSED,
    (T.FAILED, TS.REQUEST): T.FAILED,
    (T.FAILED, TS.CERT_FAILURE): T.FAILED,
    (T.FAILED, TS.RESPONSE): T.CLOSED,
}

TXN_IGNORED: Final[frozenset[tuple[TxnState, TxnSignal]]] = frozenset(
    {
        (T.CLOSED, TS.RESPONSE),  # Receive Response, then Sending Response of the same transaction
        (T.CLOSED, TS.CERT_FAILURE),  # a failure that arrived after its transaction's 502 (two log paths)
    },
)
