"""Certificate facts and checks from ``cryptography`` objects. Pure: no I/O, no clock.

* :func:`cert_facts`: subject, issuer, SAN, key, signature algorithm, validity and SHA-256 fingerprint.
* :func:`chain_complete`: did the origin send its whole chain (every intermediate, in order)?
* :func:`name_error`: the name check Expressway-C's Traffic Server runs once the chain verified (its
  ``SNI (...) not in certificate`` WARNING), with OpenSSL's texts for the result.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from certwatch.probe.model import CertFacts

HOSTNAME_MISMATCH = "hostname mismatch"  # X509_V_ERR_HOSTNAME_MISMATCH (62), OpenSSL 3.x spelling
IP_MISMATCH = "IP address mismatch"  # X509_V_ERR_IP_ADDRESS_MISMATCH (64)


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (text around the blocks is ignored); ``ValueError`` when none."""
    return x509.load_pem_x509_certificates(data)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def key_type_and_bits(cert: x509.Certificate) -> tuple[str, int | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return "other", None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # a malformed extension: reported as no SAN
        return None


def san_entries(cert: x509.Certificate) -> tuple[str, ...]:
    """The subject alternative names in the ``openssl x509 -text`` style: ``DNS:x``, ``IP:y``, ..."""
    san = _san(cert)
    if san is None:
        return ()
    out: list[str] = []
    for name in san:
        if isinstance(name, x509.DNSName):
            out.append(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress):
            out.append(f"IP:{name.value}")
        elif isinstance(name, x509.RFC822Name):
            out.append(f"email:{name.value}")
        elif isinstance(name, x509.UniformResourceIdentifier):
            out.append(f"URI:{name.value}")
        elif isinstance(name, x509.DirectoryName):
            out.append(f"DirName:{name.value.rfc4514_string()}")
        elif isinstance(name, x509.RegisteredID):
            out.append(f"RID:{name.value.dotted_string}")
        else:
            out.append("othername")
    return tuple(out)


def _signature_algorithm(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)  # cryptography's OpenSSL-style name; the dotted form when it has none
    return name if isinstance(name, str) and name != "Unknown OID" else oid.dotted_string


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``issuer``'s name is ``cert``'s issuer and its key verifies ``cert``'s signature."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


def cert_facts(cert: x509.Certificate, depth: int) -> CertFacts:
    key_type, key_bits = key_type_and_bits(cert)
    return CertFacts(
        depth=depth,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=san_entries(cert),
        not_before=_iso(cert.not_valid_before_utc),
        not_after=_iso(cert.not_valid_after_utc),
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm=_signature_algorithm(cert),
        sha256=fingerprint(cert),
        self_signed=is_self_signed(cert),
    )


def chain_facts(chain: Sequence[x509.Certificate]) -> tuple[CertFacts, ...]:
    return tuple(cert_facts(cert, depth) for depth, cert in enumerate(chain))


def chain_complete(chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]) -> bool | None:
    """Whether the origin sent its whole chain: each certificate issued by the next one, and the last one a root
    (self-signed) or issued by a root of ``anchors`` (the trusted CA list). An intermediate found only in the
    trust list counts as not sent. ``None`` when nothing was served."""
    if not chain:
        return None
    if any(not issued_by(cert, parent) for cert, parent in pairwise(chain)):
        return False
    last = chain[-1]
    if is_self_signed(last):
        return True
    return any(is_self_signed(anchor) and issued_by(last, anchor) for anchor in anchors)


def _dns_match(pattern: str, host: str) -> bool:
    """RFC 6125: exact, or a ``*`` that is the whole left-most label and stands for exactly one label."""
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[1:]  # ".example.com"
    if suffix.count(".") < 2:  # "*.com" matches nothing
        return False
    head, dot, rest = host.partition(".")
    return bool(head and dot) and "." + rest == suffix


def name_error(cert: x509.Certificate, name: str) -> str | None:
    """``None`` when ``name`` (an FQDN or an IP address) is one of ``cert``'s names, else OpenSSL's text for the
    mismatch. An IP is looked up in the IP SANs only; a host name in the DNS SANs, and in the subject CN only
    when the certificate has no DNS SAN at all (``X509_check_host``'s default)."""
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        ip = None
    san = _san(cert)
    if ip is not None:
        ips = [] if san is None else san.get_values_for_type(x509.IPAddress)
        return None if ip in ips else IP_MISMATCH
    host = name.lower().rstrip(".")
    dns = [] if san is None else san.get_values_for_type(x509.DNSName)
    if not dns:
        dns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return None if any(_dns_match(d, host) for d in dns) else HOSTNAME_MISMATCH
