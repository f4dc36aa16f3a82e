"""The composition root of ``certwatch run``: builds every stage from a :class:`~certwatch.config.Config`, wires
them, and owns the lifecycle (start, SIGHUP reload, ordered shutdown on SIGTERM/SIGINT, systemd notifications).

Data flow: listeners -> :class:`~certwatch.ingress.Ingress` (bounded queue, drained by loop callbacks) ->
:meth:`Engine.feed <certwatch.engine.Engine.feed>`, a batch at a time -> correlator state, read at scrape time by the
collector and by the API. The ingress consumer is the only writer of the engine; everything runs on one event loop.
Origin probes (``probes``, :mod:`certwatch.probe.service`) run on worker threads and hand their results to the loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from certwatch import logs, persist, sdnotify
from certwatch.config import (
    Config,
    ConfigInvalidError,
    Listener,
    TlsListener,
    UdpListener,
    env_overrides,
    load,
    split_address,
)
from certwatch.engine import Engine
from certwatch.export.http import build_app
from certwatch.export.webauth import Guard
from certwatch.export.webconfig import WebConfigError
from certwatch.export.webtls import HttpSecurity, load_security
from certwatch.incidents import Incidents
from certwatch.ingress import Ingress
from certwatch.listeners import tls
from certwatch.listeners.binding import Bindings
from certwatch.listeners.stream import StreamListener
from certwatch.listeners.udp import open_udp
from certwatch.probe.model import ProbeSettingsError
from certwatch.probe.service import ProbeService
from certwatch.reader import ReadStats
from certwatch.state import State
from certwatch.syslog import HeaderReader
from certwatch.telemetry import Telemetry

if TYPE_CHECKING:
    from certwatch.probe.handshake import Material

EXIT_OK = 0
EXIT_STARTUP = 1


class StartupError(Exception):
    """The daemon cannot start (a port is taken, a key does not load); the message says which."""


def tls_contexts(config: Config) -> dict[Listener, ssl.SSLContext]:
    """Build every TLS listener's context, so bad certificates are found before anything is bound."""
    contexts: dict[Listener, ssl.SSLContext] = {}
    problems = []
    for i, listener in enumerate(config.listeners):
        if isinstance(listener, TlsListener):
            try:
                contexts[listener] = tls.server_context(listener)  # by listener: port 0 repeats
            except (OSError, ssl.SSLError, ValueError) as exc:
                problems.append(f"listeners.{i}: cannot load the TLS certificate, key or CA: {exc}")
    if problems:
        raise ConfigInvalidError("configuration", problems)
    return contexts


def http_security(config: Config) -> HttpSecurity | None:
    """Load ``http.web_config_file`` (TLS material included), so a bad file is found before anything is bound."""
    path = config.http.web_config_file
    if path is None:
        return None
    try:
        return load_security(path)
    except WebConfigError as exc:
        raise ConfigInvalidError("configuration", [f"http.web_config_file {path}: {p}" for p in exc.problems]) from None


def probe_material(config: Config) -> Material | None:
    """The probes' trust list and client identity, read once (``None`` while probes are off). The configuration
    checked the files already; this reads them again for use, so a file changed since is still caught."""
    if not config.probes.enabled:
        return None
    from certwatch.probe.run import load as load_material  # noqa: PLC0415 - OpenSSL only when probes are on

    try:
        return load_material(config.probes.settings())
    except ProbeSettingsError as exc:
        raise ConfigInvalidError("configuration", [f"probes: {exc}"]) from None
    except Exception as exc:  # noqa: BLE001 - whatever a library makes of a strange file: refused, not a crash
        raise ConfigInvalidError("configuration", [f"probes: cannot read the files: {exc}"]) from None


def prepare(config: Config) -> tuple[dict[Listener, ssl.SSLContext], HttpSecurity | None, Material | None]:
    """:func:`tls_contexts`, :func:`http_security` and :func:`probe_material`, every problem of all at once."""
    problems: list[str] = []
    contexts: dict[Listener, ssl.SSLContext] = {}
    security = None
    material = None
    try:
        contexts = tls_contexts(config)
    except ConfigInvalidError as exc:
        problems += exc.problems
    try:
        security = http_security(config)
    except ConfigInvalidError as exc:
        problems += exc.problems
    try:
        material = probe_material(config)
    except ConfigInvalidError as exc:
        problems += exc.problems
    if problems:
        raise ConfigInvalidError("configuration", problems)
    return contexts, security, material


class Daemon:
    def __init__(
        self,
        config: Config,
        source: Path | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.source = source
        self.environ = dict(environ or {})
        self.clock = clock
        self.log = logs.get()
        telemetry = Telemetry()
        incidents = Incidents(telemetry, config.incidents.keep_resolved, self.log.info, config.hints.language)
        engine = Engine(
            config.engine(), config.node_clusters(), config.input.zone, clock(), on_change=incidents.on_change
        )
        incidents.correlator = engine.correlator
        self.state = State(config, engine, incidents, telemetry, ReadStats(), clock)
        # active origin probes (probes section): started after the listeners, idle while the section is off
        self.probes = ProbeService(incidents.open_for, incidents.open_targets, self.log, clock)
        self.state.probes = incidents.probes = self.probes
        self.bindings = Bindings(config.node_bindings(), telemetry, self.log, clock)
        path = persist.resolve(config.state.path, os.environ if environ is None else environ)
        self.store = None if path is None else persist.StateStore(path, config.state.save_interval, telemetry, self.log)
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._contexts: dict[Listener, ssl.SSLContext] = {}
        self.guard = Guard(telemetry)  # http.web_config_file: who may use the HTTP side
        self._security: HttpSecurity | None = None

    # ---- lifecycle -----------------------------------------------------------------------------------------------

    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT (or :meth:`stop`), shut down in order."""
        self._stop = asyncio.Event()
        try:
            await self.start()
        except StartupError as exc:
            self.log.error("startup_failed", error=str(exc))
            await self._close_everything()
            return EXIT_STARTUP
        await self._stop.wait()
        await self.shutdown()
        return EXIT_OK

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def start(self) -> None:
        config, state = self.config, self.state
        self._stop = self._stop or asyncio.Event()
        try:
            self._contexts, self._security, material = prepare(config)
        except ConfigInvalidError as exc:
            raise StartupError("; ".join(exc.problems)) from None
        if self.store is not None:  # before anything is received or served
            self.store.restore(state.engine.correlator, self.clock())
        state.ingress = Ingress(config.ingress.queue_batches, state.telemetry)
        for listener in config.listeners:
            await self._open(listener)
        await self._start_http(config.http.address)
        state.ingress.start(state.engine.feed)  # the engine's only writer, from here on
        self.probes.configure(config.probes, material, config.hints.language)
        self.probes.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._ticker())]
        if (interval := sdnotify.watchdog_interval(self.environ)) is not None:
            self._tasks.append(loop.create_task(self._watchdog(interval)))
        self._install_signals(loop)
        state.ready = True
        state.telemetry.config_reload_success = True
        state.telemetry.config_reload_timestamp = self.clock()
        for bound in state.bound():
            self.log.info("listening", **bound)
        self.log.info("http_listening", address=state.http_address)
        sdnotify.notify("READY=1\nSTATUS=listening on " + ", ".join(b["address"] for b in state.bound()), self.environ)

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            loop.add_signal_handler(signal.SIGINT, self.stop)
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
            self.log.debug("signals_not_installed")

    async def shutdown(self) -> None:
        """Stop accepting, process what was received (at most ``daemon.shutdown_timeout``), close."""
        state = self.state
        sdnotify.notify("STOPPING=1", self.environ)
        self.log.info("stopping")
        state.ready = False
        await self.probes.stop()  # probes in flight are abandoned, never waited for
        for listener in state.streams:
            listener.stop_accepting()
        for handle in state.udp:
            handle.close()
        now = self.clock()
        for listener in state.streams:
            listener.flush_idle(now, 0.0)
        if state.ingress is not None:
            try:
                await asyncio.wait_for(state.ingress.drained(), self.config.daemon.shutdown_timeout)
            except TimeoutError:
                self.log.warning("shutdown_timeout", queued=state.ingress.queued)
            self._drop_queued()
        for listener in state.streams:
            listener.close_all("shutdown")
        if self.store is not None:
            await self.store.save_now(state.engine.correlator, self.clock())
        await self._close_everything()
        self.log.info("stopped")

    def _drop_queued(self) -> None:
        """Whatever is still queued or held back after the deadline is counted, never silently lost; so is what
        arrives later (the last lines of the connections closed next)."""
        ingress = self.state.ingress
        assert ingress is not None
        if left := ingress.close():
            self.log.warning("shutdown_dropped", messages=left)

    async def _close_everything(self) -> None:
        await self.probes.stop()
        if self.state.ingress is not None:
            self.state.ingress.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for listener in self.state.streams:
            listener.stop_accepting()
        for handle in self.state.udp:
            handle.transport.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- listeners and HTTP --------------------------------------------------------------------------------------

    async def _open(self, listener: Listener) -> None:
        state, config = self.state, self.config
        assert state.ingress is not None
        limit = config.input.max_message_bytes
        try:
            if isinstance(listener, UdpListener):
                handle = await open_udp(
                    listener, state.ingress, state.telemetry, state.read_stats, limit, config.ingress.max_senders,
                    self.clock, config.ingress.udp_batch_wait, self.bindings,
                )  # fmt: skip
                state.udp.append(handle)
                self.log.info("udp_receive_buffer", address=handle.address, bytes=handle.receive_buffer)
                return
            stream = StreamListener(
                listener, state.ingress, state.telemetry, state.read_stats, limit, self.clock,
                self._contexts.get(listener), self._identity, self.bindings,
            )  # fmt: skip
            await stream.start()
            state.streams.append(stream)
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {listener.protocol} {listener.address}: {exc.strerror or exc}"
            ) from None

    def _identity(self, peer: str, identity: str | None) -> None:
        self.log.info("tls_client", peer=peer, identity=identity)

    async def _start_http(self, address: str) -> None:
        host, port = split_address(address)
        security = self._security
        self.guard.use(None if security is None else security.settings)
        runner = web.AppRunner(build_app(self.state, self.guard), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, ssl_context=None if security is None else security.context).start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(f"cannot listen on http {address}: {exc.strerror or exc}") from None
        self._runner = runner
        bound = runner.addresses[0]
        self.state.http_address = f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"
        if security is not None:
            tls = security.settings.config.tls_server_config
            self.log.info(
                "http_security", web_config_file=str(security.settings.path), tls=security.context is not None,
                client_auth_type=tls.client_auth_type or "NoClientCert",
                basic_auth_users=len(security.settings.config.basic_auth_users),
            )  # fmt: skip

    # ---- the work ------------------------------------------------------------------------------------------------

    async def _ticker(self) -> None:
        """Messages waiting for continuation lines, idle connections, incident expiry (receive clock)."""
        last_expiry = 0.0
        loop = asyncio.get_running_loop()
        telemetry = self.state.telemetry
        while True:
            wait = self.config.ingress.continuation_wait
            pause = min(wait / 2, 0.1)
            asleep = loop.time()
            await asyncio.sleep(pause)
            telemetry.loop_lag = max(0.0, loop.time() - asleep - pause)  # how late the loop woke us: its backlog
            now = self.clock()
            for handle in self.state.udp:
                handle.protocol.flush_idle(now, wait)
            for listener in self.state.streams:
                listener.flush_idle(now, wait)
            self.state.engine.correlator.decide_late(now)  # 502s that waited reorder_wait for a late failure
            if (store := self.store) is not None and store.due(self.state.engine.correlator, now):
                store.save_soon(self.state.engine.correlator, now)
            if now - last_expiry >= 1.0:
                telemetry.tasks = len(asyncio.all_tasks(loop))
                self.state.engine.correlator.expire(now)
                self.state.incidents.forget(now)
                last_expiry = now

    async def _watchdog(self, interval: float) -> None:
        while True:
            sdnotify.notify("WATCHDOG=1", self.environ)
            await asyncio.sleep(interval)

    # ---- reload ----------------------------------------------------------------------------------------------

    async def reload(self) -> bool:
        """SIGHUP: load and validate the configuration again; apply it whole, or keep the old one and say why."""
        telemetry = self.state.telemetry
        telemetry.config_reload_timestamp = self.clock()
        try:
            new = load(self.source, env_overrides(self.environ))
            contexts, security, material = prepare(new)
        except ConfigInvalidError as exc:
            telemetry.config_reload_success = False
            self.log.error("config_reload_failed", source=str(self.source), problems=exc.problems)
            return False
        try:
            await self._rebind(new, contexts, security)
        except StartupError as exc:
            telemetry.config_reload_success = False
            self.log.error("config_reload_failed", source=str(self.source), problems=[str(exc)])
            return False
        self._apply(new)
        self.probes.configure(new.probes, material, new.hints.language)
        telemetry.config_reload_success = True
        self.log.info("config_reloaded", source=str(self.source))
        return True

    async def _rebind(
        self, new: Config, contexts: dict[Listener, ssl.SSLContext], security: HttpSecurity | None
    ) -> None:
        """Close the listeners the new configuration changed or removed; open the new ones; keep the others."""
        state = self.state
        keep = [listener for listener in self.config.listeners if listener in new.listeners]
        for handle in list(state.udp):
            if handle.config not in keep:
                handle.close()
                state.udp.remove(handle)
        for stream in list(state.streams):
            if stream.config not in keep:
                stream.stop_accepting()
                stream.close_all("shutdown")
                state.streams.remove(stream)
        self._contexts = contexts
        previous = self.config
        self.config = new
        try:
            for listener in new.listeners:
                if listener not in keep:
                    await self._open(listener)
                    self.log.info("listening", **state.bound()[-1])
        except StartupError:
            self.config = previous
            raise
        await self._rehttp(previous.http.address, new.http.address, security)

    async def _rehttp(self, old_address: str, address: str, security: HttpSecurity | None) -> None:
        """A new address or new TLS settings or files: a new HTTP listener (on the bound port when the address is
        the same, so port 0 keeps its port). Otherwise the web configuration's users, headers and limits are
        swapped in place, for the next request."""
        before, self._security = self._security, security
        digest = None if security is None else security.settings.tls_digest
        if address == old_address and digest == (None if before is None else before.settings.tls_digest):
            self.guard.use(None if security is None else security.settings)
            return
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._start_http(address if address != old_address else self.state.http_address or address)
        self.log.info("http_listening", address=self.state.http_address)

    def _apply(self, new: Config) -> None:
        state = self.state
        engine = state.engine
        engine.correlator.configure(new.engine(), new.node_clusters())
        engine.nodes.configure(new.node_clusters())
        engine.headers = HeaderReader(new.input.zone, engine.headers.reference)
        state.incidents.keep_resolved = new.incidents.keep_resolved
        state.incidents.language = new.hints.language
        self.bindings.configure(new.node_bindings())
        for handle in state.udp:
            handle.protocol.batch_wait = new.ingress.udp_batch_wait
        if new.ingress.queue_batches != state.config.ingress.queue_batches:
            self.log.warning("restart_needed", option="ingress.queue_batches")
        if new.state.path != state.config.state.path:
            self.log.warning("restart_needed", option="state.path")
        if self.store is not None:
            self.store.interval = new.state.save_interval
        logs.configure(new.logging.level)
        self.config = new
        state.config = new


def describe(config: Config) -> dict[str, Any]:
    """What ``check-config`` prints about a valid configuration."""
    return {
        "listeners": [{"protocol": listener.protocol, "address": listener.address} for listener in config.listeners],
        "http": config.http.address,
        "http_web_config_file": None if config.http.web_config_file is None else str(config.http.web_config_file),
        "clusters": {name: len(nodes) for name, nodes in config.clusters.items()},
        "probes": {
            "enabled": config.probes.enabled,
            "targets": len(config.probes.targets),
            "from_incidents": config.probes.from_incidents,
            "ca_file": None if config.probes.ca_file is None else str(config.probes.ca_file),
        },
    }
