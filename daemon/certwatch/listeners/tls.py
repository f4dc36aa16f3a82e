"""TLS for syslog (RFC 5425): the server context, handshake failure reasons, the client's identity."""

from __future__ import annotations

import ssl
from typing import Any

from certwatch.config import TlsListener

# asyncio and uvloop end a handshake that outlives ``ssl_handshake_timeout`` with ConnectionAbortedError("SSL handshake
# is taking longer than N seconds: aborting the connection"), never with TimeoutError.
_HANDSHAKE_TIMEOUT = "handshake is taking longer than"


def server_context(listener: TlsListener) -> ssl.SSLContext:
    """Certificate and key from files; with ``client_ca_file``, clients must present a certificate it signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(listener.cert_file), str(listener.key_file))
    if listener.client_ca_file is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(listener.client_ca_file))
    return context


def failure_reason(exc: BaseException) -> str:
    """A handshake failure as one of :data:`certwatch.telemetry.TLS_FAILURES`."""
    if isinstance(exc, TimeoutError) or (isinstance(exc, ConnectionAbortedError) and _HANDSHAKE_TIMEOUT in str(exc)):
        return "timeout"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").upper()
        if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in reason or "CERTIFICATE_REQUIRED" in reason:
            return "no_client_certificate"
        if "CERTIFICATE_VERIFY_FAILED" in reason or "UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason:
            return "client_certificate_untrusted"
        if "WRONG_VERSION_NUMBER" in reason or "HTTP_REQUEST" in reason or "UNEXPECTED_RECORD" in reason:
            return "not_tls"
        if any(t in reason for t in ("CIPHER", "PROTOCOL", "VERSION", "SIGALG", "GROUP", "CURVE")):
            return "protocol_or_cipher"
        if "EOF" in reason:
            return "closed"
        return "other"
    if isinstance(exc, ConnectionError | EOFError):
        return "closed"
    return "other"


def peer_names(peercert: Any) -> frozenset[str]:
    """The subject CNs and DNS SANs of a verified client certificate, lowercased (``node_senders`` names)."""
    if not peercert:
        return frozenset()
    names = {value for rdn in peercert.get("subject", ()) for key, value in rdn if key == "commonName"}
    names.update(value for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS")
    return frozenset(name.lower() for name in names)


def peer_identity(peercert: Any) -> str | None:
    """``CN=...`` and the DNS SANs of a verified client certificate (``getpeercert()``), for the logs."""
    if not peercert:
        return None
    parts = []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                parts.append(f"CN={value}")
    parts.extend(f"DNS:{value}" for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS")
    return ", ".join(parts) or None
