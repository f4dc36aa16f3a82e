"""A deterministic Expressway-C remote-syslog corpus for ``make bench``.

``python bench/corpus.py --lines N --out PATH [--seed S] [--ts-share F]`` writes exactly ``N`` lines to ``PATH`` and
``PATH.manifest.json``: parameters, generator hash and the ground truth counted as the lines are written (messages,
502s, WARNINGs and ERRORs by kind, the findings certwatch should report). Same generator, seed and share: same bytes.

Shapes as in ``examples/`` and /work/shared/docs/expressway-logs.md: ``<PRI>``, RFC 3339 local stamps, about 70 lines
a second from ``expc01``..``expc04`` (``expc03`` words OpenSSL 3 errors its way, ``expc04`` sends no Debug lines). A
share ``F`` of the lines (default 0.10) are ``traffic_server`` lines of interleaved MRA transactions: Receive/Sending
Request and Response with their Txn-id (some with multi-line HTTPMSG bodies), ``Event="Request Allowed"``, error
events. A few hit a broken origin (self-signed TFTP certificate, IP not in the SAN, a chain two peers do not trust,
a Unity certificate expired for a while, a CUCM rejecting Expressway, a cipher mismatch; one peer permissive for one
origin) and end in a 502; a few 502s have no certificate cause. The other lines (tvcs SIP, H.323 and developer lines,
some SIPMSG bodies, XCP_JABBERD, edgeconfigprovisioning, alarm, management, httpd, untagged clusterdb) come from a
pool of 16,384 rendered lines whose stamps change: a million lines take seconds.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import heapq
import itertools
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any, Final, NamedTuple

TS_SHARE: Final = 0.10
START_MS: Final = 1663128000_000  # 2022-09-14 04:00 UTC, 06:00 local
TAIL_MARGIN: Final = 400  # no transaction starts this close to the end, so none is cut in half
FLUSH_LINES: Final = 16384
POOL_SIZE: Final = 1 << 14  # a power of two
OPENSSL1_VERIFY: Final = "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed"
OPENSSL3_VERIFY: Final = "error:0A000086:SSL routines::certificate verify failed"
UNKNOWN_CA: Final = "error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca"
HANDSHAKE: Final = "error:14094410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure"
SLOTS: Final = ("\x00local\x00", "\x00utc\x00")  # where the stamps go in a pooled line


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


def generator_hash() -> str:
    """Changes whenever this file does: run.py regenerates a corpus made by another generator."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


@functools.lru_cache(maxsize=256)
def _second(sec: int) -> tuple[str, str]:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec + 7200)), time.strftime("%F %T", time.gmtime(sec))


def stamps(ms: int) -> tuple[str, str]:
    """The header stamp (RFC 3339, local) and Expressway's ``UTCTime`` value of a millisecond epoch."""
    sec, milli = divmod(ms, 1000)
    local, utc = _second(sec)
    return f"{local}.{milli:03d}+02:00", f"{utc},{milli:03d}"


# ---- topology ----------------------------------------------------------------------------------------------------


class Node(NamedTuple):
    name: str
    ip: str
    pid: int
    debug: bool  # the remote-syslog severity filter includes Debug
    openssl3: bool
    event_utc: bool  # event lines end with UTCTime="..."


class Endpoint(NamedTuple):
    host: str  # the name Expressway-C uses (Host:, SNI); an IP when CUCM defines the node by IP
    ip: str
    port: int
    method: str
    paths: tuple[str, ...]
    weight: int


class Fault(NamedTuple):
    """Every transaction of ``nodes`` to ``endpoint`` between ``start`` and ``end`` (fractions of the corpus)
    fails this way."""

    name: str
    endpoint: Endpoint
    kind: str  # verify | sni | peer_alert | handshake
    error: str
    depth: int
    nodes: frozenset[str]
    start: float = 0.0
    end: float = 1.0
    enforced: bool = True
    attempts: int = 1


NODES: Final = (
    Node("expc01", "10.10.20.11", 3120, debug=True, openssl3=False, event_utc=False),
    Node("expc02", "10.10.20.12", 2987, debug=True, openssl3=False, event_utc=False),
    Node("expc03", "10.10.20.13", 4410, debug=True, openssl3=True, event_utc=True),
    Node("expc04", "10.10.20.14", 3655, debug=False, openssl3=False, event_utc=True),
)
ALL: Final = frozenset(n.name for n in NODES)
UDS: Final = ("/cucm-uds/user/{user}/devices", "/cucm-uds/user/{user}", "/cucm-uds/servers",
              "/cucm-uds/clusterUser?username={user}")  # fmt: skip
TFTP: Final = ("/CSF{user}.cnf.xml", "/SPDefault.cnf.xml", "/ITLFile.tlv", "/TCT{user}.cnf.xml")
CUC: Final = ("/vmrest/mailbox", "/vmrest/messages?pageNumber=1&rowsPerPage=50", "/vmrest/user")
PUB_UDS = Endpoint("cucm-pub.example.com", "10.10.10.11", 8443, "GET", UDS, 250)
SUB1_UDS = Endpoint("cucm-sub1.example.com", "10.10.10.12", 8443, "GET", UDS, 190)
SUB2_UDS = Endpoint("cucm-sub2.example.com", "10.10.10.13", 8443, "GET", UDS, 150)
PUB_TFTP = Endpoint("cucm-pub.example.com", "10.10.10.11", 6972, "GET", TFTP, 60)
SUB1_TFTP = Endpoint("cucm-sub1.example.com", "10.10.10.12", 6972, "GET", TFTP, 15)
SUB2_TFTP = Endpoint("cucm-sub2.example.com", "10.10.10.13", 6972, "GET", TFTP, 30)
SUB3_BY_IP = Endpoint("10.10.10.14", "10.10.10.14", 8443, "GET", UDS, 6)  # cucm-sub3, defined by IP on CUCM
IMP01 = Endpoint("imp01.example.com", "10.10.10.21", 8443, "POST", ("/EPASSoap/service/v105",), 170)
IMP02 = Endpoint("imp02.example.com", "10.10.10.22", 8443, "POST", ("/EPASSoap/service/v105",), 20)
CUC01 = Endpoint("cuc01.example.com", "10.10.10.31", 443, "GET", CUC, 40)
WEIGHTED: Final = [ep for ep in (PUB_UDS, SUB1_UDS, SUB2_UDS, PUB_TFTP, SUB1_TFTP, SUB2_TFTP, SUB3_BY_IP, IMP01, IMP02,
                                 CUC01) for _ in range(ep.weight)]  # fmt: skip
FAULTS: Final = (
    Fault("self_signed_tftp", SUB1_TFTP, "verify", "self signed certificate", 0, ALL, attempts=2),
    Fault("ip_not_in_san", SUB3_BY_IP, "sni", "", 0, ALL),
    Fault("untrusted_chain", IMP02, "verify", "unable to get local issuer certificate", 1, ALL - {"expc01", "expc02"}),
    Fault("expired_unity", CUC01, "verify", "certificate has expired", 0, ALL, 0.45, 0.70),
    Fault("cucm_rejects_us", SUB2_UDS, "peer_alert", UNKNOWN_CA, 0, frozenset({"expc02"}), 0.20, 0.30),
    Fault("no_shared_cipher", SUB2_TFTP, "handshake", HANDSHAKE, 0, frozenset({"expc01"}), 0.80, 0.85),
    Fault("permissive_ecdsa", PUB_TFTP, "verify", "self signed certificate", 0, frozenset({"expc03"}), enforced=False),
)
SURNAMES: Final = ("doe", "smith", "garcia", "muller", "rossi", "dubois", "novak", "silva", "tanaka", "nguyen")

# The other lines: (weight, template); Corpus.other fills the fields, {L} and {U} are the stamps.
_SIP = '<166>{L} {node} tvcs: UTCTime="{U}" Module="network.sip" Level="INFO":  Action="'
OTHERS: Final = (
    (280, (_SIP + 'Received" Local-ip="{ip}" Local-port="5061" Src-ip="{c}" Src-port="{p}" Detail="Receive Request '
           "Method={method}, CSeq={n}, Request-URI=sip:cucm-pub.example.com, Call-ID={h64}@{c}, From-Tag={h32}, "
           'To-Tag=, Msg-Hash={hash}, Local-SessionID=, Remote-SessionID="')),
    (280, (_SIP + 'Sent" Local-ip="{ip}" Local-port="5061" Dst-ip="{c}" Dst-port="{p}" Detail="Sending Response '
           "Code=200, Method=REGISTER, CSeq={n}, To=sip:{u}@example.com, Call-ID={h64}@{c}, From-Tag={h32}, "
           'To-Tag={t32}, Msg-Hash={hash}, Local-SessionID=, Remote-SessionID="')),
    (2, ('<167>{L} {node} tvcs: UTCTime="{U}" Module="network.sip" Level="DEBUG":  Action="Received" Local-ip="{ip}" '
         'Local-port="5061" Src-ip="{c}" Src-port="5061" Detail="Receive Request Method=INVITE, '
         'Request-URI=sip:{u}@example.com, Call-ID={h64}@{c}"\nSIPMSG:\n|INVITE sip:{u}@example.com SIP/2.0\n'
         " Via: SIP/2.0/TLS {c}:5061;branch=z9hG4bK{t32}\n Call-ID: {h64}@{c}\n CSeq: 101 INVITE\n"
         " From: <sip:{u2}@example.com>;tag={h32}\n To: <sip:{u}@example.com>\n Max-Forwards: 70\n"
         " Content-Length: 0\n |")),
    (40, ('<166>{L} {node} tvcs: UTCTime="{U}" Module="network.h323" Level="INFO":  Action="Sent" '
          'Dst-ip="10.15.13.16" Dst-port="1719" Detail="Sending RAS SCI  SeqNum={n} Retransmit=True"')),
    (5, ('<165>{L} {node} tvcs: Event="External Server Communications Failure" Reason="gatekeeper timed out" '
         'Service="NeighbourGatekeeper" Detail="name:10.15.13.16:1719" Level="1" UTCTime="{U}"')),
    (5, ('<165>{L} {node} tvcs: Event=" Inbound TLS Negotiation Error " Service="SIP" Src-ip="{c}" Src-port="58531" '
         'Dst-ip="{ip}" Dst-port="5061" Detail=" self signed certificate in certificate chain " Protocol="TLS" '
         'Level="1" UTCTime="{U}"')),
    (120, ('<175>{L} {node} tvcs: UTCTime="{U}" Module="developer.nomodule" Level="DEBUG" '
           'CodeLocation="ppcmains/sip/sipproxy/SipProxyAuthentication.cpp(686)" '
           'Method="SipProxyAuthentication::checkProxyAuthorization" Thread="0x7f{h40}":  '
           'Detail="No proxy authorization required" Call-ID="{h64}@{c}"')),
    (100, ('<166>{L} {node} XCP_JABBERD[23843]: UTCTime="{U}" ThreadID="139747212576512" Module="Jabber" Level="INFO "'
           " CodeLocation=\"mio.c:1109\" Detail=\"Connecting on fd {fd} to host '10.10.10.21', port 7400\"")),
    (80, ('<183>{L} {node} edgeconfigprovisioning: UTCTime="{U}" Module="network.http.edgeconfigprovisioning" '
          'Level="DEBUG" Action="Received" Request-url="https://cucm-pub.example.com:8443/cucm-uds/user/{u}/devices" '
          "HTTPMSG: |HTTP/1.1 200 OK Server: Content-Type: application/xml;charset=utf-8 |")),
    (4, ('<182>{L} {node} edgeconfigprovisioning: Level="INFO" Detail="Failed to authenticate user against server" '
         "Username=\"{u}\" Server=\"('https', 'cucm-pub.example.com', 8443)\" "
         "Reason=\"<twisted.python.failure.Failure <type 'exceptions.Exception'>>\" UTCTime=\"{U}\"")),
    (5, ('<164>{L} {node} alarm: Level="WARN" Event="Alarm Raised" Id="20004" '
         'UUID="3bca6888-f622-11df-93be-07cc953d7b99" Severity="warning" Detail="Cluster communication failure: The '
         'system is unable to communicate with one or more of the cluster peers" UTCTime="{U}"')),
    (5, ('<164>{L} {node} management: Level="WARN" Event="Alarm Lowered" Id="20007" '
         'UUID="e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6" Severity="warning" Detail="Restart required: Cluster '
         'configuration has been changed, however a restart is required for this to take effect" UTCTime="{U}"')),
    (10, ('<134>{L} {node} httpd[15060]: web: Event="System Configuration Changed" '
          "Detail=\"configuration/cluster/tls_verify - changed from: 'Permissive' to: 'Enforcing'\" "
          'Src-ip="10.15.13.30" Src-port="{p}" User="admin" Level="1" UTCTime="{U}"')),
    (64, ('<134>{L} {node} UTCTime="{U}" Module="developer.clusterdb.restapi" Level="INFO" '
          'CodeLocation="clusterdb/restapi.py(512)" Method="GET" Url="/api/management/clusterdb/peers" '
          'Detail="request served" Duration="{d}ms"')),
)  # fmt: skip
OTHER_TABLE: Final = [template for weight, template in OTHERS for _ in range(weight)]


# ---- the generator -----------------------------------------------------------------------------------------------

# A finding certwatch should report: node, origin, port, fault, enforced.
Expected = tuple[str, str, int | None, str, bool]


class Txn(NamedTuple):
    node: Node
    ep: Endpoint
    id: int
    tracking: str
    port: int  # the client's port on 127.0.0.1
    client: str
    user: str
    path: str


class Corpus:
    """Merges the other lines, written at the clock, with scheduled traffic_server lines, kept in a heap by time."""

    def __init__(self, lines: int, seed: int, share: float = TS_SHARE) -> None:
        self.lines, self.share, self.rng = lines, share, (rng := random.Random(seed))
        self.txn_ids = {n.name: rng.randrange(1000, 9000) for n in NODES}
        self.ports = {n.name: rng.randrange(32768, 60000) for n in NODES}
        self.via = {n.name: self.uuid() for n in NODES}
        self.users = [f"{chr(97 + rng.randrange(26))}{rng.choice(SURNAMES)}{rng.randrange(100)}" for _ in range(400)]
        self.truth: Counter[str] = Counter()
        self.findings: set[Expected] = set()
        self.heap: list[tuple[int, int, str, tuple[str, ...], Expected | None]] = []  # ms, seq, text, keys, finding
        self.emitted = self.bytes = self.scheduled = 0
        self.seq = itertools.count()  # the order of lines scheduled at the same millisecond
        self.buf: list[str] = []

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}"

    def user(self) -> str:
        return self.users[int(self.rng.random() * len(self.users))]

    def other(self, node: Node) -> tuple[str, str, str, int]:
        """A pooled line, split around its stamps: ``head + local + mid + utc + tail``, and its line count."""
        rng = self.rng

        def hexa(bits: int) -> str:
            return f"{rng.getrandbits(bits):0{bits // 4}x}"

        text = OTHER_TABLE[int(rng.random() * len(OTHER_TABLE))].format(
            L=SLOTS[0], U=SLOTS[1], node=node.name, ip=node.ip, c=f"10.10.30.{1 + int(rng.random() * 250)}",
            p=25000 + int(rng.random() * 9000), n=int(rng.random() * 9000), u=self.user(), u2=self.user(),
            h64=hexa(64), h32=hexa(32), t32=hexa(32), h40=hexa(40), hash=rng.getrandbits(63), d=int(rng.random() * 40),
            fd=10 + int(rng.random() * 90), method="REGISTER" if rng.random() < 0.7 else "OPTIONS",
        )  # fmt: skip
        head, rest = text.split(SLOTS[0])
        mid, tail = rest.split(SLOTS[1])
        return head, mid, tail, text.count("\n") + 1

    # -- traffic_server lines, scheduled at their own time ----------------------------------------------------------

    def emit(
        self, ms: int, pri: int, t: Txn, body: str, keys: tuple[str, ...] = (), found: Expected | None = None
    ) -> None:
        text = f"<{pri}>{stamps(ms)[0]} {t.node.name} traffic_server[{t.node.pid}]: {body}"
        heapq.heappush(self.heap, (ms, next(self.seq), text, ("ts_message", *keys), found))
        self.scheduled += text.count("\n") + 1

    def debug(self, ms: int, t: Txn, detail: str, side: str, ip: str, port: int, http: list[str]) -> None:
        """A network.http.trafficserver DEBUG line: ``http`` is the HTTP message, flattened or one line a header."""
        if not t.node.debug:
            return
        head = (
            f'UTCTime="{stamps(ms)[1]}" Module="network.http.trafficserver" Level="DEBUG": Detail="{detail}" '
            f'Txn-id="{t.id}" TrackingID="{t.tracking}" {side}-ip="{ip}" {side}-port="{port}"'
        )
        if len(http) == 1:
            self.emit(ms, 183, t, f"{head} HTTPMSG: |{http[0]} |")
        else:
            body = "\n ".join(http[1:])
            self.emit(ms, 183, t, f"{head} \nHTTPMSG:\n|{http[0]}\n {body}\n \n |", ("multiline",))

    def event(self, ms: int, t: Txn, status: int, reason: str, keys: tuple[str, ...]) -> None:
        tail = f' UTCTime="{stamps(ms)[1]}"' if t.node.event_utc else ""
        body = f'Event="Sending HTTP error response" Status="{status}" Reason="{reason}" Dst-ip="127.0.0.1" '
        self.emit(ms, 182, t, f'{body}Dst-port="{t.port}"{tail}', keys)

    def response(self, ms: int, t: Txn, status: str) -> int:
        """Receive Response from the origin, then Sending Response to the client; the time of the last."""
        length, rng = 200 + int(self.rng.random() * 4000), self.rng
        for detail, side, ip, port in (("Receive", "Src", t.ep.ip, t.ep.port), ("Sending", "Dst", "127.0.0.1", t.port)):
            if detail == "Sending":
                ms += 1 + int(rng.random() * 3)
            multi = rng.random() < 0.05
            http = [f"HTTP/1.1 {status}", "Content-Type: application/xml", f"Content-Length: {length}"]
            self.debug(ms, t, f"{detail} Response", side, ip, port, http if multi else [" ".join(http)])
        return ms

    def failure(self, ms: int, t: Txn, fault: Fault) -> None:
        """The WARNING and ERROR lines of one handshake attempt."""
        node, ep, thread = t.node, t.ep, f"[ET_NET {int(self.rng.random() * 4)}]"
        finding: Expected = (node.name, ep.host, ep.port if node.debug else None, fault.name, fault.enforced)
        action = "Terminate" if fault.enforced else "Continue"
        ssl = f"{thread} ERROR: SSL connection failed for '{ep.host}': "
        if fault.kind == "sni":
            body = f"{thread} WARNING: SNI ({ep.host}) not in certificate. Action={action} server={ep.host}({ep.ip})"
            self.emit(ms, 28, t, body, ("sni_warnings",), finding)
        elif fault.kind == "verify":
            error = fault.error.replace("self signed", "self-signed") if node.openssl3 else fault.error
            body = f"{thread} WARNING: Core server certificate verification failed for ({ep.host}). Action={action} "
            keys = ("verify_warnings", f"verify_error:{error}")
            self.emit(ms, 28, t, f"{body}Error={error} server={ep.host}({ep.ip}) depth={fault.depth}", keys, finding)
        else:
            self.emit(ms, 27, t, ssl + fault.error, (f"ssl:{fault.kind}",), finding)
        if fault.kind in {"sni", "verify"} and fault.enforced:  # absorbed by the WARNING: no finding of its own
            self.emit(ms, 27, t, ssl + (OPENSSL3_VERIFY if node.openssl3 else OPENSSL1_VERIFY), ("ssl:verify_failed",))

    def transaction(self, ms: int) -> None:
        """One MRA transaction: healthy, a 401, a 502 with no certificate cause, or a failure of its origin."""
        rng, node = self.rng, NODES[int(self.rng.random() * len(NODES))]
        ep = WEIGHTED[int(rng.random() * len(WEIGHTED))]
        self.txn_ids[node.name] += 1
        port = self.ports[node.name] = 32768 + (self.ports[node.name] - 32768 + 1 + rng.randrange(8)) % 28000
        user = self.user()
        path = ep.paths[int(rng.random() * len(ep.paths))].format(user=user)
        client = f"198.51.100.{rng.randrange(1, 255)}" if rng.random() < 0.7 else f"203.0.113.{rng.randrange(1, 255)}"
        t = Txn(node, ep, self.txn_ids[node.name], "JA_" + self.uuid(), port, client, user, path)
        where, r = self.emitted / self.lines, rng.random()
        faults = [f for f in FAULTS if f.endpoint is ep and node.name in f.nodes and f.start <= where < f.end]
        fault = faults[0] if faults else None
        self.truth["transactions"] += 1
        # Receive Request, maybe Request Allowed, Sending Request
        segment = base64.b64encode(f"example.com/https/{ep.host}/{ep.port}".encode()).decode().rstrip("=")
        self.debug(ms, t, "Receive Request", "Src", "127.0.0.1", port, [f"{ep.method} /{segment}{path} HTTP/1.1"])
        if rng.random() < 0.25:
            ms += 1 + int(rng.random() * 3)
            prefix = f"/{path.split('/')[1]}/" if path.count("/") > 1 else "/"
            allowed = f'Event="Request Allowed" Detail="Access allowed" Reason="In allow list" Username="{user}" '
            rule = f'Rule="https://{ep.host}:{ep.port}{prefix}" Match="prefix" Type="Automatic" '
            self.emit(ms, 182, t, f'{allowed}Deployment="1" {rule}UTCTime="{stamps(ms)[1]}"')
        ms += 3 + int(rng.random() * 12)
        via = f"Via: https/1.1 vcs[{self.via['expc01']}] (ATS), http/1.1 vcs[{self.via[node.name]}] (ATS)"
        http = [f"{ep.method} {path} HTTP/1.1", f"Host: {ep.host}:{ep.port}", f"Client-ip: {client}"]
        http += [f"X-Forwarded-For: {client}, 127.0.0.1", via]
        if rng.random() < 0.10:
            http[2:2] = ["Accept: */*", "Cookie:<CONCEALED>", "User-Agent: Jabber/14.1.3", f"TrackingID: {t.tracking}"]
        self.debug(ms, t, "Sending Request", "Dst", ep.ip, ep.port, http if len(http) > 5 else [" ".join(http)])
        if fault is not None:
            ms += 8 + int(rng.random() * 12)
            for attempt in range(fault.attempts):
                ms += 15 + int(rng.random() * 15) if attempt else 0
                self.failure(ms, t, fault)
            if not fault.enforced:
                self.response(ms + 40 + int(rng.random() * 160), t, "200 OK")
                return
            reason, keys = "Bad Gateway" if rng.random() < 0.8 else "connect failed", ("bad_gateway_cert",)
            ms += 5 + int(rng.random() * 8)
        elif r < 0.002:  # the origin is down
            reason, keys = "connect failed", ("bad_gateway_other",)
            ms += 1000 + int(rng.random() * 2000)
        elif r < 0.022:
            ms = self.response(ms + 15 + int(rng.random() * 60), t, "401 Unauthorized")
            self.event(ms, t, 401, "Unauthorized", ("client_error_events",))
            return
        else:
            self.response(ms + 20 + int(rng.random() * 160), t, "200 OK")
            return
        http = [f"HTTP/1.1 502 {reason} Connection: close Content-Length: 0"]
        self.debug(ms, t, "Sending Response", "Dst", "127.0.0.1", port, http)
        self.event(ms, t, 502, reason, ("bad_gateway_events", *keys))

    # -- the writer -------------------------------------------------------------------------------------------------

    def write(self, out: IO[bytes]) -> None:
        """The hot loop: one iteration per other line or transaction start, one random draw per line."""
        n, bits, heap, buf = self.lines, self.rng.getrandbits, self.heap, self.buf
        pool = [self.other(NODES[int(self.rng.random() * len(NODES))]) for _ in range(POOL_SIZE)]
        threshold, ms, sec, local, utc = self.rng.random() * 30.0, START_MS, -1, "", ""
        while self.emitted < n:
            x = bits(30)  # 5 bits of gap (0..31 ms), the rest picks the line
            ms += x & 31
            while heap and heap[0][0] <= ms and self.emitted < n:
                _, _, text, keys, finding = heapq.heappop(heap)
                self.truth.update(keys)
                self.findings.update([finding] if finding is not None else [])
                self.truth["ts_lines"] += min(text.count("\n") + 1, n - self.emitted)
                self.put(text, out)
            if self.emitted >= n:
                break
            if self.emitted < n - TAIL_MARGIN and self.share * self.emitted - self.scheduled >= threshold:
                self.transaction(ms)
                threshold = self.rng.random() * 30.0  # irregular spacing, exact share
                continue
            if (s := ms // 1000) != sec:
                sec, (local, utc) = s, _second(s)
            head, mid, tail, nlines = pool[(x >> 5) & (POOL_SIZE - 1)]
            text = f"{head}{local}.{ms % 1000:03d}+02:00{mid}{utc},{ms % 1000:03d}{tail}"
            if nlines == 1:
                buf.append(text)
                self.emitted += 1
                if len(buf) >= FLUSH_LINES:
                    self.flush(out)
            else:
                self.put(text, out)
        self.flush(out)

    def put(self, text: str, out: IO[bytes]) -> None:
        """A message of one or more lines; cut when it would pass the line count."""
        if (nlines := text.count("\n") + 1) > (room := self.lines - self.emitted):
            text, nlines = "\n".join(text.split("\n")[:room]), room
        if nlines > 1:
            self.truth["multiline_messages"] += 1
            self.truth["continuation_lines"] += nlines - 1
        self.buf.append(text)
        self.emitted += nlines
        if len(self.buf) >= FLUSH_LINES:
            self.flush(out)

    def flush(self, out: IO[bytes]) -> None:
        if self.buf:
            self.bytes += out.write(("\n".join(self.buf) + "\n").encode())
            self.buf.clear()


def generate(lines: int, out: Path, seed: int = 1, share: float = TS_SHARE) -> dict[str, Any]:
    """Write the corpus and its manifest; return the manifest."""
    if lines < 1:
        raise ValueError("--lines must be at least 1")
    out.parent.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(lines, seed, share)
    with out.open("wb", buffering=1 << 22) as f:
        corpus.write(f)
    keys = ("node", "origin", "port", "fault", "enforced")
    manifest = {
        "generator": generator_hash(), "lines": lines, "seed": seed, "share": share, "bytes": corpus.bytes,
        "truth": dict(sorted(corpus.truth.items())),
        "expected_findings": [dict(zip(keys, f, strict=True)) for f in sorted(corpus.findings, key=str)],
    }  # fmt: skip
    manifest_path(out).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def summary(manifest: dict[str, Any], out: Path, seconds: float | None = None) -> str:
    truth, lines = manifest["truth"], manifest["lines"]
    ts, took = truth.get("ts_lines", 0), f" in {seconds:.1f} s" if seconds is not None else ""
    return (
        f"corpus {out}: {lines:,} lines, {manifest['bytes'] / 1e6:,.1f} MB, traffic_server {100 * ts / lines:.1f} % "
        f"({ts:,} lines), {truth.get('bad_gateway_cert', 0):,} of {truth.get('transactions', 0):,} transactions "
        f"failing on a certificate (seed {manifest['seed']}){took}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, required=True, help="number of lines to write")
    parser.add_argument("--out", type=Path, required=True, help="output file (a manifest is written next to it)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument("--ts-share", type=float, default=TS_SHARE, help=f"traffic_server lines (default: {TS_SHARE})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        manifest = generate(args.lines, args.out, args.seed, args.ts_share)
    except (ValueError, OSError) as exc:
        print(f"corpus: error: {exc}", file=sys.stderr)
        return 2
    print(summary(manifest, args.out, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
