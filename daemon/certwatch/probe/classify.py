"""Handshakes -> verdicts, causes and hints. Pure: the causes are the log parser's
(:mod:`certwatch.parse.openssl`), the summary and steps the remediation catalog's (:mod:`certwatch.remediate`);
the probe's own texts (the X14.2 trap step, connection and TLS problems) are the ``probe`` texts of
:mod:`certwatch.hints`, in the language asked for (``lang``, English by default).

Order of the checks, as Expressway-C's Traffic Server meets them: the first chain-verification error (ATS stops
there in enforced mode), then the name check (only once the chain verified), then what the origin said about our
client certificate (``tlsv1 alert unknown ca`` and the like) or a failed negotiation, then I/O trouble.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from certwatch import remediate
from certwatch.hints import DEFAULT_LANGUAGE, Language, texts
from certwatch.model import Cause
from certwatch.parse.openssl import SslReason, classify_ssl_reason, classify_verify_error
from certwatch.probe.facts import fingerprint, key_type_and_bits, name_error
from certwatch.probe.handshake import Handshake
from certwatch.probe.model import CONNECT_ERRORS, OfferResult

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


def trap_step(origin: str, port: int, preferred: OfferResult, lang: Language = DEFAULT_LANGUAGE) -> str:
    """The first remediation step of an X14.2 trap: names it, says why it breaks after the upgrade, and both fixes."""
    text = texts(lang).probe
    self_signed = preferred.cause is Cause.UNTRUSTED_SELF_SIGNED
    return text["trap.step"].format(
        origin=origin,
        port=remediate.port_text(port, lang),
        what=text["trap.what_self_signed" if self_signed else "trap.what"],
        fingerprint=preferred.sha256[:23],
        cause=preferred.cause,
        default=text["trap.default_self_signed"] if self_signed else "",
        prefix=RSA_PREFIX,
    )


@dataclass(frozen=True, slots=True)
class Hint:
    summary: str | None
    steps: tuple[str, ...]


def hint(
    v: Verdict,
    origin: str,
    port: int,
    address: str | None,
    trap_step: str | None = None,
    lang: Language = DEFAULT_LANGUAGE,
) -> Hint:
    """The summary and the steps for a verdict: the catalog's for a cause (with the X14.2 trap first when it
    applies), a short diagnosis for connection and TLS problems, nothing when ok. ``trap_step`` is
    :func:`trap_step`'s text, in ``lang`` too."""
    if v.ok:
        return Hint(None, ())
    text = texts(lang).probe
    if v.cause is not None:
        steps = remediate.remediation(v.cause, origin, port, v.depth, v.error, lang=lang)
        summary = remediate.summary(v.cause, lang)
        if trap_step is not None:
            # the trap step already gives the cipher-order fix: drop the catalog's general ECDSA step
            steps = [trap_step, *(step for step in steps if RSA_PREFIX not in step)]
            summary = text["trap.summary"].format(summary=summary)
        return Hint(summary, tuple(steps))
    where = text["where"].format(address=address or origin, port=port)
    error = v.error or ""
    if error.startswith("connect: "):
        kind = error.removeprefix("connect: ")
        step = text[f"connect.{kind if kind in CONNECT_ERRORS else 'unreachable'}"]
        return Hint(text["connect.summary"].format(kind=kind), (step.format(where=where, origin=origin),))
    step = text["tls.step"].format(where=where, error=error.removeprefix("tls: "), port=port)
    return Hint(text["tls.summary"], (step,))
