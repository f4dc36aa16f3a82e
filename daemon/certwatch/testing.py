"""Test helpers shipped with the package: build realistic Expressway ``traffic_server`` lines in a few words.

Used by the test suite and the benchmarks; the shapes are those of ``examples/`` (Cisco docs 225746 and 117811, the
Apache Traffic Server sources).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from certwatch.engine import Engine

_VERIFY_FAILED = "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed"


@dataclass
class Lines:
    """Writes one node's lines with a moving clock: ``at(seconds)`` sets the time relative to ``start``."""

    node: str = "expc01"
    start: datetime = field(default_factory=lambda: datetime(2022, 9, 14, 10, 0, tzinfo=timezone(timedelta(hours=2))))
    pid: int = 3120
    t: float = 0.0

    def at(self, seconds: float) -> Lines:
        self.t = seconds
        return self

    def _prefix(self, pri: int) -> str:
        stamp = (self.start + timedelta(seconds=self.t)).isoformat(timespec="milliseconds")
        return f"<{pri}>{stamp} {self.node} traffic_server[{self.pid}]: "

    def _debug(self, detail: str, txn: int, side: str, ip: str, port: int, http: str) -> str:
        utc = (self.start + timedelta(seconds=self.t)).astimezone(UTC)
        stamp = utc.strftime("%Y-%m-%d %H:%M:%S,") + f"{utc.microsecond // 1000:03d}"
        return (
            self._prefix(183) + f'UTCTime="{stamp}" Module="network.http.trafficserver" Level="DEBUG": '
            f'Detail="{detail}" Txn-id="{txn}" TrackingID="JA_{txn:08d}" {side}-ip="{ip}" {side}-port="{port}" '
            f"HTTPMSG: |{http} |"
        )

    def receive_request(self, txn: int, path: str, client_port: int = 41000) -> str:
        return self._debug("Receive Request", txn, "Src", "127.0.0.1", client_port, f"GET {path} HTTP/1.1")

    def sending_request(self, txn: int, ip: str, port: int, host: str | None = None, path: str = "/x") -> str:
        host_header = f" Host: {host}:{port}" if host else ""
        return self._debug("Sending Request", txn, "Dst", ip, port, f"GET {path} HTTP/1.1{host_header}")

    def receive_response(self, txn: int, ip: str, port: int, status: int = 200) -> str:
        return self._debug("Receive Response", txn, "Src", ip, port, f"HTTP/1.1 {status} X")

    def sending_response(self, txn: int, status: int, client_port: int = 41000) -> str:
        return self._debug("Sending Response", txn, "Dst", "127.0.0.1", client_port, f"HTTP/1.1 {status} X")

    def error_event(self, client_port: int = 41000, status: int = 502, reason: str = "Bad Gateway") -> str:
        return self._prefix(182) + (
            f'Event="Sending HTTP error response" Status="{status}" Reason="{reason}" '
            f'Dst-ip="127.0.0.1" Dst-port="{client_port}"'
        )

    def verify(
        self, host: str, ip: str, error: str = "self signed certificate", depth: int = 0, action: str = "Terminate"
    ) -> str:
        return self._prefix(28) + (
            f"[ET_NET 1] WARNING: Core server certificate verification failed for ({host}). "
            f"Action={action} Error={error} server={host}({ip}) depth={depth}"
        )

    def sni(self, host: str, ip: str, action: str = "Terminate") -> str:
        return (
            self._prefix(28)
            + f"[ET_NET 1] WARNING: SNI ({host}) not in certificate. Action={action} server={host}({ip})"
        )

    def ssl_error(self, name: str, reason: str = _VERIFY_FAILED) -> str:
        return self._prefix(27) + f"[ET_NET 1] ERROR: SSL connection failed for '{name}': {reason}"


def feed(engine: Engine, *lines: str, now: float | None = None) -> Engine:
    """Give each line to ``engine`` as one message; ``now`` defaults to the message time."""
    for line in lines:
        engine.message(line.encode(), now)
    return engine


class FakeClock:
    """A receive clock the test moves by hand (``advance``); everything else in the daemon stays real."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:  # noqa: ASYNC109
    """Poll ``check`` until it returns something truthy (returned) or ``timeout`` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {timeout} s: {check}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def running_daemon(config: Any, clock: Callable[[], float] = time.time) -> AsyncIterator[Any]:
    """A started :class:`certwatch.app.Daemon` in this event loop, shut down in order on exit."""
    from certwatch.app import Daemon  # noqa: PLC0415 - keeps this module light for the parser tests

    daemon = Daemon(config, clock=clock)
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.shutdown()


# ---- throw-away certificates, made with the openssl command as an administrator would make them ------------------

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


def openssl(directory: Path, *args: str) -> None:
    """Run the ``openssl`` command in ``directory`` (fails the caller on a non-zero exit)."""
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)  # noqa: S603, S607


def _ca(directory: Path, name: str, cn: str) -> None:
    (directory / f"{name}.cnf").write_text(CA_CONFIG.format(cn=cn))
    openssl(
        directory, "req", "-x509", "-config", f"{name}.cnf", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem",
        "-days", "2",
    )  # fmt: skip


def _issue(directory: Path, ca: str, name: str, cn: str, usage: str, san: str) -> Pair:
    (directory / f"{name}.cnf").write_text(LEAF_CONFIG.format(cn=cn))
    (directory / f"{name}.ext").write_text(LEAF_EXTENSIONS.format(usage=usage, san=san))
    openssl(
        directory, "req", "-new", "-config", f"{name}.cnf", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr"
    )
    openssl(
        directory, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-set_serial",
        str(random.SystemRandom().getrandbits(63)), "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
    )  # fmt: skip
    return Pair(directory / f"{name}.pem", directory / f"{name}.key")


def make_pki(directory: Path) -> Pki:
    """Write every key and certificate into ``directory`` (needs the ``openssl`` command)."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command makes the test certificates (Debian package openssl)")
    _ca(directory, "ca", "certwatch test CA")
    _ca(directory, "other-ca", "certwatch other CA")
    server = _issue(directory, "ca", "server", "localhost", "serverAuth", "IP:127.0.0.1, IP:::1, DNS:localhost")
    client = _issue(directory, "ca", "client", "expc01.example.com", "clientAuth", "DNS:expc01.example.com")
    stranger = _issue(directory, "other-ca", "stranger", "expc01.example.com", "clientAuth", "DNS:expc01.example.com")
    return Pki(directory / "ca.pem", server, client, stranger, directory / "other-ca.pem")
