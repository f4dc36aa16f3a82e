"""The TLS side of ``http.web_config_file``: an :class:`ssl.SSLContext` from ``tls_server_config``, with the Go names
of exporter-toolkit mapped to OpenSSL's, and the ``client_allowed_sans`` check."""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from certwatch.export import webconfig
from certwatch.export.webconfig import CIPHERS, CURVES, TlsServerConfig, WebConfigError, WebSettings

VERSIONS: Final = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_SAN_KINDS: Final = ("DNS", "IP Address", "email", "URI")  # the SAN types the toolkit matches


@dataclass(frozen=True)
class HttpSecurity:
    """A loaded ``http.web_config_file``: its settings and the TLS context of the HTTP listener (None: plain)."""

    settings: WebSettings
    context: ssl.SSLContext | None


def load_security(path: Path) -> HttpSecurity:
    """Read and validate the file and load its TLS material: every problem as :class:`WebConfigError`."""
    settings = webconfig.load(path)
    return HttpSecurity(settings, server_context(settings.config.tls_server_config))


def server_context(tls: TlsServerConfig) -> ssl.SSLContext | None:
    """The context of the HTTPS listener; ``None`` when the file does not turn TLS on (plain HTTP)."""
    if not tls.enabled:
        return None
    try:
        return _context(tls)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise WebConfigError([f"tls_server_config: cannot load the certificate, key, CA or ciphers: {exc}"]) from None


def _context(tls: TlsServerConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = VERSIONS[tls.min_version]
    context.maximum_version = VERSIONS[tls.max_version]
    with _pem(tls.cert_file, tls.cert) as cert, _pem(tls.key_file, tls.key.get_secret_value()) as key:
        context.load_cert_chain(cert, key)
    if tls.verifies_clients:
        context.verify_mode = (
            ssl.CERT_REQUIRED if tls.client_auth_type == "RequireAndVerifyClientCert" else ssl.CERT_OPTIONAL
        )
        if tls.client_ca_file is not None:
            context.load_verify_locations(cafile=str(tls.client_ca_file))
        elif tls.client_ca:
            context.load_verify_locations(cadata=tls.client_ca)
        else:  # Go verifies against the system roots when no client CA is given
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    # RequestClientCert asks for a certificate it never verifies: it grants nothing, so none is asked for.
    suites = [CIPHERS[name] for name in tls.cipher_suites if CIPHERS[name]]
    if suites:  # TLS 1.2 and below; the TLS 1.3 suites are not configurable, in Go as in OpenSSL's cipher list
        context.set_ciphers(":".join(suites))
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.curve_preferences:
        context.set_ecdh_curve(CURVES[tls.curve_preferences[0]])
    return context


@contextmanager
def _pem(path: Path | None, inline: str) -> Iterator[str]:
    """A file name for ``load_cert_chain``: the configured file, or the inline PEM in an anonymous memory file
    (Linux; a private temporary file elsewhere), so an inline key never touches a disk."""
    if path is not None:
        yield str(path)
        return
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("certwatch-web-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, inline.encode())
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory() as directory:  # pragma: no cover - not Linux
        file = Path(directory) / "pem"
        file.write_text(inline)
        yield str(file)


def san_allowed(peercert: Any, allowed: tuple[str, ...]) -> bool:
    """Whether a verified client certificate (``getpeercert()``) has a SAN in ``allowed`` (exact match of a DNS
    name, IP address, e-mail address or URI, as exporter-toolkit compares them)."""
    if not peercert:
        return False
    for kind, value in peercert.get("subjectAltName", ()):
        if kind not in _SAN_KINDS:
            continue
        text = str(value).strip()
        if kind == "IP Address":
            try:
                text = str(ipaddress.ip_address(text))  # Go's spelling: lower case, IPv6 compressed
            except ValueError:
                continue
        if text in allowed:
            return True
    return False
