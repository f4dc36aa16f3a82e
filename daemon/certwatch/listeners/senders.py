"""Who may send (``allowed_senders``), decided once per address and cached."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from certwatch.config import Network

_CACHE_LIMIT = 4096


class SenderFilter:
    """``filter(host)``: whether a peer address is inside one of the allowed networks (no networks: everyone)."""

    __slots__ = ("_cache", "_networks")

    def __init__(self, networks: Sequence[Network]) -> None:
        self._networks = tuple(networks)
        self._cache: dict[str, bool] = {}

    def __call__(self, host: str) -> bool:
        if not self._networks:
            return True
        verdict = self._cache.get(host)
        if verdict is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            verdict = self._cache[host] = self._decide(host)
        return verdict

    def _decide(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks if address.version == network.version)
