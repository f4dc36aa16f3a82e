"""The probe's shell: name resolution, TCP connections, timeouts and threads around the pure parts.

:func:`probe` is the blocking entry point for one origin (the daemon calls it from a worker thread);
:func:`probe_many` runs several at once; :func:`load` reads and checks the trust list and client identity once.
Each target gets up to three connections, one after the other: Expressway-C's ECDSA-first offer, then ECDSA-only
and RSA-only (skipped when the first connection could not be made: the origin is unreachable).
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certwatch.hints import DEFAULT_LANGUAGE, Language
from certwatch.probe.classify import hint, is_x14_2_trap, offer_result, trap_step, verdict
from certwatch.probe.facts import chain_complete, chain_facts, load_pem_certificates
from certwatch.probe.handshake import (
    ECDSA_ONLY,
    PREFERRED,
    RSA_ONLY,
    ClientKey,
    Handshake,
    Material,
    OfferSpec,
    context,
    handshake,
    settle_time,
)
from certwatch.probe.model import ProbeResult, ProbeSettings, ProbeSettingsError, Target

MAX_WORKERS = 16


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProbeSettingsError(f"{what} {path}: {exc.strerror or exc}") from exc


def _certificates(path: Path, what: str) -> tuple[x509.Certificate, ...]:
    try:
        return tuple(load_pem_certificates(_read(path, what)))
    except ValueError as exc:
        raise ProbeSettingsError(f"{what} {path}: no PEM certificate could be read ({exc})") from exc


def _private_key(path: Path) -> ClientKey:
    try:
        key = serialization.load_pem_private_key(_read(path, "--client-key"), password=None)
    except (ValueError, TypeError) as exc:
        raise ProbeSettingsError(f"--client-key {path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, ClientKey):
        raise ProbeSettingsError(f"--client-key {path}: a {type(key).__name__} cannot sign a TLS handshake")
    return key


def _public_der(key: object) -> bytes:
    public_bytes = getattr(key, "public_bytes", None)
    if public_bytes is None:
        return b""
    der: bytes = public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def load(settings: ProbeSettings) -> Material:
    """Read and check ``settings``' files: every problem is a :class:`ProbeSettingsError` with one line."""
    if not settings.timeout > 0:
        raise ProbeSettingsError(f"--timeout must be more than 0 seconds, not {settings.timeout}")
    anchors = () if settings.ca_file is None else _certificates(settings.ca_file, "--ca-file")
    if (settings.client_cert is None) != (settings.client_key is None):
        raise ProbeSettingsError("--client-cert and --client-key go together")
    if settings.client_cert is None or settings.client_key is None:
        return Material(anchors)
    chain = _certificates(settings.client_cert, "--client-cert")
    key = _private_key(settings.client_key)
    if _public_der(key.public_key()) != _public_der(chain[0].public_key()):
        raise ProbeSettingsError(
            f"--client-key {settings.client_key} is not the key of --client-cert {settings.client_cert}"
        )
    return Material(anchors, chain, key)


class _ConnectError(Exception):
    def __init__(self, kind: str, address: str | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.address = address


def connect_error_kind(exc: BaseException) -> str:
    """``refused``, ``timeout``, ``dns``, ``reset`` or ``unreachable``: the ``connect:`` error of a result."""
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return "reset"
    if isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT:
        return "timeout"
    return "unreachable"


def _addresses(target: Target) -> list[str]:
    if target.address is not None:
        return [target.address.strip("[]")]
    try:
        infos = socket.getaddrinfo(target.name.strip("[]"), target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _ConnectError("dns") from exc
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    if not seen:
        raise _ConnectError("dns")
    return seen


def _connect(addresses: Sequence[str], port: int, deadline: float) -> tuple[socket.socket, str, float]:
    """The first address that accepts a TCP connection before ``deadline``: the socket, the address and how
    long the connection took."""
    failure = _ConnectError("timeout", addresses[0] if addresses else None)
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        started = time.monotonic()
        try:
            sock = socket.create_connection((address, port), timeout=remaining)
        except OSError as exc:
            failure = _ConnectError(connect_error_kind(exc), address)
            continue
        return sock, address, time.monotonic() - started
    raise failure


def _attempt(
    offer: OfferSpec, target: Target, addresses: Sequence[str], material: Material, timeout: float
) -> tuple[Handshake, str]:
    deadline = time.monotonic() + timeout
    sock, address, took = _connect(addresses, target.port, deadline)
    try:
        return handshake(sock, context(offer, material), target.name, deadline, settle_time(took)), address
    finally:
        sock.close()


def probe(
    target: Target, settings: ProbeSettings, material: Material | None = None, lang: Language = DEFAULT_LANGUAGE
) -> ProbeResult:
    """Probe one origin as Expressway-C would connect to it. Blocking: up to three connections of at most
    ``settings.timeout`` seconds each. ``material`` is :func:`load`'s result (loaded here when not given, which
    raises :class:`ProbeSettingsError` for unusable files); nothing the origin does raises. ``lang`` is the
    language of ``summary`` and ``remediation`` (nothing else of the result changes with it)."""
    material = load(settings) if material is None else material
    name, port = target.name, target.port
    try:
        addresses = _addresses(target)
        preferred, address = _attempt(PREFERRED, target, addresses, material, settings.timeout)
    except _ConnectError as exc:
        error = f"connect: {exc.kind}"
        v = verdict(Handshake(io_error=exc.kind), name)
        h = hint(v, name, port, exc.address, lang=lang)
        return ProbeResult(name, port, exc.address, False, None, None, error, summary=h.summary, remediation=h.steps)
    v = verdict(preferred, name)
    offers = {"preferred": offer_result(preferred, name), "ecdsa": None, "rsa": None}
    if preferred.io_error is None:
        for offer in (ECDSA_ONLY, RSA_ONLY):
            try:
                got, _ = _attempt(offer, target, [address], material, settings.timeout)
            except _ConnectError:
                continue
            offers[offer.name] = offer_result(got, name)
    trap = is_x14_2_trap(offers["preferred"], offers["rsa"])
    first = offers["preferred"]
    step = trap_step(name, port, first, lang) if trap and first is not None else None
    h = hint(v, name, port, address, step, lang)
    return ProbeResult(
        origin=name,
        port=port,
        address=address,
        ok=v.ok,
        cause=v.cause,
        depth=v.depth,
        error=v.error,
        tls_version=preferred.tls_version,
        cipher=preferred.cipher,
        chain=chain_facts(preferred.chain),
        chain_complete=chain_complete(preferred.chain, material.anchors),
        offers=offers,
        x14_2_trap=trap,
        summary=h.summary,
        remediation=h.steps,
    )


def probe_many(
    targets: Sequence[Target],
    settings: ProbeSettings,
    workers: int = MAX_WORKERS,
    lang: Language = DEFAULT_LANGUAGE,
) -> list[ProbeResult]:
    """:func:`probe` for each target, up to ``workers`` at a time; results in the order of ``targets``.
    Raises :class:`ProbeSettingsError` (before any connection) for unusable files."""
    material = load(settings)
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets))), thread_name_prefix="probe") as pool:
        return list(pool.map(lambda t: probe(t, settings, material, lang), targets))
