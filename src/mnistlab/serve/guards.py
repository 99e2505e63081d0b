"""What the app sheds before it reads: a body that takes too long, a Host it does not answer to,
and predictions beyond a bounded queue.

`BodyTimeout` and `TrustedHosts` are ASGI middleware, so they hold under any ASGI server; the
header timeout, which no ASGI app can see, is the server's (`serve.server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mnistlab.errors import UsageError
from mnistlab.serve.errors import CLOSE, ApiError, error_response

# Where the server answers by default: loopback, by name and by address.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
BODY_TIMEOUT = 15.0  # seconds for a whole body: 1 MB at ~0.6 Mbit/s; a canvas PNG needs ~0.1 s
MAX_RUNNING = 2  # predictions decoding or reading at once: the 2 cores of a small machine
MAX_WAITING = 126  # predictions queued behind them; 128 in flight covers 80 busy clients
RETRY_AFTER = 1  # seconds a refused client is told to wait: the queue drains ~50 predictions/s
# Images over this many pixels (a canvas is 840x280) are read one at a time and the memory freed
# is given back after each: reading costs ~15 bytes a pixel at its peak (a 50 MP photo raised the
# server's peak RSS by 760 MB), and glibc kept ~500 MB of it in each worker thread's arena.
LARGE_PIXELS = 1_000_000
try:
    _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim  # glibc only
except (OSError, AttributeError):
    _malloc_trim = None


class BodyTimeout:
    """ASGI middleware: 408 when the request body has not arrived in full within `seconds` of the
    request reaching the app.

    The deadline covers the whole body, not each read, so a client trickling a byte at a time is
    cut off as surely as one that stops. Reads after the body is complete (a response listening
    for a disconnect) are not timed.
    """

    def __init__(self, app: ASGIApp, seconds: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        complete = False

        async def timed_receive() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                raise ApiError(
                    408, f"The request body did not arrive within {self.seconds:g} s; send it in one go."
                ) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)


def host_pattern(host: str) -> str:
    """A host as Starlette compares it: lower case, an IPv6 address in brackets."""
    host = host.strip().lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def check_host_patterns(hosts: Sequence[str]) -> list[str]:
    """The trusted-host patterns as Starlette compares them; UsageError names a malformed one."""
    patterns = []
    for host in hosts:
        pattern = host_pattern(host)
        wildcard = pattern == "*" or (pattern.startswith("*.") and "*" not in pattern[1:])
        if not pattern or ("*" in pattern and not wildcard) or "/" in pattern or " " in pattern:
            raise UsageError(
                f"The trusted host {host!r} is not a host name; pass --trusted-host a name, an address, "
                "'*.example.com' or '*'."
            )
        patterns.append(pattern)
    return list(dict.fromkeys(patterns))


class TrustedHosts(TrustedHostMiddleware):
    """Starlette's TrustedHostMiddleware, refusing an untrusted Host header with the API's JSON
    sentence (naming the fix) instead of plain text: a page fetched through another name (DNS
    rebinding) cannot reach the API."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] = LOOPBACK_HOSTS) -> None:
        super().__init__(app, allowed_hosts=check_host_patterns(allowed_hosts), www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("host", "")
        try:
            host = urlsplit(f"//{header}").hostname
        except ValueError:
            host = None
        pattern = host_pattern(host) if host else ""
        if pattern and any(
            pattern == allowed or (allowed.startswith("*") and pattern.endswith(allowed[1:]))
            for allowed in self.allowed_hosts
        ):
            await self.app(scope, receive, send)
            return
        trusted = ", ".join(self.allowed_hosts)
        message = (
            f"The Host header {header!r} is not one this server answers to ({trusted}); "
            f"start it with --trusted-host {host or 'NAME'} to allow it."
        )
        await error_response(400, message, CLOSE)(scope, receive, send)


class Admission:
    """A bounded queue of predictions: `running` at once, `waiting` more in line, and a 503 with
    Retry-After for the next, so a burst waits in a queue of known length or is told to come back.

    Lives on the event loop (no lock needed: the count is only touched there); the semaphore is
    made again for another loop (each test client runs its own). `large` is taken in the worker
    thread, around decoding and reading an image of more than LARGE_PIXELS.
    """

    def __init__(self, running: int = MAX_RUNNING, waiting: int = MAX_WAITING) -> None:
        if running < 1 or waiting < 0:
            raise ValueError(f"Admission needs running >= 1 and waiting >= 0, got {running}, {waiting}")
        self.running = running
        self.waiting = waiting
        self.in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._large = threading.Lock()

    @contextlib.contextmanager
    def large(self, pixels: int) -> Iterator[None]:
        """Hold the one large-image slot while an image of `pixels` (over LARGE_PIXELS) is read,
        then give the heap it freed back to the system (glibc; ~80 ms after a 50 MP photo)."""
        if pixels <= LARGE_PIXELS:
            yield
            return
        with self._large:
            try:
                yield
            finally:
                if _malloc_trim is not None:
                    _malloc_trim(0)

    @property
    def limit(self) -> int:
        return self.running + self.waiting

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the `running` slots for the block; 503 at once when the queue is full."""
        if self.in_flight >= self.limit:
            raise ApiError(
                503,
                f"The server is busy with {self.in_flight:,} predictions in flight, its limit; "
                f"try again in {math.ceil(RETRY_AFTER)} s.",
                {"Retry-After": str(math.ceil(RETRY_AFTER))},
            )
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._loop, self._semaphore = loop, asyncio.Semaphore(self.running)
        self.in_flight += 1
        try:
            async with self._semaphore:
                yield
        finally:
            self.in_flight -= 1
