"""Incidents that survive restarts (I/O shell): the correlator's findings, saved atomically, restored at start.

The file is one JSON document (``{"version": 1, "saved_at": ..., "findings": [...]}``) holding every active and
recently resolved finding with what its metrics, API entry and log lines need: key, cluster, start and last times,
counts, state, error and depth, evidence. It is written to a temporary file in the same directory, fsynced, renamed
over the old one and the directory fsynced, so a crash at any moment leaves the previous document or the new one.
Serialising and writing run in a worker thread; the snapshot they write is taken on the event loop.

At start the findings are restored before anything is served, without state-change callbacks (nothing opens
again). The time certwatch was not running does not count toward ``correlation.resolve_after``: each active
finding's last activity moves forward by the downtime. A missing file is a first start; a file that cannot be
read, parsed or validated, or of another version, is moved aside (``<name>.corrupt-<unix time>``), logged and
counted, and the daemon starts empty.

The labelled counters (``*_total``) are not saved: they restart from zero, which Prometheus reads as a counter
reset.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from certwatch.correlate import Correlator, Finding, FindingKey, FindingState
from certwatch.model import Cause
from certwatch.report import iso
from certwatch.telemetry import Telemetry

VERSION: Final = 1
FILE_NAME: Final = "state.json"


def default_path(environ: Mapping[str, str]) -> Path:
    """``$STATE_DIRECTORY/state.json`` (systemd's ``StateDirectory=``, the first when several), else
    ``$XDG_STATE_HOME/certwatch/state.json``, else ``~/.local/state/certwatch/state.json``."""
    if directory := environ.get("STATE_DIRECTORY", "").split(":")[0]:
        return Path(directory) / FILE_NAME
    if xdg := environ.get("XDG_STATE_HOME"):
        return Path(xdg) / "certwatch" / FILE_NAME
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    return home / ".local" / "state" / "certwatch" / FILE_NAME


def resolve(setting: str | None, environ: Mapping[str, str]) -> Path | None:
    """``state.path``: unset means the default; ``""`` turns saving off."""
    if setting is None:
        return default_path(environ)
    return Path(setting).expanduser() if setting else None


# ---- the document (pure) -------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Timestamp = Annotated[float, Field(allow_inf_nan=False)]


class FindingRecord(_Strict):
    node: str
    origin: str
    port: int | None
    cause: Cause
    enforced: bool
    cluster: str
    origin_ip: str | None
    first_seen: Timestamp
    first_offset: int
    last_seen: Timestamp
    last_offset: int
    state: FindingState
    cert_failures: int
    bad_gateway: int
    error: str | None
    depth: int | None
    last_failure: Timestamp
    last_activity: Timestamp
    changed_at: Timestamp
    evidence: list[str]

    @model_validator(mode="after")
    def _dates(self) -> FindingRecord:
        """The times the reports and the incident API show must be dates (years 1 to 9999, offsets within a day):
        a file with others (the fuzzer wrote an offset of -2,084 days: every incident API request then failed) is
        unusable, like any invalid one."""
        for name, ts, offset in (
            ("first_seen", self.first_seen, self.first_offset),
            ("last_seen", self.last_seen, self.last_offset),
            ("changed_at", self.changed_at, 0),
        ):
            try:
                iso(ts, offset)
            except (ValueError, OverflowError, OSError):
                raise ValueError(f"{name} {ts} (UTC offset {offset} s) is not a date") from None
        return self


class Document(_Strict):
    version: Literal[1]
    saved_at: Timestamp
    findings: list[FindingRecord]


def snapshot(correlator: Correlator, now: float) -> dict[str, Any]:
    """The document for the correlator's findings (plain data: safe to serialise in another thread)."""
    return {
        "version": VERSION,
        "saved_at": now,
        "findings": [_record(f) for f in correlator.findings()],
    }


def _record(f: Finding) -> dict[str, Any]:
    key = f.key
    return {
        "node": key.node,
        "origin": key.origin,
        "port": key.port,
        "cause": str(key.cause),
        "enforced": key.enforced,
        "cluster": f.cluster,
        "origin_ip": f.origin_ip,
        "first_seen": f.first_seen,
        "first_offset": f.first_offset,
        "last_seen": f.last_seen,
        "last_offset": f.last_offset,
        "state": str(f.state),
        "cert_failures": f.cert_failures,
        "bad_gateway": f.bad_gateway,
        "error": f.error,
        "depth": f.depth,
        "last_failure": f.last_failure,
        "last_activity": f.last_activity,
        "changed_at": f.changed_at,
        "evidence": list(f.evidence),
    }


def parse(data: bytes) -> Document:
    """Decode and validate; ValueError (orjson's JSONDecodeError is one) or ValidationError when it is not ours."""
    return Document.model_validate(orjson.loads(data))


def findings_of(document: Document, now: float) -> list[Finding]:
    """The saved findings as of ``now``: active ones had no activity while certwatch was down (downtime moves their
    last activity forward, so it does not count toward ``resolve_after``)."""
    downtime = max(0.0, now - document.saved_at)
    out = []
    for r in document.findings:
        finding = Finding(
            FindingKey(r.node, r.origin, r.port, r.cause, r.enforced),
            r.cluster,
            r.origin_ip,
            r.first_seen,
            r.first_offset,
            r.last_seen,
            r.last_offset,
            r.state,
            r.cert_failures,
            r.bad_gateway,
            r.error,
            r.depth,
            r.last_failure,
            r.last_activity,
            r.changed_at,
            list(r.evidence),
        )
        if finding.active:
            finding.last_activity += downtime
        out.append(finding)
    return out


# ---- the file --------------------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Temporary file in the same directory, fsync, rename over ``path``, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    temporary.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def quarantine(path: Path, now: float) -> Path | None:
    """Move an unusable file aside (``<name>.corrupt-<unix time>``); None when even that fails."""
    target = path.with_name(f"{path.name}.corrupt-{int(now)}")
    try:
        path.replace(target)
    except OSError:
        return None
    return target


class StateStore:
    """The daemon's saver: restores once at start, saves on change at most every ``interval`` and at shutdown."""

    def __init__(self, path: Path, interval: float, telemetry: Telemetry, log: Any) -> None:
        self.path = path
        self.interval = interval
        self._telemetry = telemetry
        self._log = log
        self._saved: tuple[int, ...] | None = None  # the fingerprint of the last saved state
        self._last_attempt = float("-inf")
        self._writing: asyncio.Future[tuple[str | None, float]] | None = None

    # ---- start ----------------------------------------------------------------------------------------------

    def restore(self, correlator: Correlator, now: float) -> int:
        """Put the saved findings back; the number restored (0 on a first start or an unusable file). Temporary
        files a killed process left behind are removed."""
        for stale in self.path.parent.glob(f".{self.path.name}.tmp-*"):
            stale.unlink(missing_ok=True)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self._log.info("state_first_start", path=str(self.path))
            return 0
        except OSError as exc:
            return self._unusable(f"cannot read: {exc.strerror or exc}", now)
        try:
            document = parse(data)
        except (ValueError, ValidationError) as exc:
            return self._unusable(_problem(exc), now)
        findings = findings_of(document, now)
        restored = correlator.restore(findings)
        self._saved = fingerprint(correlator, self._telemetry)
        active = sum(f.active for f in findings)
        self._log.info("state_restored", path=str(self.path), findings=restored, active=active)
        return restored

    def _unusable(self, problem: str, now: float) -> int:
        self._telemetry.state_load_failures += 1
        moved = quarantine(self.path, now)
        self._log.warning(
            "state_unusable",
            path=str(self.path),
            problem=problem,
            moved_to=str(moved) if moved is not None else None,
        )
        return 0

    # ---- saving ---------------------------------------------------------------------------------------------

    def due(self, correlator: Correlator, now: float) -> bool:
        """Something changed and ``interval`` passed since the last attempt (and no write is running)."""
        if self._writing is not None and not self._writing.done():
            return False
        if now - self._last_attempt < self.interval:
            return False
        return fingerprint(correlator, self._telemetry) != self._saved

    def save_soon(self, correlator: Correlator, now: float) -> None:
        """Take the snapshot now (on the event loop), serialise and write it in a worker thread."""
        self._last_attempt = now
        self._saved = fingerprint(correlator, self._telemetry)
        document = snapshot(correlator, now)
        writing = asyncio.get_running_loop().run_in_executor(None, _write, self.path, document)
        writing.add_done_callback(lambda done: self._written(done.result(), now, len(document["findings"])))
        self._writing = writing

    async def save_now(self, correlator: Correlator, now: float) -> None:
        """At shutdown: after a write that is running, the final state, whatever the interval."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
        self._last_attempt = now
        self._saved = fingerprint(correlator, self._telemetry)
        document = snapshot(correlator, now)
        self._written(_write(self.path, document), now, len(document["findings"]))

    def _written(self, outcome: tuple[str | None, float], now: float, findings: int) -> None:
        """On the event loop: record a write's outcome."""
        error, seconds = outcome
        if error is not None:
            self._telemetry.state_save_failures += 1
            self._saved = None  # try again at the next interval
            self._log.error("state_save_failed", path=str(self.path), error=error)
            return
        self._telemetry.state_last_save = now
        self._log.debug("state_saved", path=str(self.path), findings=findings, seconds=round(seconds, 3))


def _write(path: Path, document: dict[str, Any]) -> tuple[str | None, float]:
    """Serialise and write (any thread): the error, if any, and the seconds it took."""
    started = time.perf_counter()
    try:
        write_atomic(path, orjson.dumps(document))
    except OSError as exc:
        return exc.strerror or str(exc), time.perf_counter() - started
    return None, time.perf_counter() - started


def fingerprint(correlator: Correlator, telemetry: Telemetry) -> tuple[int, ...]:
    """Changes whenever a saved field of a finding may have changed: a finding added, forgotten or evicted, a
    failure or a correlated 502 counted, a state change."""
    s = correlator.stats
    return (
        correlator.finding_count,
        s.cert_failures,
        s.bad_gateway - s.uncorrelated_bad_gateway,
        s.findings_evicted,
        sum(telemetry.incident_changes.values()),
        correlator.forgotten,
    )


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        return f"not a certwatch state document: {where}: {first['msg']} ({exc.error_count()} problems)"
    return f"not JSON: {exc}"
