"""Who may use the HTTP side under ``http.web_config_file``: its rate limit, client certificate SANs and basic auth
users (bcrypt), and the headers it adds to every response. ``/healthz`` and ``/readyz`` stay open (probes carry no
credentials and those two answers carry no incident data); TLS, when configured, covers them too.

A bcrypt check costs tens of milliseconds by design. Every outcome, success or failure, is remembered per
(user, keyed hash of the password) in a bounded LRU, and identical checks in flight are shared, so repeated
requests with the same credentials, right or wrong, cost one check; checks run one at a time on a worker thread
(bcrypt releases the GIL), so a flood of distinct passwords costs at most one core and never stalls the event loop,
and beyond ``MAX_PENDING`` waiting checks new ones are refused with 429.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import bcrypt
from aiohttp import web

from certwatch.export.webconfig import WebSettings
from certwatch.export.webtls import san_allowed
from certwatch.telemetry import Telemetry

OPEN_PATHS: Final = frozenset({"/healthz", "/readyz"})
CACHE_SIZE: Final = 4096
MAX_PENDING: Final = 256
# The hash an unknown user is checked against (of a random password, cost 10), so that unknown users cost as much
# time as known ones and cannot be told apart by timing.
_UNKNOWN_USER_HASH: Final = b"$2b$10$gD9igQ4z8rDh5Ho6YmdDI.PHvJmeB/om24OPuBhwHm7qbL7A7Ry2C"
_BCRYPT_MAX_BYTES: Final = 72  # bcrypt reads no further (Go's bcrypt ignores the rest; Python's refuses it)
_executor: ThreadPoolExecutor | None = None

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bcrypt_thread() -> ThreadPoolExecutor:
    global _executor  # noqa: PLW0603 - one worker for the whole process, created on first use
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="certwatch-bcrypt")
    return _executor


def _checkpw(password: bytes, hashed: bytes) -> bool:
    return bcrypt.checkpw(password[:_BCRYPT_MAX_BYTES], hashed)


class Credentials:
    """The basic auth users of one web configuration, with their cache of outcomes."""

    def __init__(self, users: Mapping[str, str], size: int = CACHE_SIZE) -> None:
        self.users = {name.encode(): hashed.encode() for name, hashed in users.items()}
        self.size = size
        self.bcrypt_checks = 0  # how many checks really ran (the rest came from the cache)
        self._key = os.urandom(32)  # the cache holds no plain or plainly hashed password
        self._known: OrderedDict[tuple[bytes, bytes], bool] = OrderedDict()
        self._pending: dict[tuple[bytes, bytes], asyncio.Future[bool]] = {}

    async def check(self, user: bytes, password: bytes) -> bool | None:
        """True for a right user and password, False otherwise; None when too many checks are waiting."""
        key = (user, hashlib.blake2b(password, key=self._key, digest_size=32).digest())
        known = self._known.get(key)
        if known is not None:
            self._known.move_to_end(key)
            return known
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= MAX_PENDING:
                return None
            hashed = self.users.get(user, _UNKNOWN_USER_HASH)
            pending = asyncio.get_running_loop().run_in_executor(_bcrypt_thread(), _checkpw, password, hashed)
            self.bcrypt_checks += 1
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(pending) and user in self.users

    def _settle(self, key: tuple[bytes, bytes], done: asyncio.Future[bool]) -> None:
        self._pending.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        self._known[key] = done.result() and key[0] in self.users
        if len(self._known) > self.size:
            self._known.popitem(last=False)


class TokenBucket:
    """Go's ``rate.NewLimiter(rate.Every(interval), burst)``: full at start, one token per interval."""

    def __init__(self, interval: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.last = clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) / self.interval)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def credentials_of(header: str | None) -> tuple[bytes, bytes] | str:
    """``(user, password)`` of a basic ``Authorization`` header, or why not: ``missing`` or ``malformed``."""
    if not header:
        return "missing"
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return "malformed"
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "malformed"
    user, colon, password = raw.partition(b":")
    return (user, password) if colon else "malformed"


class Guard:
    """The gate of the HTTP side; :meth:`use` swaps the web configuration in place (SIGHUP), for the next request."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.settings: WebSettings | None = None
        self.credentials: Credentials | None = None
        self.headers: dict[str, str] = {}
        self.allowed_sans: tuple[str, ...] | None = None
        self.limiter: TokenBucket | None = None

    def use(self, settings: WebSettings | None) -> None:
        self.settings = settings
        if settings is None:
            self.credentials, self.headers, self.allowed_sans, self.limiter = None, {}, None, None
            return
        config = settings.config
        users = config.basic_auth_users
        if not users:
            self.credentials = None
        elif self.credentials is None or self.credentials.users != Credentials(users).users:
            self.credentials = Credentials(users)  # new users or hashes: a new cache
        self.headers = dict(config.http_server_config.headers)
        self.allowed_sans = config.tls_server_config.client_allowed_sans
        limit = config.rate_limit
        self.limiter = TokenBucket(limit.interval, limit.burst) if limit.interval > 0 else None

    def install(self, app: web.Application) -> None:
        """Put the gate in front of every handler (before routing: an unknown path is a 401 too) and the headers on
        every response."""
        app.middlewares.insert(0, self.middleware)
        app.on_response_prepare.append(self._add_headers)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or self.settings is None:
            return await handler(request)
        if self.limiter is not None and not self.limiter.allow():
            return self._refuse("rate_limited", 429)
        if self.allowed_sans is not None:
            transport = request.transport
            peercert = transport.get_extra_info("peercert") if transport is not None else None
            if not san_allowed(peercert, self.allowed_sans):
                return self._refuse("client_san", 403)
        if self.credentials is not None:
            found = credentials_of(request.headers.get("Authorization"))
            if isinstance(found, str):
                return self._refuse(found, 401)
            user, password = found
            outcome = await self.credentials.check(user, password)
            if outcome is None:
                return self._refuse("rate_limited", 429)
            if not outcome:
                return self._refuse("wrong_password" if user in self.credentials.users else "unknown_user", 401)
        return await handler(request)

    def _refuse(self, reason: str, status: int) -> web.Response:
        self.telemetry.http_refused[reason] += 1
        headers = {"WWW-Authenticate": "Basic"} if status == 401 else {}
        return web.Response(status=status, text=_TEXT[status] + "\n", headers=headers)

    async def _add_headers(self, _request: web.Request, response: web.StreamResponse) -> None:
        for name, value in self.headers.items():
            response.headers[name] = value


_TEXT: Final = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}
