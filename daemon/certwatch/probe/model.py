"""What the probe takes and returns: plain values, no I/O, nothing imported from OpenSSL or cryptography (so the
daemon and the CLI can name these types without paying for those imports).

``ProbeResult.to_json()`` is the JSON contract of ``certwatch probe --format json`` (one element of
``"results"``); the README documents it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from certwatch.model import Cause

DEFAULT_TIMEOUT: Final = 5.0
"""Seconds for one connection: TCP connect and TLS handshake together."""

CONNECT_ERRORS: Final = ("refused", "timeout", "dns", "reset", "unreachable")
"""The ``X`` of ``"error": "connect: X"``: a TCP or name-resolution problem, not a certificate cause."""


class ProbeSettingsError(ValueError):
    """An unusable ``--ca-file`` or client certificate/key (exit status 2 on the command line)."""


@dataclass(frozen=True, slots=True)
class Target:
    """An origin as Expressway-C reaches it: ``name`` is sent as SNI (unless it is an IP address) and checked
    against the certificate; ``address`` (curl's ``--resolve``) is where to connect instead of resolving
    ``name``."""

    name: str
    port: int
    address: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """``ca_file`` is the Expressway-C trusted CA list (PEM; without it no CA is trusted, as on an Expressway-C
    with an empty list). ``client_cert`` (PEM, optionally followed by its chain) and ``client_key`` go together:
    the certificate Expressway-C presents when an origin asks for one. ``timeout`` is per connection."""

    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class CertFacts:
    """One certificate the origin served; ``depth`` is its position in what was sent (0: the origin's own)."""

    depth: int
    subject: str  # RFC 4514
    issuer: str
    sans: tuple[str, ...]  # "DNS:name", "IP:address", "email:...", "URI:..."
    not_before: str  # ISO 8601, UTC, "Z"
    not_after: str
    key_type: str  # "RSA", "ECDSA", "Ed25519", "Ed448", "DSA", "other"
    key_bits: int | None
    signature_algorithm: str  # OpenSSL's name: "sha256WithRSAEncryption", "ecdsa-with-SHA256", ...
    sha256: str  # upper-case hex pairs joined by ":", as `openssl x509 -fingerprint -sha256` prints it
    self_signed: bool = False  # not in the JSON contract; the text report shows it

    def to_json(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": list(self.sans),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "signature_algorithm": self.signature_algorithm,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, slots=True)
class OfferResult:
    """What one cipher offer got: the verdict and the leaf certificate the origin chose for it."""

    ok: bool
    cause: Cause | None
    depth: int | None
    key_type: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "cause": None if self.cause is None else str(self.cause),
            "depth": self.depth,
            "key_type": self.key_type,
            "sha256": self.sha256,
        }


OFFERS: Final = ("preferred", "ecdsa", "rsa")
"""Expressway-C's ECDSA-first cipher preference, then ECDSA-only and RSA-only suites (TLS 1.2)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One target. ``ok`` only when the preferred handshake verifies (chain and name); ``cause`` is ``None``
    then, and also for connection problems (``error`` is ``"connect: refused|timeout|dns|reset|unreachable"``)
    and non-TLS answers (``"tls: <OpenSSL reason>"``). ``offers`` maps each of :data:`OFFERS` to what it got,
    ``None`` when the origin refused that offer (or could not be reached). ``x14_2_trap``: the ECDSA-first
    offer gets an ECDSA certificate that fails while the RSA-only offer gets one that verifies."""

    origin: str
    port: int
    address: str | None
    ok: bool
    cause: Cause | None
    depth: int | None
    error: str | None
    tls_version: str | None = None
    cipher: str | None = None
    chain: tuple[CertFacts, ...] = ()
    chain_complete: bool | None = None
    offers: dict[str, OfferResult | None] = field(default_factory=lambda: dict.fromkeys(OFFERS))
    x14_2_trap: bool = False
    summary: str | None = None
    remediation: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "port": self.port,
            "address": self.address,
            "ok": self.ok,
            "cause": None if self.cause is None else str(self.cause),
            "depth": self.depth,
            "error": self.error,
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "chain": [c.to_json() for c in self.chain],
            "chain_complete": self.chain_complete,
            "offers": {name: None if (o := self.offers.get(name)) is None else o.to_json() for name in OFFERS},
            "x14_2_trap": self.x14_2_trap,
            "summary": self.summary,
            "remediation": list(self.remediation),
        }
