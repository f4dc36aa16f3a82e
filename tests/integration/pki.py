"""Throw-away certificates for the TLS tests, made with the ``openssl`` command (the ``cryptography`` package is not
a dependency), and the Debian tools the real-peer tests need, installed by ``.ci/debs.sh`` when missing."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CA_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ext
[dn]
CN = {cn}
[ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""
LEAF_CONFIG = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {cn}\n"
LEAF_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = {usage}
subjectAltName = {san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def ensure_debs(packages: tuple[str, ...], present: Callable[[], bool]) -> None:
    """Install the Debian ``packages`` with ``.ci/debs.sh`` (as ``make test`` does) unless ``present()`` already
    holds; afterwards it must."""
    if not present():
        subprocess.run([str(ROOT / ".ci" / "debs.sh"), *packages], check=True, timeout=600)
    assert present(), f"still missing after installing {' '.join(packages)}"


@dataclass(frozen=True)
class Pair:
    """A PEM certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate for 127.0.0.1, ::1 and localhost, a client certificate it signed, and a client
    certificate signed by another CA (same subject, so only the issuer differs)."""

    ca: Path
    server: Pair
    client: Pair
    stranger: Pair
    other_ca: Path


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)


def _ca(directory: Path, name: str, cn: str) -> None:
    (directory / f"{name}.cnf").write_text(CA_CONFIG.format(cn=cn))
    _openssl(
        directory, "req", "-x509", "-config", f"{name}.cnf", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem",
        "-days", "2",
    )  # fmt: skip


def _issue(directory: Path, ca: str, name: str, cn: str, usage: str, san: str) -> Pair:
    (directory / f"{name}.cnf").write_text(LEAF_CONFIG.format(cn=cn))
    (directory / f"{name}.ext").write_text(LEAF_EXTENSIONS.format(usage=usage, san=san))
    _openssl(
        directory, "req", "-new", "-config", f"{name}.cnf", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr"
    )
    _openssl(
        directory, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-set_serial",
        str(random.SystemRandom().getrandbits(63)), "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
    )  # fmt: skip
    return Pair(directory / f"{name}.pem", directory / f"{name}.key")


def make_pki(directory: Path) -> Pki:
    """Write every key and certificate into ``directory``."""
    ensure_debs(("openssl",), lambda: shutil.which("openssl") is not None)
    _ca(directory, "ca", "certwatch test CA")
    _ca(directory, "other-ca", "certwatch other CA")
    server = _issue(directory, "ca", "server", "localhost", "serverAuth", "IP:127.0.0.1, IP:::1, DNS:localhost")
    client = _issue(directory, "ca", "client", "expc01.example.com", "clientAuth", "DNS:expc01.example.com")
    stranger = _issue(directory, "other-ca", "stranger", "expc01.example.com", "clientAuth", "DNS:expc01.example.com")
    return Pki(directory / "ca.pem", server, client, stranger, directory / "other-ca.pem")
