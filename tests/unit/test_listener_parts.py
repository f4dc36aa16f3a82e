"""Small pure parts of the listeners: sender filtering, TLS failure reasons, kernel UDP counters."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from pathlib import Path

import pytest

from certwatch.listeners import kernel, tls
from certwatch.listeners.senders import SenderFilter

UDP_TABLE = (  # the header and one socket of /proc/net/udp: inode 424242, 17 drops
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer"
    " drops\n"
    " 1234: 0100007F:15AA 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 424242 2"
    " 0000000000000000 17\n"
)
SNMP = """Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 100 0 5 100 3 0 0 0 0
"""


def test_sender_filter_allows_listed_networks_only() -> None:
    """Inside 10.0.0.0/8 or ::1, or IPv4-mapped; anything else (or garbage) is refused; no networks: all."""
    allowed = SenderFilter([ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")])
    verdicts = [allowed(h) for h in ("10.1.2.3", "127.0.0.1", "::1", "::ffff:10.0.0.9", "not an ip")]
    assert [True, False, True, True, False] == verdicts
    assert SenderFilter([])("203.0.113.9")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "no_client_certificate"),
        ("CERTIFICATE_VERIFY_FAILED", "client_certificate_untrusted"),
        ("TLSV1_ALERT_UNKNOWN_CA", "client_certificate_untrusted"),
        ("WRONG_VERSION_NUMBER", "not_tls"),
        ("HTTP_REQUEST", "not_tls"),
        ("NO_SHARED_CIPHER", "protocol_or_cipher"),
        ("UNSUPPORTED_PROTOCOL", "protocol_or_cipher"),
        ("SOMETHING_NEW", "other"),
    ],
)
def test_tls_failure_reasons(reason: str, expected: str) -> None:
    """OpenSSL reasons map onto the bounded label set of certwatch_tls_handshake_failures_total."""
    error = ssl.SSLError(1, reason)
    error.reason = reason
    assert expected == tls.failure_reason(error)


def test_tls_timeouts_and_resets() -> None:
    """A handshake timeout and a peer that hangs up have reasons of their own."""
    assert ("timeout", "closed") == (tls.failure_reason(TimeoutError()), tls.failure_reason(ConnectionResetError()))


def test_peer_identity_from_a_verified_certificate() -> None:
    """CN and DNS names of the client certificate, as getpeercert() gives them."""
    cert = {"subject": ((("commonName", "expc01.example.com"),),), "subjectAltName": (("DNS", "expc01"),)}
    assert "CN=expc01.example.com, DNS:expc01" == tls.peer_identity(cert)
    assert tls.peer_identity({}) is None


def test_kernel_counters_from_proc_files(tmp_path: Path) -> None:
    """Per-socket drops by inode (/proc/net/udp) and the host's RcvbufErrors (/proc/net/snmp)."""
    (tmp_path / "udp").write_text(UDP_TABLE)
    (tmp_path / "snmp").write_text(SNMP)
    assert (17, None, 3) == (
        kernel.socket_drops(424242, tmp_path),
        kernel.socket_drops(1, tmp_path),
        kernel.host_receive_buffer_errors(tmp_path),
    )


def test_kernel_lists_a_real_socket() -> None:
    """A UDP socket bound here is found in the real /proc/net/udp with no drops."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        assert 0 == kernel.socket_drops(os.fstat(sock.fileno()).st_ino)
