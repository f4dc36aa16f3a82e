"""Running ``certwatch run`` as a real child process: started, found (its addresses read from its own log and
/readyz), signalled and always stopped by the test that started it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class DaemonProcess:
    def __init__(self, proc: subprocess.Popen[bytes], http: str) -> None:
        self.proc = proc
        self.http = http
        self.log: list[dict[str, Any]] = []

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.http}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def listeners(self) -> dict[str, tuple[str, int]]:
        ready = json.loads(self.get("/readyz")[1])
        out = {}
        for bound in ready["listeners"]:
            host, _, port = bound["address"].rpartition(":")
            out[bound["protocol"]] = (host.strip("[]"), int(port))
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in list(self.log) if e.get("event") == name]

    def wait_event(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.events(name):
                return found[-1]
            time.sleep(0.01)
        raise AssertionError(f"no {name!r} in the daemon log: {self.log[-5:]}")

    def rss_bytes(self) -> int:
        fields = Path(f"/proc/{self.proc.pid}/status").read_text().split("VmRSS:")[1].split()
        return int(fields[0]) * 1024


def _reader(proc: subprocess.Popen[bytes], sink: list[dict[str, Any]]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        try:
            sink.append(json.loads(line))
        except ValueError:
            sink.append({"event": "unparsed", "line": line.decode(errors="replace")})


@contextmanager
def daemon_process(config_text: str, tmp: Path, env: dict[str, str] | None = None) -> Iterator[DaemonProcess]:
    """Start ``certwatch run --config`` on ``config_text`` (HTTP should be on 127.0.0.1:0); stop it on exit."""
    config = tmp / "certwatch.yaml"
    config.write_text(config_text)
    proc = subprocess.Popen(
        [sys.executable, "-m", "certwatch", "run", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    log: list[dict[str, Any]] = []
    threading.Thread(target=_reader, args=(proc, log), daemon=True).start()
    try:
        deadline = time.monotonic() + 20
        while not any(e.get("event") == "http_listening" for e in list(log)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"daemon did not start (exit {proc.poll()}): {log}")
            time.sleep(0.01)
        http = next(e for e in log if e.get("event") == "http_listening")["address"]
        daemon = DaemonProcess(proc, http)
        daemon.log = log
        yield daemon
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
