"""Evidence redaction: user names, cookies, credentials and client addresses go; origins and loopback stay."""

from __future__ import annotations

import pytest

from certwatch.redact import redact

HEAD = (
    '<183>2022-09-14T13:00:00.021+02:00 expc01 traffic_server[3120]: UTCTime="2022-09-14 11:00:00,021" '
    'Module="network.http.trafficserver" Level="DEBUG": '
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("|GET /cucm-uds/user/jdoe HTTP/1.1 |", "|GET /cucm-uds/user/<user> HTTP/1.1 |"),
        ("|GET /cucm-uds/user/jdoe/devices HTTP/1.1 |", "|GET /cucm-uds/user/<user>/devices HTTP/1.1 |"),
        ("|GET /cucm-uds/user/jdoe?x=1 HTTP/1.1 |", "|GET /cucm-uds/user/<user>?x=1 HTTP/1.1 |"),
        (
            'Request-url="https://xx.xx.97.131:8443/cucm-uds/user/pstojano/devices"',
            'Request-url="https://xx.xx.97.131:8443/cucm-uds/user/<user>/devices"',
        ),
        (
            "|GET /ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1wdWIuZXhhbXBsZS5jb20vODQ0Mw/cucm-uds/user/jdoe HTTP/1.1 |",
            "|GET /ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1wdWIuZXhhbXBsZS5jb20vODQ0Mw/cucm-uds/user/<user> HTTP/1.1 |",
        ),
    ],
)
def test_uds_user_path(text, expected):
    """
    The user name in `/cucm-uds/user/<name>` is replaced; the rest of the path stays.
    """
    assert expected == redact(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("|GET /CSFjdoe.cnf.xml HTTP/1.1 |", "|GET /CSF<user>.cnf.xml HTTP/1.1 |"),
        ("|GET /CSFmarcoalh.cnf.xml HTTP/1.1", "|GET /CSF<user>.cnf.xml HTTP/1.1"),
        (
            "/BOTjdoe.cnf.xml /TCTj.doe@x.cnf.xml /TABjdoe.cnf.xml",
            "/BOT<user>.cnf.xml /TCT<user>.cnf.xml /TAB<user>.cnf.xml",
        ),
        ("|GET /SPDefault.cnf.xml HTTP/1.1 |", "|GET /SPDefault.cnf.xml HTTP/1.1 |"),
    ],
)
def test_jabber_device_configuration_file(text, expected):
    """
    Jabber device files (`CSF<name>.cnf.xml` and the BOT/TCT/TAB variants) lose the user name; others stay.
    """
    assert expected == redact(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "|GET /cucm-uds/clusterUser?username=jdoe&x=1 HTTP/1.1 |",
            "|GET /cucm-uds/clusterUser?username=<user>&x=1 HTTP/1.1 |",
        ),
        ("|GET /cucm-uds/users?UserName=jdoe HTTP/1.1 |", "|GET /cucm-uds/users?UserName=<user> HTTP/1.1 |"),
        (
            'Detail="Failed to authenticate user against server" Username="pstojano" Server="x"',
            'Detail="Failed to authenticate user against server" Username="<user>" Server="x"',
        ),
    ],
)
def test_username_parameters(text, expected):
    """
    `username=` query parameters and `Username="..."` fields are replaced.
    """
    assert expected == redact(text)


def test_credentials_flattened():
    """
    In a flattened one-line body, `Cookie:` and `Authorization:` values end at the next header.
    """
    text = (
        "HTTPMSG: |GET /x HTTP/1.1 Host: cucm-pub.example.com:8443 Cookie: JSESSIONID=abc; a=b "
        "Authorization: Basic amRvZTpzZWNyZXQ= Accept: */* |"
    )

    assert (
        "HTTPMSG: |GET /x HTTP/1.1 Host: cucm-pub.example.com:8443 Cookie: <redacted> "
        "Authorization: <redacted> Accept: */* |"
    ) == redact(text)


def test_credentials_multi_line():
    """
    On continuation lines, `Cookie:` (even `Cookie:<CONCEALED>`) and `Authorization:` values end at the line end.
    """
    text = (
        "HTTPMSG:\n|GET /x HTTP/1.1\n Host: cucm-pub.example.com:8443\n Cookie:<CONCEALED>\n"
        " Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl\n Set-Cookie: a=b; Path=/\n \n |"
    )

    assert (
        "HTTPMSG:\n|GET /x HTTP/1.1\n Host: cucm-pub.example.com:8443\n Cookie: <redacted>\n"
        " Authorization: <redacted>\n Set-Cookie: <redacted>\n \n |"
    ) == redact(text)


def test_forwarding_headers_flattened():
    """
    `Client-ip` and `X-Forwarded-For` values go; the `Host:` (the origin) and `Via:` stay.
    """
    text = (
        HEAD + 'Detail="Sending Request" Txn-id="5121" Dst-ip="10.10.10.12" Dst-port="6972" HTTPMSG: |GET '
        "/CSFjdoe.cnf.xml HTTP/1.1 Host: cucm-sub1.example.com:6972 Client-ip: 198.51.100.23 "
        "X-Forwarded-For: 198.51.100.23, 127.0.0.1 Via: https/1.1 vcs[0f2b7c1e] (ATS) |"
    )

    assert (
        HEAD + 'Detail="Sending Request" Txn-id="5121" Dst-ip="10.10.10.12" Dst-port="6972" HTTPMSG: |GET '
        "/CSF<user>.cnf.xml HTTP/1.1 Host: cucm-sub1.example.com:6972 Client-ip: <client-ip> "
        "X-Forwarded-For: <client-ip> Via: https/1.1 vcs[0f2b7c1e] (ATS) |"
    ) == redact(text)


def test_forwarding_headers_multi_line():
    """
    On continuation lines, `Client-ip` and `X-Forwarded-For` values go up to the line end.
    """
    text = "HTTPMSG:\n|GET /x HTTP/1.1\n Client-ip: 198.51.100.77\n X-Forwarded-For: 198.51.100.77, 127.0.0.1\n |"

    assert "HTTPMSG:\n|GET /x HTTP/1.1\n Client-ip: <client-ip>\n X-Forwarded-For: <client-ip>\n |" == redact(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + 'Detail="Receive Request" Txn-id="1" Src-ip="198.51.100.23" Src-port="50000"',
            HEAD + 'Detail="Receive Request" Txn-id="1" Src-ip="<client-ip>" Src-port="50000"',
        ),
        (
            HEAD + 'Detail="Sending Response" Txn-id="1" Dst-ip="198.51.100.23" Dst-port="50000"',
            HEAD + 'Detail="Sending Response" Txn-id="1" Dst-ip="<client-ip>" Dst-port="50000"',
        ),
        (
            'Event="Sending HTTP error response" Status="502" Reason="Bad" Dst-ip="2001:db8::23" Dst-port="50000"',
            'Event="Sending HTTP error response" Status="502" Reason="Bad" Dst-ip="<client-ip>" Dst-port="50000"',
        ),
    ],
)
def test_client_address_of_client_facing_lines(text, expected):
    """
    The client address (`Src-ip` of Receive Request, `Dst-ip` of Sending Response and of the error event) goes.
    """
    assert expected == redact(text)


@pytest.mark.parametrize(
    "text",
    [
        HEAD + 'Detail="Receive Request" Txn-id="1" Src-ip="127.0.0.1" Src-port="41822"',
        HEAD + 'Detail="Sending Response" Txn-id="1" Dst-ip="127.0.0.1" Dst-port="41822"',
        'Event="Sending HTTP error response" Status="502" Reason="Bad Gateway" Dst-ip="127.0.0.1" Dst-port="41822"',
        'Event="Sending HTTP error response" Status="502" Reason="connect failed" Dst-ip="::1" Dst-port="41822"',
    ],
)
def test_loopback_is_kept(text):
    """
    Loopback is the traversal tunnel on Expressway-C, not a client: it stays.
    """
    assert text == redact(text)


@pytest.mark.parametrize(
    "text",
    [
        HEAD + 'Detail="Sending Request" Txn-id="1" Dst-ip="10.10.10.11" Dst-port="8443" '
        "HTTPMSG: |GET /cucm-uds/servers HTTP/1.1 Host: cucm-pub.example.com:8443 |",
        HEAD + 'Detail="Receive Response" Txn-id="1" Src-ip="10.10.10.11" Src-port="8443" '
        "HTTPMSG: |HTTP/1.1 200 OK Content-Type: application/xml |",
        (
            "<28>2022-09-14T10:15:02.131+02:00 expc01 traffic_server[3120]: [ET_NET 2] WARNING: Core server "
            "certificate verification failed for (cucm-sub1.example.com). Action=Terminate Error=self signed "
            "certificate server=cucm-sub1.example.com(10.10.10.12) depth=0"
        ),
        "[ET_NET 3] WARNING: SNI (10.10.10.11) not in certificate. Action=Terminate server=10.10.10.11(10.10.10.11)",
        (
            "[ET_NET 0] ERROR: SSL connection failed for '10.48.36.215': error:14094418:SSL routines:"
            "ssl3_read_bytes:tlsv1 alert unknown ca"
        ),
    ],
)
def test_origins_untouched(text):
    """
    Origin names and addresses (requests to, responses from, and certificate lines about them) stay.
    """
    assert text == redact(text)


def test_redaction_is_idempotent():
    """
    Redacting redacted evidence changes nothing.
    """
    text = (
        HEAD + 'Detail="Receive Request" Txn-id="1" Src-ip="198.51.100.23" Src-port="5" HTTPMSG: |GET '
        "/cucm-uds/user/jdoe HTTP/1.1 Cookie: a=b Authorization: Basic eA== Client-ip: 198.51.100.23 |"
    )

    once = redact(text)

    assert once == redact(once)
