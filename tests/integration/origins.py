"""Fake CUCM origins for ``certwatch probe``: certificates made with the ``openssl`` command (a root CA, an
intermediate, and one leaf per failure), ``openssl s_server`` processes serving them on 127.0.0.1 ports the kernel
picks, and the two non-TLS peers (a closed port, a socket that accepts and never answers).

Every process and socket is stopped by the context manager that started it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pki import ensure_debs

from certwatch.testing import CA_CONFIG as ROOT_CONFIG
from certwatch.testing import openssl

NAME = "cucm.example.test"

CA_EXT = """\
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
LEAF_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = {san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
# CUCM's default self-signed tomcat-ECDSA: keyCertSign in its key usage, so OpenSSL sees it as self-signed
SELF_SIGNED = """\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ext
[dn]
CN = {cn}
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment, keyAgreement, keyCertSign
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:{cn}
subjectKeyIdentifier = hash
"""
# `openssl ca` rather than `openssl x509 -req`: OpenSSL 3.0's x509 has no -not_before/-not_after, and the expired
# and not-yet-valid leaves need explicit dates.
CA_CONFIG = """\
[ca]
default_ca = probe
[probe]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
"""
RSA = ("-newkey", "rsa:2048")
RSA_1024 = ("-newkey", "rsa:1024")
EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


@dataclass(frozen=True)
class Leaf:
    cert: Path
    key: Path


@dataclass(frozen=True)
class OriginPki:
    directory: Path
    root: Path  # the --ca-file: the root only, as an Expressway-C whose list lacks the intermediate
    intermediate: Path
    good: Leaf  # RSA 2048, signed by the intermediate, SAN = NAME
    self_signed_ecdsa: Leaf  # the default CUCM tomcat-ECDSA: self-signed, SAN = NAME
    expired: Leaf
    not_yet_valid: Leaf
    wrong_san: Leaf  # SAN other.example.test only
    weak: Leaf  # RSA 1024
    client: Leaf  # Expressway-C's client certificate, signed by the root
    other_root: Path  # a CA the client-certificate origin trusts instead


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%SZ")  # GeneralizedTime: `openssl ca` takes it as well as UTCTime


def _root(directory: Path, name: str, cn: str) -> Path:
    (directory / f"{name}.cnf").write_text(ROOT_CONFIG.format(cn=cn))
    openssl(
        directory, "req", "-x509", "-config", f"{name}.cnf", *RSA, "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.pem", "-days", "3",
    )  # fmt: skip
    return directory / f"{name}.pem"


def _sign(
    directory: Path, issuer: str, name: str, cn: str, key: tuple[str, ...], ext: str, start: datetime, end: datetime
) -> Leaf:
    (directory / f"{name}.ext").write_text(ext)
    openssl(
        directory, "req", "-new", *key, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}"
    )
    openssl(
        directory, "ca", "-batch", "-config", "ca.cnf", "-notext", "-rand_serial", "-in", f"{name}.csr",
        "-cert", f"{issuer}.pem", "-keyfile", f"{issuer}.key", "-extfile", f"{name}.ext",
        "-startdate", _stamp(start), "-enddate", _stamp(end), "-out", f"{name}.pem",
    )  # fmt: skip
    return Leaf(directory / f"{name}.pem", directory / f"{name}.key")


def make_origin_pki(directory: Path) -> OriginPki:
    ensure_debs(("openssl",), lambda: shutil.which("openssl") is not None)
    (directory / "ca.cnf").write_text(CA_CONFIG)
    (directory / "index.txt").write_text("")
    (directory / "serial").write_text("01\n")
    now = datetime.now(UTC).replace(microsecond=0)
    valid = (now - timedelta(hours=1), now + timedelta(days=2))
    root = _root(directory, "root", "certwatch probe root CA")
    other_root = _root(directory, "other-root", "certwatch probe other CA")
    _sign(directory, "root", "intermediate", "certwatch probe intermediate CA", RSA, CA_EXT, *valid)
    leaf_ext = LEAF_EXT.format(san=f"DNS:{NAME}")

    def leaf(
        name: str, key: tuple[str, ...] = RSA, ext: str = leaf_ext, dates: tuple[datetime, datetime] = valid
    ) -> Leaf:
        return _sign(directory, "intermediate", name, NAME, key, ext, *dates)

    (directory / "self-signed-ecdsa.cnf").write_text(SELF_SIGNED.format(cn=NAME))
    openssl(
        directory, "req", "-x509", "-config", "self-signed-ecdsa.cnf", *EC, "-nodes", "-keyout",
        "self-signed-ecdsa.key", "-out", "self-signed-ecdsa.pem", "-days", "2",
    )  # fmt: skip
    return OriginPki(
        directory=directory,
        root=root,
        intermediate=directory / "intermediate.pem",
        good=leaf("good"),
        self_signed_ecdsa=Leaf(directory / "self-signed-ecdsa.pem", directory / "self-signed-ecdsa.key"),
        expired=leaf("expired", dates=(now - timedelta(days=3), now - timedelta(days=1))),
        not_yet_valid=leaf("not-yet-valid", dates=(now + timedelta(days=1), now + timedelta(days=3))),
        wrong_san=leaf("wrong-san", ext=LEAF_EXT.format(san="DNS:other.example.test")),
        weak=leaf("weak", key=RSA_1024),
        client=_sign(
            directory,
            "root",
            "client",
            "expc01.example.test",
            EC,
            LEAF_EXT.format(san="DNS:expc01.example.test"),
            *valid,
        ),
        other_root=other_root,
    )


@contextmanager
def s_server(directory: Path, *args: str | Path, timeout: float = 10.0) -> Iterator[int]:
    """``openssl s_server -www`` on 127.0.0.1 with ``args`` (certificates, ciphers, client verification); yields
    its port, read from its ``ACCEPT 127.0.0.1:PORT`` line. The process is killed on exit."""
    out = directory / f"s_server-{time.monotonic_ns()}.out"
    command = ["openssl", "s_server", "-accept", "127.0.0.1:0", "-www", *map(str, args)]
    with out.open("w") as sink:
        proc = subprocess.Popen(command, cwd=directory, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            for line in out.read_text().splitlines():
                if line.startswith("ACCEPT "):
                    yield int(line.rsplit(":", 1)[1])
                    return
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"s_server did not start: {' '.join(command)}\n{out.read_text()}")
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (the kernel picked it free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    yield port


@contextmanager
def silent_server() -> Iterator[int]:
    """A listening socket that never accepts: the kernel completes the TCP handshake, nothing ever answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]
