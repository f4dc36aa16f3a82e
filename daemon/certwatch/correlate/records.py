"""The values the correlator keeps: findings and their key, transactions, join-index entries, per-node facts."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from certwatch.correlate.states import FindingState, TxnState
from certwatch.model import Cause, CertFailure, Header

DEFAULT_CLUSTER = "default"
RECENT_PER_ORIGIN = 8  # transactions remembered per origin name or address, for joining failures to them
MAX_PENDING_PER_NODE = 64  # failures waiting to learn which of several transactions they belong to
MAX_LATE_PER_NODE = 64  # 502s waiting for a late failure, and ERRORs waiting for their WARNING, each
MAX_LATE = 4096  # both, on all nodes together (each holds its line: up to input.max_message_bytes)
ANSWERED_PER_NODE = 64  # transactions answered with a 502 and no failure yet, for a failure arriving after it


class FindingKey(NamedTuple):
    """The identity shared by an offline finding and a live incident."""

    node: str
    origin: str
    port: int | None
    cause: Cause
    enforced: bool


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Windows (seconds) and table bounds; :mod:`certwatch.config` builds this from the YAML file."""

    join_window: float = 5.0
    reorder_wait: float = 2.0  # receive time a 502 without a known cause waits for a late failure (the daemon)
    resolve_after: float = 900.0
    transaction_ttl: float = 300.0
    max_transactions: int = 100_000
    max_index_entries: int = 100_000
    max_findings: int = 10_000
    max_nodes: int = 1_024
    evidence_lines: int = 5
    max_series: int = 10_000  # label sets per counter (metrics)


@dataclass(slots=True)
class Finding:
    key: FindingKey
    cluster: str
    origin_ip: str | None
    first_seen: float
    first_offset: int
    last_seen: float
    last_offset: int
    state: FindingState = FindingState.NEW
    cert_failures: int = 0
    bad_gateway: int = 0
    error: str | None = None
    depth: int | None = None
    last_failure: float = 0.0  # message time of the latest failure
    last_activity: float = 0.0  # receive time of the latest failure (quiet-period expiry)
    changed_at: float = 0.0  # receive time of the latest state change
    evidence: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in (FindingState.FAILING, FindingState.AT_RISK)


@dataclass(slots=True)
class Txn:
    """One proxied request, from its request/response lines."""

    started: float  # message time of its first line
    last: float  # message time of its latest line
    client: tuple[str, int] | None = None
    origin_ip: str | None = None  # Dst-ip of Sending Request, Src-ip of Receive Response
    origin_host: str | None = None  # Host: header of Sending Request
    target_host: str | None = None  # decoded MRA target of Receive Request
    port: int | None = None
    state: TxnState = TxnState.OPEN
    failure: FindingKey | None = None  # the enforced failure attached to it
    failed_at: float = 0.0
    bad_gateway: bool = False
    request_text: str | None = None

    def names(self) -> set[str]:
        """The names the connection to the origin used (the TLS SNI): Host header, MRA target."""
        return {n for n in (self.origin_host, self.target_host) if n}

    def idents(self) -> list[str]:
        """Every name or address the origin of this transaction is known by."""
        return [i for i in (self.origin_ip, self.origin_host, self.target_host) if i]


class Blame(NamedTuple):
    """A failure seen for an origin identity (host, IP or SNI) on a node, and what it became."""

    ts: float
    key: FindingKey


@dataclass(slots=True)
class Candidate:
    txn: str
    port: int | None
    last: float


@dataclass(slots=True)
class Pending:
    """A failure whose origin had open transactions on several ports: which one failed is learnt from the next
    response (a 502 names it, a success rules one out) or, after the join window, taken as the latest."""

    header: Header
    event: CertFailure
    cause: Cause
    candidates: list[Candidate]
    created: float  # receive time
    absorbed: list[str] = field(default_factory=list)  # ERROR lines logged with it (evidence)

    def ports(self) -> set[int | None]:
        return {c.port for c in self.candidates}


@dataclass(slots=True)
class Waiting502:
    """A 502 with no known cause yet: its failure may arrive after it (two log paths, UDP reordering). Counted
    when that failure arrives, else as uncorrelated after ``reorder_wait`` (receive time) or the join window
    (message time)."""

    header: Header
    txn: Txn | None
    created: float  # receive time


@dataclass(slots=True)
class HeldError:
    """An ERROR ``certificate verify failed`` with no WARNING yet: the WARNING that carries its cause may come
    after it. Absorbed by that WARNING, else taken as ``other_verify_error`` when it waited as a 502 does."""

    header: Header
    event: CertFailure
    created: float  # receive time


@dataclass(slots=True)
class Recent502:
    ts: float
    txn: str | None
    event_seen: bool
    response_seen: bool


@dataclass(slots=True)
class NodeInfo:
    """What the correlator knows of one Expressway node."""

    records: int = 0
    request_lines: int = 0
    bad_gateway: int = 0
    uncorrelated_bad_gateway: int = 0
    recent: deque[Blame] = field(default_factory=lambda: deque(maxlen=32))
    pending: list[Pending] = field(default_factory=list)
    waiting: list[Waiting502] = field(default_factory=list)
    held: list[HeldError] = field(default_factory=list)
    answered: deque[str] = field(default_factory=lambda: deque(maxlen=ANSWERED_PER_NODE))  # txn ids, 502 order

    @property
    def late(self) -> bool:
        """Something waits for an event that may arrive late (the fast path leaves such a node alone)."""
        return bool(self.pending or self.waiting or self.held)


@dataclass(slots=True)
class EngineStats:
    records: int = 0
    bad_gateway: int = 0
    uncorrelated_bad_gateway: int = 0
    cert_failures: int = 0
    absorbed_errors: int = 0  # ERROR lines whose WARNING carried the cause
    deferred_failures: int = 0  # failures that waited to learn their transaction (several ports open)
    unexpected_transitions: int = 0
    findings_evicted: int = 0
    nodes_evicted: int = 0
    late_failures: int = 0  # failures joined to a transaction that had already been answered with a 502
    late_bad_gateway: int = 0  # 502s counted when their failure arrived after them
    late_overflow: int = 0  # 502s or ERRORs decided early because too many waited on their node
    answered_evicted: int = 0  # answered transactions a late failure could no longer find (bound per node)
