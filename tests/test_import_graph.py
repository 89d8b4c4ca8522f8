"""No import cycle anywhere in src/lam3, counting imports inside functions too.

Why: an import inside a function hides a cycle from the interpreter until that function runs
(wave 1 had ``fusion.calibration → fusion.ensemble → pipeline.fuse → fusion.calibration``), and
a cycle ties modules together that the layout says are apart. The graph is built from the source
with :mod:`ast`: every ``import``/``from … import`` statement at any depth (module level, functions,
``if TYPE_CHECKING:``), relative imports resolved, ``from pkg import name`` pointing at the
submodule when ``name`` is one. Loading modules by a name string (``importlib.import_module`` in
the judge registry and the CLI) is not an import statement and is not counted.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def modules(root: Path = SRC / "lam3") -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _target(name: str, known: dict[str, Path]) -> str | None:
    """The deepest known module that ``name`` is or lies in (None outside lam3)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            else:
                continue
            edges.update(t for n in names if (t := _target(n, known)) is not None and t != module)
    return graph


def test_the_graph_sees_function_level_imports() -> None:
    graph = import_graph(modules())
    # cli/fuse.py imports the fuse stage inside the command function only
    assert "lam3.pipeline.fuse" in graph["lam3.cli.fuse"]
    assert "lam3.fusion.strategies" in graph["lam3.fusion"]  # the package re-exports the decorators


def test_no_import_cycle_in_src() -> None:
    graph = import_graph(modules())
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' → '.join(exc.args[1])}") from None


def test_a_cycle_through_a_function_level_import_is_caught(tmp_path: Path) -> None:
    pkg = tmp_path / "lam3"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "one.py").write_text("from lam3.a import two\n")
    (pkg / "a" / "two.py").write_text("def f():\n    from .one import g\n")
    graph = import_graph(modules(pkg))
    assert graph["lam3.a.one"] == {"lam3.a.two"} and graph["lam3.a.two"] == {"lam3.a.one"}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError:
        return
    raise AssertionError("the cycle was not found")
