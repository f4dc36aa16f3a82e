"""OpenSSL texts -> causes. Pure lookups, case-insensitive, OpenSSL 1.1.1 and 3.x spellings alike.

``Error=`` of the verify WARNING is ``X509_verify_cert_error_string()`` (openssl ``crypto/x509/x509_txt.c``); the
reason of ``SSL connection failed for '...': <reason>`` is ``ERR_error_string_n()``, where a ``tlsv1 alert`` /
``sslv3 alert`` names the alert the *peer* sent (RFC 8446 section 6.2).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from certwatch.model import Cause

_VERIFY_TEXTS: Final[dict[str, Cause]] = {
    "self signed certificate in certificate chain": Cause.UNTRUSTED_CHAIN,
    "unable to get local issuer certificate": Cause.UNTRUSTED_CHAIN,
    "unable to get issuer certificate": Cause.UNTRUSTED_CHAIN,
    "unable to verify the first certificate": Cause.UNTRUSTED_CHAIN,
    "certificate not trusted": Cause.UNTRUSTED_CHAIN,
    "certificate rejected": Cause.UNTRUSTED_CHAIN,
    "certificate has expired": Cause.EXPIRED,
    "certificate is not yet valid": Cause.NOT_YET_VALID,
    "certificate is not yet valid or the system clock is incorrect": Cause.NOT_YET_VALID,
    "ee certificate key too weak": Cause.WEAK_CRYPTO,
    "ca certificate key too weak": Cause.WEAK_CRYPTO,
    "ca signature digest algorithm too weak": Cause.WEAK_CRYPTO,
    "unsupported certificate purpose": Cause.BAD_PURPOSE,
    "unsuitable certificate purpose": Cause.BAD_PURPOSE,
    "certificate revoked": Cause.REVOKED,
    "hostname mismatch": Cause.NAME_MISMATCH,
    "ip address mismatch": Cause.NAME_MISMATCH,
}


def normalize(text: str) -> str:
    """Lower-case, single spaces, ``self-signed`` spelled the 1.1.1 way."""
    return " ".join(text.lower().replace("self-signed", "self signed").split())


def classify_verify_error(error: str, depth: int | None) -> Cause:
    """The cause named by a verify ``Error=`` text at a chain ``depth`` (0 is the origin's own certificate)."""
    text = normalize(error)
    if text == "self signed certificate":
        # a self-signed certificate *is* the leaf at depth 0; deeper, it is the chain's root
        return Cause.UNTRUSTED_SELF_SIGNED if not depth else Cause.UNTRUSTED_CHAIN
    return _VERIFY_TEXTS.get(text, Cause.OTHER_VERIFY_ERROR)


class SslReason(StrEnum):
    """What an ``SSL connection failed`` reason says happened."""

    VERIFY_FAILED = "verify_failed"  # our own verification failed: the WARNING next to it has the cause
    PEER_ALERT = "peer_alert"  # the origin refused our (client) certificate
    HANDSHAKE = "handshake"  # no common cipher, curve, signature algorithm or protocol version
    OTHER = "other"  # not a certificate or negotiation problem (resets, plain text on a TLS port, ...)


_PEER_ALERTS: Final = (
    "alert unknown ca",
    "alert bad certificate",
    "alert certificate unknown",
    "alert unsupported certificate",
    "alert certificate revoked",
    "alert certificate expired",
    "alert certificate required",
    "alert access denied",
)
_HANDSHAKE: Final = (
    "handshake failure",
    "no shared cipher",
    "insufficient security",
    "alert protocol version",
    "unsupported protocol",
    "no protocols available",
    "no suitable signature algorithm",
    "wrong curve",
)


def classify_ssl_reason(reason: str) -> SslReason:
    text = normalize(reason)
    if "certificate verify failed" in text:
        return SslReason.VERIFY_FAILED
    if any(alert in text for alert in _PEER_ALERTS):
        return SslReason.PEER_ALERT
    if any(h in text for h in _HANDSHAKE):
        return SslReason.HANDSHAKE
    return SslReason.OTHER
