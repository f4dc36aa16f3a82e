"""The precompiled patterns for ``traffic_server`` message bodies, each with an example it must match.

Formats: Apache Traffic Server ``iocore/net/SSLClientUtils.cc`` (``verify_callback``) and
``iocore/net/SSLNetVConnection.cc`` (https://github.com/apache/trafficserver), and Cisco's
``network.http.trafficserver`` debug lines (Cisco docs 225746 and 117811). ``tests/unit/test_patterns.py``
checks every example against its pattern.
"""

from __future__ import annotations

import re
from typing import Final

# ATS thread tags: "[ET_NET 2] " (ATS 9, Expressway), "{0x2ac2af523700} " (ATS 8); Expressway sometimes drops the
# spaces ("[ET_NET 1]ERROR:SSL connection failed ...", Cisco doc 225746).
_LEVEL: Final = r"(?:WARNING|ERROR|NOTE|STATUS|DIAG|DEBUG)\s*:\s*"

# The error text ends where white space and "server=" follow; it ends on a non-space (or is empty) so that a run of
# white space is tried once, from its start, not from each of its characters (that was quadratic: 7 s for 60 KB).
VERIFY: Final = re.compile(
    _LEVEL + r"Core server certificate verification failed for \((?P<sni>[^)]*)\)\.?\s+"
    r"Action=(?P<action>\w+)\s+Error=(?P<error>.*?)(?<!\s)\s+server=(?P<host>[^\s(]*)\((?P<ip>[^)\s]*)\)"
    r"(?:\s+depth=(?P<depth>\d+))?",
)
VERIFY_EXAMPLE: Final = (
    "[ET_NET 2] WARNING: Core server certificate verification failed for (cucm-sub1.example.com). "
    "Action=Terminate Error=self signed certificate server=cucm-sub1.example.com(10.10.10.12) depth=0"
)

SNI: Final = re.compile(
    _LEVEL + r"SNI \((?P<sni>[^)]*)\) not in certificate\.?\s+Action=(?P<action>\w+)\s+"
    r"server=(?P<host>[^\s(]*)\((?P<ip>[^)\s]*)\)",
)
SNI_EXAMPLE: Final = (
    "[ET_NET 3] WARNING: SNI (10.10.10.11) not in certificate. Action=Terminate server=10.10.10.11(10.10.10.11)"
)

SSL_ERROR: Final = re.compile(
    _LEVEL + r"SSL connection failed for\s*(?:'(?P<q1>[^']*)'|\"(?P<q2>[^\"]*)\")\s*:\s*(?P<reason>\S.*)",
    re.DOTALL,
)
SSL_ERROR_EXAMPLE: Final = (
    "[ET_NET 0] ERROR: SSL connection failed for 'cucm-sub1.example.com': "
    "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed"
)

# Key="value" pairs; a space may follow "=" (Cisco quirk: Detail= "Peer's ..."). The key is the run of word
# characters and "-" from its first ASCII letter; a match is tried only where such a run starts (the lookbehind),
# so a long run that is no key is scanned once, not from each of its characters (that was quadratic: 22 s for 60 KB).
KEY_VALUE: Final = re.compile(r'(?<![\w-])(?:[^\WA-Za-z]|-)*([A-Za-z][\w-]*)=\s?"([^"]*)"')
KEY_VALUE_EXAMPLE: Final = 'Detail="Sending Request" Txn-id="5121" Dst-ip="10.10.10.12" Dst-port="6972"'

DETAIL: Final = re.compile(r'Detail="(Receive Request|Sending Request|Receive Response|Sending Response)"')
DETAIL_EXAMPLE: Final = 'Level="DEBUG": Detail="Receive Response" Txn-id="7100"'

# The fast path: the four Detail lines in the field order every Cisco sample shows; others take the generic path.
HTTP_FIELDS: Final = re.compile(
    r'Detail="(Receive Request|Sending Request|Receive Response|Sending Response)"\s+Txn-id="([^"]*)"'
    r'(?:\s+TrackingID="[^"]*")?\s+(Src|Dst)-ip="([^"]*)"\s+(?:Src|Dst)-port="([^"]*)"',
)
HTTP_FIELDS_EXAMPLE: Final = (
    'Detail="Sending Request" Txn-id="5121" TrackingID="JA_9f1c2e3a" Dst-ip="10.10.10.12" Dst-port="6972"'
)

# Inside an HTTPMSG body, flattened ("HTTPMSG: |GET / HTTP/1.1 Host: x |") or on continuation lines.
REQUEST_LINE: Final = re.compile(r"(?:^|[|\s])([A-Z]{3,7}) (/\S*|\w+://\S+) HTTP/\d(?:\.\d)?")
REQUEST_LINE_EXAMPLE: Final = "HTTPMSG: |GET /CSFjdoe.cnf.xml HTTP/1.1 Host: cucm-sub1.example.com:6972 |"

STATUS_LINE: Final = re.compile(r"HTTP/\d(?:\.\d)? (\d{3})\b")
STATUS_LINE_EXAMPLE: Final = "HTTPMSG: |HTTP/1.1 502 Bad Gateway Connection: close Content-Length: 0 |"

HOST_HEADER: Final = re.compile(r"(?:^|\s)Host:\s*(\[[0-9A-Fa-f:.]+\]|[^\s:|]+)(?::(\d{1,5}))?", re.IGNORECASE)
HOST_HEADER_EXAMPLE: Final = " Host: cucm-sub1.example.com:6972"
# The same, found by its literal first (fast); the character before it is checked by the caller.
HOST_LITERAL: Final = re.compile(r"Host:[ \t]*(\[[0-9A-Fa-f:.]+\]|[^\s:|]+)(?::(\d{1,5}))?")
HOST_LITERAL_EXAMPLE: Final = "|GET / HTTP/1.1 Host: cucm-sub1.example.com:6972"

# The first path segment of an MRA request: base64 of "<domain>/<scheme>/<host>/<port>", padding stripped.
MRA_SEGMENT: Final = re.compile(r"^/([A-Za-z0-9+_-]{12,})(?:/|$)")
MRA_SEGMENT_EXAMPLE: Final = "/ZXhhbXBsZS5jb20vaHR0cHMvY3VjbS1zdWIxLmV4YW1wbGUuY29tLzY5NzI/CSFjdoe.cnf.xml"
MRA_TARGET: Final = re.compile(r"^[^/\s]+/(https?)/([^/\s]+)/(\d{1,5})$")
MRA_TARGET_EXAMPLE: Final = "example.com/https/cucm-sub1.example.com/6972"

EXAMPLES: Final = (
    (VERIFY, VERIFY_EXAMPLE),
    (SNI, SNI_EXAMPLE),
    (SSL_ERROR, SSL_ERROR_EXAMPLE),
    (KEY_VALUE, KEY_VALUE_EXAMPLE),
    (DETAIL, DETAIL_EXAMPLE),
    (HTTP_FIELDS, HTTP_FIELDS_EXAMPLE),
    (HOST_LITERAL, HOST_LITERAL_EXAMPLE),
    (REQUEST_LINE, REQUEST_LINE_EXAMPLE),
    (STATUS_LINE, STATUS_LINE_EXAMPLE),
    (HOST_HEADER, HOST_HEADER_EXAMPLE),
    (MRA_SEGMENT, MRA_SEGMENT_EXAMPLE),
    (MRA_TARGET, MRA_TARGET_EXAMPLE),
)
