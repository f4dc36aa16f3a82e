"""``traffic_server`` message body -> event. A cheap substring test picks the one regex worth running.

Returns an :data:`~certwatch.model.Event`, a :class:`~certwatch.model.Failure` for a known line shape that is
truncated, or ``None`` for a well-formed line certwatch does not use (counted as ignored by the caller).
Never raises.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Final

from certwatch.model import Cause, CertFailure, ErrorResponse, Event, Failure, FailureSource, HttpKind, HttpLine
from certwatch.parse import _patterns as p
from certwatch.parse.mra import decode_target
from certwatch.parse.openssl import SslReason, classify_ssl_reason, classify_verify_error

_KINDS: Final = {
    "Receive Request": HttpKind.RECEIVE_REQUEST,
    "Sending Request": HttpKind.SENDING_REQUEST,
    "Receive Response": HttpKind.RECEIVE_RESPONSE,
    "Sending Response": HttpKind.SENDING_RESPONSE,
}
_SIDE: Final = {
    "Receive Request": "Src",
    "Sending Request": "Dst",
    "Receive Response": "Src",
    "Sending Response": "Dst",
}
_SSL_CAUSES: Final = {
    SslReason.VERIFY_FAILED: None,
    SslReason.PEER_ALERT: Cause.PEER_REJECTED_CLIENT_CERT,
    SslReason.HANDSHAKE: Cause.HANDSHAKE_FAILURE,
}


def read_event(body: str) -> Event | Failure | None:
    if 'Detail="' in body:
        fast = p.HTTP_FIELDS.search(body)
        if fast is not None and fast[3] == _SIDE[fast[1]]:
            return _http_fast(body, fast)
        if (m := p.DETAIL.search(body)) is not None:
            return _http(body, _KINDS[m[1]])
    if "Sending HTTP error response" in body:
        return _error_response(body)
    if "Core server certificate verification failed" in body:  # not ATS 7's "Server certificate verification ..."
        return _verify(body)
    if "not in certificate" in body:
        return _sni(body)
    if "SSL connection failed" in body:
        return _ssl_error(body)
    if '="' in body and body.count('"') % 2:
        return Failure("truncated_debug_line")  # a Key="value" line cut inside a value
    return None


def port_number(text: str | None) -> int | None:
    """A port field's value as a number, or ``None`` (absent, not ASCII digits, out of range)."""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 5:
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


def _http_fast(body: str, m: re.Match[str]) -> HttpLine | Failure:
    """The usual field order: one regex gave the kind, transaction, address and port."""
    kind = _KINDS[m[1]]
    txn = m[2]
    if not txn:
        return Failure("truncated_http_line")
    msg = body[m.end() :]
    return _message(kind, txn, m[4] or None, port_number(m[5]), msg)


def _message(kind: HttpKind, txn: str, ip: str | None, port: int | None, msg: str) -> HttpLine | Failure:
    """Complete a request/response line from its HTTP message (request line, Host header, status)."""
    host = target_host = target_port = status = None
    if kind is HttpKind.RECEIVE_REQUEST:
        request = p.REQUEST_LINE.search(msg)
        if request is not None and (target := decode_target(request[2])) is not None:
            target_host, target_port = target
    elif kind is HttpKind.SENDING_REQUEST:
        host = host_header(msg)
    else:
        status_line = p.STATUS_LINE.search(msg)
        if status_line is None:
            return Failure("truncated_http_line")
        status = int(status_line[1])
    return HttpLine(kind, txn, ip, port, host, target_host, target_port, status)


def host_header(msg: str) -> str | None:
    """The request's ``Host:`` header, lower case, without port or IPv6 brackets."""
    pos = 0
    while (m := p.HOST_LITERAL.search(msg, pos)) is not None:
        start = m.start()
        if start == 0 or msg[start - 1] in " \t\n|":
            return m[1].strip("[]").lower()
        pos = m.end()  # X-Forwarded-Host: and the like
    h = p.HOST_HEADER.search(msg)  # other spellings of the name ("host:")
    return h[1].strip("[]").lower() if h is not None else None


def _http(body: str, kind: HttpKind) -> HttpLine | Failure:
    """Any field order (the generic Key="value" path)."""
    head, _, msg = body.partition("HTTPMSG:")
    if head.count('"') % 2 or not head.rstrip().endswith('"'):
        return Failure("truncated_http_line")
    fields = dict(p.KEY_VALUE.findall(head))
    txn = fields.get("Txn-id")
    if not txn:
        return Failure("truncated_http_line")
    side = "Src" if kind in (HttpKind.RECEIVE_REQUEST, HttpKind.RECEIVE_RESPONSE) else "Dst"
    return _message(kind, txn, fields.get(side + "-ip") or None, port_number(fields.get(side + "-port")), msg)


def _error_response(body: str) -> ErrorResponse | Failure:
    if body.count('"') % 2:
        return Failure("truncated_error_response")
    fields = dict(p.KEY_VALUE.findall(body))
    status = fields.get("Status", "")
    # An HTTP status: three ASCII digits at most (str.isdigit() also takes "²", which int() refuses).
    if not (status.isascii() and status.isdigit()) or len(status) > 3:
        return Failure("truncated_error_response")
    return ErrorResponse(int(status), fields.get("Dst-ip") or None, port_number(fields.get("Dst-port")))


def _enforced(action: str) -> bool:
    # ATS prints Terminate (enforced) or Continue (permissive); anything else is treated as enforced.
    return action.lower() != "continue"


def _verify(body: str) -> CertFailure | Failure:
    m = p.VERIFY.search(body)
    if m is None:
        return Failure("truncated_verify_warning")
    depth = int(m["depth"]) if m["depth"] is not None and len(m["depth"]) <= 9 else None  # int() takes 4,300 digits
    error = m["error"].strip()
    host = m["host"].lower() or m["ip"]
    return CertFailure(
        FailureSource.VERIFY,
        m["sni"].lower(),
        host,
        m["ip"] or None,
        _enforced(m["action"]),
        classify_verify_error(error, depth),
        error,
        depth,
    )


def _sni(body: str) -> CertFailure | Failure:
    m = p.SNI.search(body)
    if m is None:
        return Failure("truncated_sni_warning")
    host = m["host"].lower() or m["ip"]
    return CertFailure(
        FailureSource.SNI,
        m["sni"].lower(),
        host,
        m["ip"] or None,
        _enforced(m["action"]),
        Cause.NAME_MISMATCH,
        None,
        None,
    )


def _ssl_error(body: str) -> CertFailure | Failure | None:
    m = p.SSL_ERROR.search(body)
    if m is None:
        return Failure("truncated_ssl_error")
    name = (m["q1"] if m["q1"] is not None else m["q2"]).lower()
    reason = classify_ssl_reason(m["reason"])
    if reason is SslReason.OTHER or not name:
        return None
    text = m["reason"].strip()
    error = text.rsplit(":", 1)[-1].strip() or text
    ip = name if is_ip(name) else None
    return CertFailure(FailureSource.SSL_ERROR, name, name, ip, True, _SSL_CAUSES[reason], error, None)


@lru_cache(maxsize=1024)
def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
