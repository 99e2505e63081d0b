"""Downloading from mirrors, against a local HTTP server that fails in every useful way.

Routes, by path prefix (the rest of the path is the file name, `<filename>.gz`):
  /good/      the right file
  /404/       404 Not Found
  /corrupt/   a valid gzip of the wrong content
  /cut/       a Content-Length larger than what is sent, then the connection closes
  /cutnolen/  half the gzip and no Content-Length, so only gzip notices the end
  /slow/      answers after longer than the client's timeout
"""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from mnistlab.data.download import download_dataset
from mnistlab.data.idx import read_idx, write_idx
from mnistlab.data.spec import DatasetFile, DatasetSpec
from mnistlab.data.verify import verify_file
from mnistlab.errors import DownloadError

SLOW_S = 1.0  # how long /slow/ stalls; the tests give the client a fifth of it

# --- a tiny fake dataset, served as .gz ------------------------------------------------

_rng = np.random.default_rng(1)
ARRAYS = {
    "tiny-train-images-idx3-ubyte": _rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
    "tiny-train-labels-idx1-ubyte": np.array([0, 1, 2], dtype=np.uint8),
    "tiny-t10k-images-idx3-ubyte": _rng.integers(0, 256, (2, 4, 4), dtype=np.uint8),
    "tiny-t10k-labels-idx1-ubyte": np.array([2, 1], dtype=np.uint8),
}


def _idx_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    write_idx(buffer, array, compress=False)
    return buffer.getvalue()


RAW = {name: _idx_bytes(array) for name, array in ARRAYS.items()}
SERVED = {f"{name}.gz": gzip.compress(data, mtime=0) for name, data in RAW.items()}
TINY = DatasetSpec(
    "tiny",
    *(DatasetFile(name, hashlib.sha256(data).hexdigest()) for name, data in RAW.items()),
    classes=("a", "b", "c"),
    mirrors=(),  # every test names its mirrors
)


class _Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []  # every path asked for, across tests

    def do_GET(self) -> None:
        self.requests.append(self.path)
        _, route, filename = self.path.split("/", 2)
        body = SERVED.get(filename)
        if route == "404" or body is None:
            self.send_error(404)
            return
        if route == "corrupt":
            body = gzip.compress(b"not the dataset", mtime=0)
        if route == "slow":
            time.sleep(SLOW_S)
        self.send_response(200)
        if route != "cutnolen":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if route in ("cut", "cutnolen"):
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True  # the body ends early, when the socket closes
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest's output clean


@pytest.fixture(scope="module")
def server():
    """Base URL of a local server, started once for this module."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True  # a stalled /slow/ handler must not block shutdown
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # never send local requests to a proxy


@pytest.fixture
def refused() -> str:
    """A URL whose port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- tests -----------------------------------------------------------------------------


def test_good_mirror_after_bad_ones(tmp_path, server, refused):
    bad = [refused] + [f"{server}/{route}/" for route in ("404", "corrupt", "cut", "cutnolen")]
    dest = tmp_path / "deep" / "dest"  # created, parents included
    seen: list[tuple[int, int | None]] = []
    paths = download_dataset(
        TINY, dest, mirrors=[*bad, f"{server}/good/"], progress=lambda d, t: seen.append((d, t))
    )
    assert list(paths) == ["train_images", "train_labels", "test_images", "test_labels"]
    assert _names(dest) == sorted(SERVED)
    for role, file in TINY.files_by_role.items():
        assert paths[role] == dest / f"{file.filename}.gz"
        verify_file(paths[role], file.sha256)
        np.testing.assert_array_equal(read_idx(paths[role]), ARRAYS[file.filename])
    assert seen[-1] == (len(SERVED["tiny-t10k-labels-idx1-ubyte.gz"]),) * 2


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ("404", "HTTP 404 Not Found"),
        ("corrupt", "checksum mismatch: expected sha256 " + TINY.train_images.sha256),
        ("cut", "truncated: received"),
        ("cutnolen", "corrupt or truncated gzip stream"),
        ("slow", "timed out"),
    ],
)
def test_each_bad_mirror_fails_with_its_reason_and_leaves_nothing(tmp_path, server, route, reason):
    mirror = f"{server}/{route}/"
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError) as info:
        download_dataset(TINY, dest, mirrors=[mirror], timeout=SLOW_S / 5)
    message = str(info.value)
    assert f"{mirror}tiny-train-images-idx3-ubyte.gz ({reason}" in message
    assert _names(dest) == []


def test_refused_connection(tmp_path, refused):
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match="cannot connect"):
        download_dataset(TINY, dest, mirrors=[refused])
    assert _names(dest) == []


def test_all_fail_message_lists_every_mirror_and_the_way_out(tmp_path, server, refused):
    mirrors = [f"{server}/404/", f"{server}/corrupt/", refused]
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError) as info:
        download_dataset(TINY, dest, mirrors=mirrors)
    message = str(info.value)
    for mirror in mirrors:
        assert f"{mirror}tiny-train-images-idx3-ubyte.gz (" in message
    assert "--data-dir DIR" in message and "MNISTLAB_DATA=DIR" in message
    assert _names(dest) == []


def test_verified_files_are_kept_and_bad_ones_replaced(tmp_path, server):
    dest = tmp_path / "dest"
    download_dataset(TINY, dest, mirrors=[f"{server}/good/"])
    bad = dest / "tiny-train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(b"garbage"))
    _Handler.requests.clear()
    download_dataset(TINY, dest, mirrors=[f"{server}/good/"])
    assert _Handler.requests == ["/good/tiny-train-labels-idx1-ubyte.gz"]
    verify_file(bad, TINY.train_labels.sha256)
    download_dataset(TINY, dest, mirrors=[f"{server}/404/"])  # nothing left to fetch


def test_interrupt_leaves_no_partial_file(tmp_path, server):
    def interrupt(done: int, total: int | None) -> None:
        if done:
            raise KeyboardInterrupt

    dest = tmp_path / "dest"
    with pytest.raises(KeyboardInterrupt):
        download_dataset(TINY, dest, mirrors=[f"{server}/good/"], progress=interrupt)
    assert _names(dest) == []
