"""The documentation site: it builds with `mkdocs build --strict`, offline, and says what the code does.

The site is built once per session into a temporary folder (never site/). `--strict` turns
every warning into a failure: a broken link or anchor, a page missing from the navigation, an
API reference (`::: module.name`) to a name that no longer exists. The tests then read the
built pages against their sources: the CLI reference against the argparse parsers, the API
reference against the public API, the architecture page against the package tree, and the
README against the pages. The last test opens the site in Debian's headless Chromium, served
from a loopback port, with every request that leaves the machine refused.
"""

from __future__ import annotations

import argparse
import ast
import functools
import html
import http.server
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import CHROMIUM, CHROMIUM_ARGS, REPO

DOCS = REPO / "docs"
BUILD_SECONDS = 30


@functools.cache
def _build(site: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's notice about MkDocs 2.0
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - start


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import mkdocs  # noqa: F401
    except ModuleNotFoundError:
        pytest.fail("mkdocs is not installed: the `docs` extra is part of `make test`'s set-up")
    folder = tmp_path_factory.mktemp("site")
    done, _ = _build(folder)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return folder


def test_the_site_builds_strict_and_fast(site: Path) -> None:
    done, seconds = _build(site)
    assert seconds < BUILD_SECONDS, f"mkdocs build took {seconds:.1f} s (budget {BUILD_SECONDS} s)"
    assert "WARNING" not in done.stderr, done.stderr
    # Every page of the navigation exists in the build, the notebook included.
    for page in ["", "reproduction", "speed", "handwriting", "reader", "datasets", "export", "scaling"]:
        assert (site / page / "index.html").is_file(), page
    for page in ["tuning", "tutorial", "cli", "api", "architecture"]:
        assert (site / page / "index.html").is_file(), page
    assert not (site / "hooks").exists(), "the build hooks are not part of the site"


def test_every_page_of_docs_is_in_the_navigation() -> None:
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:\n", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r":\s*(\S+\.(?:md|ipynb))\s*$", nav, flags=re.MULTILINE))
    assert listed == {p.name for p in DOCS.glob("*.md")} | {"tutorial.ipynb"}


def test_nothing_in_the_site_loads_from_another_host(site: Path) -> None:
    """No web font, CDN script or stylesheet, analytics: the site works with no network."""
    outside = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.I)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not outside.findall(text), f"{page.relative_to(site)} loads from another host"
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, page
        assert "googletagmanager" not in text, page


def parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    from mnistlab.cli import build_parser

    def walk(prog: str, parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
        yield prog, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(f"{prog} {name}", sub)

    yield from walk("mnistlab", build_parser())


def sections(built: str) -> dict[str, str]:
    """A built page's text under each h2/h3/h4 heading, by the heading's id."""
    parts = re.split(r'<h[2-4] id="([^"]+)"', built)
    return {
        ident: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"</?code>", "", body))).split())
        for ident, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def test_the_cli_reference_is_every_parser(site: Path) -> None:
    by_id = sections((site / "cli" / "index.html").read_text(encoding="utf-8"))
    found = list(parsers())
    assert len(found) > 12  # every command, and data's subcommands
    for prog, parser in found:
        section = by_id.get(prog.replace(" ", "-"))
        assert section is not None, f"no section for `{prog}`"
        usage = " ".join(parser.format_usage().split())
        assert usage.split(" [", 1)[0] in section, f"no usage for `{prog}`"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue  # every command has -h/--help, the page says so once; hidden flags are not shown
            for option in action.option_strings:
                assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", section), f"{prog} {option}"
            if action.help and action.help != argparse.SUPPRESS and "%" not in action.help:
                assert " ".join(action.help.replace("`", "").split()) in section, f"{prog}: {action.help!r}"


def public_api() -> dict[str, str]:
    """`mnistlab`'s public names -> the module that defines each, as its lazy faces say."""
    import mnistlab

    return {name: getattr(mnistlab, name).__module__ for name in mnistlab.__all__}


def test_the_api_reference_documents_the_public_api(site: Path) -> None:
    source = (DOCS / "api.md").read_text(encoding="utf-8")
    referenced = set(re.findall(r"^::: (\S+)$", source, flags=re.MULTILINE))
    api = public_api()
    assert len(api) >= 20
    missing = sorted(
        f"{module}.{name}" for name, module in api.items() if f"{module}.{name}" not in referenced
    )
    assert missing == [], f"public names without a reference on docs/api.md: {missing}"
    built = (site / "api" / "index.html").read_text(encoding="utf-8")
    for path in referenced:
        assert f'id="{path}"' in built, f"{path} was not rendered"


def test_the_architecture_page_is_the_package_tree() -> None:
    package = REPO / "src" / "mnistlab"
    on_disk = {p.name + "/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    on_disk |= {p.name for p in package.glob("*.py")}
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    tree = page.split("```\nsrc/mnistlab/\n", 1)[1].split("```", 1)[0]
    named = {line.split()[0] for line in tree.splitlines() if line.startswith("  ") and line[2] != " "}
    assert named == on_disk


def test_the_readme_is_the_front_door() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    assert "```bash\nmake run     #" in readme and "\nmake test    #" in readme
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.(?:md|ipynb))(?:#[\w-]+)?\)", readme))
    assert linked >= {p.name for p in DOCS.glob("*.md")} - {"index.md"} | {"tutorial.ipynb"}
    # Every relative link of the README points at a file that exists.
    for target in re.findall(r"\]\((?!https?:)([^)#\s]+)", readme):
        assert (REPO / target).exists(), target
    # The quick start: five commands, train, predict and serve among them.
    quick = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split()[1] for line in quick.strip().splitlines()]
    assert len(commands) == 5 and {"train", "predict", "serve"} <= set(commands)


def test_the_hook_refuses_a_cli_page_without_its_marker() -> None:
    spec_path = DOCS / "hooks" / "cli_reference.py"
    tree = ast.parse(spec_path.read_text(encoding="utf-8"))
    marker = next(
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MARKER"
    )
    assert marker in (DOCS / "cli.md").read_text(encoding="utf-8")

    import importlib.util

    spec = importlib.util.spec_from_file_location("cli_reference", spec_path)
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)

    class Page:
        class file:
            src_uri = "cli.md"

    with pytest.raises(ValueError, match="lost its marker"):
        hook.on_page_markdown("# The command line\n", Page, None, None)


@pytest.fixture(scope="module")
def served_site(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent; install Debian's chromium (.ci/run does)"
)
def test_the_site_in_a_browser_has_its_navigation_and_search(served_site: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    outside: list[str] = []

    def only_this_server(route) -> None:
        if route.request.url.startswith(served_site + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.route("**/*", only_this_server)

            page.goto(served_site + "/")
            nav = page.locator("nav.md-nav--primary")
            for title in ["Reproducing the paper", "Speed and hardware", "Command line", "Python API"]:
                assert nav.get_by_role("link", name=title, exact=True).first.is_visible(), title
            search = page.locator("input.md-search__input")
            assert search.is_visible()
            # The search runs in a web worker on the site's own index: no server, no network. A
            # query typed before the worker has read the index is not rerun, so type until it answers.
            results = page.locator(".md-search-result__item")
            deadline = time.monotonic() + 30
            while results.count() == 0:
                assert time.monotonic() < deadline, "the search box never answered"
                search.fill("")
                search.press_sequentially("torchrun")
                page.wait_for_timeout(500)
            assert "Scaling out" in page.locator(".md-search-result").inner_text()

            page.goto(served_site + "/cli/")
            assert page.locator("h1").inner_text().startswith("The command line")
            assert page.locator("h2#mnistlab-train").is_visible()
            assert nav.get_by_role("link", name="Architecture", exact=True).first.is_visible()
            assert page.locator("input.md-search__input").count() == 1

            page.goto(served_site + "/tutorial/")  # the notebook page, rendered from its outputs
            page.wait_for_selector(".jp-Notebook img, .jp-OutputArea img")
        finally:
            browser.close()
    assert outside == [], outside
    assert problems == [], problems
