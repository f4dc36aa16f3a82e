"""Certificates built in memory with ``cryptography`` for the probe's pure unit tests (the integration tests make
theirs with the ``openssl`` command and serve them for real)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Made:
    cert: x509.Certificate
    key: Key


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def san(*names: str) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        kind, _, value = name.partition(":")
        if kind == "DNS":
            entries.append(x509.DNSName(value))
        elif kind == "IP":
            entries.append(x509.IPAddress(ipaddress.ip_address(value)))
        elif kind == "email":
            entries.append(x509.RFC822Name(value))
        elif kind == "URI":
            entries.append(x509.UniformResourceIdentifier(value))
    return x509.SubjectAlternativeName(entries)


def make(
    cn: str,
    issuer: Made | None = None,
    key: Key | None = None,
    sans: tuple[str, ...] | None = None,
    ca: bool = False,
    days: int = 30,
) -> Made:
    """A certificate for ``cn``, signed by ``issuer`` (self-signed without one; CA and self-signed certificates
    get keyCertSign)."""
    key = key if key is not None else ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer = issuer.key if issuer is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(START + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca or issuer is None,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if sans is not None:
        builder = builder.add_extension(san(*sans), critical=False)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Made(builder.sign(signer, algorithm), key)


@dataclass(frozen=True)
class Chain:
    root: Made
    intermediate: Made
    leaf: Made


def chain(name: str = "cucm.example.test") -> Chain:
    root = make("root CA", key=rsa_key(), ca=True)
    intermediate = make("intermediate CA", root, key=rsa_key(), ca=True)
    leaf = make(name, intermediate, key=rsa_key(), sans=(f"DNS:{name}",))
    return Chain(root, intermediate, leaf)
