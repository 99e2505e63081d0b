"""End to end in a real headless Chromium: draw a stroke, see both models' bars.

The server is uvicorn on a free loopback port, in a thread. The browser is Debian's
`chromium` driven by Playwright (never a downloaded browser); every request it makes
outside that server is refused and recorded. The screenshot goes to
$MNISTLAB_SCREENSHOT_DIR/serve.png (so `MNISTLAB_SCREENSHOT_DIR=docs` refreshes the
README's picture), else to the test's tmp folder.
"""

from __future__ import annotations

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
    """The app on 127.0.0.1 with a port the OS picked; its socket is bound before the thread starts."""
    app = create_app(load_served_models([softmax_run, cnn_run]))
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
