"""One TLS client handshake with pyOpenSSL, recording what Expressway-C's Traffic Server would see.

The verify callback never aborts: it keeps the *first* verification error exactly as OpenSSL reports it
(``X509_verify_cert_error_string()`` and the depth, which is what ATS logs as ``Error=... depth=N``) and lets the
handshake go on, so the chain the origin served is there even when it does not verify, and a later peer alert
(the origin refusing our client certificate) is seen too. The name check is not OpenSSL's: ATS runs its own
once the chain verified (:func:`certwatch.probe.facts.name_error`).

Offers. :data:`PREFERRED` is Expressway-C's default cipher string since X14.2 (OpenSSL sorts ``EECDH`` with the
ECDHE-ECDSA suites first, hence the ECDSA preference), TLS 1.2 and 1.3; under TLS 1.3 the certificate type
follows the signature algorithms, whose OpenSSL default order also puts ECDSA first. :data:`ECDSA_ONLY` and
:data:`RSA_ONLY` cap the connection at TLS 1.2, where the cipher suite alone decides which certificate a
dual-certificate origin serves (pyOpenSSL has no public call for the TLS 1.3 signature algorithm list). Every
offer runs at OpenSSL security level 2 (RSA and DH keys of 2048 bits or more), so a 1024-bit RSA origin key is
reported as ``EE certificate key too weak`` whatever the library's build default.
"""

from __future__ import annotations

import errno
import ipaddress
import select
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Final, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from OpenSSL import SSL
from OpenSSL._util import ffi as _ffi  # pyOpenSSL's own cffi binding: the verify-error texts
from OpenSSL._util import lib as _lib
from OpenSSL.crypto import X509

T = TypeVar("T")

ClientKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)
"""The private keys a TLS client certificate can sign with (and pyOpenSSL takes)."""

_SECURITY: Final = "@SECLEVEL=2"


@dataclass(frozen=True, slots=True)
class OfferSpec:
    name: str
    ciphers: str  # TLS 1.2 and below; TLS 1.3 suites stay OpenSSL's defaults
    max_version: int | None  # SSL.TLS1_2_VERSION, or None for TLS 1.3


EXPRESSWAY_CIPHERS: Final = "EECDH:EDH:HIGH:-AES256+SHA:!MEDIUM:!LOW:!3DES:!MD5:!PSK:!eNULL:!aNULL:!aDH"
PREFERRED: Final = OfferSpec("preferred", f"{EXPRESSWAY_CIPHERS}:{_SECURITY}", None)
ECDSA_ONLY: Final = OfferSpec("ecdsa", f"ECDHE+aECDSA:!eNULL:{_SECURITY}", SSL.TLS1_2_VERSION)
RSA_ONLY: Final = OfferSpec("rsa", f"aRSA:!aNULL:!eNULL:!MD5:!3DES:{_SECURITY}", SSL.TLS1_2_VERSION)


@dataclass(frozen=True, slots=True)
class Material:
    """The trust list and the client identity, loaded and checked once (see :func:`certwatch.probe.run.load`)."""

    anchors: tuple[x509.Certificate, ...] = ()
    client_chain: tuple[x509.Certificate, ...] = ()  # the client certificate first, then its chain
    client_key: ClientKey | None = None


@dataclass(slots=True)
class Handshake:
    """What one handshake saw. ``chain`` is what the origin served, leaf first. ``failure`` is the OpenSSL reason
    of a failed handshake (``tlsv1 alert unknown ca``, ``sslv3 alert handshake failure``, ``wrong version
    number``), or of the alert that followed a TLS 1.3 handshake; ``io_error`` is ``timeout`` or ``reset``."""

    completed: bool = False
    verify_error: str | None = None
    verify_depth: int | None = None
    chain: tuple[x509.Certificate, ...] = ()
    tls_version: str | None = None
    cipher: str | None = None
    failure: str | None = None
    io_error: str | None = None
    cert_requested: bool = False
    ticket_seen: bool = False  # a TLS 1.3 session ticket after the handshake: the origin accepted us


def verify_error_text(errnum: int) -> str:
    """OpenSSL's ``X509_verify_cert_error_string()``: the ``Error=`` text ATS logs."""
    text: bytes = _ffi.string(_lib.X509_verify_cert_error_string(errnum))
    return text.decode("ascii", "replace")


def _on_verify(conn: SSL.Connection, _cert: X509, errnum: int, depth: int, _ok: int) -> bool:
    state = conn.get_app_data()
    if errnum and isinstance(state, Handshake) and state.verify_error is None:
        state.verify_error = verify_error_text(errnum)
        state.verify_depth = depth
    return True  # record, never abort: the chain and any later alert are still wanted


def _on_info(conn: SSL.Connection, _where: int, _ret: int) -> None:
    state = conn.get_app_data()
    if not isinstance(state, Handshake):
        return
    text = conn.get_state_string()
    if b"certificate request" in text:
        state.cert_requested = True
    elif b"session ticket" in text and state.completed:
        state.ticket_seen = True


def context(offer: OfferSpec, material: Material) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    if offer.max_version is not None:
        ctx.set_max_proto_version(offer.max_version)
    ctx.set_cipher_list(offer.ciphers.encode("ascii"))
    store = ctx.get_cert_store()
    if store is not None:
        for anchor in material.anchors:
            store.add_cert(X509.from_cryptography(anchor))
    if material.client_key is not None and material.client_chain:
        ctx.use_certificate(material.client_chain[0])
        for extra in material.client_chain[1:]:
            ctx.add_extra_chain_cert(extra)
        ctx.use_privatekey(material.client_key)
    ctx.set_verify(SSL.VERIFY_PEER, _on_verify)
    ctx.set_info_callback(_on_info)
    return ctx


def _wait(sock: socket.socket, readable: bool, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    ready = select.select([sock], [], [], remaining) if readable else select.select([], [sock], [], remaining)
    if not any(ready):
        raise TimeoutError


def _drive(operation: Callable[[], T], sock: socket.socket, deadline: float) -> T:
    """Run a non-blocking pyOpenSSL operation to its end, waiting on the socket; ``TimeoutError`` at ``deadline``."""
    while True:
        try:
            return operation()
        except SSL.WantReadError:
            _wait(sock, True, deadline)
        except SSL.WantWriteError:
            _wait(sock, False, deadline)


def ssl_reason(exc: SSL.Error) -> str:
    """The first reason of pyOpenSSL's error queue: ``tlsv1 alert unknown ca``, ``wrong version number``..."""
    queue = exc.args[0] if exc.args else None
    if isinstance(queue, list):
        for entry in queue:
            if isinstance(entry, tuple) and len(entry) == 3 and entry[2]:
                return str(entry[2])
    return str(exc) or type(exc).__name__


def _is_reset(exc: SSL.Error) -> bool:
    if isinstance(exc, SSL.SysCallError):
        return True
    return "unexpected eof" in ssl_reason(exc).lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def settle_time(connect_seconds: float) -> float:
    """The longest wait after a TLS 1.3 handshake for the origin's verdict on our client certificate (its alert,
    or its session ticket, comes one round trip after our Finished; the ticket ends the wait early)."""
    return max(1.0, 4 * connect_seconds)


def handshake(sock: socket.socket, ctx: SSL.Context, name: str, deadline: float, settle: float) -> Handshake:
    """Handshake over a connected ``sock`` as a client of ``name`` (SNI unless an IP address). Never raises for
    what the peer does; the socket is left to the caller to close."""
    state = Handshake()
    conn = SSL.Connection(ctx, sock)
    conn.set_app_data(state)
    if not _is_ip(name):
        with suppress(UnicodeError):  # not a valid DNS name: no SNI (the name check reports the mismatch)
            conn.set_tlsext_host_name(name.encode("idna"))
    conn.set_connect_state()
    sock.setblocking(False)
    try:
        _drive(conn.do_handshake, sock, deadline)
        state.completed = True
    except TimeoutError:
        state.io_error = "timeout"
    except SSL.Error as exc:
        if _is_reset(exc):
            state.io_error = "reset"
        else:
            state.failure = ssl_reason(exc)
    except OSError as exc:
        state.io_error = "reset" if exc.errno in {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED} else "timeout"
    state.chain = tuple(conn.get_peer_cert_chain(as_cryptography=True) or ())
    if state.completed:
        state.tls_version = conn.get_protocol_version_name()
        state.cipher = conn.get_cipher_name()
        if state.cert_requested and state.tls_version == "TLSv1.3":
            _await_verdict(conn, sock, state, min(deadline, time.monotonic() + settle))
        with suppress(SSL.Error, OSError):
            conn.shutdown()
    return state


def _await_verdict(conn: SSL.Connection, sock: socket.socket, state: Handshake, until: float) -> None:
    """Under TLS 1.3 the client's handshake ends before the origin has checked its certificate: an origin that
    refuses it answers with an alert right after, one that accepts it usually sends a session ticket. Wait for
    either, at most until ``until``."""
    while not state.ticket_seen:
        try:
            conn.recv(1)
        except SSL.WantReadError:
            try:
                _wait(sock, True, until)
            except TimeoutError:
                return
        except (SSL.ZeroReturnError, SSL.SysCallError, OSError):
            return
        except SSL.Error as exc:
            state.failure = ssl_reason(exc)
            return
        else:
            return  # application data: the origin took us as a client
