"""The HTTP surface on the daemon's event loop (aiohttp): ``/metrics``, ``/healthz``, ``/readyz`` and the incident
API. Handlers only read :class:`certwatch.state.State`; one error boundary turns surprises into a 500."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.process_collector import ProcessCollector

from certwatch.export.collectors import CertwatchCollector
from certwatch.export.webauth import Guard
from certwatch.state import State

STATE_KEY = web.AppKey("state", State)
_STATUSES = ("active", "resolved")


def registry_for(state: State) -> CollectorRegistry:
    """A registry of our own (never the global one): certwatch's collector and the process metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CertwatchCollector(state))
    ProcessCollector(registry=registry)
    return registry


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def build_app(state: State, guard: Guard | None = None) -> web.Application:
    """The routes; with ``guard``, behind the rate limit, client SAN check and basic auth of ``http.web_config_file``
    (``/healthz`` and ``/readyz`` stay open) and with its headers."""
    app = web.Application(middlewares=[_errors])
    if guard is not None:
        guard.install(app)
    app[STATE_KEY] = state
    metrics = make_aiohttp_handler(registry_for(state))

    async def metrics_timed(request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        response = await metrics(request)
        state.telemetry.scrape_duration = time.perf_counter() - start
        return response

    app.router.add_get("/metrics", metrics_timed)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/api/v1/incidents", _incidents)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - the one error boundary: a broken handler must not kill the daemon
        return _json({"error": type(exc).__name__}, 500)
    return response


async def _healthz(_request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = {"ready": state.ready, "listeners": state.bound(), "http": state.http_address}
    return _json(body, 200 if state.ready else 503)


async def _incidents(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    query = request.query
    status = query.get("status")
    if status is not None and status not in _STATUSES:
        return _json({"error": f"status must be one of {', '.join(_STATUSES)}"}, 400)
    incidents = state.incidents.documents(query.get("cluster"), query.get("node"), status)
    generated = datetime.fromtimestamp(state.clock(), UTC).isoformat(timespec="seconds")
    return _json({"incidents": incidents, "generated_at": generated})
