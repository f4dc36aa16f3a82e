"""Incidents across restarts, with the real daemon: an ordered restart in-process, SIGTERM and kill -9 of a real
``certwatch run`` process, and an unusable state file at start."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

from process import DaemonProcess, daemon_process

from certwatch.testing import eventually, running_daemon
from conftest import EXAMPLES, address, api, keys, loopback, metrics, run, send_tcp, value

SELF_SIGNED = EXAMPLES / "a_self_signed_tomcat_ecdsa.log"
INCIDENT = {
    "cluster": "default",
    "node": "expc01",
    "origin": "cucm-sub1.example.com",
    "port": "6972",
    "cause": "untrusted_self_signed",
    "enforced": "true",
}


def test_an_ordered_restart_keeps_every_incident_with_its_start_time(tmp_path: Path) -> None:
    """Shutdown saves, start restores before serving: same incidents, same start time, nothing opened again."""
    config = loopback(state={"path": str(tmp_path / "state.json")})

    async def scenario() -> None:
        async with running_daemon(config) as daemon:
            await send_tcp(address(daemon, "tcp"), SELF_SIGNED.read_bytes())
            before = await eventually(lambda: api(daemon))
            started = value(await metrics(daemon), "certwatch_incident_started_timestamp_seconds", **INCIDENT)
        async with running_daemon(config) as daemon:
            samples = await metrics(daemon)  # the first scrape after the start
            assert 1.0 == value(samples, "certwatch_incident_active", **INCIDENT)
            assert started == value(samples, "certwatch_incident_started_timestamp_seconds", **INCIDENT)
            assert 0.0 == value(samples, "certwatch_incident_changes_total", change="opened")
            assert 0.0 == value(samples, "certwatch_state_load_failures_total")
            after = await api(daemon)
            assert keys(before) == keys(after)
            assert [i["first_seen"] for i in before] == [i["first_seen"] for i in after]

    run(scenario)


def config_text(tmp_path: Path) -> str:
    return (
        "listeners:\n  - {protocol: tcp, address: '127.0.0.1:0'}\n"
        "http: {address: '127.0.0.1:0'}\n"
        f"state: {{path: '{tmp_path / 'state' / 'state.json'}', save_interval: 200ms}}\n"
    )


def incident_metrics(daemon: DaemonProcess) -> tuple[str | None, str | None]:
    text = daemon.get("/metrics")[1]
    found: dict[str, str] = {}
    for line in text.splitlines():
        for name in ("certwatch_incident_active", "certwatch_incident_started_timestamp_seconds"):
            if line.startswith(name + "{") and 'origin="cucm-sub1.example.com"' in line:
                found[name] = line.rsplit(" ", 1)[1]
    return found.get("certwatch_incident_active"), found.get("certwatch_incident_started_timestamp_seconds")


def wait_until(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition still false"
        time.sleep(0.05)


def saved_counts(path: Path) -> list[tuple[int, int]]:
    findings = json.loads(path.read_bytes())["findings"]
    return [(f["cert_failures"], f["bad_gateway"]) for f in findings]


def incidents(daemon: DaemonProcess) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(daemon.get("/api/v1/incidents")[1])["incidents"]
    return found


def send_example(daemon: DaemonProcess) -> None:
    with socket.create_connection(daemon.listeners()["tcp"]) as sock:
        sock.sendall(SELF_SIGNED.read_bytes())


def test_sigterm_then_start_and_kill_9_then_start_keep_the_incident(tmp_path: Path) -> None:
    """A real process: SIGTERM saves at shutdown; kill -9 after a periodic save loses nothing saved."""
    text = config_text(tmp_path)
    with daemon_process(text, tmp_path) as daemon:
        send_example(daemon)
        wait_until(lambda: incident_metrics(daemon)[0] == "1.0")
        expected = incident_metrics(daemon)
        daemon.proc.send_signal(signal.SIGTERM)
        assert 0 == daemon.proc.wait(timeout=15)
    with daemon_process(text, tmp_path) as daemon:
        assert expected == incident_metrics(daemon)
        assert daemon.wait_event("state_restored")["active"] == 1
        send_example(daemon)  # the same failures again: counts change, a periodic save follows
        counts = [(4, 2)]
        wait_until(lambda: counts == [(i["cert_failures"], i["bad_gateway"]) for i in incidents(daemon)])
        wait_until(lambda: counts == saved_counts(tmp_path / "state" / "state.json"))
        daemon.proc.kill()
        daemon.proc.wait()
    with daemon_process(text, tmp_path) as daemon:
        assert expected == incident_metrics(daemon)
        assert counts == [(i["cert_failures"], i["bad_gateway"]) for i in incidents(daemon)]
        assert [] == daemon.events("incident_opened")


def test_a_corrupt_state_file_is_moved_aside_and_the_daemon_serves(tmp_path: Path) -> None:
    state = tmp_path / "state" / "state.json"
    state.parent.mkdir()
    state.write_bytes(b'{"version": 1, "saved_at": 5, "findings": [{"node": 1}')
    with daemon_process(config_text(tmp_path), tmp_path) as daemon:
        event = daemon.wait_event("state_unusable")
        assert event["problem"].startswith("not JSON")
        assert 200 == daemon.get("/readyz")[0]
        assert "certwatch_state_load_failures_total 1.0" in daemon.get("/metrics")[1]
        moved = list(state.parent.glob("state.json.corrupt-*"))
        assert [event["moved_to"]] == [str(p) for p in moved]
        send_example(daemon)  # and it works: a new incident, saved to a fresh file
        wait_until(lambda: incident_metrics(daemon)[0] == "1.0")
        wait_until(state.exists)
