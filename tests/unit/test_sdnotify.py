"""The systemd notify protocol against a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from certwatch import sdnotify


def test_notify_sends_the_state_to_notify_socket(tmp_path: Path) -> None:
    """READY=1 arrives as one datagram on the socket named by NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        assert sdnotify.notify("READY=1", {"NOTIFY_SOCKET": str(path)})
        assert b"READY=1" == server.recv(100)


def test_abstract_namespace_socket() -> None:
    """A leading @ names an abstract-namespace socket."""
    name = f"certwatch-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert sdnotify.notify("STOPPING=1", {"NOTIFY_SOCKET": "@" + name})
        assert b"STOPPING=1" == server.recv(100)


def test_without_systemd_nothing_happens() -> None:
    """No NOTIFY_SOCKET, or one nobody listens on: False, no exception."""
    assert (False, False) == (sdnotify.notify("READY=1", {}), sdnotify.notify("READY=1", {"NOTIFY_SOCKET": "/nope"}))


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    """WATCHDOG_USEC=10 s: ping every 5 s; another process's watchdog or none: no pings."""
    assert 5.0 == sdnotify.watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())})
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert sdnotify.watchdog_interval({}) is None
