"""Load check for `mnistlab serve`: 20 concurrent clients send 500 predictions on loopback.

    python scripts/load_check.py RUN_DIR [RUN_DIR ...]   # starts `mnistlab serve` on a free port
    python scripts/load_check.py --port 8000             # a server already running on 127.0.0.1

It prints the error count (must be 0), latency p50/p99/max and throughput, and exits 1
if any request failed. Bounded by design: exactly --requests requests, only to 127.0.0.1,
then it stops, and stops the server it started. Not a test: latency depends on the machine.
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


def hammer(url: str, clients: int, requests: int) -> tuple[list[float], list[str]]:
    """`clients` threads share `requests` predictions; returns latencies (s) and error lines."""
    bodies = payloads()
    tickets = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

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
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    problem = f"request {i}: {type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if problem:
                        errors.append(problem)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_dirs", nargs="*", metavar="RUN_DIR", help="runs for the server this script starts"
    )
    parser.add_argument("--port", type=int, help="use a server already listening on 127.0.0.1:PORT")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=500)
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
            ]
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            wait_healthy(url, server, timeout=600 if not args.run_dirs else 120)
            models = httpx.get(url + "/api/models", timeout=10).json()["models"]
            start = time.perf_counter()
            latencies, errors = hammer(url, args.clients, args.requests)
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
    print(f"latency ms: p50 {np.percentile(ms, 50):.1f}, p99 {np.percentile(ms, 99):.1f}, max {ms.max():.1f}")
    for line in errors[:10]:
        print("  " + line)
    if server is not None:
        print(f"server log: {Path(log.name)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
