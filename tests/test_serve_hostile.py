"""`mnistlab serve` against hostile but fair clients: slow headers and bodies, a client gone mid-body,
a decompression bomb, PostScript, a forged Host, a burst beyond the queue, random and mutated bytes.

The slow-client, bomb and PostScript checks run a real uvicorn in a child process on a loopback
port the OS picks, with 2 s timeouts (the defaults are 10 s for headers, 15 s for a body); its
PATH starts with a fake `gs` that records any call, and its peak RSS is read from /proc.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import platform
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from mnistlab import cli  # noqa: E402
from mnistlab.commands import serve as serve_command  # noqa: E402
from mnistlab.errors import UsageError  # noqa: E402
from mnistlab.models.pretrained import reader_run  # noqa: E402
from mnistlab.serve import Admission, create_app, is_loopback, load_served_models  # noqa: E402
from mnistlab.serve.guards import LARGE_PIXELS, BodyTimeout  # noqa: E402
from mnistlab.serve.server import GuardedH11Protocol  # noqa: E402

TIMEOUT = 2.0  # the child server's header and body timeouts, seconds
WAIT = 20.0  # how long a check waits for the server to act before it fails, seconds
LOCAL = "http://127.0.0.1"
POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n{ } loop\n"  # gs spins for ever

SERVER = """
import socket, sys, uvicorn
from mnistlab.models.pretrained import reader_run
from mnistlab.serve import create_app, load_served_models, uvicorn_options
timeout = float(sys.argv[1])
app = create_app(load_served_models([reader_run()]), body_timeout=timeout)
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
options = uvicorn_options(header_timeout=timeout, body_timeout=timeout)
uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
"""


def drawn_seven(format: str = "PNG", size: tuple[int, int] = (140, 140)) -> bytes:
    """A thick dark 7 on white (140x140 px, or scaled to `size`), as a file of `format`."""
    paper = Image.new("L", (140, 140), 255)
    pixels = paper.load()
    for x in range(30, 110):
        for y in range(25, 40):
            pixels[x, y] = 0
    for step in range(90):
        x, y = 105 - step * 0.45, 30 + step
        for dx in range(-7, 8):
            pixels[int(x) + dx, int(y)] = 0
    if size != paper.size:
        paper = paper.resize(size, Image.Resampling.BILINEAR).convert("RGB")
    buffer = io.BytesIO()
    paper.save(buffer, format=format)
    return buffer.getvalue()


def strip_png(width: int) -> bytes:
    """A valid 1 x `width` grey PNG of zeros, compressed to ~1/1000 of its pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate = zlib.compressobj(9)
    zeros = bytes(1_000_000)
    idat = deflate.compress(b"\x00") + b"".join(deflate.compress(zeros) for _ in range(width // len(zeros)))
    header = struct.pack(">IIBBBBB", width, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", idat + deflate.flush())
        + chunk(b"IEND", b"")
    )


# -- a real server in a child process ------------------------------------------------------------


class Server:
    def __init__(self, tmp: Path) -> None:
        self.log = tmp / "server.log"
        self.gs_calls = tmp / "gs-calls.txt"
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        fake_gs = bin_dir / "gs"
        fake_gs.write_text(f'#!/bin/sh\necho "$@" >> {self.gs_calls}\nsleep 30\n')
        fake_gs.chmod(0o755)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(TIMEOUT)], stdout=subprocess.PIPE, stderr=log, env=env
            )
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            self.stop()
            pytest.fail(f"the server did not start: {self.log.read_text()}")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while not self.is_up():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                pytest.fail(f"the server did not answer: {self.log.read_text()}")
            time.sleep(0.1)

    def is_up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def memory_mb(self) -> dict[str, float]:
        """The server's peak and current resident memory, MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = {key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M)[1]) for key in ("VmHWM", "VmRSS")}
        return {"peak": kb["VmHWM"] / 1024, "rss": kb["VmRSS"] / 1024}

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("server"))
    try:
        yield running
    finally:
        running.stop()


def trickle(port: int, head: bytes, drip: bytes) -> tuple[bytes, bool]:
    """Send `head`, then one byte of `drip` (repeated) every 0.5 s until the server answers or
    closes; returns what it sent back and whether it closed the connection within WAIT seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(head)
        answer, sent, start = b"", 0, time.monotonic()
        while time.monotonic() - start < WAIT:
            if select.select([sock], [], [], 0.5)[0]:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    return answer, True
                if not chunk:
                    return answer, True
                answer += chunk
            elif drip:
                try:
                    sock.send(drip[sent % len(drip) :][:1])
                except OSError:
                    return answer, True
                sent += 1
        return answer, False


def wait_for_line(server: Server, pattern: str) -> list[str]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = [line for line in server.log_lines() if re.fullmatch(pattern, line)]
        if found:
            return found
        time.sleep(0.1)
    return []


HEADERS = b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 200  # never ends
BODY = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 10000\r\n\r\n"
SLOW_CLIENTS = {  # kind: (what is sent at once, what is then sent a byte every 0.5 s)
    "headers": (b"", HEADERS),
    "body": (BODY % b"/api/predict", b"x"),
    "unread body": (BODY % b"/nowhere", b"x"),  # answered 404 at once; the body is never read
    "nothing": (b"", b""),
}


@pytest.fixture(scope="module")
def slow_clients(server: Server) -> dict[str, list[tuple[bytes, bool]]]:
    """Three connections of each kind at once, while normal requests go on; what each got back."""
    got: dict[str, list[tuple[bytes, bool]]] = {kind: [] for kind in SLOW_CLIENTS}

    def client(kind: str) -> None:
        got[kind].append(trickle(server.port, *SLOW_CLIENTS[kind]))

    threads = [threading.Thread(target=client, args=(kind,)) for kind in SLOW_CLIENTS for _ in range(3)]
    for thread in threads:
        thread.start()
    seven = drawn_seven()
    answered = []
    while any(thread.is_alive() for thread in threads):
        answer = httpx.post(
            f"{server.url}/api/predict", content=seven, headers={"content-type": "image/png"}, timeout=WAIT
        )
        answered.append(answer.json()["models"][0]["number"])
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    assert answered and set(answered) == {"7"}  # the others were answered meanwhile
    return got


def test_slow_headers_get_408_and_the_connection_closed(server: Server, slow_clients: dict) -> None:
    body = b'{"error":"The request headers did not arrive within 2 s."}'
    expected = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    assert slow_clients["headers"] == [(expected, True)] * 3
    line = r"INFO:     127\.0\.0\.1:\d+ sent no complete request headers within 2 s; answered 408\."
    assert len(wait_for_line(server, line)) == 3


def test_a_connection_that_sends_nothing_is_closed_without_a_word(slow_clients: dict) -> None:
    assert slow_clients["nothing"] == [(b"", True)] * 3


def test_a_slow_body_gets_408_and_the_connection_closed(slow_clients: dict) -> None:
    for answer, closed in slow_clients["body"]:
        assert closed
        status, _, body = answer.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"\r\nconnection: close" in status
        assert json.loads(body) == {"error": "The request body did not arrive within 2 s; send it in one go."}


def test_a_slow_body_the_app_never_reads_is_cut_off(server: Server, slow_clients: dict) -> None:
    for answer, closed in slow_clients["unread body"]:
        assert closed and answer.startswith(b"HTTP/1.1 404 Not Found\r\n")  # answered at once, then cut
    line = r"INFO:     127\.0\.0\.1:\d+ sent no complete request body within 4 s; closed its connection\."
    assert len(wait_for_line(server, line)) == 3


def test_a_client_gone_mid_body_is_one_line_in_the_log(server: Server) -> None:
    head = b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 10000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head + b"x" * 100)
        time.sleep(0.3)
    # Bytes uvicorn had buffered when the connection dropped are not handed on: 100 or 0 were read.
    line = (
        r"INFO:     127\.0\.0\.1:(\d+) went away before sending its whole request to POST /api/predict "
        r"\((100|0) of 10,000 body bytes received\)\."
    )
    (found,) = wait_for_line(server, line)
    port = re.fullmatch(line, found)[1]
    assert [text for text in server.log_lines() if f":{port} " in text] == [found]
    assert not [text for text in server.log_lines() if "Traceback" in text or "ERROR" in text]


def test_large_photos_give_their_memory_back(server: Server) -> None:
    """Six 4.3 MP photos at once (read one at a time): the server's resident memory afterwards grows
    by less than one photo's peak cost (glibc kept ~65 MB a worker thread before malloc_trim)."""
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim, and the arenas it empties, are glibc's")
    photo = drawn_seven("PNG", size=(2400, 1800))
    url, headers = f"{server.url}/api/predict", {"content-type": "image/png"}
    before = server.memory_mb()
    assert httpx.post(url, content=photo, headers=headers, timeout=WAIT).json()["models"][0]["number"] == "7"
    one = server.memory_mb()
    answers: list[httpx.Response] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(httpx.post(url, content=photo, headers=headers, timeout=WAIT))
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = server.memory_mb()
    assert [a.json()["models"][0]["number"] for a in answers] == ["7"] * 6
    photo_cost = one["peak"] - before["peak"]
    assert photo_cost > 20, (before, one)  # the photo was decoded and read, not refused
    assert after["rss"] - before["rss"] < photo_cost, (before, one, after)


def test_a_decompression_bomb_is_refused_within_100_mb(server: Server) -> None:
    bomb = strip_png(50_000_000)
    assert len(bomb) < 100_000
    warm = httpx.post(
        f"{server.url}/api/predict",
        content=drawn_seven(),
        headers={"content-type": "image/png"},
        timeout=WAIT,
    )
    assert warm.status_code == 200 and warm.json()["models"][0]["number"] == "7"
    before = server.memory_mb()["peak"]
    answer = httpx.post(
        f"{server.url}/api/predict", content=bomb, headers={"content-type": "image/png"}, timeout=WAIT
    )
    after = server.memory_mb()["peak"]
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "The upload is 50000000x1 pixels, longer than the limit of 20,000 pixels a side; crop it "
        "to the writing."
    }
    assert after - before < 100, (before, after)


@pytest.mark.parametrize("how", ["raw body", "multipart .eps", "data URL"])
def test_postscript_is_refused_and_ghostscript_never_runs(server: Server, how: str) -> None:
    url = f"{server.url}/api/predict"
    if how == "raw body":
        answer = httpx.post(url, content=POSTSCRIPT, headers={"content-type": "image/png"}, timeout=WAIT)
    elif how == "multipart .eps":
        answer = httpx.post(
            url, files={"image": ("x.eps", POSTSCRIPT, "application/postscript")}, timeout=WAIT
        )
    else:
        import base64

        data = "data:image/png;base64," + base64.b64encode(POSTSCRIPT).decode()
        answer = httpx.post(url, json={"image": data}, timeout=WAIT)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "The upload is a PostScript (EPS/PS) file, not an image format mnistlab reads; export it "
        "as PNG, JPEG, WebP, BMP, GIF or TIFF."
    }
    assert not server.gs_calls.exists()


# -- the app, through the test client ------------------------------------------------------------


@pytest.fixture(scope="module")
def reader_models() -> list:
    return load_served_models([reader_run()])


def test_an_untrusted_host_is_refused(reader_models: list) -> None:
    app = create_app(reader_models)
    with TestClient(app, base_url="http://evil.example:8000") as client:
        answer = client.get("/healthz")
    assert answer.status_code == 400 and answer.headers["connection"] == "close"
    assert answer.json() == {
        "error": "The Host header 'evil.example:8000' is not one this server answers to (localhost, "
        "127.0.0.1, [::1]); start it with --trusted-host evil.example to allow it."
    }
    for base in ("http://localhost:8000", "http://127.0.0.1", "http://[::1]:8000"):
        with TestClient(app, base_url=base) as client:
            assert client.get("/healthz").status_code == 200, base
    with TestClient(
        create_app(reader_models, trusted_hosts=["*.example"]), base_url="http://evil.example"
    ) as client:
        assert client.get("/healthz").status_code == 200
    with pytest.raises(UsageError) as refused:
        create_app(reader_models, trusted_hosts=["ex*ample.com"])
    assert str(refused.value) == (
        "The trusted host 'ex*ample.com' is not a host name; pass --trusted-host a name, an address, "
        "'*.example.com' or '*'."
    )


def test_a_full_queue_answers_503_with_retry_after(
    reader_models: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(reader_models, admission=Admission(running=1, waiting=1))
    predictor, admission = app.state.predictor, app.state.admission
    inside, release = threading.Event(), threading.Event()
    real_read = predictor.read

    def held_read(*args: object, **kwargs: object) -> list:
        inside.set()
        assert release.wait(WAIT)
        return real_read(*args, **kwargs)

    monkeypatch.setattr(predictor, "read", held_read)
    seven = drawn_seven()
    with TestClient(app, base_url=LOCAL) as client:

        def post() -> httpx.Response:
            return client.post("/api/predict", content=seven, headers={"content-type": "image/png"})

        answers: list[httpx.Response] = []
        threads = [threading.Thread(target=lambda: answers.append(post())) for _ in range(2)]
        threads[0].start()
        assert inside.wait(WAIT)  # the first holds the one running slot
        threads[1].start()
        deadline = time.monotonic() + WAIT
        while admission.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert admission.in_flight == 2  # the second waits in the queue of one
        refused = post()
        release.set()
        for thread in threads:
            thread.join(WAIT)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "error": "The server is busy with 2 predictions in flight, its limit; try again in 1 s."
    }
    assert [a.status_code for a in answers] == [200, 200] and admission.in_flight == 0
    assert all(a.json()["models"][0]["number"] == "7" for a in answers)


def test_large_images_are_read_one_at_a_time() -> None:
    admission = Admission()
    inside, release, order = threading.Event(), threading.Event(), []

    def read(name: str, pixels: int, hold: bool = False) -> None:
        with admission.large(pixels):
            order.append(name)
            if hold:
                inside.set()
                assert release.wait(WAIT)

    first = threading.Thread(target=read, args=("first large", LARGE_PIXELS + 1, True))
    first.start()
    assert inside.wait(WAIT)
    second = threading.Thread(target=read, args=("second large", LARGE_PIXELS + 1))
    second.start()
    read("small", LARGE_PIXELS)  # a canvas-sized image does not wait
    second.join(0.2)
    assert second.is_alive() and order == ["first large", "small"]
    release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert order == ["first large", "small", "second large"]


def test_the_body_deadline_covers_the_whole_body() -> None:
    """At the ASGI level: a body arriving a chunk every 0.1 s is cut at the 0.3 s deadline."""
    sent: list[dict] = []
    chunks = 0

    async def receive() -> dict:
        nonlocal chunks
        chunks += 1
        await asyncio.sleep(0.1)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def reader(scope: dict, receive, send) -> None:
        while (await receive())["more_body"]:
            pass

    async def send(message: dict) -> None:
        sent.append(message)

    async def main() -> None:
        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        try:
            await BodyTimeout(reader, seconds=0.3)(scope, receive, send)
        except Exception as exc:  # outside FastAPI nothing turns the error into a response
            sent.append({"status": getattr(exc, "status_code", None), "message": str(exc)})

    asyncio.run(main())
    assert sent == [
        {"status": 408, "message": "The request body did not arrive within 0.3 s; send it in one go."}
    ]
    assert 3 <= chunks <= 4


# -- every kind of bytes: never a 5xx ------------------------------------------------------------


@pytest.fixture(scope="module")
def client(reader_models: list) -> Iterator[TestClient]:
    with TestClient(create_app(reader_models), base_url=LOCAL, raise_server_exceptions=False) as test_client:
        yield test_client


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, where, byte) edits: 0 overwrite, 1 insert, 2 delete, 3 truncate."""
    out = bytearray(data)
    for kind, where, value in edits:
        at = where % (len(out) + 1)
        if kind == 0 and at < len(out):
            out[at] = value
        elif kind == 1:
            out.insert(at, value)
        elif kind == 2 and at < len(out):
            del out[at]
        elif kind == 3:
            del out[at:]
    return bytes(out)


SEEDS = [drawn_seven(format) for format in ("PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP")]
edits = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6)
content_types = st.sampled_from(
    ["image/png", "image/jpeg", "application/json", "multipart", "text/plain", ""]
)


def post_bytes(client: TestClient, data: bytes, content_type: str) -> httpx.Response:
    if content_type == "multipart":
        return client.post("/api/predict", files={"image": ("x.png", data, "image/png")})
    headers = {"content-type": content_type} if content_type else {}
    return client.post("/api/predict", content=data, headers=headers)


def assert_no_5xx(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    if answer.status_code != 200:
        assert set(answer.json()) == {"error"}


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=2048), content_type=content_types)
def test_random_bytes_never_get_a_5xx(client: TestClient, data: bytes, content_type: str) -> None:
    assert_no_5xx(post_bytes(client, data, content_type))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    changes=edits,
    content_type=st.sampled_from(["image/png", "multipart"]),
    single=st.booleans(),
)
def test_mutated_images_never_get_a_5xx(
    client: TestClient, seed: bytes, changes: list, content_type: str, single: bool
) -> None:
    data = mutate(seed, changes)
    url = "/api/predict?single=true" if single else "/api/predict"
    if content_type == "multipart":
        answer = client.post(url, files={"image": ("x.png", data, "image/png")})
    else:
        answer = client.post(url, content=data, headers={"content-type": content_type})
    assert_no_5xx(answer)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=30) | st.dictionaries(st.sampled_from(["image", "pixels", "x"]), inner)
    ),
    max_leaves=60,
)


@settings(max_examples=60, deadline=None)
@given(payload=json_values, key=st.sampled_from(["image", "pixels", None]))
def test_any_json_never_gets_a_5xx(client: TestClient, payload: object, key: str | None) -> None:
    body = payload if key is None else {key: payload}
    text = json.dumps(body, allow_nan=True)  # NaN and Infinity too, as a careless client sends them
    assert_no_5xx(client.post("/api/predict", content=text, headers={"content-type": "application/json"}))


# -- the command line: loopback unless asked ----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("myhost.local", False),
    ],
)
def test_loopback_is_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5"])
def test_serving_beyond_loopback_needs_allow_remote(host: str, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["serve", str(reader_run()), "--host", host]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"mnistlab: error: --host {host} reaches beyond this machine and the API has no authentication; "
        "pass --allow-remote to serve it to the network anyway, or leave out --host.\n"
    )


def test_allow_remote_warns_and_trusts_what_it_is_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import uvicorn

    captured: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: captured.update(app=app, **kwargs))
    monkeypatch.setattr(serve_command, "check_port", lambda host, port: None)  # binds nothing here
    args = ["serve", str(reader_run()), "--host", "0.0.0.0", "--port", "8123", "--allow-remote"]
    assert cli.main([*args, "--trusted-host", "digits.example", "--trusted-host", "10.0.0.7"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert (
        "mnistlab serve: warning: listening on 0.0.0.0:8123, beyond this machine; the API has no "
        "authentication, so anyone who can reach this address can use it."
    ) in err
    assert (
        "mnistlab serve: answering requests for the hosts localhost, 127.0.0.1, [::1], digits.example, "
        "10.0.0.7."
    ) in err
    assert (captured["host"], captured["port"]) == ("0.0.0.0", 8123)
    assert issubclass(captured["http"], GuardedH11Protocol) and captured["limit_concurrency"] == 512
    assert (captured["http"].header_timeout, captured["http"].body_timeout) == (10.0, 17.0)
    for host, status in (("digits.example", 200), ("10.0.0.7:8123", 200), ("192.168.1.5", 400)):
        with TestClient(captured["app"], base_url=f"http://{host}") as client:
            assert client.get("/healthz").status_code == status, host


def test_a_malformed_trusted_host_is_one_sentence(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["serve", str(reader_run()), "--trusted-host", "a*b"]) == 2
    assert capsys.readouterr().err == (
        "mnistlab: error: The trusted host 'a*b' is not a host name; pass --trusted-host a name, an "
        "address, '*.example.com' or '*'.\n"
    )
