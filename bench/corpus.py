"""A deterministic Expressway-C remote-syslog corpus for the ``certwatch analyze`` benchmark.

``python bench/corpus.py --lines N --out PATH [--seed S]`` writes exactly ``N`` lines to ``PATH`` and a manifest
``PATH.manifest.json`` (parameters, generator hash and the ground truth: what the corpus contains, counted as the
lines are written). The same seed and generator always give the same bytes.

What the corpus looks like (shapes from ``examples/`` and ``/work/shared/docs/expressway-logs.md``):

* RFC 3164 ``<PRI>`` + RFC 3339 local stamps (``+02:00``), monotonically increasing, about 70 lines a second;
* four cluster peers ``expc01``..``expc04``; ``expc03`` runs an OpenSSL 3 build, ``expc04``'s remote-syslog
  filter excludes Debug (no request/response lines: its 502s can only be joined by time);
* about 10 % ``traffic_server`` lines: MRA transactions (``Receive Request``, ``Sending Request``,
  ``Receive Response``, ``Sending Response`` with ``Txn-id``; ``Event="Request Allowed"``; error events),
  interleaved with each other and with the rest; a minority carry multi-line ``HTTPMSG`` bodies;
* a few percent of transactions hit a broken origin (self-signed TFTP certificate, IP not in the SAN, an
  untrusted chain seen by two peers only, an expired Unity certificate that is renewed later, a CUCM that does
  not trust Expressway-C, a cipher mismatch) and end in a 502; one peer is permissive for one origin
  (``Action=Continue``, no 502); a few 502s have no certificate cause (``connect failed``);
* the other 90 %: ``tvcs`` SIP/H.323/developer lines (a few with ``SIPMSG`` bodies), ``XCP_JABBERD``,
  ``edgeconfigprovisioning``, ``alarm``, ``management``, ``httpd`` web and untagged clusterdb lines.

Speed: the other lines are drawn from a pool of 16,384 pre-rendered lines (their Call-IDs and tags repeat; only
the stamps are new), stamps are cached per second and output is written in multi-MiB blocks: a million lines
(about 360 MB) take about 6 s on the 2-core CI machine.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import heapq
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final, NamedTuple

DOMAIN: Final = "example.com"
TZ_OFFSET: Final = 2 * 3600
TZ_TEXT: Final = "+02:00"
START_MS: Final = int(datetime(2022, 9, 14, 4, 0, tzinfo=UTC).timestamp()) * 1000  # 06:00 local
MEAN_GAP_MS: Final = 15
TS_SHARE: Final = 0.10
TAIL_MARGIN: Final = 400  # no transaction starts this close to the end, so none is cut in half
FLUSH_LINES: Final = 16384
POOL_SIZE: Final = 1 << 14  # a power of two
OPENSSL1_VERIFY: Final = "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed"
OPENSSL3_VERIFY: Final = "error:0A000086:SSL routines::certificate verify failed"
UNKNOWN_CA: Final = "error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca"
HANDSHAKE: Final = "error:14094410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure"


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


def generator_hash() -> str:
    """Changes whenever this file does: run.py regenerates a corpus made by another generator."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


# ---- topology -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    ip: str
    pid: int
    debug: bool  # the remote-syslog severity filter includes Debug
    openssl3: bool
    event_utc: bool  # event lines end with UTCTime="..."

    @property
    def ts_tag(self) -> str:
        return f" {self.name} traffic_server[{self.pid}]: "


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str  # the name Expressway-C uses (Host:, SNI); an IP when the CUCM node is defined by IP
    ip: str
    port: int
    method: str
    paths: tuple[str, ...]
    weight: int

    @property
    def segment(self) -> str:
        raw = f"{DOMAIN}/https/{self.host}/{self.port}".encode()
        return base64.b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Fault:
    """A broken origin: every transaction of ``nodes`` to ``endpoint`` between ``start`` and ``end`` (fractions
    of the corpus) fails this way."""

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
ALL_NODES: Final = frozenset(n.name for n in NODES)
_UDS: Final = (
    "/cucm-uds/user/{user}/devices",
    "/cucm-uds/user/{user}",
    "/cucm-uds/servers",
    "/cucm-uds/clusterUser?username={user}",
)
_TFTP: Final = ("/CSF{user}.cnf.xml", "/SPDefault.cnf.xml", "/ITLFile.tlv", "/TCT{user}.cnf.xml")
_IMP: Final = ("/EPASSoap/service/v105",)
_CUC: Final = ("/vmrest/mailbox", "/vmrest/messages?pageNumber=1&rowsPerPage=50", "/vmrest/user")

PUB_UDS = Endpoint("cucm-pub.example.com", "10.10.10.11", 8443, "GET", _UDS, 250)
SUB1_UDS = Endpoint("cucm-sub1.example.com", "10.10.10.12", 8443, "GET", _UDS, 190)
SUB2_UDS = Endpoint("cucm-sub2.example.com", "10.10.10.13", 8443, "GET", _UDS, 150)
PUB_TFTP = Endpoint("cucm-pub.example.com", "10.10.10.11", 6972, "GET", _TFTP, 60)
SUB1_TFTP = Endpoint("cucm-sub1.example.com", "10.10.10.12", 6972, "GET", _TFTP, 15)
SUB2_TFTP = Endpoint("cucm-sub2.example.com", "10.10.10.13", 6972, "GET", _TFTP, 30)
SUB3_BY_IP = Endpoint("10.10.10.14", "10.10.10.14", 8443, "GET", _UDS, 6)  # cucm-sub3, defined by IP on CUCM
IMP01 = Endpoint("imp01.example.com", "10.10.10.21", 8443, "POST", _IMP, 170)
IMP02 = Endpoint("imp02.example.com", "10.10.10.22", 8443, "POST", _IMP, 20)
CUC01 = Endpoint("cuc01.example.com", "10.10.10.31", 443, "GET", _CUC, 40)
ENDPOINTS: Final = (PUB_UDS, SUB1_UDS, SUB2_UDS, PUB_TFTP, SUB1_TFTP, SUB2_TFTP, SUB3_BY_IP, IMP01, IMP02, CUC01)

FAULTS: Final = (
    Fault("self_signed_tftp", SUB1_TFTP, "verify", "self signed certificate", 0, ALL_NODES, attempts=2),
    Fault("ip_not_in_san", SUB3_BY_IP, "sni", "", 0, ALL_NODES),
    Fault(
        "untrusted_chain", IMP02, "verify", "unable to get local issuer certificate", 1, frozenset({"expc03", "expc04"})
    ),
    Fault("expired_unity", CUC01, "verify", "certificate has expired", 0, ALL_NODES, 0.45, 0.70),
    Fault("cucm_rejects_us", SUB2_UDS, "peer_alert", UNKNOWN_CA, 0, frozenset({"expc02"}), 0.20, 0.30),
    Fault("no_shared_cipher", SUB2_TFTP, "handshake", HANDSHAKE, 0, frozenset({"expc01"}), 0.80, 0.85),
    Fault("permissive_ecdsa", PUB_TFTP, "verify", "self signed certificate", 0, frozenset({"expc03"}), enforced=False),
)
CONNECT_FAILED_RATE: Final = 0.002  # 502s with no certificate cause (origin down)
CLIENT_ERROR_RATE: Final = 0.02  # 401s from the origin
MULTILINE_REQUEST_RATE: Final = 0.10
MULTILINE_RESPONSE_RATE: Final = 0.05
REQUEST_ALLOWED_RATE: Final = 0.25

_SURNAMES: Final = ("doe", "smith", "garcia", "muller", "rossi", "dubois", "novak", "silva", "tanaka", "nguyen")


def _stamps_for(sec: int) -> tuple[str, str]:
    local = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec + TZ_OFFSET))
    return local, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec))


class Stamp(NamedTuple):
    local: str  # RFC 3339 with milliseconds and offset, for the syslog header
    utc: str  # Expressway's UTCTime="..." value (comma before the milliseconds)


class Clock:
    """Renders a millisecond epoch as the header stamp and the UTCTime value; the second part is cached."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[int, tuple[str, str]] = {}

    def __call__(self, ms: int) -> Stamp:
        sec, milli = divmod(ms, 1000)
        parts = self._cache.get(sec)
        if parts is None:
            if len(self._cache) > 256:
                self._cache.clear()
            parts = self._cache[sec] = _stamps_for(sec)
        return Stamp(f"{parts[0]}.{milli:03d}{TZ_TEXT}", f"{parts[1]},{milli:03d}")


# ---- the ground truth ---------------------------------------------------------------------------------------


# A finding certwatch should report: (node, origin, port, fault, enforced).
Expected = tuple[str, str, int | None, str, bool]


class Line(NamedTuple):
    """One scheduled ``traffic_server`` message: its lines and what it counts for in the ground truth."""

    ms: int
    seq: int
    text: str
    nlines: int
    keys: tuple[str, ...]
    finding: Expected | None


# ---- transactions -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Txn:
    node: Node
    endpoint: Endpoint
    txn_id: int
    tracking: str
    client_port: int
    client_ip: str
    user: str
    path: str


class Transactions:
    """Builds the ``traffic_server`` lines of one MRA transaction, each at its own time, into ``out``."""

    def __init__(self, rng: random.Random, clock: Clock) -> None:
        self.rng = rng
        self.clock = clock
        self._txn_ids = {n.name: rng.randrange(1000, 9000) for n in NODES}
        self._ports = {n.name: rng.randrange(32768, 60000) for n in NODES}
        self._via = {n.name: self._uuid() for n in NODES}
        self.users = [f"{chr(97 + rng.randrange(26))}{rng.choice(_SURNAMES)}{rng.randrange(100)}" for _ in range(400)]
        self.out: list[Line] = []
        self._seq = 0

    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}"

    def new(self, node: Node, endpoint: Endpoint) -> Txn:
        rng = self.rng
        name = node.name
        self._txn_ids[name] += 1
        port = self._ports[name] = 32768 + (self._ports[name] - 32768 + 1 + rng.randrange(8)) % 28000
        user = self.users[int(rng.random() * len(self.users))]
        path = endpoint.paths[int(rng.random() * len(endpoint.paths))].format(user=user)
        client = f"198.51.100.{rng.randrange(1, 255)}" if rng.random() < 0.7 else f"203.0.113.{rng.randrange(1, 255)}"
        return Txn(node, endpoint, self._txn_ids[name], "JA_" + self._uuid(), port, client, user, path)

    # -- emitting ---------------------------------------------------------------------------------------------

    def emit(
        self,
        ms: int,
        pri: int,
        txn: Txn,
        body: str,
        keys: tuple[str, ...] = (),
        finding: Expected | None = None,
    ) -> None:
        local = self.clock(ms).local
        text = f"<{pri}>{local}{txn.node.ts_tag}{body}"
        self._seq += 1
        self.out.append(Line(ms, self._seq, text, text.count("\n") + 1, ("ts_message", *keys), finding))

    def debug(self, ms: int, txn: Txn, detail: str, side: str, ip: str, port: int, http: list[str]) -> None:
        """A ``network.http.trafficserver`` DEBUG line; ``http`` is the message, flattened or multi-line."""
        if not txn.node.debug:
            return
        utc = self.clock(ms).utc
        head = (
            f'UTCTime="{utc}" Module="network.http.trafficserver" Level="DEBUG": Detail="{detail}" '
            f'Txn-id="{txn.txn_id}" TrackingID="{txn.tracking}" {side}-ip="{ip}" {side}-port="{port}"'
        )
        if len(http) == 1:
            self.emit(ms, 183, txn, f"{head} HTTPMSG: |{http[0]} |")
        else:
            body = "\n ".join(http[1:])
            self.emit(ms, 183, txn, f"{head} \nHTTPMSG:\n|{http[0]}\n {body}\n \n |", ("multiline",))

    def event(self, ms: int, txn: Txn, status: int, reason: str, keys: tuple[str, ...]) -> None:
        tail = f' UTCTime="{self.clock(ms).utc}"' if txn.node.event_utc else ""
        self.emit(
            ms,
            182,
            txn,
            f'Event="Sending HTTP error response" Status="{status}" Reason="{reason}" Dst-ip="127.0.0.1" '
            f'Dst-port="{txn.client_port}"{tail}',
            keys,
        )

    # -- the pieces of a transaction ----------------------------------------------------------------------------

    def request(self, ms: int, txn: Txn) -> int:
        """Receive Request, maybe Request Allowed, Sending Request; returns the Sending Request time."""
        rng, ep = self.rng, txn.endpoint
        first = f"{ep.method} /{ep.segment}{txn.path} HTTP/1.1"
        self.debug(ms, txn, "Receive Request", "Src", "127.0.0.1", txn.client_port, [first])
        if rng.random() < REQUEST_ALLOWED_RATE:
            ms += 1 + int(rng.random() * 3)
            self._allowed(ms, txn)
        ms += 3 + int(rng.random() * 12)
        self.debug(ms, txn, "Sending Request", "Dst", ep.ip, ep.port, self._outbound(txn))
        return ms

    def _allowed(self, ms: int, txn: Txn) -> None:
        ep = txn.endpoint
        segments = txn.path.split("/")
        prefix = f"/{segments[1]}/" if len(segments) > 2 else "/"
        self.emit(
            ms,
            182,
            txn,
            f'Event="Request Allowed" Detail="Access allowed" Reason="In allow list" Username="{txn.user}" '
            f'Deployment="1" Rule="https://{ep.host}:{ep.port}{prefix}" Match="prefix" Type="Automatic" '
            f'UTCTime="{self.clock(ms).utc}"',
        )

    def _outbound(self, txn: Txn) -> list[str]:
        ep = txn.endpoint
        first = f"{ep.method} {txn.path} HTTP/1.1"
        host = f"Host: {ep.host}:{ep.port}"
        fwd = f"X-Forwarded-For: {txn.client_ip}, 127.0.0.1"
        via = f"Via: https/1.1 vcs[{self._via['expc01']}] (ATS), http/1.1 vcs[{self._via[txn.node.name]}] (ATS)"
        if self.rng.random() < MULTILINE_REQUEST_RATE:
            agent = "User-Agent: Jabber/14.1.3"
            extra = [host, "Accept: */*", "Cookie:<CONCEALED>", agent, f"TrackingID: {txn.tracking}"]
            return [first, *extra, f"Client-ip: {txn.client_ip}", fwd, via]
        return [f"{first} {host} Client-ip: {txn.client_ip} {fwd} {via}"]

    def _response_msg(self, status: str, length: int) -> list[str]:
        if self.rng.random() < MULTILINE_RESPONSE_RATE:
            return [f"HTTP/1.1 {status}", "Content-Type: application/xml", f"Content-Length: {length}"]
        return [f"HTTP/1.1 {status} Content-Type: application/xml Content-Length: {length}"]

    def respond(self, ms: int, txn: Txn, status: str) -> int:
        """Receive Response from the origin, then Sending Response to the client; returns the last time."""
        ep, length = txn.endpoint, 200 + int(self.rng.random() * 4000)
        self.debug(ms, txn, "Receive Response", "Src", ep.ip, ep.port, self._response_msg(status, length))
        ms += 1 + int(self.rng.random() * 3)
        self.debug(ms, txn, "Sending Response", "Dst", "127.0.0.1", txn.client_port, self._response_msg(status, length))
        return ms

    def bad_gateway(self, ms: int, txn: Txn, reason: str, keys: tuple[str, ...]) -> None:
        msg = [f"HTTP/1.1 502 {reason} Connection: close Content-Length: 0"]
        self.debug(ms, txn, "Sending Response", "Dst", "127.0.0.1", txn.client_port, msg)
        self.event(ms, txn, 502, reason, ("bad_gateway_events", *keys))

    def failure(self, ms: int, txn: Txn, fault: Fault) -> int:
        """The WARNING/ERROR lines of one handshake attempt; returns the time of the last one."""
        node, ep = txn.node, txn.endpoint
        thread = f"[ET_NET {int(self.rng.random() * 4)}]"
        finding: Expected = (node.name, ep.host, ep.port if node.debug else None, fault.name, fault.enforced)
        if fault.kind in ("verify", "sni"):
            self._warning(ms, txn, fault, thread, finding)
            if fault.enforced:
                reason = OPENSSL3_VERIFY if node.openssl3 else OPENSSL1_VERIFY
                self._ssl_error(ms, txn, thread, reason, "verify_failed", None)  # absorbed by the WARNING
        else:
            self._ssl_error(ms, txn, thread, fault.error, fault.kind, finding)
        return ms

    def _warning(self, ms: int, txn: Txn, fault: Fault, thread: str, finding: Expected) -> None:
        node, ep = txn.node, txn.endpoint
        action = "Terminate" if fault.enforced else "Continue"
        if fault.kind == "sni":
            body = f"{thread} WARNING: SNI ({ep.host}) not in certificate. Action={action} server={ep.host}({ep.ip})"
            self.emit(ms, 28, txn, body, ("sni_warnings",), finding)
            return
        error = fault.error.replace("self signed", "self-signed") if node.openssl3 else fault.error
        body = (
            f"{thread} WARNING: Core server certificate verification failed for ({ep.host}). Action={action} "
            f"Error={error} server={ep.host}({ep.ip}) depth={fault.depth}"
        )
        self.emit(ms, 28, txn, body, ("verify_warnings", f"verify_error:{error}"), finding)

    def _ssl_error(self, ms: int, txn: Txn, thread: str, reason: str, kind: str, finding: Expected | None) -> None:
        body = f"{thread} ERROR: SSL connection failed for '{txn.endpoint.host}': {reason}"
        self.emit(ms, 27, txn, body, (f"ssl:{kind}",), finding)

    # -- whole transactions -------------------------------------------------------------------------------------

    def healthy(self, ms: int, txn: Txn) -> None:
        ms = self.request(ms, txn) + 20 + int(self.rng.random() * 160)
        self.respond(ms, txn, "200 OK")

    def client_error(self, ms: int, txn: Txn) -> None:
        ms = self.request(ms, txn) + 15 + int(self.rng.random() * 60)
        ms = self.respond(ms, txn, "401 Unauthorized")
        self.event(ms, txn, 401, "Unauthorized", ("client_error_events",))

    def connect_failed(self, ms: int, txn: Txn) -> None:
        ms = self.request(ms, txn) + 1000 + int(self.rng.random() * 2000)
        self.bad_gateway(ms, txn, "connect failed", ("bad_gateway_other",))

    def failing(self, ms: int, txn: Txn, fault: Fault) -> None:
        rng = self.rng
        ms = self.request(ms, txn) + 8 + int(rng.random() * 12)
        for attempt in range(fault.attempts):
            if attempt:
                ms += 15 + int(rng.random() * 15)
            ms = self.failure(ms, txn, fault)
        if not fault.enforced:
            self.respond(ms + 40 + int(rng.random() * 160), txn, "200 OK")
            return
        reason = "Bad Gateway" if rng.random() < 0.8 else "connect failed"
        self.bad_gateway(ms + 5 + int(rng.random() * 8), txn, reason, ("bad_gateway_cert",))


# ---- everything else -------------------------------------------------------------------------------------------

OtherLine = Callable[[Node, Stamp], str]
_LOCAL_SLOT: Final = "\x00local\x00"
_UTC_SLOT: Final = "\x00utc\x00"


class Others:
    """The 90 %: other Expressway lines, one function per shape, picked through a weighted table."""

    def __init__(self, rng: random.Random, users: list[str]) -> None:
        self.rng = rng
        self.users = users
        weighted: list[tuple[OtherLine, int]] = [
            (self.sip_received, 280),
            (self.sip_sent, 280),
            (self.sip_multiline, 2),
            (self.h323, 40),
            (self.tvcs_event, 10),
            (self.developer, 120),
            (self.xcp, 100),
            (self.edgeconfig, 80),
            (self.edgeconfig_failed, 4),
            (self.alarm, 5),
            (self.management, 5),
            (self.httpd, 10),
            (self.clusterdb, 64),
        ]
        self.table: list[OtherLine] = [f for f, w in weighted for _ in range(w)]

    def pick(self) -> OtherLine:
        return self.table[int(self.rng.random() * len(self.table))]

    def pool(self, size: int) -> list[tuple[str, str, str, int]]:
        """``size`` rendered lines split around their two stamps: ``head + local + mid + utc + tail``.

        The writer draws from this pool (rendering a line from scratch for each of the 90 % costs more than the
        rest of the generator); values such as Call-IDs therefore repeat across the corpus, which neither certwatch
        nor mtail can notice.
        """
        out = []
        for _ in range(size):
            node = NODES[int(self.rng.random() * len(NODES))]
            text = self.pick()(node, Stamp(_LOCAL_SLOT, _UTC_SLOT))
            head, rest = text.split(_LOCAL_SLOT)
            mid, tail = rest.split(_UTC_SLOT)
            out.append((head, mid, tail, text.count("\n") + 1))
        return out

    def _hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def _client(self) -> str:
        return f"10.10.30.{1 + int(self.rng.random() * 250)}"

    def _user(self) -> str:
        return self.users[int(self.rng.random() * len(self.users))]

    def sip_received(self, node: Node, s: Stamp) -> str:
        ip, method = self._client(), "REGISTER" if self.rng.random() < 0.7 else "OPTIONS"
        port = 25000 + int(self.rng.random() * 9000)
        return (
            f'<166>{s.local} {node.name} tvcs: UTCTime="{s.utc}" Module="network.sip" Level="INFO":  '
            f'Action="Received" Local-ip="{node.ip}" Local-port="5061" Src-ip="{ip}" Src-port="{port}" '
            f'Detail="Receive Request Method={method}, CSeq={int(self.rng.random() * 9000)}, '
            f"Request-URI=sip:cucm-pub.example.com, Call-ID={self._hex(64)}@{ip}, From-Tag={self._hex(32)}, To-Tag=, "
            f'Msg-Hash={self.rng.getrandbits(63)}, Local-SessionID=, Remote-SessionID="'
        )

    def sip_sent(self, node: Node, s: Stamp) -> str:
        ip, port = self._client(), 25000 + int(self.rng.random() * 9000)
        return (
            f'<166>{s.local} {node.name} tvcs: UTCTime="{s.utc}" Module="network.sip" Level="INFO":  '
            f'Action="Sent" Local-ip="{node.ip}" Local-port="5061" Dst-ip="{ip}" Dst-port="{port}" '
            f'Detail="Sending Response Code=200, Method=REGISTER, CSeq={int(self.rng.random() * 9000)}, '
            f"To=sip:{self._user()}@example.com, Call-ID={self._hex(64)}@{ip}, From-Tag={self._hex(32)}, "
            f'To-Tag={self._hex(32)}, Msg-Hash={self.rng.getrandbits(63)}, Local-SessionID=, Remote-SessionID="'
        )

    def sip_multiline(self, node: Node, s: Stamp) -> str:
        ip, call, user = self._client(), self._hex(64), self._user()
        return (
            f'<167>{s.local} {node.name} tvcs: UTCTime="{s.utc}" Module="network.sip" Level="DEBUG":  '
            f'Action="Received" Local-ip="{node.ip}" Local-port="5061" Src-ip="{ip}" Src-port="5061" '
            f'Detail="Receive Request Method=INVITE, Request-URI=sip:{user}@example.com, Call-ID={call}@{ip}"\n'
            f"SIPMSG:\n|INVITE sip:{user}@example.com SIP/2.0\n"
            f" Via: SIP/2.0/TLS {ip}:5061;branch=z9hG4bK{self._hex(32)}\n"
            f" Call-ID: {call}@{ip}\n CSeq: 101 INVITE\n From: <sip:{self._user()}@example.com>;tag={self._hex(32)}\n"
            f" To: <sip:{user}@example.com>\n Max-Forwards: 70\n Content-Length: 0\n |"
        )

    def h323(self, node: Node, s: Stamp) -> str:
        return (
            f'<166>{s.local} {node.name} tvcs: UTCTime="{s.utc}" Module="network.h323" Level="INFO":  '
            f'Action="Sent" Dst-ip="10.15.13.16" Dst-port="1719" '
            f'Detail="Sending RAS SCI  SeqNum={int(self.rng.random() * 65000)} Retransmit=True"'
        )

    def tvcs_event(self, node: Node, s: Stamp) -> str:
        if self.rng.random() < 0.5:
            body = (
                'Event="External Server Communications Failure" Reason="gatekeeper timed out" '
                'Service="NeighbourGatekeeper" Detail="name:10.15.13.16:1719" Level="1"'
            )
        else:
            body = (
                f'Event=" Inbound TLS Negotiation Error " Service="SIP" Src-ip="{self._client()}" Src-port="58531" '
                f'Dst-ip="{node.ip}" Dst-port="5061" Detail=" self signed certificate in certificate chain " '
                'Protocol="TLS" Level="1"'
            )
        return f'<165>{s.local} {node.name} tvcs: {body} UTCTime="{s.utc}"'

    def developer(self, node: Node, s: Stamp) -> str:
        return (
            f'<175>{s.local} {node.name} tvcs: UTCTime="{s.utc}" Module="developer.nomodule" Level="DEBUG" '
            'CodeLocation="ppcmains/sip/sipproxy/SipProxyAuthentication.cpp(686)" '
            f'Method="SipProxyAuthentication::checkProxyAuthorization" Thread="0x7f{self._hex(40)}":  '
            f'Detail="No proxy authorization required" Call-ID="{self._hex(64)}@{self._client()}"'
        )

    def xcp(self, node: Node, s: Stamp) -> str:
        return (
            f'<166>{s.local} {node.name} XCP_JABBERD[23843]: UTCTime="{s.utc}" ThreadID="139747212576512" '
            f'Module="Jabber" Level="INFO " CodeLocation="mio.c:1109" '
            f"Detail=\"Connecting on fd {10 + int(self.rng.random() * 90)} to host '10.10.10.21', port 7400\""
        )

    def edgeconfig(self, node: Node, s: Stamp) -> str:
        return (
            f'<183>{s.local} {node.name} edgeconfigprovisioning: UTCTime="{s.utc}" '
            'Module="network.http.edgeconfigprovisioning" Level="DEBUG" Action="Received" '
            f'Request-url="https://cucm-pub.example.com:8443/cucm-uds/user/{self._user()}/devices" '
            "HTTPMSG: |HTTP/1.1 200 OK Server: Content-Type: application/xml;charset=utf-8 |"
        )

    def edgeconfig_failed(self, node: Node, s: Stamp) -> str:
        return (
            f'<182>{s.local} {node.name} edgeconfigprovisioning: Level="INFO" Detail="Failed to authenticate user '
            f'against server" Username="{self._user()}" Server="(\'https\', \'cucm-pub.example.com\', 8443)" '
            f'Reason="<twisted.python.failure.Failure <type \'exceptions.Exception\'>>" UTCTime="{s.utc}"'
        )

    def alarm(self, node: Node, s: Stamp) -> str:
        return (
            f'<164>{s.local} {node.name} alarm: Level="WARN" Event="Alarm Raised" Id="20004" '
            f'UUID="3bca6888-f622-11df-93be-07cc953d7b99" Severity="warning" Detail="Cluster communication '
            f'failure: The system is unable to communicate with one or more of the cluster peers" UTCTime="{s.utc}"'
        )

    def management(self, node: Node, s: Stamp) -> str:
        return (
            f'<164>{s.local} {node.name} management: Level="WARN" Event="Alarm Lowered" Id="20007" '
            f'UUID="e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6" Severity="warning" Detail="Restart required: Cluster '
            f'configuration has been changed, however a restart is required for this to take effect" UTCTime="{s.utc}"'
        )

    def httpd(self, node: Node, s: Stamp) -> str:
        return (
            f'<134>{s.local} {node.name} httpd[15060]: web: Event="System Configuration Changed" '
            "Detail=\"configuration/cluster/tls_verify - changed from: 'Permissive' to: 'Enforcing'\" "
            f'Src-ip="10.15.13.30" Src-port="{50000 + int(self.rng.random() * 9000)}" User="admin" Level="1" '
            f'UTCTime="{s.utc}"'
        )

    def clusterdb(self, node: Node, s: Stamp) -> str:
        return (
            f'<134>{s.local} {node.name} UTCTime="{s.utc}" Module="developer.clusterdb.restapi" Level="INFO" '
            f'CodeLocation="clusterdb/restapi.py(512)" Method="GET" Url="/api/management/clusterdb/peers" '
            f'Detail="request served" Duration="{int(self.rng.random() * 40)}ms"'
        )


# ---- the writer ------------------------------------------------------------------------------------------------


class Corpus:
    """Merges the other lines (written at the clock) with scheduled transaction lines (kept in a heap by time)."""

    def __init__(self, lines: int, seed: int, share: float = TS_SHARE) -> None:
        self.lines = lines
        self.share = share
        self.rng = random.Random(seed)
        self.txns = Transactions(self.rng, Clock())
        self.others = Others(self.rng, self.txns.users)
        self.truth: Counter[str] = Counter()
        self.findings: set[Expected] = set()
        self.emitted = 0
        self.bytes = 0
        self._heap: list[Line] = []
        self._scheduled = 0  # traffic_server lines scheduled so far
        self._buf: list[str] = []
        self._ep_table = [ep for ep in ENDPOINTS for _ in range(ep.weight)]

    def write(self, out: IO[bytes]) -> None:
        """The hot loop: one iteration per other line or transaction start; one random draw per line."""
        n, bits, heap, buf = self.lines, self.rng.getrandbits, self._heap, self._buf
        pool = self.others.pool(POOL_SIZE)
        last_start = n - TAIL_MARGIN
        threshold = self._threshold()
        ms, sec, local, utc = START_MS, -1, "", ""
        while self.emitted < n:
            x = bits(30)  # 5 bits of gap (0..31 ms), the rest picks the line
            ms += x & 31
            if heap and heap[0].ms <= ms:
                self._drain(ms, out)
                if self.emitted >= n:
                    break
            emitted = self.emitted
            if emitted < last_start and self.share * emitted - self._scheduled >= threshold:
                self._transaction(ms)
                threshold = self._threshold()
                continue
            s, milli = divmod(ms, 1000)
            if s != sec:
                sec, (local, utc) = s, _stamps_for(s)
            head, mid, tail, nlines = pool[(x >> 5) & (POOL_SIZE - 1)]
            text = f"{head}{local}.{milli:03d}{TZ_TEXT}{mid}{utc},{milli:03d}{tail}"
            if nlines == 1:
                buf.append(text)
                self.emitted = emitted + 1
                if len(buf) >= FLUSH_LINES:
                    self._flush(out)
            else:
                self._put(text, out, nlines)
        self._flush(out)

    def _threshold(self) -> float:
        """How far behind the 10 % share the next transaction waits: irregular spacing, exact share."""
        return self.rng.random() * 30.0

    def _drain(self, ms: int, out: IO[bytes]) -> None:
        heap = self._heap
        while heap and heap[0].ms <= ms and self.emitted < self.lines:
            line = heapq.heappop(heap)
            for key in line.keys:
                self.truth[key] += 1
            if line.finding is not None:
                self.findings.add(line.finding)
            self.truth["ts_lines"] += min(line.nlines, self.lines - self.emitted)
            self._put(line.text, out, line.nlines)

    def _put(self, text: str, out: IO[bytes], nlines: int = 0) -> None:
        if not nlines:
            nlines = text.count("\n") + 1
        room = self.lines - self.emitted
        if nlines > room:
            text, nlines = "\n".join(text.split("\n")[:room]), room
        if nlines > 1:
            self.truth["multiline_messages"] += 1
            self.truth["continuation_lines"] += nlines - 1
        self._buf.append(text)
        self.emitted += nlines
        if len(self._buf) >= FLUSH_LINES:
            self._flush(out)

    def _flush(self, out: IO[bytes]) -> None:
        if self._buf:
            data = ("\n".join(self._buf) + "\n").encode()
            out.write(data)
            self.bytes += len(data)
            self._buf.clear()

    def _transaction(self, ms: int) -> None:
        rng, txns = self.rng, self.txns
        node = NODES[int(rng.random() * len(NODES))]
        endpoint = self._ep_table[int(rng.random() * len(self._ep_table))]
        txn = txns.new(node, endpoint)
        fault = self._fault(node, endpoint)
        r = rng.random()
        if fault is not None:
            txns.failing(ms, txn, fault)
        elif r < CONNECT_FAILED_RATE:
            txns.connect_failed(ms, txn)
        elif r < CONNECT_FAILED_RATE + CLIENT_ERROR_RATE:
            txns.client_error(ms, txn)
        else:
            txns.healthy(ms, txn)
        self.truth["transactions"] += 1
        for line in txns.out:
            heapq.heappush(self._heap, line)
            self._scheduled += line.nlines
        txns.out.clear()

    def _fault(self, node: Node, endpoint: Endpoint) -> Fault | None:
        where = self.emitted / self.lines
        for fault in FAULTS:
            if fault.endpoint is endpoint and node.name in fault.nodes and fault.start <= where < fault.end:
                return fault
        return None

    def manifest(self, seed: int) -> dict[str, Any]:
        findings = [
            {"node": node, "origin": origin, "port": port, "fault": fault, "enforced": enforced}
            for node, origin, port, fault, enforced in sorted(self.findings, key=str)
        ]
        return {
            "generator": generator_hash(),
            "lines": self.lines,
            "seed": seed,
            "share": self.share,
            "bytes": self.bytes,
            "truth": dict(sorted(self.truth.items())),
            "expected_findings": findings,
        }


def generate(lines: int, out: Path, seed: int = 1, share: float = TS_SHARE) -> dict[str, Any]:
    """Write the corpus and its manifest; return the manifest."""
    if lines < 1:
        raise ValueError("--lines must be at least 1")
    out.parent.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(lines, seed, share)
    with out.open("wb", buffering=1 << 22) as f:
        corpus.write(f)
    manifest = corpus.manifest(seed)
    manifest_path(out).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def summary(manifest: dict[str, Any], out: Path, seconds: float | None = None) -> str:
    truth, lines = manifest["truth"], manifest["lines"]
    ts = truth.get("ts_lines", 0)
    took = f" in {seconds:.1f} s" if seconds is not None else ""
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
    parser.add_argument(
        "--ts-share", type=float, default=TS_SHARE, help=f"share of traffic_server lines (default: {TS_SHARE})"
    )
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
