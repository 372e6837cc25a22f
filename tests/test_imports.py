"""The architecture of mastcore: it never imports streamlit, and its import graph has no cycle."""
from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import mastcore

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "mastcore"


def _modules(root: Path = ROOT, pkg: Path = PKG) -> dict[str, Path]:
    """{module name: file} of every module of the package (walked on disk)."""
    out = {}
    for path in sorted(pkg.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere (module level and inside functions)."""
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    mod = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                for a in node.names:
                    targets.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the directed graph as a list of modules (first = last), or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_import_graph_has_no_cycle():
    graph = _edges(_modules())
    assert len(graph) > 25 and "mastcore.theory.tree.linear" in graph["mastcore.theory.loops.linear"]  # the graph is real
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_detector_finds_a_planted_function_level_cycle(tmp_path):
    pkg = tmp_path / "toy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    (pkg / "c.py").write_text("from .a import g\n")
    graph = _edges(_modules(tmp_path, pkg))
    assert graph["toy.a"] == {"toy.b"} and graph["toy.b"] == {"toy.a"} and graph["toy.c"] == {"toy.a"}
    assert _find_cycle(graph) in (["toy.a", "toy.b", "toy.a"], ["toy.b", "toy.a", "toy.b"])


def test_package_and_every_submodule_import_without_streamlit():
    mods = ["mastcore"] + sorted(m.name for m in pkgutil.walk_packages(mastcore.__path__, "mastcore.")
                                 if m.name != "mastcore.__main__")
    code = (
        "import importlib, json, sys\n"
        f"mods = {mods!r}\n"
        "for m in mods: importlib.import_module(m)\n"
        "print(json.dumps({'streamlit': sorted(k for k in sys.modules if k.split('.')[0] == 'streamlit'),"
        " 'loaded': [m for m in mods if m in sys.modules]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["loaded"] == mods and len(mods) > 25  # the check has teeth: every module was really imported
    assert info["streamlit"] == [], info["streamlit"]


def test_public_names_resolve_eagerly():
    import mastcore as mc

    assert mc.exact_posterior.__module__ == "mastcore.posterior.gibbs"
    assert mc.sweep.__module__ == "mastcore.sweep" and mc.anneal.__module__ == "mastcore.sweep"
    for name in mc.__all__:
        assert getattr(mc, name) is not None
