"""The fused fast path of :meth:`Engine.feed <certwatch.engine.Engine.feed>`: the shapes that dominate real traffic,
read with one regex call and written straight into the correlator's tables. Pure, no I/O.

Shapes it owns (anything else, or anything it is unsure of, goes to the layered path: :mod:`certwatch.syslog`,
:mod:`certwatch.parse`, :meth:`Correlator.observe <certwatch.correlate.Correlator.observe>`, which stay the
readable reference of the formats):

1. In the daemon (a receive clock is given), messages without ``traffic_server`` in them: only their node is read
   (:data:`HOST`), for the per-node counters. (The same as the layered :meth:`Engine.live`.)
2. ``traffic_server`` messages whose header is RFC 3164 with an RFC 3339 stamp (``<PRI>`` optional, the diagnostic
   snapshot lines included) and whose body is well formed but names nothing certwatch reads (``Event="Request
   Allowed"`` and the like): counted as ignored.
3. The four request/response debug lines of ``network.http.trafficserver`` in the field order of every Cisco sample,
   with the usual first HTTP line folded into the same regex (:data:`MESSAGE`)::

     <183>2022-09-14T10:15:02.117+02:00 expc01 traffic_server[3120]: UTCTime="..." Module="..." Level="DEBUG":
     Detail="Sending Request" Txn-id="5121" TrackingID="JA_..." Dst-ip="10.10.10.12" Dst-port="6972"
     HTTPMSG: |GET /CSFjdoe.cnf.xml HTTP/1.1 Host: cucm-sub1.example.com:6972 ...

   The HTTP message may also follow on continuation lines: it is then read by the layered parser's own helpers,
   which the folded regex spares in the usual case. These lines update the transaction, join-index and
   response-count tables directly, with no per-message objects but the transaction itself. The healthy transaction
   (request, success, no failure known for its node's origins) stays here from its first line to its last. A
   ``Sending Response`` 502, a node with events waiting (failures for their transaction, 502s for a late failure,
   ERRORs for their WARNING), the first message of a node and a response without a status line go to the layered
   path (before anything was changed), and so does any message that is not ASCII (where the regex's ``[0-9]``
   would not be ``\\d``).

Equivalence is tested, not argued: ``tests/property/test_fastpath_properties.py`` feeds generated corpora (every
example shape, hostile mutations of these lines, any batching) through both paths and requires identical findings,
statistics, node counters and table contents.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from certwatch.correlate.records import RECENT_PER_ORIGIN, Txn
from certwatch.correlate.states import TxnState
from certwatch.nodes import NodeActivity
from certwatch.parse._patterns import REQUEST_LINE, STATUS_LINE
from certwatch.parse.mra import decode_target
from certwatch.parse.traffic_server import host_header, port_number
from certwatch.syslog import HOST, StampCache

if TYPE_CHECKING:
    from certwatch.correlate import Correlator
    from certwatch.engine import Engine

NEEDLE: Final = b"traffic_server"

# Header groups: 1 whole seconds, 2 fraction, 3 zone, 4 host (as certwatch.syslog._BSD reads them). Then, when the
# body is a request/response line in the usual order: 5 kind, 6 Txn-id, 7 Src|Dst, 8 ip, 9 port; then the first
# HTTP line when it follows ``HTTPMSG: |`` at once: 10 status, or 11 request target and 12 a Host header right
# after the request line. Applied to ASCII text only, where ``[0-9]`` is ``\d`` (cheaper in ``re``). A host with a
# colon inside (an IPv6 address) is left to the layered path: without one, ``([^\s:]+):?`` reads what ``(\S+?):?``
# does.
MESSAGE: Final = re.compile(
    r"(?:<[0-9]{1,3}>)?([0-9]{4}-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9])(?:[.,]([0-9]{1,9}))?"
    r"([Zz]|[+-][0-9][0-9]:?[0-9][0-9])? +([^\s:]+):? +traffic_server(?:\[[^\]\s]*\])?: ?"
    r'(?:UTCTime="[^"]*" Module="[^"]*" Level="[^"]*": '
    r'Detail="(Receive Request|Sending Request|Receive Response|Sending Response)" Txn-id="([^"]+)" '
    r'(?:TrackingID="[^"]*" )?(Src|Dst)-ip="([^"]*)" (?:Src|Dst)-port="([^"]*)"'
    r"(?: HTTPMSG: \|(?:HTTP/[0-9](?:\.[0-9])? ([0-9]{3})\b"
    r"|[A-Z]{3,7} (/\S*|\w+://\S+) HTTP/[0-9](?:\.[0-9])?(?: Host:[ \t]*(\[[0-9A-Fa-f:.]+\]|[^\s:|]+))?))?)?"
)
MESSAGE_EXAMPLE: Final = (
    '<183>2022-09-14T10:15:02.117+02:00 expc01 traffic_server[3120]: UTCTime="2022-09-14 08:15:02,117" '
    'Module="network.http.trafficserver" Level="DEBUG": Detail="Sending Request" Txn-id="5121" '
    'TrackingID="JA_9f1c2e3a" Dst-ip="10.10.10.12" Dst-port="6972" HTTPMSG: |GET /CSFjdoe.cnf.xml HTTP/1.1 '
    "Host: cucm-sub1.example.com:6972 |"
)

RECEIVE_REQUEST, SENDING_REQUEST, RECEIVE_RESPONSE, SENDING_RESPONSE = 1, 2, 3, 4
_KINDS: Final = {
    "Receive Request": (RECEIVE_REQUEST, "Src"),
    "Sending Request": (SENDING_REQUEST, "Dst"),
    "Receive Response": (RECEIVE_RESPONSE, "Src"),
    "Sending Response": (SENDING_RESPONSE, "Dst"),
}
# Substrings that make the layered parser read a traffic_server body (certwatch.parse.traffic_server.read_event).
_READ: Final = (
    'Detail="R',
    'Detail="S',
    "Sending HTTP error response",
    "Core server certificate verification failed",
    "not in certificate",
    "SSL connection failed",
)
_READ_ANY: Final = re.compile("|".join(map(re.escape, _READ)))  # any of them, in one C-level search
_CLASSES: Final = {code: f"{code // 100}xx" for code in range(1000)}
_OPEN, _CLOSED = TxnState.OPEN, TxnState.CLOSED
_MEMO: Final = 4096  # entries per memo


class FastPath:
    """Bound to one :class:`~certwatch.engine.Engine`; reads its parts at every batch (a reload may replace them)."""

    __slots__ = ("_engine", "_fractions", "_hosts", "_ports", "_targets")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._hosts: dict[bytes, NodeActivity] = {}  # raw host -> its NodeActivity (own entries only; bounded)
        # Memos of pure functions, bounded: a port field's text, a request path's first segment (MRA target).
        self._ports: dict[str, int | None] = {}
        self._targets: dict[str, tuple[str, int] | None] = {}
        self._fractions: dict[str, float] = {}  # a stamp's fraction digits -> seconds (as StampCache computes them)

    def feed(self, messages: Sequence[bytes], now: float | None) -> None:
        engine = self._engine
        stats = engine.stats
        nodes = engine.nodes
        known = nodes._nodes
        stamps = engine.headers._stamps
        if now is not None:
            engine.headers.reference = now
        reference = engine.message
        match = MESSAGE.match
        hosts = self._hosts
        http = self._http
        for raw in messages:
            if now is not None and NEEDLE not in raw:
                stats.messages += 1
                h = HOST.match(raw)
                if h is None:
                    stats.failures["not_syslog"] += 1
                    continue
                stats.ignored += 1
                activity = hosts.get(h[1])
                if activity is None:
                    activity = self._activity(h[1])
                activity.messages += 1
                activity.last_message = now
                continue
            if not raw.isascii():
                reference(raw, now)
                continue
            text = raw.decode("ascii")
            m = match(text)
            if m is None:
                reference(raw, now)
                continue
            kind_text = m[5]
            if kind_text is None:  # a traffic_server message of another shape: ignored unless the parser reads it
                body = text[m.end() :]
                if _READ_ANY.search(body) is not None or ('="' in body and body.count('"') % 2):
                    reference(raw, now)
                    continue
                parsed = stamps.parse_parts(m[1], m[2], m[3])
                if parsed is None:
                    reference(raw, now)
                    continue
                node = m[4]
                stats.messages += 1
                activity = known.get(node) or nodes.get(node)
                activity.messages += 1
                activity.last_message = parsed[0] if now is None else now
                stats.traffic_server += 1
                stats.ignored += 1
                continue
            kind, side = _KINDS[kind_text]
            if m[7] != side or not http(m, text, kind, now, stamps):
                reference(raw, now)

    def _activity(self, raw_host: bytes) -> NodeActivity:
        nodes = self._engine.nodes
        host = raw_host.decode(errors="replace")
        activity = nodes.get(host)
        if nodes._nodes.get(host) is activity:
            if len(self._hosts) >= 4 * (nodes.max_nodes + len(nodes.configured)):
                self._hosts.clear()
            self._hosts[raw_host] = activity
        return activity

    def _http(self, m: re.Match[str], text: str, kind: int, now: float | None, stamps: StampCache) -> bool:
        """One request/response line; False (nothing changed) when the layered path must take it."""
        engine = self._engine
        c: Correlator = engine.correlator
        node = m[4]
        known = c._nodes._data.get(node)
        if known is None:
            return False  # the node's first record: the layered path creates its entry
        info = known[1]
        if info.pending or info.waiting or info.held:
            return False  # events wait on this node: the layered path decides them in its order
        msg_at = m.end(9) + 1
        status = host = target_host = target_port = None
        if kind >= RECEIVE_RESPONSE:
            code = m[10]
            if code is None:
                line = STATUS_LINE.search(text, msg_at)
                if line is None:
                    return False  # truncated: the layered path counts it
                code = line[1]
            status = int(code)
            if status == 502 and kind == SENDING_RESPONSE:
                return False
        elif kind == RECEIVE_REQUEST:
            path = m[11]
            if path is None:
                line = REQUEST_LINE.search(text[msg_at:])
                path = line[2] if line is not None else None
            if path is not None and (target := self._target(path)) is not None:
                target_host, target_port = target
        else:
            folded, path = m[12], m[11]
            if folded is not None and "|" not in path and not path.startswith("Host:"):
                host = folded.strip("[]").lower()
            else:
                host = host_header(text[msg_at:])
        whole, fraction, zone = m.group(1, 2, 3)
        base = stamps._cache.get(whole if zone is None else whole + zone)  # StampCache.parse_parts, its hit inlined
        if base is None:
            parsed = stamps.parse_parts(whole, fraction, zone)
            if parsed is None:
                return False
            ts = parsed[0]
        elif fraction is None:
            ts = base[0]
        else:
            fractions = self._fractions
            part = fractions.get(fraction)
            if part is None:
                if len(fractions) >= _MEMO:
                    fractions.clear()
                part = fractions[fraction] = int(fraction) / 10 ** len(fraction)
            ts = base[0] + part
        ip = m[8] or None
        port_text = m[9]
        ports = self._ports
        if port_text in ports:
            port = ports[port_text]
        else:
            if len(ports) >= _MEMO:
                ports.clear()
            port = ports[port_text] = port_number(port_text)

        # ---- the engine's counters (Engine.message) --------------------------------------------------------------
        stats = engine.stats
        stats.messages += 1
        stats.traffic_server += 1
        stats.events += 1
        nodes = engine.nodes
        activity = nodes._nodes.get(node) or nodes.get(node)
        activity.messages += 1
        activity.request_lines += 1
        if ts > engine._latest:
            engine._latest = ts
        if now is None:
            activity.last_message = ts
            now = engine._latest
        else:
            activity.last_message = now

        # ---- the correlator (Correlator.observe -> _http -> _request / _response) --------------------------------
        info.records += 1
        info.request_lines += 1
        c.stats.records += 1
        txns = c._txns
        data = txns._data
        txn_id = m[6]
        key = (node, txn_id)
        found = data.get(key)
        if found is None:
            txn = Txn(ts, ts)
            data[key] = (now, txn)
            if len(data) > txns.max_size:
                txns.evicted += 1
                data.popitem(last=False)
        else:
            txn = found[1]
            if ts < txn.started:
                txn.started = ts
            if ts > txn.last:
                txn.last = ts
            data.move_to_end(key)
            data[key] = (now, txn)
        if kind == SENDING_RESPONSE:
            if ip is not None and port is not None:
                txn.client = (ip, port)
            origin = txn.origin_host or txn.target_host
            if not origin and txn.origin_ip is not None:
                origin = c._aliases.get((node, txn.origin_ip)) or txn.origin_ip
            port_label = "" if txn.port is None else str(txn.port)
            c.response_counts.add((node, origin or "", port_label, _CLASSES.get(status, "")))  # type: ignore[arg-type]
        elif kind == RECEIVE_RESPONSE:
            txn.origin_ip = txn.origin_ip or ip
            txn.port = txn.port or port
        else:  # a request (Correlator._request)
            if kind == RECEIVE_REQUEST:
                if ip is not None and port is not None:
                    txn.client = (ip, port)
                    clients, ckey = c._clients, (node, ip, port)
                    cdata = clients._data
                    if ckey in cdata:
                        cdata.move_to_end(ckey)
                        cdata[ckey] = (now, txn_id)
                    else:
                        cdata[ckey] = (now, txn_id)
                        if len(cdata) > clients.max_size:
                            clients.evicted += 1
                            cdata.popitem(last=False)
                if target_host is not None:
                    txn.target_host = target_host
                    txn.port = txn.port or target_port
            else:
                txn.origin_ip = ip or txn.origin_ip
                txn.origin_host = host or txn.origin_host
                txn.port = port or txn.port
                txn.request_text = text
            by_origin = c._by_origin
            odata = by_origin._data
            for ident in (txn.origin_ip, txn.origin_host, txn.target_host):
                if not ident:
                    continue
                okey = (node, ident)
                indexed = odata.get(okey)
                if indexed is not None:
                    recent = indexed[1]
                    if not recent or recent[-1] != txn_id:
                        recent.append(txn_id)
                    odata.move_to_end(okey)
                    odata[okey] = (now, recent)
                else:
                    odata[okey] = (now, deque((txn_id,), maxlen=RECENT_PER_ORIGIN))
                    if len(odata) > by_origin.max_size:
                        by_origin.evicted += 1
                        odata.popitem(last=False)
            if txn.state is _CLOSED:
                c.stats.unexpected_transitions += 1  # (CLOSED, REQUEST) is not a transition
            return True
        was = txn.state
        txn.state = _CLOSED
        if was is _OPEN and status < 500 and (findings := c._by_finding_origin):  # type: ignore[operator]
            # A superset of the identities Correlator._clean_success looks up (names, else address and alias).
            alias = c._aliases.get((node, txn.origin_ip)) if txn.origin_ip is not None else None
            names = (txn.origin_host, txn.target_host, txn.origin_ip, alias)
            if any((node, name) in findings for name in names if name):
                c._clean_success(node, txn, now)  # a finding of this node may be resolved: the reference decides
        return True

    def _target(self, path: str) -> tuple[str, int] | None:
        """:func:`~certwatch.parse.mra.decode_target`, memoised by the path's first segment (which alone decides
        it: the segment must be the whole text between the first two slashes)."""
        if not path.startswith("/"):
            return None
        end = path.find("/", 1)
        segment = path if end < 0 else path[:end]
        targets = self._targets
        if segment in targets:
            return targets[segment]
        if len(targets) >= _MEMO:
            targets.clear()
        target = targets[segment] = decode_target(segment)
        return target
