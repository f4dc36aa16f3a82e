"""Active origin probes in the daemon: a real ``certwatch run`` process with a ``probes`` section probes real TLS
origins on 127.0.0.1 (``openssl s_server`` serving certificates made by the test, :mod:`origins`) and a closed
port; its /metrics, incident API and log lines show the verdicts; an incident's origin that starts serving a good
certificate is reported fixed on the origin; SIGHUP applies a changed section and refuses a bad one; SIGTERM does not
wait for a probe in flight."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from origins import NAME, OriginPki, closed_port, make_origin_pki, s_server, silent_server
from process import DaemonProcess, daemon_process
from prometheus_client.parser import text_string_to_metric_families

from certwatch.testing import Lines

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> OriginPki:
    return make_origin_pki(tmp_path_factory.mktemp("origins"))


def good(pki: OriginPki) -> list[str | Path]:
    return ["-cert", pki.good.cert, "-key", pki.good.key, "-cert_chain", pki.intermediate]


def self_signed(pki: OriginPki) -> list[str | Path]:
    return ["-cert", pki.self_signed_ecdsa.cert, "-key", pki.self_signed_ecdsa.key]


@contextmanager
def s_server_at(directory: Path, port: int, *args: str | Path, timeout: float = 10.0) -> Iterator[int]:
    """``openssl s_server -www`` on 127.0.0.1:``port`` (a port that must stay the same across two servers: the
    origin of an incident); killed on exit."""
    out = directory / f"s_server-{port}-{time.monotonic_ns()}.out"
    command = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www", *map(str, args)]
    with out.open("w") as sink:
        proc = subprocess.Popen(command, cwd=directory, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not any(line.startswith("ACCEPT") for line in out.read_text().splitlines()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"s_server did not start: {' '.join(command)}\n{out.read_text()}")
            time.sleep(0.02)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)


def config_text(pki: OriginPki, ports: dict[str, int], *, ca_file: Path | None = None, extra: str = "") -> str:
    targets = "".join(f"    - {{origin: {NAME}, port: {port}, address: 127.0.0.1}}\n" for port in ports.values())
    return (
        "listeners:\n  - {protocol: tcp, address: '127.0.0.1:0'}\n"
        "http: {address: '127.0.0.1:0'}\n"
        "state: {path: ''}\n"
        "logging: {level: debug}\n"
        "probes:\n"
        f"  ca_file: '{ca_file or pki.root}'\n"
        "  interval: 1s\n"
        "  timeout: 2s\n"
        "  concurrency: 2\n"
        "  from_incidents: true\n"
        f"{extra}"
        "  targets:" + ("\n" + targets if targets else " []\n")
    )


def samples(daemon: DaemonProcess) -> Samples:
    status, text = daemon.get("/metrics")
    assert 200 == status
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "condition still false"
        time.sleep(0.05)
    return result


def scrape_until(daemon: DaemonProcess, check: Callable[[Samples], Any]) -> Samples:
    """The first scrape of /metrics for which ``check`` holds (within the timeout of :func:`wait_for`)."""

    def attempt() -> Samples | None:
        found = samples(daemon)
        return found if check(found) else None

    result: Samples = wait_for(attempt)
    return result


def incidents(daemon: DaemonProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(daemon.get("/api/v1/incidents?status=active")[1])["incidents"]
    return found


def send_failure(daemon: DaemonProcess, origin: str, ip: str, port: int, txn: int) -> None:
    """expc01's Traffic Server fails to verify ``origin``:``port`` (self-signed) and answers a 502."""
    lines = Lines().at(txn)
    text = "\n".join(
        [lines.sending_request(txn, ip, port, host=origin), lines.verify(origin, ip), lines.sending_response(txn, 502)]
    )
    with socket.create_connection(daemon.listeners()["tcp"]) as sock:
        sock.sendall(text.encode() + b"\n")


NOT_AFTER = "certwatch_origin_cert_not_after_timestamp_seconds"


def check_first_verdicts(found: Samples, ports: dict[str, int]) -> None:
    """Every configured origin probed: success, causes, the chains' not-after times, connection errors."""

    def at(name: str) -> dict[str, str]:
        return {"origin": NAME, "port": str(ports[name])}

    assert 1.0 == value(found, "certwatch_probe_success", **at("good"))
    assert 0.0 == value(found, "certwatch_probe_success", **at("self_signed"))
    assert 0.0 == value(found, "certwatch_probe_success", **at("closed"))
    causes = {(dict(k)["port"], dict(k)["cause"], v) for (n, k), v in found.items() if n == "certwatch_probe_cause"}
    assert {
        (str(ports["self_signed"]), "untrusted_self_signed", 1.0),
        (str(ports["swap"]), "untrusted_self_signed", 1.0),
    } == causes  # only failing certificate causes: none for the good origin nor for the closed port
    leaf = value(found, NOT_AFTER, depth="0", key_type="RSA", **at("good"))
    assert leaf is not None
    assert time.time() < leaf < time.time() + 3 * 86400
    assert value(found, NOT_AFTER, depth="1", key_type="RSA", **at("good"))  # the intermediate it sends
    assert value(found, NOT_AFTER, depth="0", key_type="ECDSA", **at("self_signed"))
    assert (value(found, "certwatch_probe_errors_total", reason="refused", **at("closed")) or 0.0) >= 1.0
    assert 0.0 == value(found, "certwatch_probe_errors_total", reason="refused", **at("good"))


def check_incident_probe(incident: dict[str, Any], port: int) -> None:
    """The incident of the self-signed origin, with that origin's failing probe and no fix yet."""
    assert (NAME, port, "untrusted_self_signed") == (incident["origin"], incident["port"], incident["cause"])
    probe = incident["probe"]
    assert (False, "untrusted_self_signed", 0, False) == (
        probe["ok"], probe["cause"], probe["depth"], probe["x14_2_trap"]
    )  # fmt: skip
    assert "self-signed certificate" in probe["error"]
    assert probe["not_after"].endswith("Z")
    assert probe["timestamp"].endswith("+00:00")
    assert probe["summary"]
    assert (False, None) == (incident["fix_verified"], incident["fix_verified_message"])


def test_the_daemon_probes_its_targets_and_joins_the_results_to_incidents(pki: OriginPki, tmp_path: Path) -> None:
    """A good origin succeeds (with its chain's not-after times), a self-signed one fails with its cause, a closed
    port counts an error; an incident for a configured origin carries the probe, and is marked fix_verified once
    that origin serves a good certificate; an incident for another origin (from_incidents) gets it probed."""
    with ExitStack() as stack:
        ports = {
            "good": stack.enter_context(s_server(pki.directory, *good(pki))),
            "self_signed": stack.enter_context(s_server(pki.directory, *self_signed(pki))),
            "closed": stack.enter_context(closed_port()),
            "swap": stack.enter_context(closed_port()),
        }
        swap = stack.enter_context(ExitStack())
        swap.enter_context(s_server_at(pki.directory, ports["swap"], *self_signed(pki)))
        unlisted = stack.enter_context(s_server(pki.directory, *self_signed(pki)))  # only an incident names it
        daemon = stack.enter_context(daemon_process(config_text(pki, ports), tmp_path))
        timestamps = [{"origin": NAME, "port": str(port)} for port in ports.values()]
        found = scrape_until(
            daemon, lambda s: all(value(s, "certwatch_probe_timestamp_seconds", **at) for at in timestamps)
        )
        check_first_verdicts(found, ports)
        started = daemon.wait_event("probes_started")
        assert (4, True, 2) == (started["targets"], started["from_incidents"], started["concurrency"])

        # an incident for the swapping origin: the API carries its probe, failing like the logs
        send_failure(daemon, NAME, "10.0.0.1", ports["swap"], 1)
        [incident] = wait_for(lambda: [i for i in incidents(daemon) if i["probe"] is not None])
        check_incident_probe(incident, ports["swap"])
        assert [] == daemon.events("probe_fix_verified")

        # the origin is fixed (a CA-signed certificate on the same port); the Expressway logs still fail
        swap.close()
        stack.enter_context(s_server_at(pki.directory, ports["swap"], *good(pki)))
        [fixed] = wait_for(lambda: [i for i in incidents(daemon) if i["fix_verified"]])
        assert (True, "active") == (fixed["probe"]["ok"], fixed["status"])
        assert fixed["fix_verified_message"].startswith(f"Fix verified on the origin: {NAME} (port {ports['swap']})")
        line = daemon.wait_event("probe_fix_verified")
        assert (NAME, ports["swap"], ["expc01"], fixed["fix_verified_message"]) == (
            line["origin"], line["port"], line["nodes"], line["message"]
        )  # fmt: skip
        time.sleep(2.5)  # more probes of the fixed origin: still one line
        assert 1 == len(daemon.events("probe_fix_verified"))

        # an incident for an origin nobody configured: from_incidents probes it soon (not after an interval)
        send_failure(daemon, "localhost", "10.0.0.2", unlisted, 10)
        other = {"origin": "localhost", "port": str(unlisted)}
        found = scrape_until(daemon, lambda s: value(s, "certwatch_probe_success", **other) is not None)
        assert 0.0 == value(found, "certwatch_probe_success", **other)
        assert 1.0 == value(found, "certwatch_probe_cause", cause="untrusted_self_signed", **other)
        [opened] = [e for e in daemon.events("incident_opened") if e["origin"] == "localhost"]
        assert opened["probe"] is None  # logged before its first probe
        assert 5.0 == value(found, "certwatch_state_entries", table="probe_targets")


def test_sighup_applies_a_changed_section_and_refuses_a_bad_one(pki: OriginPki, tmp_path: Path) -> None:
    with ExitStack() as stack:
        ports = {
            "good": stack.enter_context(s_server(pki.directory, *good(pki))),
            "closed": stack.enter_context(closed_port()),
        }
        daemon = stack.enter_context(daemon_process(config_text(pki, ports), tmp_path))
        config = tmp_path / "certwatch.yaml"
        at_closed = {"origin": NAME, "port": str(ports["closed"])}
        wait_for(lambda: value(samples(daemon), "certwatch_probe_success", **at_closed) is not None)

        # a target removed: its series go; another CA file: the good origin no longer verifies
        config.write_text(config_text(pki, {"good": ports["good"]}, ca_file=pki.other_root))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_event("config_reloaded")
        at_good = {"origin": NAME, "port": str(ports["good"])}
        found = scrape_until(daemon, lambda s: value(s, "certwatch_probe_cause", cause="untrusted_chain", **at_good))
        assert value(found, "certwatch_probe_success", **at_closed) is None

        # an unreadable CA file: refused like any invalid configuration, the probes go on as before
        config.write_text(config_text(pki, {"good": ports["good"]}, ca_file=tmp_path / "missing.pem"))
        daemon.proc.send_signal(signal.SIGHUP)
        failed = daemon.wait_event("config_reload_failed")
        assert any("probes.ca_file" in p for p in failed["problems"]), failed
        assert 0.0 == value(samples(daemon), "certwatch_config_last_reload_success")
        before = value(samples(daemon), "certwatch_probe_timestamp_seconds", **at_good)
        wait_for(lambda: value(samples(daemon), "certwatch_probe_timestamp_seconds", **at_good) != before)
        assert value(samples(daemon), "certwatch_probe_cause", cause="untrusted_chain", **at_good)

        # probes off
        config.write_text(config_text(pki, {}).replace("from_incidents: true", "from_incidents: false"))
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(daemon.events("config_reloaded")) == 2)
        wait_for(lambda: value(samples(daemon), "certwatch_probe_success", **at_good) is None)
        assert daemon.wait_event("probes_stopped")


def test_sigterm_does_not_wait_for_a_probe_in_flight(pki: OriginPki, tmp_path: Path) -> None:
    """A probe of an origin that never answers (300 s timeout) is abandoned at shutdown: the daemon exits 0 long
    before that probe could end (``proc.wait`` fails beyond 60 s)."""
    with ExitStack() as stack:
        ports = {"silent": stack.enter_context(silent_server())}
        text = config_text(pki, ports).replace("timeout: 2s", "timeout: 300s")
        daemon = stack.enter_context(daemon_process(text, tmp_path))
        daemon.wait_event("probes_started")
        time.sleep(0.5)  # the probe is connected and waits for a ServerHello that never comes
        daemon.proc.send_signal(signal.SIGTERM)
        assert 0 == daemon.proc.wait(timeout=60)
        assert daemon.wait_event("probes_stopped")["abandoned"] == 1
