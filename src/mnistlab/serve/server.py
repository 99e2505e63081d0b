"""The uvicorn settings `mnistlab serve` runs with, and the header timeout uvicorn lacks.

uvicorn's h11 protocol closes an idle keep-alive connection (`timeout_keep_alive`) but has no
limit on how long a request's headers, or a body the app never reads, may take to arrive: a
client sending a byte every half second holds its connection for ever. `GuardedH11Protocol`
adds one deadline per request phase, set on the event loop by the connection itself:

- headers: complete within `header_timeout` of the connection opening (or of the previous
  response), else 408 and the connection closed (closed silently if not a byte came);
- body: complete within `body_timeout` of the headers, else the connection is closed. The app's
  `BodyTimeout` answers 408 first when it reads the body; this catches the bodies it never reads.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import logging
from typing import Any

import h11
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from mnistlab.serve.guards import BODY_TIMEOUT

logger = logging.getLogger("mnistlab.serve")
HEADER_TIMEOUT = 10.0  # seconds for a request line and headers (a few hundred bytes)
BODY_GRACE = 2.0  # seconds past the app's body timeout before the connection itself is cut
KEEP_ALIVE = 5  # seconds an idle keep-alive connection is kept (uvicorn's default)
MAX_CONNECTIONS = 512  # open connections and tasks; beyond it uvicorn answers 503 (plain text)
MAX_HEADER_BYTES = 16 * 1024  # a request's headers; beyond it h11 fails the request (uvicorn: 400)
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for a request's headers and body (see the module)."""

    header_timeout = HEADER_TIMEOUT
    body_timeout = BODY_TIMEOUT + BODY_GRACE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: str | None = None  # what the deadline waits for: "headers", "body" or nothing

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._phase = None, None

    def _watch(self) -> None:
        """Arm the deadline of what the client owes now; it runs until the phase changes."""
        state = self.conn.their_state
        phase = "headers" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        if self.transport.is_closing():
            phase = None
        if phase == self._phase:
            return
        self._disarm()
        if phase is not None:
            seconds = self.header_timeout if phase == "headers" else self.body_timeout
            self._deadline = self.loop.call_later(seconds, self._expired, phase, seconds)
            self._phase = phase

    def _expired(self, phase: str, seconds: float) -> None:
        self._deadline, self._phase = None, None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "A client"
        if phase == "headers" and self.conn.trailing_data[0]:
            message = f"The request headers did not arrive within {seconds:g} s."
            body = json.dumps({"error": message}, separators=(",", ":")).encode()  # as the app writes it
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            logger.info("%s sent no complete request headers within %g s; answered 408.", client, seconds)
        elif phase == "body":
            logger.info(
                "%s sent no complete request body within %g s; closed its connection.", client, seconds
            )
        self.transport.close()


def guarded_protocol(header_timeout: float, body_timeout: float) -> type[GuardedH11Protocol]:
    """`GuardedH11Protocol` with these deadlines (uvicorn builds its protocol from a class)."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout + BODY_GRACE},
    )


def is_loopback(host: str) -> bool:
    """Whether `host` listens on this machine only: localhost or a loopback address. Another name
    may resolve anywhere, so it counts as beyond loopback."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[] ")).is_loopback
    except ValueError:
        return False


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging, with mnistlab's own lines (timeouts, disconnects) through its handler."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mnistlab.serve"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def uvicorn_options(
    *,
    header_timeout: float = HEADER_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    log_level: str = "info",
) -> dict[str, Any]:
    """The keyword arguments `uvicorn.run` (or `uvicorn.Config`) takes for a guarded server; the
    app's own `body_timeout` (`create_app`) should be the same."""
    return {
        "http": guarded_protocol(header_timeout, body_timeout),
        "ws": "none",  # the page and API use no WebSocket: an Upgrade is answered as plain HTTP
        "timeout_keep_alive": KEEP_ALIVE,
        "limit_concurrency": max_connections,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_graceful_shutdown": 5,  # Ctrl-C waits this long for requests in flight, then closes
        "log_level": log_level,
        "log_config": log_config(log_level),
    }
