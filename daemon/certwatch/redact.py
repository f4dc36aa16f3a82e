"""Evidence redaction: user names, cookies, credentials and client addresses out of log lines shown to people.

Origins (CUCM/IM&P/Unity addresses) stay: they are what the reader has to fix. Loopback addresses stay: on
Expressway-C they are the traversal tunnel, not a client.
"""

from __future__ import annotations

import re
from typing import Final

_NEXT_FIELD: Final = r"(?=\s+[A-Za-z][\w-]*:\s|\s+\||\n|$)"
_RULES: Final = (
    # UDS user paths and queries: /cucm-uds/user/jdoe/devices, clusterUser?username=jdoe
    (re.compile(r"(/cucm-uds/user/)[^/\s?|\"]+"), r"\1<user>"),
    (re.compile(r"\b((?:username|user)=)[^&\s\"|]+", re.IGNORECASE), r"\1<user>"),
    (re.compile(r'\b(Username=\s?")[^"]*'), r"\1<user>"),
    # Jabber device configuration files are named after the user: CSFjdoe.cnf.xml, BOTjdoe, TCTjdoe, TABjdoe
    (re.compile(r"\b(CSF|BOT|TCT|TAB)[\w.@-]+?(\.cnf\.xml)"), r"\1<user>\2"),
    (
        re.compile(r"(\b(?:Cookie|Set-Cookie|Authorization|Proxy-Authorization):)[^\n]*?" + _NEXT_FIELD, re.IGNORECASE),
        r"\1 <redacted>",
    ),
    (
        re.compile(r"(\b(?:Client-ip|X-Forwarded-For|X-Real-IP):)[^\n]*?" + _NEXT_FIELD, re.IGNORECASE),
        r"\1 <client-ip>",
    ),
)
_CLIENT_ADDRESS: Final = (
    ('Detail="Receive Request"', re.compile(r'(Src-ip=\s?")(?!127\.|::1")[^"]*(")')),
    ('Detail="Sending Response"', re.compile(r'(Dst-ip=\s?")(?!127\.|::1")[^"]*(")')),
    ("Sending HTTP error response", re.compile(r'(Dst-ip=\s?")(?!127\.|::1")[^"]*(")')),
)


def redact(text: str) -> str:
    """``text`` with personal data replaced by ``<user>``, ``<redacted>`` or ``<client-ip>``."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    for marker, pattern in _CLIENT_ADDRESS:
        if marker in text:
            text = pattern.sub(r"\1<client-ip>\2", text)
    return text
