"""Decoding the MRA base64 target segment (``<domain>/<scheme>/<host>/<port>``, ``=`` padding stripped)."""

from __future__ import annotations

import pytest

from certwatch.parse.mra import decode_target


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # the domain doc's scenario table
        ("/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1zdWIxLmV4YW1wbGUuY29tLzY5NzI", ("cucm-sub1.example.com", 6972)),
        ("/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1wdWIuZXhhbXBsZS5jb20vODQ0Mw", ("cucm-pub.example.com", 8443)),
        ("/ZXhhbXBsZS5jb20vaHR0cHMvaW1wMDEuZXhhbXBsZS5jb20vODQ0Mw", ("imp01.example.com", 8443)),
        ("/ZXhhbXBsZS5jb20vaHR0cHMvY3VjMDEuZXhhbXBsZS5jb20vNDQz", ("cuc01.example.com", 443)),
        # followed by the origin path
        (
            "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1zdWIxLmV4YW1wbGUuY29tLzY5NzI/CSFjdoe.cnf.xml",
            ("cucm-sub1.example.com", 6972),
        ),
        ("/ZXhhbXBsZS5jb20vaHR0cHMvY3VjMDEuZXhhbXBsZS5jb20vNDQz/vmrest/mailbox", ("cuc01.example.com", 443)),
    ],
)
def test_decodes_scenario_segments(path, expected):
    """
    The first path segment names the origin host and port Expressway-C connects to.
    """
    assert expected == decode_target(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ZXhhbXBsZS5jb20vaHR0cHMvMTAuMTAuMTAuMTEvODQ0Mw/cucm-uds/servers", ("10.10.10.11", 8443)),
        # Cisco 218018 (Chinese copy): steven.lab/https/10.48.36.215/8443, two "=" stripped
        ("/c3RldmVuLmxhYi9odHRwcy8xMC40OC4zNi4yMTUvODQ0Mw", ("10.48.36.215", 8443)),
    ],
)
def test_ip_host(path, expected):
    """
    A node defined by IP decodes to the IP (the case where ATS checks the certificate against the IP).
    """
    assert expected == decode_target(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS84NDQz", ("cucm", 8443)),  # no padding needed
        ("/YWIuY29tL2h0dHBzL2N1Y20vODQ0Mw", ("cucm", 8443)),  # "==" stripped
        ("/YWJjLmNvbS9odHRwcy9jdWNtLzg0NDM", ("cucm", 8443)),  # "=" stripped
    ],
)
def test_padding_is_restored(path, expected):
    """
    The stripped `=` padding is added back, whatever the length.
    """
    assert expected == decode_target(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # standard alphabet: "+" (a "/" would split the path)
        ("/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbT4+LmV4YW1wbGUuY29tLzg0NDM", ("cucm>>.example.com", 8443)),
        # URL-safe alphabet: "-" and "_"
        ("/ZXhhbXBsZS5jb20vaHR0cHMvdWM-Py0_MS5sYWIvODQ0Mw", ("uc>?-?1.lab", 8443)),
    ],
)
def test_both_alphabets(path, expected):
    """
    The alphabet is undocumented, so both the standard and the URL-safe one are accepted.
    """
    assert expected == decode_target(path)


def test_host_is_lower_cased_and_http_accepted():
    """
    Host names are lower-cased; plain `http` targets decode too.
    """
    assert [("cucm-pub.example.com", 8443), ("cucm-pub.example.com", 6970)] == [
        decode_target("/ZXhhbXBsZS5jb20vaHR0cHMvQ1VDTS1QdWIuRXhhbXBsZS5DT00vODQ0Mw"),
        decode_target("/ZXhhbXBsZS5jb20vaHR0cC9jdWNtLXB1Yi5leGFtcGxlLmNvbS82OTcw"),
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS84NDQzL",  # a length no base64 text has (4n + 1)
        "/2V4YW1wbGUuY29tL2h0dHBzL2N1Y20vODQ0Mw",  # decodes to bytes that are not ASCII
        "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS84NDQz=x",  # not followed by "/" or the end
    ],
)
def test_invalid_base64(path):
    """
    A segment that is not valid base64 of ASCII text is not a target.
    """
    assert None is decode_target(path)


@pytest.mark.parametrize(
    "path",
    [
        "/dGJ0cC5jb20/get_edge_config/",  # tbtp.com: a domain only (edge config, Cisco doc 211304)
        "/ZeW50LXBhLmNvbQ/get_edge_config",  # Cisco's own typo for ent-pa.com: not clean base64 text
        "/ZXhhbXBsZS5jb20vZnRwL2N1Y20vMjE",  # example.com/ftp/cucm/21: not http(s)
        "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS8w",  # port 0
        "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS82NTUzNg",  # port 65536
        "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS84NDQzL2V4dHJh",  # example.com/https/cucm/8443/extra
    ],
)
def test_well_formed_base64_that_is_no_target(path):
    """
    Base64 that does not decode to `<domain>/<http|https>/<host>/<1..65535>` is not a target.
    """
    assert None is decode_target(path)


@pytest.mark.parametrize(
    "path",
    [
        "/cucm-uds/user/jdoe",
        "/cucm-uds/user/jdoe/devices",
        "/cucm-uds/servers",
        "/CSFjdoe.cnf.xml",
        "/SPDefault.cnf.xml",
        "/EPASSoap/service/v105",
        "/vmrest/mailbox",
        "/",
        "",
        "https://cucm.example.com:8443/cucm-uds/servers",
    ],
)
def test_non_mra_paths(path):
    """
    Ordinary origin paths (as Expressway-C sends them on) are not MRA targets.
    """
    assert None is decode_target(path)


def test_largest_port():
    """
    65535 is a valid port.
    """
    assert ("cucm", 65535) == decode_target("/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS82NTUzNQ")
