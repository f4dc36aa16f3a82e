"""Real peers of the in-process daemon: ``certwatch send`` and ``certwatch analyze`` as child processes, free ports
for programs that cannot bind port 0 and report it, and the counters the real-peer tests compare."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certwatch.telemetry import TLS_FAILURES
from conftest import address, metrics, value

PROCESS_TIMEOUT = 30.0  # seconds a child process may take before the test fails; never slept


@dataclass(frozen=True)
class Done:
    returncode: int
    stderr: str


async def run_process(*argv: str | Path, stdin: bytes | None = None) -> Done:
    """Run a program to completion without blocking the daemon's event loop; killed if it outlives the timeout."""
    proc = await asyncio.create_subprocess_exec(
        *(str(a) for a in argv),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(PROCESS_TIMEOUT):
            _, err = await proc.communicate(stdin)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Done(proc.returncode, err.decode(errors="replace"))


async def certwatch_send(daemon: Any, transport: str, *options: str | Path) -> Done:
    """``certwatch send --transport TRANSPORT [options...] HOST:PORT`` to the daemon's listener of that transport;
    ``options`` end with the files."""
    host, port = address(daemon, transport)
    *flags, path = options
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return await run_process(sys.executable, "-m", "certwatch", "send", "--transport", transport, *flags, target, path)


@functools.cache
def analyze(path: Path) -> list[dict[str, Any]]:
    """The findings of ``certwatch analyze --format json`` for one file."""
    out = subprocess.run(
        [sys.executable, "-m", "certwatch", "analyze", "--format", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=PROCESS_TIMEOUT,
    ).stdout
    findings: list[dict[str, Any]] = json.loads(out)["findings"]
    return findings


def without(document: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in fields}


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (for programs that cannot bind port 0 and report it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def handshake_failures(daemon: Any) -> dict[str, float]:
    """The non-zero series of certwatch_tls_handshake_failures_total, by reason, from a real scrape."""
    samples = await metrics(daemon)
    counts = {
        reason: value(samples, "certwatch_tls_handshake_failures_total", reason=reason) for reason in TLS_FAILURES
    }
    return {reason: count for reason, count in counts.items() if count}


async def counters(daemon: Any, name: str, label: str) -> dict[str, float]:
    """The non-zero series of a metric from a real scrape, keyed by the value of one of its labels."""
    samples = await metrics(daemon)
    return {dict(labels)[label]: count for (sample, labels), count in samples.items() if sample == name and count}
