"""Load check for `mnistlab serve`: 20 concurrent clients send 500 predictions on loopback.

    python scripts/load_check.py RUN_DIR [RUN_DIR ...]   # starts `mnistlab serve` on a free port
    python scripts/load_check.py --port 8000             # a server already running on 127.0.0.1
    python scripts/load_check.py RUN_DIR --number --clients 1 --requests 200   # 6-digit numbers

It prints the error count (must be 0), latency p50/p95/p99/max and throughput, and exits 1
if any request failed. Bounded by design: exactly --requests requests, only to 127.0.0.1,
then it stops, and stops the server it started. Not a test: latency depends on the machine.

`--number` sends, instead of single digits, a 6-digit number as the page's number pad sends
it: the first six MNIST test digits ("721041", from $MNISTLAB_DATA; never downloaded) set in a
row 10 px apart, 4x larger, dark on an 840x280 white canvas, as a PNG upload and a data URL in
turn. Each answer's number is checked against "721041" and misreadings are counted apart from
errors. `--threads N` is passed to the server it starts (`mnistlab serve --threads N`).
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageDraw

HOST = "127.0.0.1"  # never anything but loopback


def strokes() -> list[list[tuple[int, int]]]:
    """Polylines of a few digits (1, 7, 4, L-ish 2, 0-ish box) on a 280x280 pad."""
    return [
        [(140, 40), (140, 240)],
        [(70, 60), (210, 60), (120, 240)],
        [(180, 240), (180, 40), (60, 170), (220, 170)],
        [(70, 80), (200, 70), (80, 230), (220, 230)],
        [(90, 50), (190, 50), (200, 230), (80, 230), (90, 50)],
    ]


def payloads() -> list[dict[str, Any]]:
    """Request bodies of every kind the API takes: multipart PNG, JSON data URL, JSON pixels."""
    out: list[dict[str, Any]] = []
    for line in strokes():
        paper = Image.new("L", (280, 280), 255)
        ImageDraw.Draw(paper).line(line, fill=0, width=22, joint="curve")
        buffer = io.BytesIO()
        paper.save(buffer, format="PNG")
        png = buffer.getvalue()
        pixels = (255 - np.asarray(paper.resize((28, 28), Image.Resampling.BOX))).tolist()
        out.append({"files": {"image": ("digit.png", png, "image/png")}})
        out.append({"json": {"image": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}})
        out.append({"json": {"pixels": pixels}})
    return out


NUMBER = "721041"  # the labels of the first six MNIST test digits


def number_payloads() -> list[dict[str, Any]]:
    """A 6-digit number on the page's 840x280 number pad: a multipart PNG and a JSON data URL."""
    from mnistlab.data import load_dataset  # only this mode needs the data

    test = load_dataset("mnist", download=False).test
    assert "".join(str(int(v)) for v in test.labels[:6]) == NUMBER
    crops = []
    for digit in test.images[:6].numpy():
        rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
        crops.append(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    gap, scale = 10, 4
    row = np.zeros((max(c.shape[0] for c in crops), sum(c.shape[1] for c in crops) + gap * 5), np.uint8)
    left = 0
    for crop in crops:
        top = (row.shape[0] - crop.shape[0]) // 2
        row[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
        left += crop.shape[1] + gap
    ink = 255 - np.kron(row, np.ones((scale, scale), dtype=np.uint8))
    canvas = np.full((280, 840), 255, dtype=np.uint8)
    top, left = (280 - ink.shape[0]) // 2, (840 - ink.shape[1]) // 2
    canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    png = buffer.getvalue()
    return [
        {"files": {"image": ("number.png", png, "image/png")}},
        {"json": {"image": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}},
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"load_check: the server exited with status {server.returncode}.")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"load_check: {url}/healthz did not answer within {timeout:.0f} s.")


def hammer(url: str, clients: int, requests: int, number: bool = False) -> tuple[list[float], list[str], int]:
    """`clients` threads share `requests` predictions; returns latencies (s), error lines and
    how many answers misread the number (with `number`)."""
    bodies = number_payloads() if number else payloads()
    tickets = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    misread: list[int] = []  # request numbers whose answer misread the number

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as session:
            while True:
                with lock:
                    i = next(tickets)
                if i >= requests:
                    return
                start = time.perf_counter()
                try:
                    response = session.post("/api/predict", **bodies[i % len(bodies)])
                    ok = response.status_code == 200 and len(response.json()["models"]) > 0
                    problem = None if ok else f"request {i}: {response.status_code} {response.text[:200]}"
                    wrong = ok and number and any(m["number"] != NUMBER for m in response.json()["models"])
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    problem, wrong = f"request {i}: {type(exc).__name__}: {exc}", False
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if wrong:
                        misread.append(i)
                    if problem:
                        errors.append(problem)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, len(misread)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_dirs", nargs="*", metavar="RUN_DIR", help="runs for the server this script starts"
    )
    parser.add_argument("--port", type=int, help="use a server already listening on 127.0.0.1:PORT")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--number", action="store_true", help=f"send a 6-digit number ({NUMBER})")
    parser.add_argument("--threads", type=int, help="torch threads of the server this script starts")
    args = parser.parse_args()
    if not 1 <= args.clients <= 100 or not 1 <= args.requests <= 10_000:
        parser.error("--clients must be 1..100 and --requests 1..10,000.")

    port = args.port or free_port()
    url = f"http://{HOST}:{port}"
    with tempfile.NamedTemporaryFile(prefix="mnistlab-serve-", suffix=".log", delete=False) as log:
        server = None
        if args.port is None:
            command = [
                sys.executable,
                "-m",
                "mnistlab",
                "serve",
                *args.run_dirs,
                "--host",
                HOST,
                "--port",
                str(port),
                *([] if args.threads is None else ["--threads", str(args.threads)]),
            ]
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            wait_healthy(url, server, timeout=600 if not args.run_dirs else 120)
            models = httpx.get(url + "/api/models", timeout=10).json()["models"]
            start = time.perf_counter()
            latencies, errors, misread = hammer(url, args.clients, args.requests, args.number)
            wall = time.perf_counter() - start
        finally:
            if server is not None:
                server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()

    ms = np.array(latencies) * 1000.0
    print(f"server: {url}, models: {', '.join(m['name'] for m in models)}")
    print(
        f"requests: {len(latencies)} from {args.clients} concurrent clients in {wall:.1f} s ({len(latencies) / wall:.1f}/s)"
    )
    print(f"errors: {len(errors)}")
    if args.number:
        print(f"number: {NUMBER} as a 6-digit 840x280 PNG; answers with a model misreading it: {misread}")
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    print(f"latency ms: p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {ms.max():.1f}")
    for line in errors[:10]:
        print("  " + line)
    if server is not None:
        print(f"server log: {Path(log.name)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
