"""``traffic_server`` message bodies -> events, truncation failures, or ``None`` for lines certwatch does not use."""

from __future__ import annotations

from pathlib import Path

import pytest

from certwatch.model import Cause, CertFailure, ErrorResponse, Failure, FailureSource, HttpKind, HttpLine
from certwatch.parse import read_event
from certwatch.syslog import HeaderReader

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEBUG = 'UTCTime="2022-09-14 08:15:02,117" Module="network.http.trafficserver" Level="DEBUG": '
TRACKING = 'TrackingID="JA_9f1c2e3a-77b0-4d5e-9a11-2c3d4e5f6a7b" '
MRA_SUB1 = (
    "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1zdWIxLmV4YW1wbGUuY29tLzY5NzI"  # example.com/https/cucm-sub1.example.com/6972
)
VERIFY_FAILED = "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed"


def verify(action: str = "Terminate", error: str = "self signed certificate", depth: str = " depth=0") -> str:
    return (
        "[ET_NET 2] WARNING: Core server certificate verification failed for (cucm-sub1.example.com). "
        f"Action={action} Error={error} server=cucm-sub1.example.com(10.10.10.12){depth}"
    )


def test_receive_request_flattened():
    """
    Receive Request: the client side is `Src-*`; the MRA base64 segment of the path names the origin and port.
    """
    body = (
        DEBUG + f'Detail="Receive Request" Txn-id="5121" {TRACKING}Src-ip="127.0.0.1" Src-port="41822" '
        f"HTTPMSG: |GET {MRA_SUB1}/CSFjdoe.cnf.xml HTTP/1.1 |"
    )

    assert HttpLine(
        HttpKind.RECEIVE_REQUEST, "5121", "127.0.0.1", 41822, None, "cucm-sub1.example.com", 6972, None
    ) == read_event(body)


def test_sending_request_flattened():
    """
    Sending Request: the origin is `Dst-*`, and the `Host:` header (port stripped) names it.
    """
    body = (
        DEBUG + f'Detail="Sending Request" Txn-id="5121" {TRACKING}Dst-ip="10.10.10.12" Dst-port="6972" '
        "HTTPMSG: |GET /CSFjdoe.cnf.xml HTTP/1.1 Host: cucm-sub1.example.com:6972 Client-ip: 198.51.100.23 "
        "X-Forwarded-For: 198.51.100.23, 127.0.0.1 Via: https/1.1 vcs[0f2b7c1e] (ATS) |"
    )

    assert HttpLine(
        HttpKind.SENDING_REQUEST, "5121", "10.10.10.12", 6972, "cucm-sub1.example.com", None, None, None
    ) == read_event(body)


def test_receive_response_flattened():
    """
    Receive Response: the origin answers from `Src-*`; the status comes from the status line.
    """
    body = (
        DEBUG + f'Detail="Receive Response" Txn-id="7100" {TRACKING}Src-ip="10.10.10.11" Src-port="8443" '
        "HTTPMSG: |HTTP/1.1 200 OK Content-Type: application/xml |"
    )

    assert HttpLine(HttpKind.RECEIVE_RESPONSE, "7100", "10.10.10.11", 8443, None, None, None, 200) == read_event(body)


def test_sending_response_flattened():
    """
    Sending Response: the client is `Dst-*`; a 502 is the symptom.
    """
    body = (
        DEBUG + f'Detail="Sending Response" Txn-id="5121" {TRACKING}Dst-ip="127.0.0.1" Dst-port="41822" '
        "HTTPMSG: |HTTP/1.1 502 Bad Gateway Connection: close Content-Length: 0 |"
    )

    assert HttpLine(HttpKind.SENDING_RESPONSE, "5121", "127.0.0.1", 41822, None, None, None, 502) == read_event(body)


def test_sending_request_multi_line():
    """
    The Cisco doc 225746 shape: `HTTPMSG:` on its own line, then `|GET ...`, space-led headers and a closing ` |`.
    """
    body = (
        DEBUG + f'Detail="Sending Request" Txn-id="3028" {TRACKING}Dst-ip="10.48.36.215" Dst-port="6972" \n'
        "HTTPMSG:\n|GET /CSFmarcoalh.cnf.xml HTTP/1.1\n Host: expc.cisco.com:6972\n Accept: */*\n"
        " Cookie:<CONCEALED>\n User-Agent: WebEx/0.0.0.0 \n X-Forwarded-For: 198.51.100.23, 127.0.0.1\n \n |"
    )

    assert HttpLine(
        HttpKind.SENDING_REQUEST, "3028", "10.48.36.215", 6972, "expc.cisco.com", None, None, None
    ) == read_event(body)


def test_receive_request_multi_line():
    """
    The MRA segment is found on a continuation line too.
    """
    body = (
        DEBUG + 'Detail="Receive Request" Txn-id="6002" Src-ip="127.0.0.1" Src-port="41990"\n'
        "HTTPMSG:\n|GET /ZXhhbXBsZS5jb20vaHR0cHMvMTAuMTAuMTAuMTEvODQ0Mw/cucm-uds/servers HTTP/1.1\n"
        " Host: expe01.example.com:8443\n |"
    )

    assert HttpLine(
        HttpKind.RECEIVE_REQUEST, "6002", "127.0.0.1", 41990, None, "10.10.10.11", 8443, None
    ) == read_event(body)


@pytest.mark.parametrize(
    ("detail", "side", "kind"),
    [
        ("Receive Response", "Src", HttpKind.RECEIVE_RESPONSE),
        ("Sending Response", "Dst", HttpKind.SENDING_RESPONSE),
    ],
)
def test_response_multi_line(detail, side, kind):
    """
    Responses read their status from a status line on a continuation line.
    """
    body = (
        DEBUG + f'Detail="{detail}" Txn-id="880" {side}-ip="10.10.10.11" {side}-port="8443"\n'
        "HTTPMSG:\n|HTTP/1.1 502 Bad Gateway\n Connection: close\n Content-Length: 0\n \n |"
    )

    assert HttpLine(kind, "880", "10.10.10.11", 8443, None, None, None, 502) == read_event(body)


def test_request_host_header_ipv6_and_case():
    """
    A bracketed IPv6 `Host:` loses its brackets; names are lower-cased.
    """
    v6 = DEBUG + 'Detail="Sending Request" Txn-id="1" Dst-ip="fd00::11" Dst-port="8443" HTTPMSG: |GET /x HTTP/1.1 '
    upper = (
        DEBUG + 'Detail="Sending Request" Txn-id="2" Dst-ip="10.10.10.11" Dst-port="8443" HTTPMSG: |GET /x HTTP/1.1 '
    )

    assert ["fd00::11", "cucm-pub.example.com"] == [
        read_event(v6 + "Host: [fd00::11]:8443 |").host,
        read_event(upper + "Host: CUCM-Pub.Example.com:8443 |").host,
    ]


def test_invalid_port_is_none():
    """
    A port outside 1..65535 is dropped rather than trusted.
    """
    body = DEBUG + 'Detail="Sending Request" Txn-id="1" Dst-ip="10.10.10.11" Dst-port="99999"'

    assert HttpLine(HttpKind.SENDING_REQUEST, "1", "10.10.10.11", None, None, None, None, None) == read_event(body)


def test_sending_request_without_httpmsg():
    """
    A request line whose HTTPMSG body is missing still gives the transaction and the origin address.
    """
    body = DEBUG + 'Detail="Sending Request" Txn-id="880" Dst-ip="10.10.10.11" Dst-port="8443"'

    assert HttpLine(HttpKind.SENDING_REQUEST, "880", "10.10.10.11", 8443, None, None, None, None) == read_event(body)


@pytest.mark.parametrize("reason", ["Bad Gateway", "connect failed", "Success", "Gateway Timeout", ""])
def test_error_response_with_any_reason_phrase(reason):
    """
    The error event is recognised by its name, whatever the reason phrase.
    """
    body = f'Event="Sending HTTP error response" Status="502" Reason="{reason}" Dst-ip="127.0.0.1" Dst-port="41822"'

    assert ErrorResponse(502, "127.0.0.1", 41822) == read_event(body)


def test_error_response_other_status():
    """
    Non-502 error responses (the Expressway-E 403 of Cisco doc 117811) are events too.
    """
    body = 'Event="Sending HTTP error response" Status="403" Reason="Forbidden" Dst-ip="10.48.79.80" Dst-port="50314"'

    assert ErrorResponse(403, "10.48.79.80", 50314) == read_event(body)


@pytest.mark.parametrize(("action", "enforced"), [("Terminate", True), ("Continue", False)])
def test_verify_warning_action(action, enforced):
    """
    `Action=Terminate` is enforced (a 502 follows), `Action=Continue` permissive (at risk only).
    """
    assert CertFailure(
        FailureSource.VERIFY,
        "cucm-sub1.example.com",
        "cucm-sub1.example.com",
        "10.10.10.12",
        enforced,
        Cause.UNTRUSTED_SELF_SIGNED,
        "self signed certificate",
        0,
    ) == read_event(verify(action))


@pytest.mark.parametrize(
    ("error", "depth", "cause"),
    [
        ("self signed certificate", " depth=0", Cause.UNTRUSTED_SELF_SIGNED),
        ("self-signed certificate", " depth=0", Cause.UNTRUSTED_SELF_SIGNED),  # OpenSSL 3
        ("self signed certificate", " depth=4", Cause.UNTRUSTED_CHAIN),
        ("unable to get local issuer certificate", " depth=1", Cause.UNTRUSTED_CHAIN),
        ("certificate has expired", " depth=0", Cause.EXPIRED),
        ("certificate has expired", "", Cause.EXPIRED),
    ],
)
def test_verify_warning_cause_and_depth(error, depth, cause):
    """
    The `Error=` text and the chain depth give the cause; the depth is optional.
    """
    event = read_event(verify(error=error, depth=depth))

    assert (cause, error, int(depth.split("=")[1]) if depth else None) == (event.cause, event.error, event.depth)


def test_verify_warning_ats8_thread_tag():
    """
    ATS 8 writes `{0x2ac2af523700} WARNING:` (apache/trafficserver issue 4865); SNI and server may differ.
    """
    body = (
        "{0x2ac2af523700} WARNING: Core server certificate verification failed for (example.com). "
        "Action=Continue Error=self signed certificate server=notexample.com(10.1.2.3) depth=0"
    )

    assert CertFailure(
        FailureSource.VERIFY,
        "example.com",
        "notexample.com",
        "10.1.2.3",
        False,
        Cause.UNTRUSTED_SELF_SIGNED,
        "self signed certificate",
        0,
    ) == read_event(body)


def test_verify_warning_without_server_name_uses_ip():
    """
    With no server name (`server=(ip)`), the origin is its IP; names are lower-cased.
    """
    body = (
        "[ET_NET 0] WARNING: Core server certificate verification failed for (CUCM.Example.com). "
        "Action=Terminate Error=certificate has expired server=(10.10.10.11) depth=0"
    )

    event = read_event(body)

    assert ("cucm.example.com", "10.10.10.11", "10.10.10.11") == (event.name, event.host, event.ip)


def test_sni_warning():
    """
    `SNI (...) not in certificate` is a name mismatch, with no error text and no depth.
    """
    body = "[ET_NET 3] WARNING: SNI (10.10.10.11) not in certificate. Action=Terminate server=10.10.10.11(10.10.10.11)"

    assert CertFailure(
        FailureSource.SNI, "10.10.10.11", "10.10.10.11", "10.10.10.11", True, Cause.NAME_MISMATCH, None, None
    ) == read_event(body)


def test_sni_warning_permissive():
    """
    A permissive SNI warning is not enforced.
    """
    body = "[ET_NET 3] WARNING: SNI (bar.com) not in certificate. Action=Continue server=bar.com(127.0.0.1)"

    assert False is read_event(body).enforced


def test_ssl_error_certificate_verify_failed_has_no_cause():
    """
    `certificate verify failed` is Expressway-C's own check: its cause comes from the WARNING next to it.
    """
    body = f"[ET_NET 0] ERROR: SSL connection failed for 'cucm-sub1.example.com': {VERIFY_FAILED}"

    assert CertFailure(
        FailureSource.SSL_ERROR,
        "cucm-sub1.example.com",
        "cucm-sub1.example.com",
        None,
        True,
        None,
        "certificate verify failed",
        None,
    ) == read_event(body)


def test_ssl_error_without_spaces_cisco_225746():
    """
    `[ET_NET 1]ERROR:SSL connection failed for '...':error:...` as printed in Cisco doc 225746 is read.
    """
    body = (
        "[ET_NET 1]ERROR:SSL connection failed for 'expc.cisco.com':error:14094418: "
        "SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca"
    )

    assert CertFailure(
        FailureSource.SSL_ERROR,
        "expc.cisco.com",
        "expc.cisco.com",
        None,
        True,
        Cause.PEER_REJECTED_CLIENT_CERT,
        "tlsv1 alert unknown ca",
        None,
    ) == read_event(body)


def test_ssl_error_double_quotes_and_ip_name():
    """
    `SSL connection failed for "10.48.36.215"` (double quotes) is read; an IP name is also the origin IP.
    """
    body = f'[ET_NET 1] ERROR: SSL connection failed for "10.48.36.215": {VERIFY_FAILED}'

    event = read_event(body)

    assert ("10.48.36.215", "10.48.36.215", "10.48.36.215") == (event.name, event.host, event.ip)


@pytest.mark.parametrize(
    "reason",
    [
        "error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca",
        "error:0A000418:SSL routines::tlsv1 alert unknown ca",
        "error:14094412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate",
        "error:0A000412:SSL routines::sslv3 alert bad certificate",
        "error:14094416:SSL routines:ssl3_read_bytes:sslv3 alert certificate unknown",
        "error:0A000416:SSL routines::sslv3 alert certificate unknown",
    ],
)
def test_ssl_error_peer_alert_is_peer_rejected_client_cert(reason):
    """
    A peer alert about certificates means the origin does not trust Expressway-C's client certificate.
    """
    body = f"[ET_NET 0] ERROR: SSL connection failed for 'cucm-sub1.example.com': {reason}"

    event = read_event(body)

    assert (Cause.PEER_REJECTED_CLIENT_CERT, reason.rsplit(":", 1)[1]) == (event.cause, event.error)


@pytest.mark.parametrize(
    "reason",
    [
        "error:14094410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure",
        "error:0A000410:SSL routines::sslv3 alert handshake failure",
    ],
)
def test_ssl_error_handshake_failure(reason):
    """
    `handshake failure` means no shared cipher or curve.
    """
    body = f"[ET_NET 0] ERROR: SSL connection failed for 'cucm-sub1.example.com': {reason}"

    assert Cause.HANDSHAKE_FAILURE == read_event(body).cause


@pytest.mark.parametrize(
    "body",
    [
        "[ET_NET 0] ERROR: SSL connection failed for 'x.example.com': Connection reset by peer",
        "[ET_NET 0] ERROR: SSL connection failed for 'x.example.com': error:00000000:lib(0):func(0):reason(0)",
        "[ET_NET 0] ERROR: SSL connection failed for 'x': error:1408F10B:SSL routines:ssl3_get_record:wrong version",
        f"[ET_NET 0] ERROR: SSL connection failed for '': {VERIFY_FAILED}",
    ],
)
def test_ssl_error_unrelated_reason_is_ignored(body):
    """
    Handshake errors that are not about certificates or negotiation (or name no origin) are ignored.
    """
    assert None is read_event(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # the seed article's cut line (Cisco 218018, Chinese copy)
        ('UTCTime="2022-07-11 16:55:25,910" Module="net', "truncated_debug_line"),
        (DEBUG + 'Detail="Sending Re', "truncated_debug_line"),
        (DEBUG + 'Detail="Sending Request" Txn-id="5121" Dst-ip="10.10', "truncated_http_line"),
        (DEBUG + 'Detail="Sending Request" Dst-ip="10.10.10.12"', "truncated_http_line"),
        (
            DEBUG + 'Detail="Sending Response" Txn-id="5121" Dst-ip="127.0.0.1" HTTPMSG: |HTTP/1.1 5',
            "truncated_http_line",
        ),
        (DEBUG + 'Detail="Receive Response" Txn-id="7100" Src-ip="10.10.10.11"', "truncated_http_line"),
        ('Event="Sending HTTP error response" Status="502" Reason="Bad', "truncated_error_response"),
        ('Event="Sending HTTP error response" Status="', "truncated_error_response"),
        # the seed article's cut verify WARNING
        (
            "[ET_NET 2] WARNING: Core server certificate verification failed for (cucm.steven.lab).",
            "truncated_verify_warning",
        ),
        (verify().split(" server=")[0], "truncated_verify_warning"),
        ("[ET_NET 3] WARNING: SNI (10.10.10.11) not in certificate. Action=Contin", "truncated_sni_warning"),
        ("{0x2b25b13a1700} ERROR: SSL connection failed fo", "truncated_ssl_error"),
        ("[ET_NET 1] ERROR: SSL connection failed for 'exam", "truncated_ssl_error"),
        ("[ET_NET 1] ERROR: SSL connection failed for 'cucm-sub1.example.com'", "truncated_ssl_error"),
    ],
)
def test_truncated_known_shapes(body, reason):
    """
    A known line shape that is cut short is a `truncated_*` failure, not an event and not ignored.
    """
    assert Failure(reason) == read_event(body)


@pytest.mark.parametrize(
    "body",
    [
        "",
        'Event="Request Allowed" Detail="Access allowed"',
        DEBUG + 'Event="Request Allowed" Detail="Access allowed" Src-ip="127.0.0.1"',
        DEBUG + 'Detail="Connection closed" Txn-id="5121"',
        "[ET_NET 3] DEBUG: <HttpSM.cc:1234 (state_read_server_response_header)> (http) response header",
        "{0x2ac2af523700} NOTE: traffic server running",
        # ATS 7 formats, not used by certwatch
        (
            "[ET_NET 2] WARNING: Server certificate verification failed but continuing with the connection "
            "establishment:self signed certificate"
        ),
        "[ET_NET 2] WARNING: Hostname verification failed for (cucm.example.com)",
    ],
)
def test_unknown_well_formed_lines_are_ignored(body):
    """
    Well-formed lines certwatch does not use give `None` (counted as ignored by the caller).
    """
    assert None is read_event(body)


@pytest.mark.parametrize(
    "name",
    [
        "a_self_signed_tomcat_ecdsa.log",
        "b_untrusted_chain_two_peers.log",
        "c_san_mismatch_ip.log",
        "d_healthy.log",
        "e_expired_unity_and_reverse.log",
    ],
)
def test_every_traffic_server_line_of_the_scenario_examples_is_an_event(name):
    """
    Every `traffic_server` message of the domain doc's scenarios (one message per line) parses into an event.
    """
    reader = HeaderReader()
    headers = [reader.read(line) for line in (EXAMPLES / name).read_text().splitlines() if line]
    events = [read_event(h.body) for h in headers if h.app == "traffic_server"]

    assert [] == [e for e in events if not isinstance(e, HttpLine | ErrorResponse | CertFailure)]
    assert [] != events
