"""The package's imports form no cycle: every module depends only on modules below it.

The graph is read from the source with `ast` (nothing is imported), counting every import
of a `mnistlab` module, also those inside functions and under `TYPE_CHECKING`: a cycle
hidden in a function is still a cycle a reader has to untangle.

It is the graph Python runs: importing `mnistlab.data.splits` first runs `mnistlab/__init__.py`
and `mnistlab/data/__init__.py`, so a module has an edge to every package above what it
imports, its own packages included. Package faces are lazy (`lazy_loader.attach`): a name
taken from one (`from mnistlab.data import load_dataset`) is an edge to the module that
defines it, found in the face's `submod_attrs`; the face itself imports nothing when it runs.
An eager re-export in an `__init__` would be an edge from it to its own submodule, which every
submodule's edge back to its package closes into a cycle: the test finds it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "mnistlab"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def lazy_names(path: Path) -> dict[str, str]:
    """A package face's `lazy_loader.attach(__name__, submod_attrs={...})`: name -> its module."""
    package = module_name(path)
    names: dict[str, str] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "attach":
            for keyword in node.keywords:
                if keyword.arg == "submod_attrs":
                    for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                        for name in value.elts:
                            names[name.value] = f"{package}.{key.value}"
    return names


def ancestors(module: str) -> list[str]:
    """The packages whose `__init__` runs before `module`: mnistlab, mnistlab.data, ..."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(path: Path, modules: set[str], faces: dict[str, dict[str, str]]) -> set[str]:
    """The mnistlab modules importing `path` runs, packages above them included."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x` is package-relative
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]).rstrip(".")
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            owner, _, attribute = name.rpartition(".")
            if name not in modules and attribute in faces.get(owner, {}):
                name = faces[owner][attribute]  # a lazy name: the module that defines it
            while name and name not in modules:  # `a.b.func` is an import of module a.b
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
                found.update(ancestors(name))
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE_ROOT.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    faces = {module_name(p): lazy_names(p) for p in paths if p.name == "__init__.py"}
    graph = {module_name(p): imported_modules(p, modules, faces) for p in paths}
    for module, targets in graph.items():
        # Running a module first runs the packages above it: those are its edges too.
        graph[module] = (targets | set(ancestors(module))) - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, str] = {}  # "open" while on the DFS stack, "done" after
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle_and_the_graph_is_real():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    # Known edges, so that a parser that sees nothing cannot pass the test above.
    assert "mnistlab.data.verify" in graph["mnistlab.data.store"]
    assert "mnistlab.data.verify" in graph["mnistlab.data.download"]
    assert "mnistlab.data.download" not in graph["mnistlab.data.verify"]
    # A module's edge to its own package's face, and a lazy name resolved to its module.
    assert {"mnistlab", "mnistlab.data"} <= graph["mnistlab.data.store"]
    assert "mnistlab.data.splits" in graph["mnistlab.commands.common"]  # `from mnistlab.data import ...`


def test_an_eager_reexport_in_a_package_face_is_a_cycle(tmp_path, monkeypatch):
    package = tmp_path / "mnistlab"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "__init__.py").write_text("from mnistlab.data.splits import load\n")
    (package / "data" / "splits.py").write_text("from mnistlab.errors import E\n")
    (package / "errors.py").write_text("E = 1\n")
    monkeypatch.setitem(globals(), "PACKAGE_ROOT", package)
    assert find_cycle(import_graph()) == ["mnistlab.data", "mnistlab.data.splits", "mnistlab.data"]


def test_every_lazy_name_exists_in_its_module():
    import importlib

    for path in sorted(PACKAGE_ROOT.rglob("__init__.py")):
        for name, module in lazy_names(path).items():
            assert hasattr(importlib.import_module(module), name), f"{module_name(path)}.{name}"


def test_the_reproduction_sits_below_its_report():
    """`mnistlab.reproduce` plans and runs; `mnistlab.report` renders and may import it, never the reverse."""
    graph = import_graph()
    runners = {m for m in graph if m == "mnistlab.reproduce" or m.startswith("mnistlab.reproduce.")}
    assert "mnistlab.reproduce.runner" in runners
    for module in sorted(runners):
        rendering = sorted(
            t for t in graph[module] if t == "mnistlab.report" or t.startswith("mnistlab.report.")
        )
        assert not rendering, f"{module} imports {', '.join(rendering)}"
    assert "mnistlab.reproduce.plan" in graph["mnistlab.report.rows"]  # the edge that may exist


def package(graph: dict[str, set[str]], name: str) -> set[str]:
    """The modules of package `name`, its face included."""
    return {m for m in graph if m == name or m.startswith(name + ".")}


def reached(graph: dict[str, set[str]], start: set[str]) -> set[str]:
    """Every module that importing the modules `start` runs, through any chain of imports."""
    seen, todo = set(), list(start)
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def evaluation_reached(graph: dict[str, set[str]], name: str) -> set[str]:
    return reached(graph, package(graph, name)) & package(graph, "mnistlab.evaluation")


def test_the_reader_and_inference_import_nothing_of_evaluation_and_training_only_its_metrics():
    """`reader/` sits below `inference/`, which sits below the reports of `evaluation/`; training
    reports through `evaluation.metrics` alone (its end-of-run calibration is `reader.calibration`)."""
    graph = import_graph()
    assert evaluation_reached(graph, "mnistlab.reader") == set()
    assert evaluation_reached(graph, "mnistlab.inference") == set()
    assert evaluation_reached(graph, "mnistlab.training") == {
        "mnistlab.evaluation",
        "mnistlab.evaluation.metrics",
    }
    # The edges the layering rests on, so that a graph that lost them cannot pass.
    assert "mnistlab.reader.reader" in graph["mnistlab.inference.number"]
    assert "mnistlab.reader.calibration" in graph["mnistlab.training.loop"]
    assert "mnistlab.reader.prediction" in graph["mnistlab.evaluation.metrics"]
    # A chain through another package is found.
    toy = {"a.x": {"b.y"}, "b.y": {"mnistlab.evaluation.trust"}, "mnistlab.evaluation.trust": set()}
    assert reached(toy, {"a.x"}) == {"b.y", "mnistlab.evaluation.trust"}
