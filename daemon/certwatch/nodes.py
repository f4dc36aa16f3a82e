"""Per-node message counts, behind the ``certwatch_node_*`` metrics. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from certwatch.correlate.counters import OVERFLOW


@dataclass(slots=True)
class NodeActivity:
    messages: int = 0
    request_lines: int = 0  # request/response debug lines: zero means the node's syslog filter excludes Debug
    last_message: float | None = None  # receive clock


class Nodes:
    """Per-node message counts. Configured nodes are always present; at most ``max_nodes`` others, after which
    new ones are counted together under ``__overflow__``. Nothing is evicted: the counts back counters."""

    __slots__ = ("_nodes", "configured", "max_nodes", "overflowed")

    def __init__(self, configured: Iterable[str] = (), max_nodes: int = 1024) -> None:
        self.configured = frozenset(configured)
        self.max_nodes = max_nodes
        self._nodes: dict[str, NodeActivity] = {n: NodeActivity() for n in sorted(self.configured)}
        self.overflowed = 0

    def get(self, node: str) -> NodeActivity:
        activity = self._nodes.get(node)
        if activity is None:
            if len(self._nodes) - len(self.configured) >= self.max_nodes:
                self.overflowed += 1
                node = OVERFLOW
                activity = self._nodes.get(node)
            if activity is None:
                activity = self._nodes[node] = NodeActivity()
        return activity

    def configure(self, configured: Iterable[str]) -> None:
        """A reload: newly configured nodes appear at once; known ones keep their counts."""
        self.configured = frozenset(configured)
        for node in sorted(self.configured):
            self._nodes.setdefault(node, NodeActivity())

    def items(self) -> Iterator[tuple[str, NodeActivity]]:
        return iter(list(self._nodes.items()))
