"""Decoding the MRA target segment of a request path.

Expressway-E forwards ``/<base64("<domain>/<scheme>/<host>/<port>")>/<origin path>``; Expressway-C opens
``<scheme>://<host>:<port>/<origin path>``. The ``=`` padding is stripped and the alphabet is not documented, so
both the standard and the URL-safe alphabets are accepted (see ../shared/docs/expressway-logs.md, section 2).
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from certwatch.parse._patterns import MRA_SEGMENT, MRA_TARGET


@lru_cache(maxsize=4096)
def decode_target(path: str) -> tuple[str, int] | None:
    """``(host, port)`` named by the first segment of ``path``, or ``None`` when it is not an MRA target."""
    m = MRA_SEGMENT.match(path)
    if m is None:
        return None
    segment = m[1].replace("-", "+").replace("_", "/")
    segment += "=" * (-len(segment) % 4)
    try:
        text = base64.b64decode(segment, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    target = MRA_TARGET.match(text)
    if target is None:
        return None
    port = int(target[3])
    if not 0 < port < 65536:
        return None
    return target[2].lower(), port
