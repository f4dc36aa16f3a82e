"""The correlator: joins ``traffic_server`` events per node into findings. Pure; time comes in as arguments.

Two clocks, both passed in: the *message* time stamp (``Header.ts``) joins events to each other inside the join
window; ``now`` (the receive clock in the daemon, the latest message time in ``analyze``) drives table TTLs and
the quiet-period expiry. Events are taken in arrival order.

Joins, per node (an Expressway peer):

* a verify/SNI WARNING names the origin (host and IP) but not the port: the port is that of the most recent open
  transaction to that origin (its ``Dst-ip``, ``Host:`` header or decoded MRA target) within the window;
* a 502 is counted once per transaction (``Sending Response`` and the ``Sending HTTP error response`` event for
  the same client address are one 502) and is *correlated* when its transaction had an enforced failure attached,
  or its origin had one, within the window; without request lines, when exactly one origin of the node failed
  within the window;
* an ERROR ``certificate verify failed`` next to a WARNING for the same name adds no count (the WARNING has the
  cause); alone, it is an ``other_verify_error`` failure. A peer alert is the origin refusing our certificate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from certwatch.correlate.machine import step, txn_step
from certwatch.correlate.states import Change, FindingState, Signal, TxnSignal, TxnState
from certwatch.correlate.table import BoundedTable
from certwatch.model import Cause, CertFailure, ErrorResponse, FailureSource, Header, HttpKind, HttpLine, Record

DEFAULT_CLUSTER = "default"


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
    resolve_after: float = 900.0
    transaction_ttl: float = 300.0
    max_transactions: int = 100_000
    max_index_entries: int = 100_000
    max_findings: int = 10_000
    max_nodes: int = 1_024
    evidence_lines: int = 5


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
class _Txn:
    started: float  # message time of its first line
    last: float  # message time of its latest line
    client: tuple[str, int] | None = None
    origin_ip: str | None = None
    origin_host: str | None = None
    target_host: str | None = None
    port: int | None = None
    state: TxnState = TxnState.OPEN
    failure: FindingKey | None = None  # the enforced failure attached to it
    failed_at: float = 0.0
    bad_gateway: bool = False
    request_text: str | None = None

    def idents(self) -> list[str]:
        """The names the origin of this transaction is known by (Dst-ip, Host header, MRA target)."""
        out = []
        if self.origin_ip:
            out.append(self.origin_ip)
        if self.origin_host:
            out.append(self.origin_host)
        if self.target_host:
            out.append(self.target_host)
        return out


class _Blame(NamedTuple):
    """The latest enforced failure seen for an origin identity (host, IP or SNI) on a node."""

    ts: float
    key: FindingKey


@dataclass(slots=True)
class _Recent502:
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
    recent: deque[_Blame] = field(default_factory=lambda: deque(maxlen=32))


@dataclass(slots=True)
class EngineStats:
    records: int = 0
    bad_gateway: int = 0
    uncorrelated_bad_gateway: int = 0
    cert_failures: int = 0
    absorbed_errors: int = 0  # ERROR lines whose WARNING carried the cause
    unexpected_transitions: int = 0
    findings_evicted: int = 0
    nodes_evicted: int = 0


ChangeListener = Callable[[Finding, Change, float], None]


class Correlator:
    """Sole writer of the transaction, index and finding tables. Readers use :meth:`findings` and friends."""

    def __init__(
        self,
        settings: EngineSettings | None = None,
        clusters: Mapping[str, str] | None = None,
        on_change: ChangeListener | None = None,
    ) -> None:
        s = self.settings = settings or EngineSettings()
        self._clusters = dict(clusters or {})
        self._on_change = on_change
        self.stats = EngineStats()
        self._window = s.join_window
        ttl, idx = s.transaction_ttl, s.max_index_entries
        self._txns: BoundedTable[tuple[str, str], _Txn] = BoundedTable(s.max_transactions, ttl)
        self._by_origin: BoundedTable[tuple[str, str], str] = BoundedTable(idx, ttl)
        self._clients: BoundedTable[tuple[str, str, int], str] = BoundedTable(idx, ttl)
        self._recent502: BoundedTable[tuple[str, str, int], _Recent502] = BoundedTable(idx, ttl)
        self._warnings: BoundedTable[tuple[str, str], _Blame] = BoundedTable(idx, ttl)
        self._blame: BoundedTable[tuple[str, str], _Blame] = BoundedTable(idx, ttl)
        self._aliases: BoundedTable[tuple[str, str], str] = BoundedTable(idx, None)
        self._findings: BoundedTable[FindingKey, Finding] = BoundedTable(s.max_findings, None)
        self._by_finding_origin: dict[tuple[str, str], set[FindingKey]] = {}
        self._nodes: BoundedTable[str, NodeInfo] = BoundedTable(s.max_nodes, None)

    # ---- reading -------------------------------------------------------------------------------------------

    def findings(self) -> list[Finding]:
        return list(self._findings.values())

    def nodes(self) -> Iterator[tuple[str, NodeInfo]]:
        return self._nodes.items()

    def cluster_of(self, node: str) -> str:
        return self._clusters.get(node, DEFAULT_CLUSTER)

    def _tables(self) -> dict[str, BoundedTable[Any, Any]]:
        return {
            "transactions": self._txns,
            "origin_index": self._by_origin,
            "clients": self._clients,
            "recent_502": self._recent502,
            "warnings": self._warnings,
            "blame": self._blame,
            "aliases": self._aliases,
            "findings": self._findings,
            "nodes": self._nodes,
        }

    def table_sizes(self) -> dict[str, tuple[int, int]]:
        """``{table: (entries, bound)}``, for tests and self-metrics."""
        sizes = {name: (len(t), t.max_size) for name, t in self._tables().items()}
        sizes["finding_origin_index"] = (len(self._by_finding_origin), 2 * self.settings.max_findings)
        return sizes

    def table_evictions(self) -> dict[str, int]:
        """Entries dropped to stay within each table's bound (TTL expiry is not eviction)."""
        return {name: t.evicted for name, t in self._tables().items()}

    # ---- writing -------------------------------------------------------------------------------------------

    def observe(self, record: Record, now: float) -> None:
        """Take one event in arrival order."""
        header, event = record
        node = header.host
        info = self._nodes.get(node)
        if info is None:
            info = NodeInfo()
            if self._nodes.put(node, info, now) is not None:
                self.stats.nodes_evicted += 1
        info.records += 1
        self.stats.records += 1
        kind = type(event)
        if kind is HttpLine:
            info.request_lines += 1
            self._http(node, header, event, now)  # type: ignore[arg-type]
        elif kind is CertFailure:
            self._cert_failure(node, info, header, event, now)  # type: ignore[arg-type]
        elif kind is ErrorResponse:
            self._error_response(node, header, event, now)  # type: ignore[arg-type]

    def expire(self, now: float) -> None:
        """Resolve findings quiet for ``resolve_after`` and drop stale table entries (the daemon's timer)."""
        quiet_before = now - self.settings.resolve_after
        for finding in self._findings.values():
            if finding.active and finding.last_activity <= quiet_before:
                self._signal(finding, Signal.QUIET, now)
        self.sweep(now)

    def sweep(self, now: float) -> None:
        """Drop table entries older than their TTL (memory only; never changes a finding)."""
        for table in self._tables().values():
            table.expire(now)

    def forget_resolved(self, older_than: float) -> int:
        """Remove findings resolved before ``older_than`` (receive clock); return how many."""
        gone = [
            f.key for f in self._findings.values() if f.state is FindingState.RESOLVED and f.changed_at < older_than
        ]
        for key in gone:
            finding = self._findings.pop(key)
            if finding is not None:
                self._unindex(finding)
        return len(gone)

    # ---- request and response lines --------------------------------------------------------------------------

    def _http(self, node: str, h: Header, ev: HttpLine, now: float) -> None:
        key = (node, ev.txn)
        txn = self._txns.get(key)
        if txn is None:
            txn = _Txn(h.ts, h.ts)
        else:
            txn.started = min(txn.started, h.ts)
            txn.last = max(txn.last, h.ts)
        self._txns.put(key, txn, now)
        kind = ev.kind
        if kind is HttpKind.RECEIVE_REQUEST or kind is HttpKind.SENDING_REQUEST:
            self._request(node, h, ev, txn, now)
        elif kind is HttpKind.SENDING_RESPONSE:
            if ev.ip is not None and ev.port is not None:
                txn.client = (ev.ip, ev.port)
            if ev.status == 502:
                self._bad_gateway(node, h, now, ev.txn, txn, txn.client, via_event=False)
            self._response(node, txn, ev.status, now)
        else:  # RECEIVE_RESPONSE: Src-ip/Src-port are the origin's
            txn.origin_ip = txn.origin_ip or ev.ip
            txn.port = txn.port or ev.port
            self._response(node, txn, ev.status, now)

    def _request(self, node: str, h: Header, ev: HttpLine, txn: _Txn, now: float) -> None:
        if ev.kind is HttpKind.RECEIVE_REQUEST:
            if ev.ip is not None and ev.port is not None:
                txn.client = (ev.ip, ev.port)
                self._clients.put((node, ev.ip, ev.port), ev.txn, now)
        else:
            txn.origin_ip = ev.ip or txn.origin_ip
            txn.origin_host = ev.host or txn.origin_host
            txn.port = ev.port or txn.port
            txn.request_text = h.text
        if ev.target_host is not None:
            txn.target_host = ev.target_host
            txn.port = txn.port or ev.target_port
        for ident in txn.idents():
            self._by_origin.put((node, ident), ev.txn, now)
        self._txn_signal(txn, TxnSignal.REQUEST)

    def _response(self, node: str, txn: _Txn, status: int | None, now: float) -> None:
        was = txn.state
        self._txn_signal(txn, TxnSignal.RESPONSE)
        if was is TxnState.OPEN and status is not None and status < 500:
            self._clean_success(node, txn, now)

    def _clean_success(self, node: str, txn: _Txn, now: float) -> None:
        """A transaction without a failure of its own got an answer: the origin's certificate passed."""
        idents = set(txn.idents())
        if txn.origin_ip is not None and (alias := self._aliases.get((node, txn.origin_ip))) is not None:
            idents.add(alias)
        for ident in idents:
            for key in tuple(self._by_finding_origin.get((node, ident), ())):
                finding = self._findings.get(key)
                if finding is None or finding.state is not FindingState.FAILING:
                    continue
                if key.port is not None and txn.port is not None and key.port != txn.port:
                    continue
                if txn.started > finding.last_failure:
                    self._signal(finding, Signal.CLEAN_SUCCESS, now)

    def _txn_signal(self, txn: _Txn, signal: TxnSignal) -> None:
        txn.state, unexpected = txn_step(txn.state, signal)
        if unexpected:
            self.stats.unexpected_transitions += 1

    # ---- 502s ------------------------------------------------------------------------------------------------

    def _error_response(self, node: str, h: Header, ev: ErrorResponse, now: float) -> None:
        if ev.status != 502:
            return
        client = (ev.ip, ev.port) if ev.ip is not None and ev.port is not None else None
        txn_id = self._clients.get((node, *client)) if client is not None else None
        txn = self._txns.get((node, txn_id)) if txn_id is not None else None
        self._bad_gateway(node, h, now, txn_id, txn, client, via_event=True)

    def _bad_gateway(
        self,
        node: str,
        h: Header,
        now: float,
        txn_id: str | None,
        txn: _Txn | None,
        client: tuple[str, int] | None,
        via_event: bool,
    ) -> None:
        if client is not None and self._same_502(node, h.ts, txn_id, client, via_event, now):
            if txn is not None:
                txn.bad_gateway = True
            return
        if txn is not None:
            if txn.bad_gateway:
                return
            txn.bad_gateway = True
        self.stats.bad_gateway += 1
        info = self._nodes.get(node)
        if info is not None:
            info.bad_gateway += 1
        finding = self._explain_502(node, h.ts, txn)
        if finding is None:
            self.stats.uncorrelated_bad_gateway += 1
            if info is not None:
                info.uncorrelated_bad_gateway += 1
            return
        self._signal(finding, Signal.BAD_GATEWAY, now)
        finding.bad_gateway += 1
        self._seen(finding, h)
        self._evidence(finding, h.text)

    def _same_502(
        self, node: str, ts: float, txn_id: str | None, client: tuple[str, int], via_event: bool, now: float
    ) -> bool:
        """Whether this line reports a 502 already counted from the other line shape for the same client."""
        ck = (node, client[0], client[1])
        prev = self._recent502.get(ck)
        if prev is not None and abs(ts - prev.ts) <= self._window:
            if via_event and not prev.event_seen:
                prev.event_seen = True
                return True
            if not via_event and not prev.response_seen and (prev.txn is None or prev.txn == txn_id):
                prev.response_seen = True
                prev.txn = txn_id
                return True
        self._recent502.put(ck, _Recent502(ts, txn_id, via_event, not via_event), now)
        return False

    def _explain_502(self, node: str, ts: float, txn: _Txn | None) -> Finding | None:
        window = self._window
        if txn is not None and txn.failure is not None and abs(ts - txn.failed_at) <= window:
            finding = self._findings.get(txn.failure)
            if finding is not None:
                return finding
        if txn is not None and (idents := txn.idents()):
            best: _Blame | None = None
            for ident in idents:
                blame = self._blame.get((node, ident))
                if blame is None or abs(ts - blame.ts) > window:
                    continue
                port = blame.key.port
                if port is not None and txn.port is not None and port != txn.port:
                    continue
                if best is None or blame.ts > best.ts:
                    best = blame
            return self._findings.get(best.key) if best is not None else None
        # No usable transaction (request lines absent): join by time when a single origin is failing.
        info = self._nodes.get(node)
        if info is None:
            return None
        candidates = {b.key.origin: b for b in info.recent if abs(ts - b.ts) <= window}
        if len(candidates) != 1:
            return None
        (blame,) = candidates.values()
        return self._findings.get(blame.key)

    # ---- certificate failures --------------------------------------------------------------------------------

    def _cert_failure(self, node: str, info: NodeInfo, h: Header, ev: CertFailure, now: float) -> None:
        cause = ev.cause
        if cause is None:  # ERROR "certificate verify failed": the WARNING logged with it has the cause
            warned = self._warnings.get((node, ev.name))
            if warned is not None and abs(h.ts - warned.ts) <= self._window:
                self.stats.absorbed_errors += 1
                finding = self._findings.get(warned.key)
                if finding is not None:
                    self._evidence(finding, h.text)
                return
            cause = Cause.OTHER_VERIFY_ERROR
        txn = self._open_txn(node, h.ts, ev)
        key = FindingKey(node, ev.host, txn.port if txn is not None else None, cause, ev.enforced)
        finding = self._finding(key, ev.ip or (txn.origin_ip if txn is not None else None), h, now)
        self.stats.cert_failures += 1
        finding.cert_failures += 1
        finding.error, finding.depth = ev.error, ev.depth
        finding.last_failure = max(finding.last_failure, h.ts)
        finding.last_activity = now
        self._seen(finding, h)
        if txn is not None and not finding.evidence and txn.request_text is not None:
            self._evidence(finding, txn.request_text)
        self._evidence(finding, h.text)
        self._signal(finding, Signal.ENFORCED_FAILURE if ev.enforced else Signal.PERMISSIVE_FAILURE, now)
        names = {n for n in (ev.name, ev.host, ev.ip) if n}
        if txn is not None:
            self._txn_signal(txn, TxnSignal.CERT_FAILURE)
            if ev.enforced:
                txn.failure, txn.failed_at = key, h.ts
        blame = _Blame(h.ts, key)
        if ev.source is not FailureSource.SSL_ERROR:
            for name in names:
                self._warnings.put((node, name), blame, now)
        if ev.enforced:
            for name in names:
                self._blame.put((node, name), blame, now)
            info.recent.append(blame)
        if ev.ip is not None and ev.ip != ev.host:
            self._aliases.put((node, ev.ip), ev.host, now)

    def _open_txn(self, node: str, ts: float, ev: CertFailure) -> _Txn | None:
        """The most recent open transaction of ``node`` to the failing origin within the join window."""
        best: _Txn | None = None
        for ident in {ev.ip, ev.host, ev.name}:
            if not ident:
                continue
            txn_id = self._by_origin.get((node, ident))
            if txn_id is None:
                continue
            txn = self._txns.get((node, txn_id))
            if txn is None or txn.state is TxnState.CLOSED or abs(ts - txn.last) > self._window:
                continue
            if best is None or txn.last > best.last:
                best = txn
        return best

    def _finding(self, key: FindingKey, ip: str | None, h: Header, now: float) -> Finding:
        finding = self._findings.get(key)
        if finding is None:
            finding = Finding(key, self.cluster_of(key.node), ip, h.ts, h.offset, h.ts, h.offset)
            evicted = self._findings.put(key, finding, now)
            if evicted is not None:
                self.stats.findings_evicted += 1
                self._unindex(evicted)
            self._index(finding)
            return finding
        if finding.origin_ip is None and ip is not None:
            finding.origin_ip = ip
            self._index(finding)
        self._findings.put(key, finding, now)  # touch: the least recently updated finding is evicted first
        return finding

    def _index(self, finding: Finding) -> None:
        key = finding.key
        for ident in (key.origin, finding.origin_ip):
            if ident:
                self._by_finding_origin.setdefault((key.node, ident), set()).add(key)

    def _unindex(self, finding: Finding) -> None:
        key = finding.key
        for ident in (key.origin, finding.origin_ip):
            if not ident:
                continue
            keys = self._by_finding_origin.get((key.node, ident))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_finding_origin[(key.node, ident)]

    # ---- shared ----------------------------------------------------------------------------------------------

    def _signal(self, finding: Finding, signal: Signal, now: float) -> None:
        result = step(finding.state, signal)
        if result.unexpected:
            self.stats.unexpected_transitions += 1
        finding.state = result.state
        if result.change is not None:
            finding.changed_at = now
            if self._on_change is not None:
                self._on_change(finding, result.change, now)

    @staticmethod
    def _seen(finding: Finding, h: Header) -> None:
        if h.ts < finding.first_seen:
            finding.first_seen, finding.first_offset = h.ts, h.offset
        if h.ts >= finding.last_seen:
            finding.last_seen, finding.last_offset = h.ts, h.offset

    def _evidence(self, finding: Finding, text: str) -> None:
        if len(finding.evidence) < self.settings.evidence_lines and text not in finding.evidence:
            finding.evidence.append(text)
