"""The precompiled ``traffic_server`` patterns: each matches its documented example, and the ATS variants."""

from __future__ import annotations

import re

import pytest

from certwatch.parse import _patterns as p


@pytest.mark.parametrize(("pattern", "example"), p.EXAMPLES, ids=lambda v: getattr(v, "pattern", v)[:40])
def test_pattern_matches_its_example(pattern, example):
    """
    Every pattern in `EXAMPLES` matches the example line it is documented with.
    """
    assert None is not pattern.search(example)


def test_every_pattern_has_an_example():
    """
    No compiled pattern of the module is left without an example.
    """
    compiled = {name for name, value in vars(p).items() if isinstance(value, re.Pattern)}
    with_example = {name for name, value in vars(p).items() if any(value is pattern for pattern, _ in p.EXAMPLES)}

    assert compiled == with_example


def test_verify_example_groups():
    """
    The verify WARNING yields SNI, action, error text, server name, IP and depth.
    """
    m = p.VERIFY.search(p.VERIFY_EXAMPLE)

    assert {
        "sni": "cucm-sub1.example.com",
        "action": "Terminate",
        "error": "self signed certificate",
        "host": "cucm-sub1.example.com",
        "ip": "10.10.10.12",
        "depth": "0",
    } == m.groupdict()


@pytest.mark.parametrize(
    "prefix",
    ["[ET_NET 2] WARNING: ", "{0x2ac2af523700} WARNING: ", "[ET_NET 2]WARNING:", "WARNING: ", "[ET_NET 12] WARNING:  "],
)
def test_verify_thread_tags_and_spacing(prefix):
    """
    ATS 8 `{0x...}` and ATS 9 `[ET_NET n]` tags, with or without spaces around the level, all match.
    """
    line = p.VERIFY_EXAMPLE.replace("[ET_NET 2] WARNING: ", prefix)

    assert "cucm-sub1.example.com" == p.VERIFY.search(line)["sni"]


def test_sni_example_groups():
    """
    The SNI warning yields the name, action, server name and IP.
    """
    m = p.SNI.search(p.SNI_EXAMPLE)

    assert {"sni": "10.10.10.11", "action": "Terminate", "host": "10.10.10.11", "ip": "10.10.10.11"} == m.groupdict()


@pytest.mark.parametrize(
    ("line", "name"),
    [
        (p.SSL_ERROR_EXAMPLE, "cucm-sub1.example.com"),
        ("[ET_NET 1]ERROR:SSL connection failed for 'expc.cisco.com':error:14094418: SSL", "expc.cisco.com"),
        ('[ET_NET 1] ERROR: SSL connection failed for "10.48.36.215": error:0A000086', "10.48.36.215"),
    ],
)
def test_ssl_error_quotes_and_spacing(line, name):
    """
    Single or double quotes around the name, and the space-less form of Cisco doc 225746, match.
    """
    m = p.SSL_ERROR.search(line)

    assert name == (m["q1"] if m["q1"] is not None else m["q2"])


def test_key_value_allows_space_after_equals():
    """
    `Key="value"` pairs are read, including the Cisco quirk `Detail= "..."`.
    """
    assert [("Detail", "Peer's TLS certificate"), ("Protocol", "TLS")] == p.KEY_VALUE.findall(
        'Detail= "Peer\'s TLS certificate" Protocol="TLS"'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HTTPMSG: |GET /CSFjdoe.cnf.xml HTTP/1.1 Host: x |", ("GET", "/CSFjdoe.cnf.xml")),
        ("HTTPMSG:\n|POST /EPASSoap/service/v105 HTTP/1.1\n Host: x", ("POST", "/EPASSoap/service/v105")),
        (
            "|GET https://cucm.example.com:8443/cucm-uds/servers HTTP/1.0",
            ("GET", "https://cucm.example.com:8443/cucm-uds/servers"),
        ),
    ],
)
def test_request_line(text, expected):
    """
    The request line is found flattened or on a continuation line, with a path or an absolute URI.
    """
    assert expected == p.REQUEST_LINE.search(text).groups()


def test_host_header_is_not_another_header_ending_in_host():
    """
    `Host:` matches only as a header of its own, not as the end of `X-Forwarded-Host:`.
    """
    assert [None, ("cucm", "8443")] == [
        p.HOST_HEADER.search("|GET / HTTP/1.1 X-Forwarded-Host: edge.example.com |"),
        p.HOST_HEADER.search("|GET / HTTP/1.1 X-Forwarded-Host: edge Host: cucm:8443 |").groups(),
    ]


@pytest.mark.parametrize("path", ["/cucm-uds/user/jdoe", "/CSFjdoe.cnf.xml", "/SPDefault.cnf.xml", "/vmrest/x", "/"])
def test_mra_segment_skips_ordinary_paths(path):
    """
    Ordinary origin paths are not taken for a base64 MRA segment.
    """
    assert None is p.MRA_SEGMENT.match(path)
