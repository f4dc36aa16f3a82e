"""``certwatch run`` as a process: configuration errors, SIGHUP, SIGTERM drain, environment overrides."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from process import daemon_process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LOOPBACK = (
    "listeners:\n  - {protocol: udp, address: '127.0.0.1:0'}\n  - {protocol: tcp, address: '127.0.0.1:0'}\n"
    "http: {address: '127.0.0.1:0'}\n"
)


def certwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os  # noqa: PLC0415

    return subprocess.run(
        [sys.executable, "-m", "certwatch", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def wait_until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s")
        time.sleep(0.01)


def test_invalid_config_exits_2_listing_every_problem(tmp_path: Path) -> None:
    """run and check-config refuse a bad file before binding anything, with every problem and its path."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "listeners:\n  - {protocol: udp, address: 'nowhere'}\n  - {protocol: tls, address: '0.0.0.0:6514'}\n"
        "correlation: {join_window: soon}\nhttp: {adress: '127.0.0.1:1'}\n"
    )
    for command in (["run", "--config", str(bad)], ["check-config", str(bad)]):
        result = certwatch(*command)
        assert (2, "") == (result.returncode, result.stdout)
        for path in ("listeners.0.udp.address", "listeners.1.tls.cert_file", "correlation.join_window", "http.adress"):
            assert path in result.stderr


def test_check_config_accepts_the_shipped_file() -> None:
    """The documented example is valid as shipped."""
    result = certwatch("check-config", str(Path(__file__).resolve().parents[2] / "config" / "certwatch.yaml"))
    assert (0, True) == (result.returncode, json.loads(result.stdout)["valid"])


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """CERTWATCH_<KEY> with __ between levels; a bad value is a problem with its path."""
    config = tmp_path / "c.yaml"
    config.write_text(LOOPBACK)
    good = certwatch("check-config", str(config), env={"CERTWATCH_CLUSTERS": "{london: [vcs-c-lon1]}"})
    bad = certwatch("check-config", str(config), env={"CERTWATCH_CORRELATION__JOIN_WINDOW": "soon"})
    assert (0, {"london": 1}) == (good.returncode, json.loads(good.stdout)["clusters"])
    assert (2, True) == (bad.returncode, "correlation.join_window" in bad.stderr)


def test_port_in_use_exits_1_with_the_address(tmp_path: Path) -> None:
    """A taken port is a startup failure (status 1), logged with the listener that could not bind."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "c.yaml"
        config.write_text(
            f"listeners: [{{protocol: tcp, address: '127.0.0.1:{port}'}}]\nhttp: {{address: '127.0.0.1:0'}}\n"
        )
        result = certwatch("run", "--config", str(config))
    assert 1 == result.returncode
    assert f"cannot listen on tcp 127.0.0.1:{port}" in result.stderr


def test_sighup_with_a_bad_file_keeps_serving_the_old_config(tmp_path: Path) -> None:
    """The broken file is reported (log line, reload metric at 0); listeners and incidents stay."""
    with daemon_process(LOOPBACK, tmp_path) as daemon:
        tcp = daemon.listeners()["tcp"]
        with socket.create_connection(tcp) as conn:
            conn.sendall((EXAMPLES / "a_self_signed_tomcat_ecdsa.log").read_bytes())
        wait_until(lambda: json.loads(daemon.get("/api/v1/incidents")[1])["incidents"])
        (tmp_path / "certwatch.yaml").write_text("listeners: 42\n")
        daemon.proc.send_signal(signal.SIGHUP)
        failed = daemon.wait_event("config_reload_failed")
        assert ["listeners: Input should be a valid tuple"] == failed["problems"]
        assert "certwatch_config_last_reload_success 0.0" in daemon.get("/metrics")[1]
        assert tcp == daemon.listeners()["tcp"]
        assert 1 == len(json.loads(daemon.get("/api/v1/incidents")[1])["incidents"])


def test_sigterm_processes_what_was_received_then_exits_0(tmp_path: Path) -> None:
    """Ordered shutdown: messages already received are processed (their incident is logged) before exit."""
    with daemon_process(LOOPBACK, tmp_path) as daemon:
        udp = daemon.listeners()["udp"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for line in (EXAMPLES / "e_expired_unity_and_reverse.log").read_bytes().splitlines():
                sock.sendto(line, udp)
        wait_until(lambda: 'certwatch_messages_received_total{transport="udp"} 6.0' in daemon.get("/metrics")[1])
        daemon.proc.send_signal(signal.SIGTERM)
        assert 0 == daemon.proc.wait(timeout=15)
    events = [e["event"] for e in daemon.log]
    assert events.index("stopping") < events.index("stopped")
    assert 2 == events.count("incident_opened")
