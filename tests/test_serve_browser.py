"""End to end in a real headless Chromium: draw a stroke, see both models' bars.

The server is uvicorn on a free loopback port, in a thread. The browser is Debian's
`chromium` driven by Playwright (never a downloaded browser); every request it makes
outside that server is refused and recorded. The screenshot goes to
$MNISTLAB_SCREENSHOT_DIR/serve.png (so `MNISTLAB_SCREENSHOT_DIR=docs` refreshes the
README's picture), else to the test's tmp folder.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent; install Debian's chromium (.ci/run does)"
)
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from mnistlab.serve import create_app, load_served_models  # noqa: E402


@pytest.fixture(scope="module")
def server(softmax_run: Path, cnn_run: Path) -> Iterator[str]:
    yield from _serve([softmax_run, cnn_run])


def _serve(run_dirs: list[Path]) -> Iterator[str]:
    """The app on 127.0.0.1 with a port the OS picked; its socket is bound before the thread starts."""
    app = create_app(load_served_models(run_dirs))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def screenshot_path(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MNISTLAB_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "serve.png"


def test_draw_digits_with_mouse_and_touch(server: str, tmp_path: Path) -> None:
    problems: list[str] = []
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1060, "height": 640})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))

            def only_this_server(route: sync_api.Route) -> None:
                if route.request.url.startswith(server + "/"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_this_server)
            page.goto(server + "/")
            page.wait_for_selector(".card.model >> nth=1")  # both models' cards

            # A "7": a bar left to right, then a slanted stem, in small mouse steps.
            box = page.locator("#pad").bounding_box()
            assert box is not None

            def at(x: float, y: float) -> tuple[float, float]:
                return box["x"] + x * box["width"], box["y"] + y * box["height"]

            page.mouse.move(*at(0.25, 0.22))
            page.mouse.down()
            page.mouse.move(*at(0.75, 0.22), steps=12)
            page.mouse.move(*at(0.45, 0.82), steps=15)
            page.mouse.up()
            page.wait_for_function("document.querySelectorAll('.card.answered').length === 2")

            # What the page shows must be the API's answer for the drawing on the canvas.
            drawing = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
            expected = httpx.post(server + "/api/predict", json={"image": drawing}, timeout=30).json()
            tops = {m["name"]: str(m["top"]) for m in expected["models"]}
            page.wait_for_function(
                "tops => Object.entries(tops).every(([name, top]) =>"
                " document.querySelector(`.card[data-model='${name}'] .digit`).textContent === top)",
                arg=tops,
            )
            for name, top in tops.items():
                card = page.locator(f".card[data-model='{name}']")
                assert card.locator(".label.top").all_text_contents() == [top]
                assert card.locator(".track.top").count() == 1
            seen = page.evaluate(
                "Array.from(document.getElementById('seen').getContext('2d')"
                ".getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0))"
            )
            assert seen == [v for row in expected["input"] for v in row]
            page.screenshot(path=str(screenshot_path(tmp_path)))

            page.click("#clear")
            assert page.locator(".card.answered").count() == 0

            # A "1" by touch: raw touch events through the DevTools protocol, as a finger sends them.
            touch = browser.new_context(has_touch=True, viewport={"width": 1060, "height": 640})
            tablet = touch.new_page()
            tablet.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            tablet.route("**/*", only_this_server)
            tablet.goto(server + "/")
            tablet.wait_for_selector(".card.model >> nth=1")
            box = tablet.locator("#pad").bounding_box()
            assert box is not None
            cdp = touch.new_cdp_session(tablet)
            x = box["x"] + 0.5 * box["width"]
            for i, kind in enumerate(["touchStart"] + ["touchMove"] * 10):
                y = box["y"] + (0.2 + 0.06 * i) * box["height"]
                cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
            tablet.wait_for_function("document.querySelectorAll('.card.answered').length === 2")
        finally:
            browser.close()
    assert problems == [], problems
    assert outside == [], outside


# Digits as pen strokes in a unit box (x right, y down), the way people write them.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [[(0.5 + 0.38 * math.sin(2 * math.pi * t / 24), 0.5 - 0.48 * math.cos(2 * math.pi * t / 24))
         for t in range(25)]],
    1: [[(0.45, 0.02), (0.5, 0.98)]],
    2: [[(0.15, 0.25), (0.3, 0.06), (0.6, 0.02), (0.82, 0.18), (0.78, 0.42), (0.15, 0.95), (0.9, 0.95)]],
    3: [[(0.15, 0.1), (0.5, 0.0), (0.8, 0.15), (0.75, 0.38), (0.4, 0.48), (0.8, 0.6), (0.85, 0.85),
         (0.5, 1.0), (0.12, 0.9)]],
    4: [[(0.6, 0.02), (0.1, 0.62), (0.92, 0.62)], [(0.66, 0.3), (0.66, 1.0)]],
    7: [[(0.1, 0.06), (0.9, 0.06), (0.4, 0.98)]],
}  # fmt: skip

# (digit, pen width in pad px, box (left, top, side) as fractions of the pad): thin and thick
# pens, digits small, and digits off-centre, as people draw them on the page.
WRITTEN = [
    (7, 6, (0.15, 0.1, 0.75)),
    (0, 48, (0.12, 0.08, 0.8)),
    (4, 24, (0.38, 0.38, 0.25)),
    (2, 24, (0.02, 0.02, 0.45)),
    (1, 40, (0.55, 0.5, 0.45)),
    (3, 10, (0.6, 0.05, 0.35)),
    (4, 48, (0.3, 0.3, 0.4)),
    (7, 44, (0.05, 0.55, 0.4)),
    (2, 40, (0.5, 0.5, 0.45)),
    (0, 6, (0.1, 0.1, 0.3)),
]


@pytest.fixture(scope="module")
def robust_server(robust_run: Path) -> Iterator[str]:
    yield from _serve([robust_run])


def test_the_robust_model_reads_thin_thick_small_and_off_centre_digits(robust_server: str) -> None:
    read: dict[str, str] = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1060, "height": 640})
            page.goto(robust_server + "/")
            page.wait_for_selector(".card.model")
            assert "(robust)" in page.locator(".card.model .meta").inner_text()
            box = page.locator("#pad").bounding_box()
            assert box is not None
            for digit, pen, (left, top, side) in WRITTEN:
                page.click("#clear")
                page.locator("#pen").evaluate("(el, v) => { el.value = v; }", str(pen))
                assert page.locator("#pen").input_value() == str(pen)  # inside the slider's range
                for stroke in STROKES[digit]:
                    points = [(box["x"] + (left + side * x) * box["width"], box["y"] + (top + side * y) * box["height"])
                              for x, y in stroke]  # fmt: skip
                    page.mouse.move(*points[0])
                    page.mouse.down()
                    for point in points[1:]:
                        page.mouse.move(*point, steps=6)
                    page.mouse.up()
                page.wait_for_function("document.querySelectorAll('.card.answered').length === 1")
                # The page's last answer is the API's answer for the finished drawing.
                drawing = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
                answer = httpx.post(
                    robust_server + "/api/predict", json={"image": drawing}, timeout=30
                ).json()
                said = str(answer["models"][0]["top"])
                page.wait_for_function("said => document.querySelector('.card .digit').textContent === said",
                                       arg=said)  # fmt: skip
                read[f"{digit} (pen {pen}, box {left}, {top}, {side})"] = said
        finally:
            browser.close()
    assert read == {name: name.split()[0] for name in read}
