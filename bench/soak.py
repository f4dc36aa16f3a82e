"""``make soak``: certwatch run for a long time under mixed, changing traffic, sampled every 10 s.

Senders (one thread each): UDP datagrams, a TCP connection and a TLS connection (a server certificate made for
the run), on their own Expressway nodes, at fixed rates. Each node has three origins that cycle through failing
phases (the verify WARNING, the ERROR, the 502 event and response) and recovering phases (successful
transactions, which resolve the incidents), plus other programs' lines. Meanwhile: a ``/metrics`` scrape every
second, an API call every 5 s, a SIGHUP every 60 s, and one restart (SIGTERM, then start again on the same state
file) half-way, at a moment when incidents are active. Every 10 s: RSS and open descriptors (/proc), asyncio
tasks and event-loop lag (the daemon's own gauges), messages processed.

Reported: the samples (``bench/out/soak/samples.csv``, printed as they are taken), the spread of RSS
and descriptors after the warm-up (goal: within 5 %), the accounting of every message sent (processed + counted
drops, kernel drops included), and the incidents before and after the restart (goal: the same set, with the same
start times). Nothing is asserted: the exit status is 1 only when the run itself fails. All on 127.0.0.1.

    .venv/bin/python bench/soak.py [--seconds 1800] [--rate 3000]
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml

from certwatch.testing import Lines, make_pki

ROOT: Final = Path(__file__).resolve().parent.parent
OUT: Final = ROOT / "bench" / "out" / "soak"
ORIGINS: Final = [("cucm-sub1.example.com", "10.10.10.12", 8443), ("cuc01.example.com", "10.10.10.31", 443),
                  ("cups-pub.example.com", "10.10.10.21", 8443)]  # fmt: skip
PHASE: Final = 40.0  # seconds an origin stays failing, then as long recovering
SAMPLE_EVERY: Final = 10.0


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Ports:
    udp: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    tcp: int = field(default_factory=lambda: free_port(socket.SOCK_STREAM))
    tls: int = field(default_factory=lambda: free_port(socket.SOCK_STREAM))
    http: int = field(default_factory=lambda: free_port(socket.SOCK_STREAM))


def write_config(ports: Ports, pki: Any) -> Path:
    doc = {
        "listeners": [
            {"protocol": "udp", "address": f"127.0.0.1:{ports.udp}"},
            {"protocol": "tcp", "address": f"127.0.0.1:{ports.tcp}"},
            {
                "protocol": "tls",
                "address": f"127.0.0.1:{ports.tls}",
                "cert_file": str(pki.server.cert),
                "key_file": str(pki.server.key),
            },
        ],
        "http": {"address": f"127.0.0.1:{ports.http}"},
        "correlation": {"resolve_after": "10m"},
        "state": {"path": str(OUT / "state.json"), "save_interval": "5s"},
        "clusters": {"soak": ["soak-udp", "soak-tcp", "soak-tls"]},
    }
    path = OUT / "certwatch.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


class Daemon:
    def __init__(self, config: Path, http_port: int) -> None:
        self.http_port = http_port
        self.log = (OUT / "daemon.log").open("ab")
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "certwatch"), "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while self.get("/readyz")[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"certwatch did not get ready (status {self.proc.poll()})")
            time.sleep(0.1)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        except OSError:
            return 0, b""

    def metrics(self) -> dict[str, float]:
        """``{sample line name with labels: value}``."""
        out = {}
        for line in self.get("/metrics")[1].decode().splitlines():
            if line and not line.startswith("#"):
                name, _, number = line.rpartition(" ")
                out[name] = float(number)
        return out

    def active(self) -> list[tuple[str, str, int, str, str]]:
        incidents = json.loads(self.get("/api/v1/incidents?status=active")[1])["incidents"]
        return sorted((i["node"], i["origin"], i["port"], i["cause"], i["first_seen"]) for i in incidents)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


def total(samples: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(prefix))


class Sender(threading.Thread):
    """One transport's traffic for one node, ``rate`` messages a second, in 100 ms slices."""

    def __init__(self, transport: str, ports: Ports, rate: int, pki: Any) -> None:
        super().__init__(daemon=True, name=f"send-{transport}")
        self.transport, self.ports, self.rate, self.pki = transport, ports, rate, pki
        self.node = f"soak-{transport}"
        self.lines = Lines(node=self.node, start=datetime.now(UTC), pid=4000 + len(transport))
        self.began = time.monotonic()
        self.sent = 0
        self.txn = 0
        self.run_flag = threading.Event()
        self.idle = threading.Event()
        self.stopped = False
        self.error: str | None = None
        self._sock: Any = None

    def connect(self) -> None:
        if self.transport == "udp":
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            return
        port = self.ports.tcp if self.transport == "tcp" else self.ports.tls
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if self.transport == "tls":
            context = ssl.create_default_context(cafile=str(self.pki.ca))
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def transaction(self) -> list[str]:
        """The next transaction of one origin: failing or recovering by the origin's phase."""
        self.txn += 1
        t = time.monotonic() - self.began
        origin = self.txn % len(ORIGINS)
        host, ip, port = ORIGINS[origin]
        failing = int((t + origin * PHASE / 3) // PHASE) % 2 == 0
        lines, client = self.lines.at(t), 40000 + self.txn % 20000
        out = [lines.receive_request(self.txn, "/cucm-uds/user", client)]
        out.append(lines.sending_request(self.txn, ip, port, host))
        if failing:
            out += [lines.verify(host, ip), lines.ssl_error(host), lines.error_event(client)]
            out.append(lines.sending_response(self.txn, 502, client))
        else:
            out += [lines.receive_response(self.txn, ip, port), lines.sending_response(self.txn, 200, client)]
        stamp = lines.start.isoformat(timespec="milliseconds")
        noise = f'<14>{stamp} {self.node} tvcs: UTCTime="x" Module="network.sip" Level="INFO": noise'
        out += [f"{noise} {i}" for i in range(4)]
        return out

    def run(self) -> None:
        try:
            self.connect()
            due = time.monotonic()
            while not self.stopped:
                if not self.run_flag.is_set():
                    self.idle.set()
                    self.run_flag.wait()
                    self.idle.clear()
                    if self.stopped:
                        break
                    self.close()
                    self.connect()
                    due = time.monotonic()
                batch: list[str] = []
                while len(batch) < self.rate // 10:
                    batch += self.transaction()
                data = [line.encode() for line in batch]
                if self.transport == "udp":
                    for datagram in data:
                        self._sock.sendto(datagram, ("127.0.0.1", self.ports.udp))
                else:
                    self._sock.sendall(b"\n".join(data) + b"\n")
                self.sent += len(data)
                due += 0.1
                time.sleep(max(0.0, due - time.monotonic()))
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.close()
            self.idle.set()

    def pause(self) -> None:
        self.run_flag.clear()
        self.idle.wait(30)

    def resume(self) -> None:
        self.run_flag.set()


@dataclass
class Accounting:
    processed: float = 0.0
    dropped: float = 0.0
    kernel: float = 0.0
    received: float = 0.0

    def add(self, samples: dict[str, float]) -> None:
        self.processed += total(samples, "certwatch_node_messages_total")
        self.dropped += total(samples, "certwatch_messages_dropped_total")
        self.kernel += total(samples, "certwatch_udp_kernel_drops_total")
        self.received += total(samples, "certwatch_messages_received_total")


def settle(daemon: Daemon, limit: float = 60.0) -> dict[str, float]:
    """Scrape until processed and dropped stop moving (held messages flushed, the queue drained)."""
    deadline, last = time.monotonic() + limit, None
    while True:
        samples = daemon.metrics()
        now = (total(samples, "certwatch_node_messages_total"), total(samples, "certwatch_messages_dropped_total"))
        if now == last or time.monotonic() > deadline:
            return samples
        last = now
        time.sleep(1.0)


def proc_figures(pid: int) -> tuple[float, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(status.split("VmRSS:")[1].split()[0]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def soak(seconds: float, rate: int) -> int:  # noqa: PLR0915 - one scenario, read top to bottom
    OUT.mkdir(parents=True, exist_ok=True)
    for old in ("state.json", "daemon.log"):
        (OUT / old).unlink(missing_ok=True)
    pki = make_pki(_fresh(OUT / "pki"))
    ports = Ports()
    config = write_config(ports, pki)
    daemon = Daemon(config, ports.http)
    senders = [Sender("udp", ports, rate, pki), Sender("tcp", ports, rate * 2 // 3, pki),
               Sender("tls", ports, rate // 3, pki)]  # fmt: skip
    for sender in senders:
        sender.resume()
        sender.start()
    accounting, rows, notes = Accounting(), [], []
    reloads = failed_scrapes = 0
    began = time.monotonic()
    restart_at, restarted = seconds / 2, False
    next_sample = next_api = next_reload = 0.0
    print(f"soak: {seconds:.0f} s, {rate + rate * 2 // 3 + rate // 3:,} msg/s (UDP, TCP, TLS), samples every 10 s")
    while (elapsed := time.monotonic() - began) < seconds:
        # RSS and descriptors first, a second after the last scrape and API call: the daemon's own descriptors, not
        # the connection of this script's request in flight
        figures = proc_figures(daemon.proc.pid) if elapsed >= next_sample else (0.0, 0)
        samples = daemon.metrics()  # the scrape of every second
        failed_scrapes += not samples
        if elapsed >= next_api:
            daemon.get("/api/v1/incidents")
            next_api = elapsed + 5
        if elapsed >= next_reload and elapsed > 0:
            daemon.proc.send_signal(signal.SIGHUP)
            reloads += 1
            next_reload = elapsed + 60
        if elapsed >= next_sample and samples:
            rss, fds = figures
            row = {
                "seconds": round(elapsed, 1),
                "rss_mib": round(rss, 1),
                "fds": fds,
                "tasks": samples.get("certwatch_asyncio_tasks", 0),
                "loop_lag_ms": round(1000 * samples.get("certwatch_event_loop_lag_seconds", 0), 2),
                "processed": accounting.processed + total(samples, "certwatch_node_messages_total"),
                "active_incidents": total(samples, "certwatch_incident_active"),
                "restarted": int(restarted),
            }
            rows.append(row)
            print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            next_sample = elapsed + SAMPLE_EVERY
        if not restarted and elapsed >= restart_at and total(samples, "certwatch_incident_active") > 0:
            for sender in senders:
                sender.pause()
            final = settle(daemon)
            accounting.add(final)
            before = daemon.active()
            code = daemon.stop()
            stopped = time.monotonic()
            daemon = Daemon(config, ports.http)
            after = daemon.active()
            notes.append(f"restart: exit {code}, ready again in {time.monotonic() - stopped:.1f} s")
            notes.append(f"incidents before the restart: {len(before)}, after: {len(after)}, same: {before == after}")
            restarted = True
            for sender in senders:
                sender.resume()
        time.sleep(max(0.0, 1.0 - (time.monotonic() - began - elapsed)))
    for sender in senders:
        sender.pause()
    final = settle(daemon)
    accounting.add(final)
    reload_ok = final.get("certwatch_config_last_reload_success", 0) == 1
    code = daemon.stop()
    for sender in senders:
        sender.stopped = True
        sender.resume()
    sent = sum(sender.sent for sender in senders)
    errors = [f"{s.transport}: {s.error}" for s in senders if s.error]
    write_samples(rows)
    report(rows, seconds, sent, accounting, notes, reloads, reload_ok, failed_scrapes, code, errors)
    return 1 if errors or code != 0 else 0


def _fresh(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for item in directory.iterdir():
        item.unlink()
    return directory


def write_samples(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with (OUT / "samples.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"samples: {OUT / 'samples.csv'}")
    plot(rows)


def plot(rows: list[dict[str, Any]]) -> None:
    """The curves as ``bench/out/soak/soak.png`` (matplotlib, the ``bench`` extra; skipped without it)."""
    try:
        import matplotlib as mpl  # noqa: PLC0415 - optional

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("no plot: pip install -e '.[bench]' for matplotlib")
        return
    minutes = [r["seconds"] / 60 for r in rows]
    panels = (("rss_mib", "RSS (MiB)"), ("fds", "open descriptors"), ("tasks", "asyncio tasks"),
              ("loop_lag_ms", "event-loop lag (ms)"), ("active_incidents", "active incidents"))  # fmt: skip
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.2 * len(panels)), sharex=True)
    restart = next((m for m, r in zip(minutes, rows, strict=True) if r["restarted"]), None)
    for ax, (key, label) in zip(axes, panels, strict=True):
        ax.plot(minutes, [r[key] for r in rows], linewidth=1)
        ax.set_ylabel(label, fontsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        if restart is not None:
            ax.axvline(restart, color="grey", linestyle="--", linewidth=0.8)
    axes[-1].set_xlabel("minutes (dashed: the restart)")
    fig.suptitle("certwatch soak: samples every 10 s", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "soak.png", dpi=90)
    plt.close(fig)
    print(f"plot: {OUT / 'soak.png'}")


def spread(rows: list[dict[str, Any]], key: str, start: float, end: float) -> tuple[float, float, float]:
    values = [r[key] for r in rows if start <= r["seconds"] < end]
    if not values:
        return 0.0, 0.0, 0.0
    low, high = min(values), max(values)
    return low, high, (high - low) / low * 100 if low else 0.0


def report(
    rows: list[dict[str, Any]],
    seconds: float,
    sent: int,
    acc: Accounting,
    notes: list[str],
    reloads: int,
    reload_ok: bool,
    failed_scrapes: int,
    code: int,
    errors: list[str],
) -> None:
    warm = min(600.0, seconds / 3)  # the transaction tables fill for transaction_ttl (5 min), then stay level
    print(f"\nsoak summary ({seconds / 60:.0f} min, warm-up {warm:.0f} s after each start)")
    # The restart starts a new process: each process is judged after its own warm-up.
    restart = next((r["seconds"] for r in rows if r["restarted"]), seconds + 1)
    segments = (("first process", warm, restart), ("after the restart", restart + warm, seconds + 1))
    for key, label in (("rss_mib", "RSS MiB"), ("fds", "open descriptors"), ("tasks", "asyncio tasks")):
        for name, start, end in segments:
            if not any(start <= r["seconds"] < end for r in rows):
                continue  # a short run: no sample after this process's warm-up
            low, high, pct = spread(rows, key, start, end)
            verdict = "met" if pct <= 5 else "MISSED"
            print(
                f"  {label:17} {name:17} {start:4.0f}..{min(end, seconds):4.0f} s: {low:,.1f} .. {high:,.1f} "
                f"({pct:.1f} % spread; goal <= 5 %: {verdict})"
            )
    lags = [r["loop_lag_ms"] for r in rows]
    if lags:
        print(f"  event-loop lag     max {max(lags):.1f} ms, median {sorted(lags)[len(lags) // 2]:.1f} ms")
    accounted = acc.processed + acc.dropped + acc.kernel
    verdict = "all accounted for" if accounted == sent else "MISMATCH"
    print(
        f"  messages sent {sent:,}; processed {acc.processed:,.0f} + dropped {acc.dropped:,.0f} + kernel drops "
        f"{acc.kernel:,.0f} = {accounted:,.0f} ({verdict})"
    )
    for note in notes:
        print(f"  {note}")
    print(f"  SIGHUP reloads: {reloads}, last one {'succeeded' if reload_ok else 'FAILED'}; "
          f"failed scrapes: {failed_scrapes}; final exit status {code}")  # fmt: skip
    for error in errors:
        print(f"  sender error: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="certwatch soak run (make soak)")
    default = float(os.environ.get("SOAK_SECONDS", "1800"))
    parser.add_argument("--seconds", type=float, default=default, help="duration (default SOAK_SECONDS or 1800)")
    parser.add_argument("--rate", type=int, default=3000, help="UDP messages a second (TCP 2/3 of it, TLS 1/3)")
    args = parser.parse_args(argv)
    return soak(args.seconds, args.rate)


if __name__ == "__main__":
    sys.exit(main())
