"""The correlator: joins ``traffic_server`` events per node into findings. Pure; time comes in as arguments.

Two clocks, both passed in: the *message* time stamp (``Header.ts``) joins events to each other inside the join
window; ``now`` (the receive clock in the daemon, the latest message time in ``analyze``) drives table TTLs, the
quiet-period expiry and how long an undecided failure may wait.

Arrival order is not event order: Traffic Server's diagnostics (the WARNING and ERROR lines) and Cisco's HTTP debug
lines (requests, responses, the error-response event) reach syslog by two paths, and UDP relays reorder. Inside the
join window the result does not depend on which came first: a 502 with no known cause waits for a late failure
(``reorder_wait`` of receive time in the daemon, the join window of message time in both), and is counted once,
correlated when that failure comes, else uncorrelated; a failure arriving after its transaction was answered with a
502 joins that transaction (a 502 names it), its port and its 502; an ERROR with no WARNING yet waits the same way
for the WARNING that carries its cause. A 502 whose cause is known is counted at once, and no counter goes down.

Joins, per node (an Expressway peer):

* a verify/SNI WARNING names the origin (host and IP) but not the port. Its transaction is an open one to that
  origin within the window: one whose ``Host:`` header or decoded MRA target is the failing name, or, for a
  transaction that names no host, whose ``Dst-ip`` is the origin's address. When the open candidates use several
  ports (Jabber asks 8443 and 6972 of one CUCM at once), the failure waits: a 502 on a candidate names it, a
  success rules a candidate out, and after the window the latest candidate is taken;
* a 502 is counted once per transaction (``Sending Response`` and the ``Sending HTTP error response`` event for
  the same client address are one 502) and is *correlated* when its transaction had an enforced failure attached,
  or its origin had one, within the window; without request lines, when exactly one origin of the node failed
  within the window;
* an ERROR ``certificate verify failed`` next to a WARNING for the same name adds no count (the WARNING has the
  cause); alone, it is an ``other_verify_error`` failure. A peer alert is the origin refusing our certificate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from certwatch.correlate.counters import LabelCounters
from certwatch.correlate.machine import step, txn_step
from certwatch.correlate.records import (
    DEFAULT_CLUSTER,
    MAX_LATE,
    MAX_LATE_PER_NODE,
    MAX_PENDING_PER_NODE,
    RECENT_PER_ORIGIN,
    Blame,
    Candidate,
    EngineSettings,
    EngineStats,
    Finding,
    FindingKey,
    HeldError,
    NodeInfo,
    Pending,
    Recent502,
    Txn,
    Waiting502,
)
from certwatch.correlate.states import Change, FindingState, Signal, TxnSignal, TxnState
from certwatch.correlate.table import BoundedTable
from certwatch.model import Cause, CertFailure, ErrorResponse, FailureSource, Header, HttpKind, HttpLine, Record

ChangeListener = Callable[[Finding, Change, float], None]
W = TypeVar("W", Waiting502, HeldError)


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
        self._late_nodes: set[str] = set()  # nodes with 502s or ERRORs waiting for a late event
        self._late = 0  # how many wait, on all nodes (bounded by MAX_LATE)
        self.forgotten = 0  # resolved findings forgotten after incidents.keep_resolved
        ttl, idx = s.transaction_ttl, s.max_index_entries
        self._txns: BoundedTable[tuple[str, str], Txn] = BoundedTable(s.max_transactions, ttl)
        self._by_origin: BoundedTable[tuple[str, str], deque[str]] = BoundedTable(idx, ttl)
        self._clients: BoundedTable[tuple[str, str, int], str] = BoundedTable(idx, ttl)
        self._recent502: BoundedTable[tuple[str, str, int], Recent502] = BoundedTable(idx, ttl)
        self._warnings: BoundedTable[tuple[str, str], Blame | Pending] = BoundedTable(idx, ttl)
        self._blame: BoundedTable[tuple[str, str], Blame] = BoundedTable(idx, ttl)
        self._aliases: BoundedTable[tuple[str, str], str] = BoundedTable(idx, None)
        self._findings: BoundedTable[FindingKey, Finding] = BoundedTable(s.max_findings, None)
        self._by_finding_origin: dict[tuple[str, str], set[FindingKey]] = {}
        self._by_origin_name: dict[str, set[FindingKey]] = {}  # origin -> its findings on every node
        self._nodes: BoundedTable[str, NodeInfo] = BoundedTable(s.max_nodes, None)
        # Monotonic counters behind the *_total metrics; labels: see certwatch.export.
        self.failure_counts = LabelCounters(5, s.max_series)  # node, origin, port, cause, enforced
        self.bad_gateway_counts = LabelCounters(4, s.max_series)  # node, origin, port, cause | "uncorrelated"
        self.response_counts = LabelCounters(4, s.max_series)  # node, origin, port, code class (2xx...)

    def configure(self, settings: EngineSettings, clusters: Mapping[str, str]) -> None:
        """A reload: new windows, bounds and cluster mapping; state is kept (lowered bounds evict at once)."""
        self.settings = settings
        self._window = settings.join_window
        self._clusters = dict(clusters)
        ttl, idx = settings.transaction_ttl, settings.max_index_entries
        self._txns.max_size, self._txns.ttl = settings.max_transactions, ttl
        for table in (self._by_origin, self._clients, self._recent502, self._warnings, self._blame):
            table.max_size, table.ttl = idx, ttl
        self._aliases.max_size = idx
        self._nodes.max_size = settings.max_nodes
        self._findings.max_size = settings.max_findings
        for gone in self._findings.shrink():
            self.stats.findings_evicted += 1
            self._unindex(gone)
        for table in self._tables().values():
            table.shrink()
        for counters in (self.failure_counts, self.bad_gateway_counts, self.response_counts):
            counters.max_series = settings.max_series
        for finding in self._findings.values():
            finding.cluster = self.cluster_of(finding.key.node)

    # ---- reading -------------------------------------------------------------------------------------------

    def findings(self) -> list[Finding]:
        return list(self._findings.values())

    @property
    def finding_count(self) -> int:
        return len(self._findings)

    def restore(self, findings: list[Finding]) -> int:
        """Findings saved before a restart, put back as they were (no state-change callbacks); the number kept
        (``max_findings`` still bounds them: the least recently updated go first)."""
        for finding in sorted(findings, key=lambda f: f.last_activity):
            finding.cluster = self.cluster_of(finding.key.node)  # clusters may have changed in the meantime
            evicted = self._findings.put(finding.key, finding, finding.last_activity)
            if evicted is not None:
                self.stats.findings_evicted += 1
                self._unindex(evicted)
            self._index(finding)
        return len(self._findings)

    def nodes(self) -> Iterator[tuple[str, NodeInfo]]:
        return self._nodes.items()

    def cluster_of(self, node: str) -> str:
        return self._clusters.get(node, DEFAULT_CLUSTER)

    def findings_of_origin(self, origin: str) -> list[Finding]:
        """The findings of one origin, on every node (cheap: indexed)."""
        keys = self._by_origin_name.get(origin, ())
        return [f for key in keys if (f := self._findings.get(key)) is not None]

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
        sizes["finding_origin_names"] = (len(self._by_origin_name), self.settings.max_findings)
        infos = [info for _, info in self._nodes.items()]
        nodes = self.settings.max_nodes
        sizes["pending_failures"] = (sum(len(i.pending) for i in infos), MAX_PENDING_PER_NODE * nodes)
        late = min(MAX_LATE_PER_NODE * nodes, MAX_LATE)  # (the two together stay within MAX_LATE)
        sizes["waiting_502"] = (sum(len(i.waiting) for i in infos), late)
        sizes["held_errors"] = (sum(len(i.held) for i in infos), late)
        return sizes

    def table_evictions(self) -> dict[str, int]:
        """Entries dropped to stay within each table's bound (TTL expiry is not eviction)."""
        evictions = {name: t.evicted for name, t in self._tables().items()}
        evictions["answered_502"] = self.stats.answered_evicted
        evictions["late_overflow"] = self.stats.late_overflow
        return evictions

    # ---- writing -------------------------------------------------------------------------------------------

    def observe(self, record: Record, now: float) -> None:
        """Take one event in arrival order."""
        header, event = record
        node = header.host
        info = self._nodes.get(node)
        if info is None:
            info = NodeInfo()
            if (gone := self._nodes.put(node, info, now)) is not None:
                self.stats.nodes_evicted += 1
                self._decide_evicted(gone, now)
        info.records += 1
        self.stats.records += 1
        if info.pending or info.held or info.waiting:
            window = self._window
            self._decide(node, info, lambda p: header.ts - p.header.ts > window, now)
        kind = type(event)
        if kind is HttpLine:
            info.request_lines += 1
            self._http(node, info, header, event, now)  # type: ignore[arg-type]
        elif kind is CertFailure:
            self._cert_failure(node, info, header, event, now)  # type: ignore[arg-type]
        elif kind is ErrorResponse:
            self._error_response(node, info, header, event, now)  # type: ignore[arg-type]

    def flush(self, now: float) -> None:
        """Decide every waiting failure, ERROR and 502 now (the end of an offline input)."""
        for node, info in list(self._nodes.items()):
            self._decide(node, info, lambda _p: True, now)

    def decide_late(self, now: float) -> None:
        """The daemon's frequent timer: 502s and ERRORs that waited ``reorder_wait`` (receive time) for a late
        event are decided. Cheap when nothing waits."""
        if not self._late_nodes:
            return
        wait = self.settings.reorder_wait
        for node in list(self._late_nodes):
            info = self._nodes.get(node)
            if info is None:
                self._late_nodes.discard(node)
            else:
                self._decide(node, info, lambda p: now - p.created > wait, now, pending=False)

    def expire(self, now: float) -> None:
        """The daemon's timer: decide failures that waited a window (502s and ERRORs: ``reorder_wait``), resolve
        findings quiet for ``resolve_after`` and drop stale table entries."""
        self.decide_late(now)
        for node, info in list(self._nodes.items()):
            if info.pending:
                self._settle_due(node, info, lambda p: now - p.created > self._window, now)
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
        self.forgotten += len(gone)
        return len(gone)

    # ---- request and response lines --------------------------------------------------------------------------

    def _http(self, node: str, info: NodeInfo, h: Header, ev: HttpLine, now: float) -> None:
        key = (node, ev.txn)
        txn = self._txns.get(key)
        if txn is None:
            txn = Txn(h.ts, h.ts)
        else:
            txn.started = min(txn.started, h.ts)
            txn.last = max(txn.last, h.ts)
        self._txns.put(key, txn, now)
        kind = ev.kind
        if kind is HttpKind.RECEIVE_REQUEST or kind is HttpKind.SENDING_REQUEST:
            self._request(node, h, ev, txn, now)
            return
        if kind is HttpKind.SENDING_RESPONSE:
            if ev.ip is not None and ev.port is not None:
                txn.client = (ev.ip, ev.port)
        else:  # RECEIVE_RESPONSE: Src-ip/Src-port are the origin's
            txn.origin_ip = txn.origin_ip or ev.ip
            txn.port = txn.port or ev.port
        if info.pending:
            self._learn(node, info, ev.txn, ev.status, now)
        if kind is HttpKind.SENDING_RESPONSE and ev.status is not None:
            self.response_counts.add((node, self._origin_name(node, txn), _port(txn.port), f"{ev.status // 100}xx"))
            if ev.status == 502:
                self._bad_gateway(node, info, h, now, ev.txn, txn, txn.client, via_event=False)
        self._response(node, txn, ev.status, now)

    def _request(self, node: str, h: Header, ev: HttpLine, txn: Txn, now: float) -> None:
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
            recent = self._by_origin.get((node, ident))
            if recent is None:
                recent = deque(maxlen=RECENT_PER_ORIGIN)
            if not recent or recent[-1] != ev.txn:
                recent.append(ev.txn)
            self._by_origin.put((node, ident), recent, now)
        self._txn_signal(txn, TxnSignal.REQUEST)

    def _response(self, node: str, txn: Txn, status: int | None, now: float) -> None:
        was = txn.state
        self._txn_signal(txn, TxnSignal.RESPONSE)
        if was is TxnState.OPEN and status is not None and status < 500:
            self._clean_success(node, txn, now)

    def _origin_idents(self, node: str, txn: Txn) -> set[str]:
        """The names to look an origin up by: the name the connection used, else its address and aliases."""
        names = txn.names()
        if names or txn.origin_ip is None:
            return names
        alias = self._aliases.get((node, txn.origin_ip))
        return {txn.origin_ip} if alias is None else {txn.origin_ip, alias}

    def _origin_name(self, node: str, txn: Txn | None) -> str:
        """The best name for a transaction's origin, for labels: Host header, MRA target, known name, address."""
        if txn is None:
            return ""
        if txn.origin_host or txn.target_host:
            return txn.origin_host or txn.target_host or ""
        if txn.origin_ip is None:
            return ""
        return self._aliases.get((node, txn.origin_ip)) or txn.origin_ip

    def _clean_success(self, node: str, txn: Txn, now: float) -> None:
        """A transaction without a failure of its own got an answer: the origin's certificate passed."""
        for ident in self._origin_idents(node, txn):
            for key in tuple(self._by_finding_origin.get((node, ident), ())):
                finding = self._findings.get(key)
                if finding is None or finding.state is not FindingState.FAILING:
                    continue
                if key.port is not None and txn.port is not None and key.port != txn.port:
                    continue
                if txn.started > finding.last_failure:
                    self._signal(finding, Signal.CLEAN_SUCCESS, now)

    def _txn_signal(self, txn: Txn, signal: TxnSignal) -> None:
        txn.state, unexpected = txn_step(txn.state, signal)
        if unexpected:
            self.stats.unexpected_transitions += 1

    # ---- 502s ------------------------------------------------------------------------------------------------

    def _error_response(self, node: str, info: NodeInfo, h: Header, ev: ErrorResponse, now: float) -> None:
        if ev.status != 502:
            return
        client = (ev.ip, ev.port) if ev.ip is not None and ev.port is not None else None
        txn_id = self._clients.get((node, *client)) if client is not None else None
        txn = self._txns.get((node, txn_id)) if txn_id is not None else None
        if info.pending and txn_id is not None:
            self._learn(node, info, txn_id, 502, now)
        self._bad_gateway(node, info, h, now, txn_id, txn, client, via_event=True)

    def _bad_gateway(
        self,
        node: str,
        info: NodeInfo,
        h: Header,
        now: float,
        txn_id: str | None,
        txn: Txn | None,
        client: tuple[str, int] | None,
        via_event: bool,
    ) -> None:
        if client is not None and self._same_502(node, h.ts, txn_id, client, via_event, now):
            if txn is not None:
                txn.bad_gateway = True
                self._answered(info, txn_id)
            return
        if txn is not None:
            if txn.bad_gateway:
                return
            txn.bad_gateway = True
            self._answered(info, txn_id)
        if info.pending and (txn is None or not txn.idents()):
            self._settle_due(node, info, lambda _p: True, now)  # a join by time needs every failure decided
        finding = self._explain_502(node, info, h.ts, txn)
        if finding is None and self.settings.reorder_wait > 0:  # its failure may still arrive: wait for it
            if (oldest := self._wait(node, info.waiting, Waiting502(h, txn, now))) is not None:
                self._count_502(node, info, oldest.header, oldest.txn, None, now)
            return
        self._count_502(node, info, h, txn, finding, now)

    def _wait(self, node: str, queue: list[W], item: W) -> W | None:
        """Queue ``item`` to wait for a late event; return the oldest of ``queue`` when a bound (per node, in all)
        is passed: it is decided now (counted in ``late_overflow``)."""
        queue.append(item)
        self._late_nodes.add(node)
        self._late += 1
        if len(queue) <= MAX_LATE_PER_NODE and self._late <= MAX_LATE:
            return None
        self._late -= 1
        self.stats.late_overflow += 1
        return queue.pop(0)

    def _answered(self, info: NodeInfo, txn_id: str | None) -> None:
        """Remember a transaction answered with a 502, for a failure that arrives after it."""
        if txn_id is None or txn_id in info.answered:
            return
        if len(info.answered) == info.answered.maxlen:
            self.stats.answered_evicted += 1
        info.answered.append(txn_id)

    def _count_502(
        self, node: str, info: NodeInfo, h: Header, txn: Txn | None, finding: Finding | None, now: float
    ) -> None:
        """Count one 502: on the finding that explains it, else as uncorrelated."""
        self.stats.bad_gateway += 1
        info.bad_gateway += 1
        if finding is None:
            self.stats.uncorrelated_bad_gateway += 1
            info.uncorrelated_bad_gateway += 1
            port = _port(txn.port) if txn is not None else ""
            self.bad_gateway_counts.add((node, self._origin_name(node, txn), port, "uncorrelated"))
            return
        key = finding.key
        self.bad_gateway_counts.add((node, key.origin, _port(key.port), str(key.cause)))
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
        self._recent502.put(ck, Recent502(ts, txn_id, via_event, not via_event), now)
        return False

    def _explain_502(self, node: str, info: NodeInfo, ts: float, txn: Txn | None) -> Finding | None:
        window = self._window
        if txn is not None and txn.failure is not None and abs(ts - txn.failed_at) <= window:
            finding = self._findings.get(txn.failure)
            if finding is not None:
                return finding
        if txn is not None and (idents := self._origin_idents(node, txn)):
            best: Blame | None = None
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
            if warned is not None and abs(h.ts - (warned.ts if isinstance(warned, Blame) else warned.header.ts)) <= (
                self._window
            ):
                self.stats.absorbed_errors += 1
                if isinstance(warned, Pending):
                    warned.absorbed.append(h.text)
                elif (finding := self._findings.get(warned.key)) is not None:
                    self._evidence(finding, h.text)
                return
            if self.settings.reorder_wait > 0:  # its WARNING may come after it: wait for it
                if (held := self._wait(node, info.held, HeldError(h, ev, now))) is not None:
                    self._failure(node, info, held.header, held.event, Cause.OTHER_VERIFY_ERROR, now)
                return
            cause = Cause.OTHER_VERIFY_ERROR
        absorbed: list[str] = []
        if info.held and ev.source is not FailureSource.SSL_ERROR:  # ERRORs that came before their WARNING
            names = {n for n in (ev.name, ev.host, ev.ip) if n}
            for held in [e for e in info.held if e.event.name in names and abs(h.ts - e.header.ts) <= self._window]:
                info.held.remove(held)
                self._late -= 1
                self.stats.absorbed_errors += 1
                absorbed.append(held.header.text)
        self._failure(node, info, h, ev, cause, now, absorbed)

    def _failure(
        self,
        node: str,
        info: NodeInfo,
        h: Header,
        ev: CertFailure,
        cause: Cause,
        now: float,
        absorbed: Sequence[str] = (),
    ) -> None:
        """A failure with its cause: joined to its transaction now, or waiting to learn which one it is."""
        fresh, failed = self._answered_candidates(node, h.ts, ev, info) if ev.enforced else ([], [])
        candidates = self._candidates(node, h.ts, ev) if not fresh else []
        if fresh or (failed and not candidates):
            # Its transaction was already answered with a 502 (the failure arrived late): the 502 names it. One
            # that failed already is taken only when no other fits (a retried handshake of that connection).
            self.stats.late_failures += 1
            choice = (fresh or failed)[0]
            self._apply(node, info, h, ev, cause, self._txns.get((node, choice.txn)), choice.port, now, absorbed)
            return
        if len({c.port for c in candidates}) > 1:
            self._defer(node, info, Pending(h, ev, cause, candidates, now, list(absorbed)), now)
            return
        txn = self._txns.get((node, candidates[0].txn)) if candidates else None
        self._apply(node, info, h, ev, cause, txn, candidates[0].port if candidates else None, now, absorbed)

    def _answered_candidates(
        self, node: str, ts: float, ev: CertFailure, info: NodeInfo
    ) -> tuple[list[Candidate], list[Candidate]]:
        """Transactions of ``node`` answered with a 502 within the window whose connection is the one that failed,
        in the order of their 502s: those with no failure of their own yet, and those with one. Only a 502 sent no
        earlier than the failure (by their time stamps): arrival order may differ from event order, but a failure
        that happened after a transaction was answered did not cause its 502 (a 502 of another kind, ``connect
        failed`` say, on the same origin, would otherwise take the next connection's failure and its port)."""
        names = {n for n in (ev.host, ev.name) if n}
        fresh: list[Candidate] = []
        failed: list[Candidate] = []
        for txn_id in info.answered:
            txn = self._txns.get((node, txn_id))
            if txn is None or ts > txn.last or txn.last - ts > self._window:
                continue
            txn_names = txn.names()
            if (txn_names and not txn_names & names) or (not txn_names and txn.origin_ip != ev.ip):
                continue
            (fresh if txn.failure is None else failed).append(Candidate(txn_id, txn.port, txn.last))
        return fresh, failed

    def _decide(
        self, node: str, info: NodeInfo, due: Callable[[Any], bool], now: float, *, pending: bool = True
    ) -> None:
        """Decide what waited long enough: ERRORs (as ``other_verify_error``), then failures waiting for their
        transaction, then 502s (uncorrelated), so a 502 is counted after the failures decided with it."""
        for held in [e for e in info.held if due(e)]:
            info.held.remove(held)
            self._late -= 1
            self._failure(node, info, held.header, held.event, Cause.OTHER_VERIFY_ERROR, now)
        if pending and info.pending:
            self._settle_due(node, info, due, now)
        for waiting in [w for w in info.waiting if due(w)]:
            info.waiting.remove(waiting)
            self._late -= 1
            self._count_502(node, info, waiting.header, waiting.txn, None, now)
        if not info.held and not info.waiting:
            self._late_nodes.discard(node)

    def _decide_evicted(self, info: NodeInfo, now: float) -> None:
        """A node evicted from the table (beyond ``max_nodes``): what waited is decided now, not lost."""
        waited: list[HeldError | Pending | Waiting502] = [*info.held, *info.pending, *info.waiting]
        if waited:
            self._decide(waited[0].header.host, info, lambda _p: True, now)

    def _rejoin(self, node: str, info: NodeInfo, now: float) -> None:
        """An enforced failure arrived: the 502s it explains stop waiting and are counted on its finding."""
        for waiting in list(info.waiting):
            finding = self._explain_502(node, info, waiting.header.ts, waiting.txn)
            if finding is not None:
                info.waiting.remove(waiting)
                self._late -= 1
                self.stats.late_bad_gateway += 1
                self._count_502(node, info, waiting.header, waiting.txn, finding, now)
        if not info.held and not info.waiting:
            self._late_nodes.discard(node)

    def _candidates(self, node: str, ts: float, ev: CertFailure) -> list[Candidate]:
        """Open transactions of ``node`` within the window whose connection is the one that failed, latest first."""
        names = {n for n in (ev.host, ev.name) if n}
        seen: set[str] = set()
        out: list[Candidate] = []
        for ident in (*names, ev.ip):
            recent = self._by_origin.get((node, ident)) if ident else None
            for txn_id in recent or ():
                if txn_id in seen:
                    continue
                seen.add(txn_id)
                txn = self._txns.get((node, txn_id))
                if txn is None or txn.state is TxnState.CLOSED or abs(ts - txn.last) > self._window:
                    continue
                txn_names = txn.names()
                if (txn_names and not txn_names & names) or (not txn_names and txn.origin_ip != ev.ip):
                    continue  # another name was used for that connection, so another certificate check
                out.append(Candidate(txn_id, txn.port, txn.last))
        out.sort(key=lambda c: c.last, reverse=True)
        return out

    def _defer(self, node: str, info: NodeInfo, pending: Pending, now: float) -> None:
        self.stats.deferred_failures += 1
        info.pending.append(pending)
        if len(info.pending) > MAX_PENDING_PER_NODE:
            self._settle(node, info, info.pending[0], info.pending[0].candidates[0], now)
        if pending.event.source is not FailureSource.SSL_ERROR:
            for name in {pending.event.name, pending.event.host, pending.event.ip}:
                if name:
                    self._warnings.put((node, name), pending, now)

    def _learn(self, node: str, info: NodeInfo, txn_id: str, status: int | None, now: float) -> None:
        """A response on a candidate transaction tells which one a waiting failure belongs to."""
        for pending in list(info.pending):
            match = next((c for c in pending.candidates if c.txn == txn_id), None)
            if match is None or status is None:
                continue
            if not pending.event.enforced:
                # A permissive failure does not stop its connection: neither a success nor a 502 (of another
                # cause: ``connect failed`` on the same origin, say) tells which one it was.
                continue
            if status == 502:
                self._settle(node, info, pending, match, now)
            elif status < 500:  # that connection worked, so the failure was not its own
                pending.candidates.remove(match)
                if len(pending.ports()) <= 1:
                    self._settle(node, info, pending, self._likeliest(node, pending), now)

    def _settle_due(self, node: str, info: NodeInfo, due: Callable[[Pending], bool], now: float) -> None:
        for pending in [p for p in info.pending if due(p)]:
            self._settle(node, info, pending, self._likeliest(node, pending), now)

    def _likeliest(self, node: str, pending: Pending) -> Candidate | None:
        """Without news: the latest candidate on a port where this failure is already known, else the latest."""
        ev = pending.event
        for candidate in pending.candidates:  # latest first
            key = FindingKey(node, ev.host, candidate.port, pending.cause, ev.enforced)
            finding = self._findings.get(key)
            if finding is not None and finding.active:
                return candidate
        return pending.candidates[0] if pending.candidates else None

    def _settle(self, node: str, info: NodeInfo, pending: Pending, choice: Candidate | None, now: float) -> None:
        info.pending.remove(pending)
        txn = self._txns.get((node, choice.txn)) if choice is not None else None
        port = choice.port if choice is not None else None
        self._apply(node, info, pending.header, pending.event, pending.cause, txn, port, now, pending.absorbed)

    def _apply(
        self,
        node: str,
        info: NodeInfo,
        h: Header,
        ev: CertFailure,
        cause: Cause,
        txn: Txn | None,
        port: int | None,
        now: float,
        absorbed: Sequence[str] = (),
    ) -> None:
        """Count one failure on its finding and remember it for the joins that follow."""
        key = FindingKey(node, ev.host, port, cause, ev.enforced)
        finding = self._finding(key, ev.ip or (txn.origin_ip if txn is not None else None), h, now)
        self.stats.cert_failures += 1
        self.failure_counts.add((node, ev.host, _port(port), str(cause), "true" if ev.enforced else "false"))
        finding.cert_failures += 1
        finding.error, finding.depth = ev.error, ev.depth
        finding.last_failure = max(finding.last_failure, h.ts)
        finding.last_activity = now
        self._seen(finding, h)
        if txn is not None and not finding.evidence and txn.request_text is not None:
            self._evidence(finding, txn.request_text)
        self._evidence(finding, h.text)
        for text in absorbed:
            self._evidence(finding, text)
        self._signal(finding, Signal.ENFORCED_FAILURE if ev.enforced else Signal.PERMISSIVE_FAILURE, now)
        if txn is not None:
            self._txn_signal(txn, TxnSignal.CERT_FAILURE)
            if ev.enforced:
                txn.failure, txn.failed_at = key, h.ts
        blame = Blame(h.ts, key)
        names = {n for n in (ev.name, ev.host, ev.ip) if n}
        if ev.source is not FailureSource.SSL_ERROR:
            for name in names:
                self._warnings.put((node, name), blame, now)
        if ev.enforced:
            for name in names:
                self._blame.put((node, name), blame, now)
            info.recent.append(blame)
            if info.waiting:
                self._rejoin(node, info, now)
        if ev.ip is not None and ev.ip != ev.host:
            self._aliases.put((node, ev.ip), ev.host, now)

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
        self._by_origin_name.setdefault(key.origin, set()).add(key)

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
        same_origin = self._by_origin_name.get(key.origin)
        if same_origin is not None:
            same_origin.discard(key)
            if not same_origin:
                del self._by_origin_name[key.origin]

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


def _port(port: int | None) -> str:
    """A port as a label value: the number, or "" when unknown."""
    return "" if port is None else str(port)
