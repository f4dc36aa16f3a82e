"""``systemd/certwatch.service`` against systemd's own checker and against the real daemon.

``systemd-analyze verify`` loads the unit as systemd would (no systemd needs to run as PID 1) and requires
ExecStart's program to exist, so it checks a copy whose ExecStart names this checkout's ``certwatch`` (the same
console script the documented install puts in /opt/certwatch/bin). The daemon is then run the way the unit runs
it: its exit statuses against ``RestartPreventExitStatus=``, and the notify protocol, the watchdog and the reload
signal against ``Type=notify``, ``WatchdogSec=`` and ``ExecReload=``. Needs Debian's ``systemd`` package (TEST_DEBS).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "certwatch.service"
# The console script of the environment running the tests: what /opt/certwatch/bin/certwatch is after the install.
CERTWATCH = Path(sys.executable).parent / "certwatch"
# The exposure budget of the unit (systemd-analyze security: 0 = fully locked down, 10 = unprotected).
EXPOSURE_BUDGET = 2.0


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path is not None, (
        "systemd-analyze not found: install Debian's systemd package (`.ci/debs.sh systemd`, or `make test`, "
        "which installs TEST_DEBS)"
    )
    return path


def service_value(key: str) -> str:
    """The last ``key=`` of [Service] (tests/unit/test_deploy.py reads the unit in full)."""
    values = re.findall(rf"^{key}=(.*)$", UNIT.read_text(), flags=re.MULTILINE)
    assert values, f"no {key}= in {UNIT.name}"
    return values[-1].strip()


def local_unit(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart runs this checkout's certwatch, with the same arguments."""
    assert CERTWATCH.is_file(), f"{CERTWATCH} is missing: run `make install`"
    text = UNIT.read_text()
    program = shlex.split(service_value("ExecStart"))[0]
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(f"ExecStart={program} ", f"ExecStart={CERTWATCH} "))
    assert f"ExecStart={CERTWATCH} run --config " in copy.read_text()
    return copy


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """No error and no warning (an unknown or misspelt setting is only a warning: the output must be empty)."""
    kill = shlex.split(service_value("ExecReload"))[0]
    assert Path(kill).is_file(), f"{kill} (ExecReload=) not found: install Debian's procps package (TEST_DEBS)"
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(local_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (0, "") == (result.returncode, result.stdout + result.stderr)


def test_systemd_analyze_security_exposure_is_low(tmp_path: Path) -> None:
    """The offline security review rates the unit within the budget (it is 1.4, "OK", as shipped)."""
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(local_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for certwatch\.service: (\d+\.\d+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert 0 == result.returncode
    assert float(found.group(1)) <= EXPOSURE_BUDGET, result.stdout


def run_certwatch(config: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(CERTWATCH), "run", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


LOOPBACK = """\
listeners:
  - {protocol: udp, address: "127.0.0.1:0"}
  - {protocol: tcp, address: "127.0.0.1:%d"}
http:
  address: "127.0.0.1:0"
"""


def test_invalid_configuration_exits_with_the_status_systemd_does_not_restart(tmp_path: Path) -> None:
    """An invalid file ends the daemon with the status of RestartPreventExitStatus=, so systemd does not loop."""
    config = tmp_path / "certwatch.yaml"
    config.write_text("listeners: [{protocol: udp, address: nowhere}]\nhttp: {bogus: 1}\n")
    proc = run_certwatch(config)
    _, stderr = proc.communicate(timeout=30)
    assert int(service_value("RestartPreventExitStatus")) == proc.returncode, stderr.decode()
    assert b"listeners.0.udp.address" in stderr


def test_a_port_already_taken_exits_with_a_status_systemd_restarts(tmp_path: Path) -> None:
    """ "Cannot start" is exit status 1: not prevented, so Restart=on-failure tries again later."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = tmp_path / "certwatch.yaml"
        config.write_text(LOOPBACK % taken.getsockname()[1])
        proc = run_certwatch(config)
        _, stderr = proc.communicate(timeout=30)
    assert 1 == proc.returncode, stderr.decode()
    assert str(proc.returncode) not in service_value("RestartPreventExitStatus").split()


def receive(server: socket.socket, wanted: set[str], timeout: float = 20.0) -> set[str]:
    """Notify datagrams until every ``wanted`` state arrived (or the timeout): the states received."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not wanted <= seen and time.monotonic() < deadline:
        server.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            datagram = server.recv(4096).decode()
        except TimeoutError:
            break
        seen |= set(datagram.splitlines())
    return seen


def test_the_daemon_speaks_the_units_notify_watchdog_and_reload_protocol(tmp_path: Path) -> None:
    """As systemd runs it: READY=1 once bound, WATCHDOG=1 pings (WATCHDOG_USEC from WatchdogSec=), the signal of
    ExecReload= reloads the configuration, SIGTERM sends STOPPING=1 and exits 0."""
    usec = int(float(service_value("WatchdogSec").removesuffix("s")) * 1_000_000)
    reload_signal = getattr(signal, "SIG" + shlex.split(service_value("ExecReload"))[1].removeprefix("-"))
    config = tmp_path / "certwatch.yaml"
    config.write_text(LOOPBACK % 0)
    notify = tmp_path / "notify"
    events: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(notify))
        proc = run_certwatch(config, {"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": str(usec)})
        reader = threading.Thread(target=read_events, args=(proc, events), daemon=True)
        reader.start()
        try:
            started = receive(server, {"READY=1", "WATCHDOG=1"})
            proc.send_signal(reload_signal)
            reloaded = wait_for(events, "config_reloaded")
            proc.send_signal(signal.SIGTERM)
            stopping = receive(server, {"STOPPING=1"})
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=10)
    assert {"READY=1", "WATCHDOG=1"} <= started
    assert (True, True) == (reloaded, "STOPPING=1" in stopping)
    assert (0, "stopped") == (proc.returncode, events[-1])


def read_events(proc: subprocess.Popen[bytes], events: list[str]) -> None:
    """The ``event`` of every JSON log line on the daemon's standard error, as they come."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(b"{"):
            events.append(json.loads(line).get("event", ""))  # noqa: PERF401 - seen by the test as they arrive


def wait_for(events: list[str], name: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while name not in events and time.monotonic() < deadline:
        time.sleep(0.02)
    return name in events
