"""Active origin probes inside the daemon: the asyncio shell around :mod:`certwatch.probe.schedule`.

One task on the event loop asks the schedule what is due, runs each probe (:func:`certwatch.probe.run.probe`,
blocking: name resolution, up to three connections) on a worker thread of its own, at most ``probes.concurrency``
at a time, and records the result on the loop, the single writer of everything the metrics and the incident API
read. With ``probes.from_incidents`` it adds the origin and port of every open incident every second.

Worker threads are daemon threads started per probe rather than a ``ThreadPoolExecutor``: a probe cannot be
interrupted (``getaddrinfo`` has no timeout), and an executor's threads are joined when the interpreter exits, so
one slow name server would hold the shutdown beyond ``daemon.shutdown_timeout``. At shutdown the scheduling task is
cancelled and probes still in flight are abandoned; their results are dropped.

OpenSSL and cryptography are imported (with :mod:`certwatch.probe.run`) only when probes are configured.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final

from certwatch.hints import DEFAULT_LANGUAGE, Language, texts
from certwatch.probe.model import ProbeResult, ProbeSettings, Target
from certwatch.probe.schedule import Schedule, Slot, key_of
from certwatch.remediate import port_text

if TYPE_CHECKING:
    from certwatch.config import ProbesConfig
    from certwatch.correlate import Finding
    from certwatch.probe.handshake import Material

SYNC_EVERY: Final = 1.0
"""Seconds between two looks at the open incidents (``from_incidents``): a new incident's origin is probed within
about this long."""

Logger = Any
ProbeFunction = Callable[[Target, ProbeSettings, "Material", Language], ProbeResult]


def fix_verified_text(origin: str, port: int | None, lang: Language) -> str:
    """The ``probe_fix_verified`` message of the hints catalog, in ``lang``."""
    return texts(lang).remediation["probe_fix_verified"].format(origin=origin, port=port_text(port, lang))


class ProbeService:
    """Owns the schedule, the probe settings and the scheduling task. ``open_incidents(origin, port)`` and
    ``incident_targets()`` come from :class:`certwatch.incidents.Incidents`."""

    def __init__(
        self,
        open_incidents: Callable[[str, int], list[Finding]],
        incident_targets: Callable[[], list[tuple[str, int]]],
        log: Logger,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._open_incidents = open_incidents
        self._incident_targets = incident_targets
        self._log = log
        self._clock = clock
        self.language: Language = DEFAULT_LANGUAGE
        self.schedule = Schedule(300.0, 1, random=rand)  # kept across reloads: it knows what is running
        self.enabled = False
        self._settings: ProbeSettings | None = None
        self._material: Material | None = None
        self._probe: ProbeFunction | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # ---- configuration and lifecycle ---------------------------------------------------------------------------

    def configure(self, config: ProbesConfig, material: Material | None, language: Language) -> None:
        """Apply ``probes`` (start and SIGHUP): targets, interval, concurrency, the trust list and client identity
        (``material``, loaded and checked by :func:`certwatch.app.prepare`). Probing starts or stops with it when
        :meth:`start` ran."""
        self.language = language
        now = self._now()
        self.enabled = config.enabled and material is not None
        targets = [Target(t.origin, t.port, t.address) for t in config.targets] if self.enabled else []
        self.schedule.configure(
            config.interval, config.concurrency, targets, self.enabled and config.from_incidents, now
        )
        if self.enabled:
            if self._probe is None:
                from certwatch.probe.run import probe  # noqa: PLC0415 - OpenSSL only when probes are on

                self._probe = probe
            self._settings, self._material = config.settings(), material
        if self._loop is not None:
            self._reschedule()

    def start(self) -> None:
        """Start probing (on the running loop) when ``probes`` asks for it; later reloads may start or stop it."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._closed = False
        self._reschedule()

    def _reschedule(self) -> None:
        assert self._loop is not None
        if self.enabled and self._task is None and not self._closed:
            self._task = self._loop.create_task(self._run())
            self._log.info(
                "probes_started",
                targets=len(self.schedule.slots()),
                from_incidents=self.schedule.from_incidents,
                interval=self.schedule.interval,
                concurrency=self.schedule.concurrency,
            )
        elif not self.enabled and self._task is not None:
            self._task.cancel()
            self._task = None
            self._log.info("probes_stopped", abandoned=self.schedule.running)
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        """Cancel the scheduling task; probes in flight are abandoned (their threads end on their own)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            self._log.info("probes_stopped", abandoned=self.schedule.running)

    # ---- what the metrics and the API read ---------------------------------------------------------------------

    def slots(self) -> list[Slot]:
        return self.schedule.slots() if self.enabled else []

    def latest(self, origin: str, port: int | None) -> Slot | None:
        return self.schedule.get(origin, port) if self.enabled else None

    def fix_verified(self, finding: Finding) -> str | None:
        """The fix-verified message for an open incident whose origin's last probe verified, else ``None``."""
        slot = self.latest(finding.key.origin, finding.key.port)
        if not finding.active or slot is None or slot.result is None or not slot.result.ok:
            return None
        return fix_verified_text(finding.key.origin, finding.key.port, self.language)

    # ---- the work ----------------------------------------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        """The schedule's clock: monotonic (due times); results are stamped with the daemon's wall clock."""
        return time.monotonic()

    async def _run(self) -> None:
        assert self._wake is not None
        last_sync = float("-inf")
        while True:
            now = self._now()
            pause = SYNC_EVERY
            try:
                if now - last_sync >= SYNC_EVERY:
                    last_sync = now
                    self._sync(now)
                for target in self.schedule.take(now):
                    self._launch(target)
                if (due := self.schedule.next_due()) is not None:
                    pause = min(pause, max(0.0, due - now))
            except Exception:  # noqa: BLE001 - a bug must not end probing for good: logged, tried again
                self._log.exception("probe_scheduling_failed")
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    def _sync(self, now: float) -> None:
        if not self.schedule.from_incidents:
            return
        refused = self.schedule.sync_incidents(self._incident_targets(), now)
        if refused:
            self._log.warning(
                "probe_targets_refused",
                refused=refused,
                limit=self.schedule.max_incident_targets,
                total_refused=self.schedule.refused,
            )

    def _launch(self, target: Target) -> None:
        loop, probe = self._loop, self._probe
        settings, material, language = self._settings, self._material, self.language
        assert loop is not None
        assert probe is not None
        assert settings is not None
        assert material is not None

        def work() -> None:
            result: ProbeResult | None = None
            failure: BaseException | None = None
            try:
                result = probe(target, settings, material, language)
            except Exception as exc:  # noqa: BLE001 - probe() never raises by contract; a bug must not stop probing
                failure = exc
            with suppress(RuntimeError):  # the loop closed meanwhile (shutdown): the result is dropped
                loop.call_soon_threadsafe(self._finished, target, result, failure)

        threading.Thread(target=work, name=f"certwatch-probe {target.name}:{target.port}", daemon=True).start()

    def _finished(self, target: Target, result: ProbeResult | None, failure: BaseException | None) -> None:
        if self._closed:
            return
        if failure is not None:
            self._log.error("probe_crashed", origin=target.name, port=target.port, error=repr(failure))
        slot = self.schedule.finished(target, result, self._clock(), self._now())
        if self._wake is not None:
            self._wake.set()
        if slot is None or result is None:
            return
        cause = None if result.cause is None else str(result.cause)
        self._log.debug(
            "probe_done", origin=target.name, port=target.port, ok=result.ok, cause=cause, error=result.error
        )
        self._after(slot, result)

    def _after(self, slot: Slot, result: ProbeResult) -> None:
        """``probe_fix_verified``, once: the origin now verifies while incidents for it are still open (the
        Expressway peers still fail: they need the new trust list and a restart)."""
        origin, port = key_of(slot.target)
        open_now = self._open_incidents(origin, port) if result.ok else []
        if not open_now:
            slot.fix_verified_logged = False
            return
        if slot.fix_verified_logged:
            return
        slot.fix_verified_logged = True
        self._log.info(
            "probe_fix_verified",
            origin=origin,
            port=port,
            nodes=sorted({f.key.node for f in open_now}),
            causes=sorted({str(f.key.cause) for f in open_now}),
            message=fix_verified_text(origin, port, self.language),
            probe=slot.document(),
        )
