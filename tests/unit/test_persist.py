"""The incident state file: where it lives, what it holds, how it is written and what an unusable one does."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvloop

from certwatch import persist
from certwatch.correlate import Change, EngineSettings, Finding, FindingState
from certwatch.engine import Engine
from certwatch.telemetry import Telemetry
from certwatch.testing import Lines, feed

SUB1, SUB1_IP = "cucm-sub1.example.com", "10.10.10.12"


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def _add(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    info = warning = error = debug = _add


def incidents(now: float = 1000.0) -> Engine:
    """An engine with an active enforced finding (with a 502) and a resolved one."""
    engine = Engine(EngineSettings(join_window=5.0, resolve_after=900.0), {"expc01": "lon"})
    lines = Lines()
    feed(
        engine,
        lines.at(0).sending_request(1, SUB1_IP, 6972, host=SUB1),
        lines.at(0.01).verify(SUB1, SUB1_IP),
        lines.at(0.02).sending_response(1, 502),
        lines.at(1).sending_request(2, "10.10.10.31", 443, host="cuc01.example.com"),
        lines.at(1.01).verify("cuc01.example.com", "10.10.10.31", "certificate has expired"),
        lines.at(30).sending_request(3, "10.10.10.31", 443, host="cuc01.example.com"),
        lines.at(30.01).receive_response(3, "10.10.10.31", 443),
        now=now,
    )
    return engine


def fields(finding: Finding) -> tuple[object, ...]:
    return tuple(getattr(finding, name) for name in Finding.__slots__)


def test_default_path_follows_systemd_then_xdg_then_home(tmp_path: Path) -> None:
    assert Path("/var/lib/certwatch/state.json") == persist.default_path({"STATE_DIRECTORY": "/var/lib/certwatch:/x"})
    assert Path("/s/certwatch/state.json") == persist.default_path({"XDG_STATE_HOME": "/s", "HOME": "/h"})
    assert Path("/h/.local/state/certwatch/state.json") == persist.default_path({"HOME": "/h"})
    assert persist.resolve("", {"STATE_DIRECTORY": "/x"}) is None
    assert tmp_path / "s.json" == persist.resolve(str(tmp_path / "s.json"), {})


def test_a_snapshot_restores_every_field_and_downtime_does_not_age_active_incidents() -> None:
    engine = incidents()
    states = {f.key.origin: f.state for f in engine.correlator.findings()}
    assert {SUB1: FindingState.FAILING, "cuc01.example.com": FindingState.RESOLVED} == states
    document = persist.parse(orjson.dumps(persist.snapshot(engine.correlator, 1010.0)))
    restored = {f.key: f for f in persist.findings_of(document, 1510.0)}
    for before in engine.correlator.findings():
        after = restored[before.key]
        if before.active:  # 500 s down: its quiet period starts again from where it was
            assert before.last_activity + 500.0 == after.last_activity
            after.last_activity = before.last_activity
        assert fields(before) == fields(after)


def test_restore_indexes_without_state_change_callbacks() -> None:
    """Restored findings are found by origin (cluster-wide peers, clean successes) and nothing is 'opened'."""
    engine = incidents()
    document = persist.parse(orjson.dumps(persist.snapshot(engine.correlator, 1010.0)))
    changes: list[Change] = []
    fresh = Engine(EngineSettings(), {"expc01": "lon"}, on_change=lambda _f, change, _now: changes.append(change))
    assert 2 == fresh.correlator.restore(persist.findings_of(document, 1020.0))
    assert [] == changes
    (finding,) = fresh.correlator.findings_of_origin(SUB1)
    assert ("lon", 1, 1) == (finding.cluster, finding.cert_failures, finding.bad_gateway)
    lines = Lines()  # a later clean transaction to that origin and port resolves it, as before the restart
    feed(fresh, lines.at(60).sending_request(9, SUB1_IP, 6972, host=SUB1), lines.at(60.1).sending_response(9, 200))
    assert [Change.RESOLVED] == changes


def test_the_quiet_period_counts_only_time_certwatch_ran() -> None:
    """resolve_after 900 s: 600 s before a restart, 500 s down, then 299 s more: still active; at 300 s resolved."""
    engine = incidents(now=1000.0)
    document = persist.parse(orjson.dumps(persist.snapshot(engine.correlator, 1600.0)))
    fresh = Engine(EngineSettings(resolve_after=900.0))
    fresh.correlator.restore(persist.findings_of(document, 2100.0))
    fresh.correlator.expire(2399.0)
    assert [SUB1] == [f.key.origin for f in fresh.correlator.findings() if f.active]
    fresh.correlator.expire(2400.0)
    assert [] == [f for f in fresh.correlator.findings() if f.active]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not JSON"),
        (b'{"version": 2, "saved_at": 1, "findings": []}', "version"),
        (b'{"version": 1, "saved_at": 1, "findings": [{"node": "x"}]}', "findings.0"),
        (b"", "not JSON"),
    ],
)
def test_an_unusable_file_is_moved_aside_logged_counted_and_the_start_is_empty(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    telemetry, log = Telemetry(), Log()
    store = persist.StateStore(path, 10.0, telemetry, log)
    assert 0 == store.restore(Engine().correlator, 1_700_000_000.5)
    ((event, details),) = log.events
    assert ("state_unusable", 1) == (event, telemetry.state_load_failures)
    assert problem in details["problem"]
    assert not path.exists()
    assert content == (tmp_path / "state.json.corrupt-1700000000").read_bytes()


def test_a_missing_file_is_a_first_start(tmp_path: Path) -> None:
    telemetry, log = Telemetry(), Log()
    assert 0 == persist.StateStore(tmp_path / "none" / "state.json", 10.0, telemetry, log).restore(
        Engine().correlator, 1
    )
    assert (["state_first_start"], 0) == ([e for e, _ in log.events], telemetry.state_load_failures)


def test_an_unreadable_path_is_counted_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "state.json").mkdir()  # a directory where the file should be: read fails
    telemetry = Telemetry()
    assert 0 == persist.StateStore(tmp_path / "state.json", 10.0, telemetry, Log()).restore(Engine().correlator, 5)
    assert 1 == telemetry.state_load_failures


async def _save(store: persist.StateStore, engine: Engine, now: float) -> None:
    store.save_soon(engine.correlator, now)
    assert store._writing is not None
    await store._writing
    await asyncio.sleep(0)  # the done callback


def test_saves_only_on_change_and_at_most_every_interval(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine, telemetry = incidents(), Telemetry()
        store = persist.StateStore(tmp_path / "d" / "state.json", 10.0, telemetry, Log())
        c = engine.correlator
        assert store.due(c, 100.0)
        await _save(store, engine, 100.0)
        assert (100.0, False) == (telemetry.state_last_save, store.due(c, 200.0))  # nothing changed since
        lines = Lines()  # the next connection to the failing origin fails too: the same finding changes
        feed(
            engine,
            lines.at(2).sending_request(4, SUB1_IP, 6972, host=SUB1),
            lines.at(2.01).verify(SUB1, SUB1_IP),
            now=101.0,
        )
        assert (False, True) == (store.due(c, 105.0), store.due(c, 110.0))  # changed: after the interval
        await _save(store, engine, 110.0)
        saved = persist.parse((tmp_path / "d" / "state.json").read_bytes())
        assert [2] == [f.cert_failures for f in saved.findings if f.origin == SUB1]
        assert [] == [p.name for p in (tmp_path / "d").iterdir() if p.name != "state.json"]  # no temporary left

    uvloop.run(scenario())


def test_a_failed_write_is_counted_and_retried(tmp_path: Path) -> None:
    async def scenario() -> None:
        blocked = tmp_path / "file"
        blocked.write_text("")  # a file where the directory should be: the write fails
        engine, telemetry, log = incidents(), Telemetry(), Log()
        store = persist.StateStore(blocked / "state.json", 10.0, telemetry, log)
        await _save(store, engine, 100.0)
        assert (1, 0.0, "state_save_failed") == (
            telemetry.state_save_failures,
            telemetry.state_last_save,
            log.events[-1][0],
        )
        assert store.due(engine.correlator, 110.0)

    uvloop.run(scenario())


WRITER = """
import sys, random, orjson
from pathlib import Path
from certwatch.persist import write_atomic
path = Path(sys.argv[1])
documents = [orjson.dumps({"n": n, "pad": "x" * 300_000 * (n + 1)}) for n in range(2)]
print("ready", flush=True)
while True:
    write_atomic(path, random.choice(documents))
"""


def test_kill_9_at_any_moment_leaves_the_previous_or_the_new_document(tmp_path: Path) -> None:
    """A process writing two documents in a loop is killed at random moments: the file is always one of them."""
    path = tmp_path / "state.json"
    seen = set()
    rng = random.Random(7)
    for _ in range(15):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            assert b"ready" in proc.stdout.readline()
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if path.exists():
            document = orjson.loads(path.read_bytes())
            assert len(document["pad"]) == 300_000 * (document["n"] + 1)
            seen.add(document["n"])
    assert seen  # at least one write completed: the check above ran
    store = persist.StateStore(path, 10.0, Telemetry(), Log())
    store.restore(Engine().correlator, 1.0)  # (not a state document: moved aside)
    assert [] == list(tmp_path.glob(".state.json.tmp-*"))  # what the killed writers left is cleaned up
