"""Handshakes -> verdicts, causes and hints. Pure: the causes are the log parser's
(:mod:`certwatch.parse.openssl`), the summary and steps the remediation catalog's (:mod:`certwatch.remediate`).

Order of the checks, as Expressway-C's Traffic Server meets them: the first chain-verification error (ATS stops
there in enforced mode), then the name check (only once the chain verified), then what the origin said about our
client certificate (``tlsv1 alert unknown ca`` and the like) or a failed negotiation, then I/O trouble.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from certwatch import remediate
from certwatch.model import Cause
from certwatch.parse.openssl import SslReason, classify_ssl_reason, classify_verify_error
from certwatch.probe.facts import fingerprint, key_type_and_bits, name_error
from certwatch.probe.handshake import Handshake
from certwatch.probe.model import OfferResult

CERTIFICATE_CAUSES: Final = frozenset(
    {
        Cause.UNTRUSTED_SELF_SIGNED,
        Cause.UNTRUSTED_CHAIN,
        Cause.EXPIRED,
        Cause.NOT_YET_VALID,
        Cause.NAME_MISMATCH,
        Cause.WEAK_CRYPTO,
        Cause.BAD_PURPOSE,
        Cause.REVOKED,
        Cause.OTHER_VERIFY_ERROR,
    }
)
"""Causes that are about the certificate the origin served (not our client certificate, not the negotiation)."""

RSA_PREFIX: Final = "ECDHE-RSA-AES256-GCM-SHA384:"


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    cause: Cause | None
    depth: int | None
    error: str | None


def verdict(h: Handshake, name: str) -> Verdict:
    """What Expressway-C would conclude from handshake ``h`` with an origin it reaches as ``name``."""
    if h.verify_error is not None:
        return Verdict(False, classify_verify_error(h.verify_error, h.verify_depth), h.verify_depth, h.verify_error)
    if h.chain:
        mismatch = name_error(h.chain[0], name)
        if mismatch is not None:
            return Verdict(False, Cause.NAME_MISMATCH, 0, mismatch)
    if h.failure is not None:
        reason = classify_ssl_reason(h.failure)
        if reason is SslReason.PEER_ALERT:
            return Verdict(False, Cause.PEER_REJECTED_CLIENT_CERT, None, h.failure)
        if reason is SslReason.HANDSHAKE:
            return Verdict(False, Cause.HANDSHAKE_FAILURE, None, h.failure)
        return Verdict(False, None, None, f"tls: {h.failure}")
    if h.io_error is not None:
        return Verdict(False, None, None, f"connect: {h.io_error}")
    if not h.completed or not h.chain:
        return Verdict(False, None, None, "tls: no certificate")
    return Verdict(True, None, None, None)


def offer_result(h: Handshake, name: str) -> OfferResult | None:
    """The verdict and the leaf an offer got; ``None`` when no certificate came back (the origin refused the
    offer, or it could not be reached)."""
    if not h.chain:
        return None
    v = verdict(h, name)
    leaf = h.chain[0]
    return OfferResult(v.ok, v.cause, v.depth, key_type_and_bits(leaf)[0], fingerprint(leaf))


def is_x14_2_trap(preferred: OfferResult | None, rsa: OfferResult | None) -> bool:
    """The X14.2 trap: Expressway-C's ECDSA-first offer gets an ECDSA certificate that fails verification, while
    an RSA-only offer gets an RSA certificate that verifies (the origin is fine for pre-X14.2 Expressways)."""
    return (
        preferred is not None
        and rsa is not None
        and preferred.key_type == "ECDSA"
        and not preferred.ok
        and preferred.cause in CERTIFICATE_CAUSES
        and rsa.ok
    )


def trap_step(origin: str, port: int, preferred: OfferResult) -> str:
    """The first remediation step of an X14.2 trap: names it, says why it breaks after the upgrade, and both fixes."""
    self_signed = preferred.cause is Cause.UNTRUSTED_SELF_SIGNED
    what = "a self-signed ECDSA certificate" if self_signed else "an ECDSA certificate"
    default = ", self-signed by default" if self_signed else ""
    return (
        f"X14.2 ECDSA trap: {origin} (port {port}) serves two certificates. X14.2 prefers ECDSA, so Expressway-C "
        f"gets {what} ({preferred.sha256[:23]}...) that fails verification ({preferred.cause}), while an RSA-only "
        "offer gets an RSA certificate that verifies: the origin worked with Expressway before X14.2 and breaks "
        f"after the upgrade. Either fix the ECDSA certificate on {origin} (tomcat-ECDSA or CallManager-ECDSA"
        f"{default}): CA-sign it and upload its CA to Expressway-C; or make Expressway-C prefer RSA again: prefix "
        f"the cipher string with `{RSA_PREFIX}` under Maintenance > Security > Ciphers (xConfiguration Ciphers) on "
        "every peer."
    )


@dataclass(frozen=True, slots=True)
class Hint:
    summary: str | None
    steps: tuple[str, ...]


_CONNECT_HINTS: Final = {
    "refused": "Nothing accepts connections on {where}: check that the service runs on {origin} (Cisco Tomcat for "
    "8443, HAProxy for 6971/6972) and that no firewall rejects Expressway-C.",
    "timeout": "No answer from {where} within the timeout: a firewall dropping the traffic, a wrong address, or a "
    "service that accepts connections but never starts TLS.",
    "dns": "{origin} does not resolve: Expressway-C resolves the names CUCM announces (System > Server), so they "
    "must be in DNS (System > DNS on Expressway-C).",
    "reset": "{where} closed the connection during the handshake: the service or a middlebox refuses TLS from "
    "this address.",
    "unreachable": "No route to {where}: check the address and the routing between Expressway-C and {origin}.",
}


def hint(v: Verdict, origin: str, port: int, address: str | None, trap_step: str | None = None) -> Hint:
    """The summary and the steps for a verdict: the catalog's for a cause (with the X14.2 trap first when it
    applies), a short diagnosis for connection and TLS problems, nothing when ok."""
    if v.ok:
        return Hint(None, ())
    if v.cause is not None:
        steps = remediate.remediation(v.cause, origin, port, v.depth, v.error)
        summary = remediate.summary(v.cause)
        if trap_step is not None:
            # the trap step already gives the cipher-order fix: drop the catalog's general ECDSA step
            steps = [trap_step, *(step for step in steps if RSA_PREFIX not in step)]
            summary = f"X14.2 ECDSA trap: {summary}"
        return Hint(summary, tuple(steps))
    where = f"{address or origin} port {port}"
    error = v.error or ""
    if error.startswith("connect: "):
        kind = error.removeprefix("connect: ")
        text = _CONNECT_HINTS.get(kind, _CONNECT_HINTS["unreachable"])
        return Hint(f"Cannot connect to the origin ({kind})", (text.format(where=where, origin=origin),))
    return Hint(
        "The origin did not complete a TLS handshake",
        (
            (
                f"{where} did not answer as a TLS server ({error.removeprefix('tls: ')}): check that port {port} "
                "is the HTTPS port of the service Expressway-C proxies to."
            ),
        ),
    )
