"""``make bench``: certwatch beside a reference measured in the same run, printed as figures and ratios.

Absolute figures drift 2x on a shared 2-core machine, ratios against a reference measured minutes apart far less.
Nothing is asserted: the exit status is 1 only when a measurement fails (a process does not start, an output is
invalid, line counts disagree). Every child is stopped (SIGTERM, then SIGKILL) whatever happens; all traffic stays
on 127.0.0.1. Corpora: ``bench/corpus.py``, seed 1, Debug-level (``--ts-share 0.31``) and light (``0.08``).

1. ``certwatch analyze --format json`` against ``mtail --one_shot`` (``bench/certwatch.mtail``), both unpinned, best
   of ``--runs``: lines/s, peak RSS (``ru_maxrss`` of the child); ``stats.lines``, 502s and findings are checked.
2. From here the receivers run on CPU 0, loggen and this script on CPU 1: ``certwatch run`` (config/certwatch.yaml,
   free loopback ports) and ``run.py --bare-receiver``, a uvloop DatagramProtocol that only batches datagrams per
   wake-up and counts them. loggen replays the Debug-level corpus to each (``--read-file --dont-parse``, a datagram
   a line) at 10,000 msg/s: CPU µs per message (/proc/PID/stat) over a window from 2 s after loggen's start (it
   sends its first 0.9 s of messages at once), certwatch's messages from ``certwatch_node_messages_total``, the
   bare receiver's datagrams converted at the corpus's messages per line; loss over the whole run.
3. The highest UDP rate each takes without drops after those 2 s (socket drops from /proc/net/udp, certwatch's
   ``queue_full``): steps up, then bisections, in bounded time. TCP msg/s on one connection, LF framing and octet
   counting, from a thread writing pre-framed corpus bytes (loggen does not octet-count a file it replays).
4. µs per message by stage, in-process: framing (``StreamFramer.feed``, 64 KiB chunks), joining
   (``Joiner.push_many``), the engine's layered path alone (``Engine(fast=False).feed``) split into parsing
   (``HeaderReader.read`` + ``read_event`` of the traffic_server messages) and correlation (the rest), and the
   engine as it runs (``Engine().feed``: the fast path, the layered path behind it).
5. certwatch's RSS with its tables at their caps (distinct keys over TCP); the time from a 502 written on a TCP
   connection to its ``certwatch_bad_gateway_total`` series, under UDP load: a 502 whose failure came first
   (counted at once) and a 502 with no failure (counted as uncorrelated after ``correlation.reorder_wait``).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

import uvloop
import yaml

import corpus
from certwatch.engine import Engine
from certwatch.framing import StreamFramer
from certwatch.model import Failure
from certwatch.parse import read_event
from certwatch.reader import Joiner, ReadStats, is_continuation
from certwatch.syslog import HeaderReader
from certwatch.testing import Lines

ROOT: Final = Path(__file__).resolve().parent.parent
OUT: Final = ROOT / "bench" / "out"
CERTWATCH: Final = ROOT / ".venv" / "bin" / "certwatch"
LOGGEN: Final = ROOT / "bench" / "loggen.sh"
EXAMPLE: Final = ROOT / "examples" / "a_self_signed_tomcat_ecdsa.log"
SHARES: Final = {"Debug-level": 0.31, "light": 0.08}
RCVBUF: Final = 8 << 20  # the daemon's default receive_buffer_bytes, given to the bare receiver too
WARM: Final = 2.0  # seconds from loggen's start to a steady window
LADDER: Final = (20_000, 50_000, 100_000, 150_000, 200_000, 300_000, 400_000)
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
Popen = subprocess.Popen[bytes]


class BenchError(Exception):
    """A measurement failed: reported, the other sections go on, exit status 1."""


# ---- processes, /proc, HTTP ----------------------------------------------------------------------------------------


STARTED: Final[list[Popen]] = []  # every child process, stopped by main whatever happens


def start(argv: Sequence[str], stdin: Any = subprocess.DEVNULL, stdout: Any = None, stderr: Any = None) -> Popen:
    STARTED.append(proc := subprocess.Popen(argv, stdin=stdin, stdout=stdout or subprocess.DEVNULL, stderr=stderr))
    return proc


def stop(proc: Popen, grace: float = 25.0) -> int | None:
    """SIGTERM, then SIGKILL after ``grace`` seconds (certwatch's shutdown_timeout is 10 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def pin(cpu: int) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(cpu)] if taskset and (os.cpu_count() or 1) > cpu else []


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def cpu0_busy() -> float:
    """Seconds CPU 0 was not idle (user, nice, system, irq, softirq, steal)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\ncpu0 ", 1)[1].split()[:8]]
    return (sum(v) - v[3] - v[4]) / CLK_TCK


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("\nVmRSS:", 1)[1].split()[0]) / 1024


def udp_drops(port: int) -> int:
    """Drops of the UDP socket bound to ``port`` (/proc/net/udp): its receive buffer was full."""
    rows = [line.split() for line in Path("/proc/net/udp").read_text().splitlines()[1:]]
    return sum(int(cols[12]) for cols in rows if cols[1].endswith(f":{port:04X}"))


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (Prometheus text format)."""
    found = re.finditer(rf"^{name}(?:\{{(.*)\}})? (\S+)$", text, re.MULTILINE)
    return sum(float(m[2]) for m in found if all(f'{k}="{v}"' in (m[1] or "") for k, v in labels.items()))


def _terminated(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# ---- corpora ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Corpus:
    name: str
    path: Path
    manifest: dict[str, Any]
    lines: int
    messages: int  # lines that begin a message: the others continue the one before

    def head(self, lines: int) -> bytes:
        with self.path.open("rb") as f:
            return b"".join(itertools.islice(f, lines))

    def messages_in(self, sent: int) -> int:
        """Messages begun by the first ``sent`` lines of a looping replay."""
        loops, rest = divmod(sent, self.lines)
        with self.path.open("rb") as f:
            return loops * self.messages + sum(not is_continuation(line) for line in itertools.islice(f, rest))


def ensure_corpus(name: str, lines: int, share: float) -> Corpus:
    path = OUT / f"corpus-{lines}-share{share}.log"
    wanted = {"generator": corpus.generator_hash(), "lines": lines, "seed": 1, "share": share}
    try:
        manifest = json.loads(corpus.manifest_path(path).read_text())
        reuse = all(manifest.get(k) == v for k, v in wanted.items()) and manifest["bytes"] == path.stat().st_size
    except (OSError, ValueError, KeyError):
        reuse = False
    started = time.perf_counter()
    if not reuse:
        manifest = corpus.generate(lines, path, 1, share)
        os.sync()  # no write-back competing with the first measurement
    took = None if reuse else time.perf_counter() - started
    print(f"{name}: {corpus.summary(manifest, path.relative_to(ROOT), took)}{' (reused)' if reuse else ''}")
    return Corpus(name, path, manifest, lines, lines - manifest["truth"].get("continuation_lines", 0))


# ---- receivers: certwatch run and the bare uvloop receiver ------------------------------------------------------


@dataclass
class Daemon:
    proc: Popen
    log: Path
    http: int
    udp: int
    tcp: int
    name: str = "certwatch"
    joins: bool = True  # counts messages (continuation datagrams joined), not datagrams

    def metrics(self) -> str:
        status, body = get(self.http, "/metrics")
        if status != 200:
            raise BenchError(f"GET /metrics answered {status} (see {self.log})")
        return body.decode()

    def counts(self) -> tuple[int, int]:
        """Messages the engine processed, and messages dropped on a full ingress queue."""
        text = self.metrics()
        queue_full = metric(text, "certwatch_messages_dropped_total", reason="queue_full")
        return int(metric(text, "certwatch_node_messages_total")), int(queue_full)

    def shutdown(self) -> None:
        code = stop(self.proc)
        levels = [json.loads(line).get("level") for line in self.log.read_text().splitlines() if line[:1] == "{"]
        bad = sum(level in {"warning", "error", "critical"} for level in levels)
        print(f"  ({self.name} stopped: status {code}, {bad} warnings/errors in {self.log.relative_to(ROOT)})")


@dataclass
class Bare:
    proc: Popen
    udp: int
    name: str = "bare uvloop"
    joins: bool = False

    def counts(self) -> tuple[int, int]:
        """Datagrams counted (asked on its stdin), and 0: it drops nothing itself."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()
        if not (line := self.proc.stdout.readline()):
            raise BenchError(f"the bare receiver exited with status {self.proc.poll()}")
        return int(line), 0


Receiver = Daemon | Bare


def start_daemon(name: str, caps_scale: float = 1.0) -> Daemon:
    """``certwatch run`` on CPU 0: config/certwatch.yaml with free loopback ports and its caps scaled."""
    doc = yaml.safe_load((ROOT / "config" / "certwatch.yaml").read_text())
    for listener in doc["listeners"]:
        listener["address"] = "127.0.0.1:0"
    doc["http"]["address"] = "127.0.0.1:0"
    doc["state"] = {"path": ""}  # every run starts empty: no incidents restored from an earlier run
    for cap in ("max_transactions", "max_index_entries", "max_findings"):
        doc["correlation"][cap] = int(doc["correlation"][cap] * caps_scale)
    config, log = OUT / f"daemon-{name}.yaml", OUT / f"daemon-{name}.log"
    config.write_text(yaml.safe_dump(doc))
    with log.open("wb") as err:
        proc = start([*pin(0), str(CERTWATCH), "run", "--config", str(config)], stderr=err)
    deadline, ready, port = time.monotonic() + 30, (0, b""), 0
    while ready[0] != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = "\n  ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
            raise BenchError(f"certwatch run did not get ready (status {proc.poll()}):\n  {tail}")
        time.sleep(0.1)
        lines = [json.loads(line) for line in log.read_text().splitlines() if '"http_listening"' in line]
        port = int(lines[0]["address"].rpartition(":")[2]) if lines else 0
        ready = get(port, "/readyz") if port else ready
    bound = {e["protocol"]: int(e["address"].rpartition(":")[2]) for e in json.loads(ready[1])["listeners"]}
    return Daemon(proc, log, port, bound["udp"], bound["tcp"])


def start_bare() -> Bare:
    argv = [*pin(0), sys.executable, str(Path(__file__).resolve()), "--bare-receiver", "0"]
    proc = start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    if not (line := proc.stdout.readline()).strip().isdigit():
        raise BenchError(f"the bare receiver did not start (status {proc.poll()})")
    return Bare(proc, int(line))


def bare_receiver(port: int) -> None:
    """The reference: appends each datagram to a list and, once per wake-up, swaps the list and counts it. Prints
    its port, then the count for every line read on stdin; exits at EOF."""

    class Protocol(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.pending: list[tuple[bytes, Any]] = []
            self.scheduled, self.count = False, 0

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.pending.append((data, addr))
            if not self.scheduled:
                self.scheduled = True
                asyncio.get_running_loop().call_soon(self.flush)

        def flush(self) -> None:
            self.scheduled = False
            batch, self.pending = self.pending, []
            self.count += len(batch)

    async def serve() -> None:
        loop, protocol = asyncio.get_running_loop(), Protocol()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:  # as certwatch does: SO_RCVBUFFORCE passes net.core.rmem_max when permitted
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.bind(("127.0.0.1", port))
        await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
        done: asyncio.Future[None] = loop.create_future()

        def answer() -> None:
            if not (asked := os.read(0, 4096)) and not done.done():
                done.set_result(None)
            os.write(1, f"{protocol.count}\n".encode() * asked.count(b"\n"))

        loop.add_reader(0, answer)
        print(sock.getsockname()[1], flush=True)
        await done

    uvloop.run(serve())


def settle(rcv: Receiver, limit: float = 120.0) -> tuple[int, int]:
    """Counts once they stop moving (a queue drained, a message held for continuation lines flushed)."""
    deadline, last = time.monotonic() + limit, None
    while (now := rcv.counts()) != last and time.monotonic() < deadline:
        last = now
        time.sleep(0.3)
    return now


# ---- UDP from loggen ---------------------------------------------------------------------------------------------


def loggen(port: int, rate: int, seconds: int, c: Corpus) -> Popen:
    """The corpus's lines, a datagram each, as they are, looping; on this script's CPU (inherited)."""
    argv = ["bash", str(LOGGEN), "--inet", "--dgram", "--read-file", str(c.path), "--loop-reading", "--dont-parse"]
    argv += ["--rate", str(rate), "--interval", str(seconds), "127.0.0.1", str(port)]
    return start(argv, stderr=subprocess.PIPE)


def loggen_sent(proc: Popen, seconds: int) -> tuple[int, float]:
    """Lines loggen sent and in how many seconds (its summary on stderr)."""
    try:
        err = proc.communicate(timeout=seconds + 60)[1].decode(errors="replace")
    except subprocess.TimeoutExpired:
        raise BenchError(f"loggen did not finish in {seconds + 60} s") from None
    if (m := re.search(r"average rate = [\d.]+ msg/sec, count=(\d+), time=([0-9.e+-]+)", err)) is None:
        raise BenchError("loggen printed no summary (sent nothing?):\n  " + "\n  ".join(err.splitlines()[-5:]))
    return int(m[1]), float(m[2])


@dataclass(frozen=True, slots=True)
class UdpRun:
    asked: int  # msg/s
    sent: float  # loggen's datagrams/s
    rate: float  # messages/s processed in the steady window
    cpu: float  # % of a CPU the receiver used in that window
    others: float  # % of CPU 0 used by anything else in that window
    us: float  # receiver CPU µs per message in that window
    early: int  # datagrams dropped at the socket (and messages at certwatch's queue) in the first WARM s
    drops: int  # the same after them
    loss: int  # whole run: expected - processed (messages for certwatch, datagrams for the bare receiver)
    expected: int

    @property
    def sender_limited(self) -> bool:
        return self.sent < 0.9 * self.asked

    def row(self, name: str) -> str:
        verdict = ("DROPS" if self.drops else "no drop after 2 s") + (", sender-limited" if self.sender_limited else "")
        return (
            f"  {name:11} {self.asked:>8,} {self.sent:>8,.0f} {self.rate:>8,.0f} {self.cpu:>4.0f} {self.others:>5.0f}"
            f" {self.us:>6.1f} {self.early:>8,} {self.drops:>7,} {self.loss:>8,}"
            f" {100 * self.loss / max(self.expected, 1):>6.2f}  {verdict}"
        )


UDP_HEADER: Final = (
    f"  {'receiver':11} {'asked/s':>8} {'sent/s':>8} {'msg/s':>8} {'CPU%':>4} {'other':>5} {'µs/msg':>6} "
    f"{'drops 2s':>8} {'later':>7} {'loss':>8} {'loss %':>6}  (other: CPU 0 used by other work)"
)


def udp_run(rcv: Receiver, c: Corpus, rate: int, window: float) -> UdpRun:
    """loggen at ``rate`` for WARM + ``window`` s; CPU and counts over the window, loss over the whole run."""
    per_message = 1.0 if rcv.joins else c.lines / c.messages  # the units the receiver counts, per message

    def sample() -> tuple[float, float, float, int, int, int]:  # time, CPU, CPU 0 busy, counted, queue_full, drops
        counted, queue_full = rcv.counts()
        return time.perf_counter(), cpu_seconds(rcv.proc.pid), cpu0_busy(), counted, queue_full, udp_drops(rcv.udp)

    *_, n0, q0, d0 = sample()
    sender = loggen(rcv.udp, rate, seconds := math.ceil(WARM + window + 0.5), c)
    time.sleep(WARM)
    t_a, cpu_a, busy_a, n_a, q_a, d_a = sample()
    time.sleep(window)
    t_b, cpu_b, busy_b, n_b, _, _ = sample()
    sent, took = loggen_sent(sender, seconds)
    (n1, q1), d1 = settle(rcv), udp_drops(rcv.udp)
    messages, wall, cpu = (n_b - n_a) / per_message, t_b - t_a, cpu_b - cpu_a
    expected = c.messages_in(sent) if rcv.joins else sent
    others = 100 * max(busy_b - busy_a - cpu, 0) / wall
    return UdpRun(rate, sent / took, messages / wall, 100 * cpu / wall, others, 1e6 * cpu / max(messages, 1),
                  d_a - d0 + q_a - q0, d1 - d_a + q1 - q_a, expected - (n1 - n0), expected)  # fmt: skip


# ---- the sections ------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    corpora: list[Corpus] = field(default_factory=list)
    daemon: Daemon | None = None
    bare: Bare | None = None
    cpu: dict[str, UdpRun] = field(default_factory=dict)  # section 2, by receiver
    rows: list[tuple[str, ...]] = field(default_factory=list)  # the summary: measure, certwatch, reference, ...

    def row(self, measure: str, cw: str, ref: str, ratio: float | None, goal: str, met: bool | None) -> None:
        verdict = "" if met is None else "met" if met else "MISSED"
        self.rows.append((measure, cw, ref, "-" if ratio is None else f"{ratio:.2f}x", goal, verdict))

    def receivers(self) -> tuple[Daemon, Bare]:
        if self.daemon is None:
            self.daemon = start_daemon("udp")
        if self.bare is None:
            self.bare = start_bare()
        return self.daemon, self.bare


# Runs argv[2:], writes "wall maxrss_kib exit_code" to argv[1]. Linux carries a parent's RSS high-water mark into a
# forked child across exec: this minimal interpreter forks, so run.py's own size does not leak into ru_maxrss.
_HELPER: Final = """
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(out, "w") as f:
    f.write(f"{time.perf_counter() - start} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def measure(argv: Sequence[str], out: Path, runs: int) -> tuple[float, float, Any]:
    """Best wall time (s), highest peak RSS (MiB) of ``runs`` runs, and the JSON document the program printed."""
    walls, peaks = [], []
    usage, stderr = out.with_suffix(".usage"), out.with_suffix(".stderr")
    for _ in range(runs):
        with out.open("wb") as stdout, stderr.open("wb") as err:
            helper = [sys.executable, "-I", "-S", "-c", _HELPER, str(usage), *argv]
            subprocess.run(helper, stdout=stdout, stderr=err, check=True)
        wall, rss, code = usage.read_text().split()
        if code != "0":
            tail = "\n  ".join(stderr.read_text(errors="replace").strip().splitlines()[-5:])
            raise BenchError(f"{Path(argv[0]).name} exited with status {code}:\n  {tail}")
        walls.append(float(wall))
        peaks.append(int(rss) / 1024)
    try:
        return min(walls), max(peaks), json.loads(out.read_bytes())
    except ValueError as exc:
        raise BenchError(f"{Path(argv[0]).name} printed no valid JSON document: {exc} (see {out})") from None


def mtail_total(doc: dict[str, Any], name: str, **match: str) -> int:
    values = [
        (dict(zip(metric.get("Keys") or [], series.get("Labels") or [], strict=True)), series["Value"]["Value"])
        for metric in doc.get(name, [])
        for series in metric.get("LabelValues", [])
    ]
    return sum(int(v) for labels, v in values if all(labels.get(k) == x for k, x in match.items()))


def section_analyze(b: Bench) -> None:
    if (mtail := shutil.which("mtail")) is None:
        raise BenchError("mtail not found (make bench installs it: .ci/debs.sh mtail)")
    for c in b.corpora:
        argv = [str(CERTWATCH), "analyze", "--format", "json", str(c.path)]
        wall, rss, doc = measure(argv, OUT / f"analyze-{c.path.stem}.json", b.args.runs)
        argv = [mtail, "--one_shot", "--one_shot_format=json", "--progs", str(ROOT / "bench" / "certwatch.mtail")]
        argv += ["--logs", str(c.path), "--logtostderr", "--address", "127.0.0.1", "--port", "0"]
        m_wall, m_rss, mdoc = measure(argv, OUT / f"mtail-{c.path.stem}.json", b.args.runs)
        if (lines := doc.get("stats", {}).get("lines")) != c.lines:
            raise BenchError(f"certwatch counted stats.lines={lines} but {c.path.name} has {c.lines:,} lines")
        ratio, rate, m_rate = m_wall / wall, f"{c.lines / wall:,.0f}", f"mtail {c.lines / m_wall:,.0f}"
        b.row(f"analyze lines/s, {c.name}", rate, m_rate, ratio, ">= 5x mtail", ratio >= 5)
        b.row(f"analyze peak RSS MiB, {c.name}", f"{rss:.0f}", f"mtail {m_rss:.0f}", rss / m_rss, "-", None)
        print(
            f"  {c.name}: certwatch {c.lines / wall:,.0f} lines/s, {rss:.0f} MiB peak RSS; mtail "
            f"{c.lines / m_wall:,.0f} lines/s, {m_rss:.0f} MiB: {m_wall / wall:.2f}x (best of {b.args.runs})"
        )
        mtail_502 = mtail_total(mdoc, "expressway_http_error_responses_total", status="502")
        expected = {(f["node"], f["origin"], f["port"], f["enforced"]) for f in c.manifest["expected_findings"]}
        reported = {(f["node"], f["origin"], f["port"], f["enforced"]) for f in doc["findings"]}
        odd = [f"; missing {k}" for k in expected - reported] + [f"; unexpected {k}" for k in reported - expected]
        print(
            f"    502s: corpus {c.manifest['truth'].get('bad_gateway_events', 0):,}, certwatch "
            f"{doc['stats']['bad_gateway']:,}, mtail {mtail_502:,}; findings: {len(expected)} expected (manifest), "
            f"{len(reported)} reported{''.join(sorted(odd))}"
        )


def section_cpu(b: Bench) -> None:
    print(UDP_HEADER)
    for rcv in b.receivers():
        b.cpu[rcv.name] = r = udp_run(rcv, b.corpora[0], b.args.rate, b.args.window)
        print(r.row(rcv.name), flush=True)
    cw, bare = b.cpu["certwatch"], b.cpu["bare uvloop"]
    print(f"  certwatch / bare: {cw.us / bare.us:.2f}x CPU per message ({b.args.window:.0f} s window)")
    cells = f"{cw.us:.1f}, loss {cw.loss:,}", f"bare {bare.us:.1f}, loss {bare.loss:,}", cw.us / bare.us
    b.row(f"UDP CPU µs/msg at {cw.asked:,}/s", *cells, "<= 1.5x bare, no loss", cells[2] <= 1.5 and cw.loss <= 0)


def search(b: Bench, rcv: Receiver) -> tuple[float, bool]:
    """Up the ladder until a step drops after its first 2 s (or loggen falls short), then bisections, within the
    time budget: the highest rate without drops, and whether loggen sent 100k msg/s at some step."""
    deadline, best, bad, reached = time.monotonic() + b.args.budget, 0.0, 0, False

    def step(rate: int) -> UdpRun:
        nonlocal reached
        r = udp_run(rcv, b.corpora[0], rate, b.args.step)
        print(r.row(rcv.name), flush=True)
        reached |= rate >= 100_000 and not r.sender_limited
        return r

    for rate in LADDER:
        if (r := step(rate)).drops:
            bad = rate
            break
        best = max(best, min(rate, r.sent))
        if r.sender_limited or time.monotonic() > deadline:
            break
    for _ in range(b.args.bisections):
        if not bad or (rate := int(round((best + bad) / 2, -3))) in {best, bad} or time.monotonic() > deadline:
            break
        best, bad = (best, rate) if step(rate).drops else (rate, bad)
    return best, reached


def tcp_rate(d: Daemon, payload: bytes, seconds: float) -> float:
    """Messages/s the engine processes while one connection writes ``payload`` over and over."""
    stop, failed = threading.Event(), []

    def send() -> None:
        try:
            with socket.create_connection(("127.0.0.1", d.tcp), timeout=60) as sock:
                while not stop.is_set():
                    sock.sendall(payload)
        except OSError as exc:
            failed.append(exc)

    (sender := threading.Thread(target=send, daemon=True)).start()
    time.sleep(1.0)
    t_a, (n_a, _) = time.perf_counter(), d.counts()
    time.sleep(seconds)
    t_b, (n_b, _) = time.perf_counter(), d.counts()
    stop.set()
    sender.join(120)
    settle(d)
    if failed:
        raise BenchError(f"TCP sender: {failed[0]}")
    return (n_b - n_a) / (t_b - t_a)


def section_rates(b: Bench) -> None:
    print(UDP_HEADER)
    (cw, reached), (bare, _) = (search(b, rcv) for rcv in b.receivers())
    print(f"  highest rate without drops: certwatch {cw:,.0f} msg/s, bare {bare:,.0f} msg/s: {cw / max(bare, 1):.2f}x")
    met = cw >= 100_000 or (not reached and cw >= 0.9 * bare)
    goal = "no loss at 100k" if reached else ">= 0.9x bare (loggen < 100k)"
    b.row("UDP msg/s without drops", f"{cw:,.0f}", f"bare {bare:,.0f}", cw / max(bare, 1), goal, met)
    stop(b.receivers()[1].proc)
    data, messages = b.corpora[0].head(50_000), list[bytes]()
    for line in data.splitlines():  # LF framing sends the lines as they are; octet counting a frame per message
        if is_continuation(line) and messages:
            messages[-1] += b"\n" + line
        else:
            messages.append(line)
    for framing, payload in (("LF", data), ("octet counting", b"".join(b"%d %s" % (len(m), m) for m in messages))):
        rate = tcp_rate(b.receivers()[0], payload, b.args.tcp_seconds)
        b.row(f"TCP msg/s, {framing}", f"{rate:,.0f}", "-", None, ">= 500,000", rate >= 500_000)
        print(f"  TCP, one connection, {framing}: {rate:,.0f} msg/s processed ({b.args.tcp_seconds:.0f} s window)")


def best_of(make: Callable[[], Callable[[], object]], repeats: int = 3) -> float:
    """The shortest time of ``repeats`` calls of a fresh ``make()`` (its set-up is not timed)."""
    times = []
    for _ in range(repeats):
        run, began = make(), time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def section_stages(b: Bench) -> None:
    data = b.corpora[0].head(b.args.stage_lines)
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]

    def framing() -> list[bytes]:
        framer = StreamFramer()
        return [frame for chunk in chunks for frame in framer.feed(chunk)] + framer.finish()

    def joining() -> list[bytes]:
        joiner = Joiner(65536, ReadStats())
        return [*joiner.push_many(frames), *filter(None, [joiner.flush()])]

    def layered() -> None:
        headers = HeaderReader()
        for raw in ts:
            header = headers.read(raw.decode(errors="replace"))
            if not isinstance(header, Failure) and header.app == "traffic_server":
                read_event(header.body)

    def engine(fast: bool) -> float:
        return us(best_of(lambda: lambda: Engine(fast=fast).feed(messages, now)))

    def us(seconds: float) -> float:
        return 1e6 * seconds / len(messages)

    frames = framing()
    messages = joining()
    ts, now = [m for m in messages if b"traffic_server" in m], time.time()
    total, parsing, fast = engine(fast=False), us(best_of(lambda: layered)), engine(fast=True)
    rows = [
        ("receive (the bare uvloop receiver of step 2)", bare.us if (bare := b.cpu.get("bare uvloop")) else None),
        ("framing (StreamFramer.feed on 64 KiB chunks; TCP only)", us(best_of(lambda: framing))),
        ("joining (Joiner.push_many per read)", us(best_of(lambda: joining))),
        ("engine, layered path alone: Engine(fast=False).feed", total),
        ("  parsing: HeaderReader.read + read_event of traffic_server messages", parsing),
        ("  correlation and the rest: engine - parsing", total - parsing),
        ("engine, fast path with the layered path behind it: Engine().feed", fast),
        ("certwatch run over UDP, everything (step 2)", cw.us if (cw := b.cpu.get("certwatch")) else None),
    ]
    b.row("engine µs/msg, fast path", f"{fast:.2f}", f"layered {total:.2f}", fast / total, "-", None)
    print(f"  {len(messages):,} messages ({len(ts):,} traffic_server) from {len(chunks) * 64:,} KiB; best of 3")
    for label, value in rows:
        print(f"  {label:74} {'-' if value is None else f'{value:6.2f}':>6} µs/msg")


def key_lines(i: int, failing: bool, nodes: dict[int, Lines]) -> list[str]:
    """Key ``i``, 1 ms after key ``i - 1``, on one of 64 nodes: a transaction with its client and origin entries;
    failing, a request, its verify WARNING (a finding) and its 502."""
    lines = nodes.setdefault(i % 64, Lines(node=f"caps-{i % 64:02d}", pid=4242)).at(i / 1000 + 1000 * failing)
    host, ip, txn = f"k{i}.bench.example.com", f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", i + (failing << 24)
    request, client = lines.sending_request(txn, ip, 8443, host), 1024 + i % 60_000
    if failing:
        return [request, lines.verify(host, ip), lines.error_event(client)]
    return [lines.receive_request(txn, f"/k{i}", client), request]


def push(d: Daemon, lines: list[str], limit: float = 900.0) -> float:
    """Writes ``lines`` on one TCP connection, waits until the engine processed them all; the seconds taken."""
    began, (n0, _) = time.perf_counter(), d.counts()
    with socket.create_connection(("127.0.0.1", d.tcp), timeout=60) as sock:
        sock.sendall(("\n".join(lines) + "\n").encode())
    while (done := d.counts()[0] - n0) < len(lines):
        if time.perf_counter() - began > limit:
            raise BenchError(f"{done:,} of {len(lines):,} lines processed after {limit:.0f} s")
        time.sleep(0.5)
    return time.perf_counter() - began


def section_memory(b: Bench) -> None:
    caps(b)
    latency(b)


def caps(b: Bench) -> None:
    """A fresh certwatch run: RSS idle, then after distinct keys past its table caps."""
    d = start_daemon("caps", b.args.caps_scale)
    d.name = "certwatch (caps)"
    try:
        time.sleep(1.0)
        idle, text = rss_mib(d.proc.pid), d.metrics()
        found = re.finditer(r'^certwatch_state_capacity\{table="(\w+)"\} (\S+)$', text, re.MULTILINE)
        cap, nodes = {m[1]: int(float(m[2])) for m in found}, dict[int, Lines]()
        healthy = max(cap[t] for t in ("transactions", "origin_index", "clients"))
        failing_keys = max(cap[t] for t in ("findings", "warnings", "blame", "recent_502"))
        for failing, n in ((False, int(1.1 * healthy)), (True, int(1.1 * failing_keys))):
            took = push(d, [line for i in range(n) for line in key_lines(i, failing, nodes)])
            kind = "failing" if failing else "healthy"
            print(f"  {n:,} {kind} keys in {took:.1f} s: RSS {rss_mib(d.proc.pid):.0f} MiB (idle {idle:.0f})")
        capped, text = rss_mib(d.proc.pid), d.metrics()
        b.row("certwatch RSS MiB at its caps", f"{capped:.0f}", f"idle {idle:.0f}", capped / idle, "-", None)
        tables = [f"{t} {metric(text, 'certwatch_state_entries', table=t):,.0f}/{n:,}" for t, n in cap.items()]
        print("  tables, entries/capacity: " + ", ".join(tables))
    finally:
        d.shutdown()


def latency(b: Bench) -> None:
    """On a new TCP connection kept open (as a sender does) under UDP load, /metrics polled every 10 ms until
    ``certwatch_bad_gateway_total`` has the node: the example's lines, node renamed (a 502 whose certificate failure
    came first: counted at once), then a lone 502 with no failure (counted as uncorrelated once it waited
    ``correlation.reorder_wait``, 2 s, for a late failure)."""
    daemon = b.receivers()[0]
    settle(daemon)
    load = loggen(daemon.udp, b.args.latency_rate, 3600, b.corpora[0])  # loggen: stopped after
    known, unknown = list[float](), list[float]()
    try:
        time.sleep(WARM)
        for i in range(b.args.trials):
            lines = [line.replace("expc01", f"latency-{i}") for line in EXAMPLE.read_text().splitlines()]
            known.append(time_to_series(daemon, lines, f'node="latency-{i}"'))
            lone = Lines(node=f"lone-{i}", pid=4243)
            lines = [lone.sending_request(7, "10.9.9.9", 8443, "down.example.com"), lone.sending_response(7, 502)]
            unknown.append(time_to_series(daemon, lines, f'node="lone-{i}"'))
    finally:
        stop(load)
    b.row("502 to /metrics, known cause, worst, ms", f"{1000 * max(known):,.0f}", "-", None, "< 1,000", max(known) < 1)
    b.row("502 to /metrics, no cause, worst, ms", f"{1000 * max(unknown):,.0f}", "-", None, "reorder_wait 2 s", None)
    for name, times in (("known cause", known), ("no cause (waits reorder_wait)", unknown)):
        ms = ", ".join(f"{1000 * t:.0f}" for t in times)
        print(f"  502 to /metrics, {name}, under {b.args.latency_rate:,} msg/s of UDP: {ms} ms (inf: not within 10 s)")


def time_to_series(daemon: Daemon, lines: list[str], label: str) -> float:
    """Seconds from writing ``lines`` until a ``certwatch_bad_gateway_total`` sample has ``label`` (inf: 10 s)."""
    seen = re.compile(rf"^certwatch_bad_gateway_total\{{[^}}\n]*{label}".encode(), re.MULTILINE)
    with socket.create_connection(("127.0.0.1", daemon.tcp), timeout=60) as sock:
        began = time.perf_counter()
        sock.sendall(("\n".join(lines) + "\n").encode())
        while not seen.search(get(daemon.http, "/metrics")[1]) and time.perf_counter() - began < 10:
            time.sleep(0.01)
        took = time.perf_counter() - began
    return took if took < 10 else math.inf


SECTIONS: Final = (
    (1, "certwatch analyze against mtail --one_shot", section_analyze),
    (2, "UDP CPU per message, certwatch run against a bare uvloop receiver", section_cpu),
    (3, "highest UDP rate without drops; TCP on one connection", section_rates),
    (4, "µs per message by stage, in-process", section_stages),
    (5, "certwatch RSS at its caps; 502 to metric under UDP load", section_memory),
)


# ---- summary and main --------------------------------------------------------------------------------------------


def summary(b: Bench) -> None:
    table = [("measure", "certwatch", "reference", "ratio", "goal", ""), *b.rows]
    widths = [max(len(r[i]) for r in table) for i in range(6)]
    print("\nsummary")
    for r in table:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="certwatch benchmark (make bench)")
    parser.add_argument("--quick", action="store_true", help="small corpora, short windows: to try the harness")
    parser.add_argument("--runs", type=int, help="runs of each analyze and mtail measurement (default 3, quick 1)")
    parser.add_argument("--lines", type=int, help="lines per corpus (default 1,000,000, quick 200,000)")
    parser.add_argument("--only", default="1,2,3,4,5", help="the sections to run (default 1,2,3,4,5)")
    parser.add_argument("--rate", type=int, default=10_000, help="UDP msg/s of section 2 (default 10000)")
    parser.add_argument("--latency-rate", type=int, default=10_000, help="UDP load of section 5 (default 10000)")
    parser.add_argument("--bare-receiver", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.runs, args.lines = args.runs or (1 if quick else 3), args.lines or (200_000 if quick else 1_000_000)
    args.sections = {int(s) for s in args.only.split(",")}
    args.window, args.step = (3.0, 2.0) if quick else (10.0, 4.0)  # steady windows: section 2, each step of 3
    args.bisections, args.budget = (1, 40.0) if quick else (3, 150.0)  # section 3, per receiver
    args.tcp_seconds, args.stage_lines = (3.0, 50_000) if quick else (8.0, 300_000)
    args.caps_scale, args.trials = (0.1, 2) if quick else (1.0, 5)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bare_receiver is not None:
        bare_receiver(args.bare_receiver)
        return 0
    signal.signal(signal.SIGTERM, _terminated)
    OUT.mkdir(parents=True, exist_ok=True)
    describe = ["git", "-C", str(ROOT), "describe", "--always", "--dirty"]
    git = subprocess.run(describe, capture_output=True, text=True, check=False).stdout.strip()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"certwatch bench ({'quick' if args.quick else 'full'}) at {git}, {os.cpu_count()} CPUs, load {load}")
    b, failed, started = Bench(args), [], time.perf_counter()
    try:
        b.corpora = [ensure_corpus(name, args.lines, share) for name, share in SHARES.items()]
        for number, title, section in SECTIONS:
            if number == 2 and args.sections - {1}:  # this script and loggen on CPU 1 from here; receivers on CPU 0
                os.sched_setaffinity(0, {1} if (os.cpu_count() or 1) > 1 else {0})
                subprocess.run(["bash", str(LOGGEN), "--setup"], check=True, stdout=subprocess.DEVNULL)
            if number in args.sections:
                print(f"\n{number}. {title}", flush=True)
                try:
                    section(b)
                except (BenchError, OSError, http.client.HTTPException, subprocess.SubprocessError) as exc:
                    failed.append(title)
                    print(f"  FAILED: {exc if isinstance(exc, BenchError) else repr(exc)}", flush=True)
    except (KeyboardInterrupt, OSError, subprocess.SubprocessError) as exc:
        failed.append(f"stopped: {exc!r}")
    finally:
        if b.daemon is not None:
            b.daemon.shutdown()
        for proc in reversed(STARTED):
            stop(proc)
    summary(b)
    print(f"\n(bench wall time {time.perf_counter() - started:.0f} s)")
    if failed:
        print("bench: FAILED: " + "; ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
