"""Values shared by the pure core: what the reader, the parsers and the correlator hand to each other.

Everything here is immutable and cheap to build: the parsers create one of these per ``traffic_server`` message on
the hot path, so they are ``NamedTuple``s rather than dataclasses.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import NamedTuple


class Cause(StrEnum):
    """Why an origin connection failed; the names are part of the JSON and metrics contract."""

    UNTRUSTED_SELF_SIGNED = "untrusted_self_signed"
    UNTRUSTED_CHAIN = "untrusted_chain"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NAME_MISMATCH = "name_mismatch"
    WEAK_CRYPTO = "weak_crypto"
    BAD_PURPOSE = "bad_purpose"
    REVOKED = "revoked"
    PEER_REJECTED_CLIENT_CERT = "peer_rejected_client_cert"
    HANDSHAKE_FAILURE = "handshake_failure"
    OTHER_VERIFY_ERROR = "other_verify_error"


class Header(NamedTuple):
    """A syslog message whose header could be read.

    ``ts`` is seconds since the epoch (UTC) of the message's own time stamp; ``offset`` is the UTC offset, in
    seconds, the stamp was written in (kept so reports show the node's local time); ``host`` is the node.
    ``text`` is the whole message (continuation lines joined by ``\\n``), kept for evidence.
    """

    ts: float
    offset: int
    host: str
    app: str
    body: str
    text: str


class Failure(NamedTuple):
    """A message that could not be used; ``reason`` is a snake_case label from :data:`FAILURE_REASONS`."""

    reason: str


FAILURE_REASONS: tuple[str, ...] = (
    "not_syslog",
    "orphan_continuation",
    "bad_timestamp",
    "truncated_http_line",
    "truncated_error_response",
    "truncated_verify_warning",
    "truncated_sni_warning",
    "truncated_ssl_error",
    "truncated_debug_line",
)
"""Every parse-failure reason, so counters can be initialised to zero at startup."""


class HttpKind(IntEnum):
    """The four ``Detail=`` request/response lines of ``network.http.trafficserver``."""

    RECEIVE_REQUEST = 1  # client (through the traversal tunnel) -> Expressway-C
    SENDING_REQUEST = 2  # Expressway-C -> origin
    RECEIVE_RESPONSE = 3  # origin -> Expressway-C
    SENDING_RESPONSE = 4  # Expressway-C -> client


class HttpLine(NamedTuple):
    """One request/response debug line.

    ``ip``/``port`` are ``Src-*`` for the Receive lines and ``Dst-*`` for the Sending lines. ``host`` is the
    ``Host:`` header of a request; ``target_host``/``target_port`` come from a decoded MRA base64 segment.
    """

    kind: HttpKind
    txn: str
    ip: str | None
    port: int | None
    host: str | None
    target_host: str | None
    target_port: int | None
    status: int | None


class ErrorResponse(NamedTuple):
    """``Event="Sending HTTP error response"``: the client address is ``Dst-ip``/``Dst-port``."""

    status: int
    ip: str | None
    port: int | None


class FailureSource(StrEnum):
    """Which line shape reported a certificate problem."""

    VERIFY = "verify"  # WARNING: Core server certificate verification failed ...
    SNI = "sni"  # WARNING: SNI (...) not in certificate ...
    SSL_ERROR = "ssl_error"  # ERROR: SSL connection failed for '...': ...


class CertFailure(NamedTuple):
    """A certificate or handshake failure towards an origin.

    ``host`` is the origin as Expressway names it (``server=HOST(IP)``, or the name of an ERROR line), ``name``
    is the SNI (or IP) the handshake used. ``cause`` is ``None`` only for an ERROR ``certificate verify failed``
    line, whose cause comes from the WARNING logged with it (or is unknown without one).
    """

    source: FailureSource
    name: str
    host: str
    ip: str | None
    enforced: bool
    cause: Cause | None
    error: str | None
    depth: int | None


Event = HttpLine | ErrorResponse | CertFailure


class Record(NamedTuple):
    """A ``traffic_server`` message the correlator can use."""

    header: Header
    event: Event
