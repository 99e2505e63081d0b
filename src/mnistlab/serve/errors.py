"""How the API says no: every failure a client can cause is `{"error": "<one sentence>"}` with a 4xx.

Only a bug gives a 500 (also as JSON), and a full prediction queue a 503. Bodies over the limit
are refused with 413 before they are read in full: the declared Content-Length is checked first,
and the bytes actually received are counted too (a chunked upload declares none). A client that
goes away mid-body is one line in the log, not a traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mnistlab.errors import MnistlabError

logger = logging.getLogger("mnistlab.serve")
# Answers sent while part of the request body may still be unread: the connection is closed after
# them, or the server would go on reading (and discarding) whatever the client still sends.
CLOSE_AFTER = frozenset({408, 413})
CLOSE = {"Connection": "close"}
RECEIVED = "mnistlab.body_bytes"  # the scope key where BodyLimit counts the body bytes received


class ApiError(MnistlabError):
    """A request the API refuses: an HTTP status and one sentence saying why."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers or {}


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if status_code in CLOSE_AFTER:
        headers["Connection"] = "close"
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, declared or actually streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        too_large = f"The request body is over the {self.max_bytes:,}-byte limit; send a smaller image."
        if declared is not None:
            if not declared.isdigit():
                message = "The Content-Length header is not a number."
                await error_response(400, message, CLOSE)(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await error_response(413, too_large)(scope, receive, send)
                return
        scope[RECEIVED] = 0

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                scope[RECEIVED] += len(message.get("body", b""))
                if scope[RECEIVED] > self.max_bytes:
                    raise ApiError(413, too_large)
            return message

        await self.app(scope, limited_receive, send)


def register_error_handlers(app: FastAPI) -> None:
    """Every error becomes `{"error": "<one sentence>"}`; none escapes as an HTML page."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status_code, str(exc), exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def client_disconnect(request: Request, _: ClientDisconnect) -> Response:
        # Nobody is left to answer; the response below goes nowhere (uvicorn drops it).
        client = f"{request.client.host}:{request.client.port}" if request.client else "A client"
        declared = request.headers.get("content-length")
        of = f" of {int(declared):,}" if declared and declared.isdigit() else ""
        logger.info(
            "%s went away before sending its whole request to %s %s (%s%s body bytes received).",
            client,
            request.method,
            request.url.path,
            f"{request.scope.get(RECEIVED, 0):,}",
            of,
        )
        return Response(status_code=400)

    @app.exception_handler(MnistlabError)
    async def mnistlab_error(_: Request, exc: MnistlabError) -> JSONResponse:
        return error_response(422, sentence(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, sentence(f"Invalid request at {where or 'body'}: {first.get('msg', '')}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"There is no {request.url.path}; the API is described at /docs."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs."
        else:
            message = sentence(str(exc.detail))
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "The server failed on this request; its log has the details.")
