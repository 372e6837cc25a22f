"""The architecture of mastcore: it never imports streamlit, its import graph has no cycle, mastcore/theory/ is layered by
family (kernels < tree < loops, renormalised kernel) with no callbacks passed down, and no module hides a public name."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import pkgutil
import subprocess
import sys
import types
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
    assert mc.sweep.__module__ == "mastcore.engine" and mc.anneal.__module__ == "mastcore.engine"
    for name in mc.__all__:
        assert getattr(mc, name) is not None


def test_sweep_is_the_function_and_no_module_hides_a_public_name():
    """``from mastcore import sweep`` gives the function (the engine is mastcore.engine), and no public name of
    mastcore or mastcore.theory shares its dotted path with a module (a module there would shadow it or be shadowed)."""
    import mastcore as mc
    from mastcore import sweep

    assert callable(sweep) and sweep is mc.sweep and not isinstance(sweep, types.ModuleType)
    assert sweep is importlib.import_module("mastcore.engine").sweep
    assert "mastcore.sweep" not in sys.modules
    for package in (mc, mc.theory):
        for name in package.__all__:
            path = f"{package.__name__}.{name}"
            assert importlib.util.find_spec(path) is None, f"module {path} has the name of a public object"
            assert not isinstance(getattr(package, name), types.ModuleType), path


#: The families of mastcore/theory/ (docs/library.md, "Code layout"), bottom to top; a module may import its own
#: family and the families before it. The dispatch of mc.one_loop (loops.one_loop, loops.variants) sits above all of
#: them: it picks among the loops and the renormalised one loop.
FAMILIES = ("kernels", "tree", "loops", "renormalised")
DISPATCH = {"mastcore.theory.loops.one_loop", "mastcore.theory.loops.variants"}


def _family(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[:2] == ["mastcore", "theory"] and parts[2] in FAMILIES else None


def test_theory_families_import_only_the_families_below():
    graph = _edges(_modules())
    theory = [m for m in graph if _family(m)]
    assert {_family(m) for m in theory} == set(FAMILIES) and len(theory) > 20  # the layout is the one described
    wrong = []
    for m in theory:
        if m in DISPATCH:
            continue
        for t in graph[m]:
            if t in DISPATCH or (_family(t) and FAMILIES.index(_family(t)) > FAMILIES.index(_family(m))):
                wrong.append(f"{m} -> {t}")
    assert not wrong, "a family imports one above it: " + ", ".join(wrong)


def test_theory_modules_import_in_a_fresh_interpreter_in_either_order():
    """Every module of the theory families imports in a fresh interpreter, top to bottom and bottom to top. (Any
    import runs mastcore/__init__ first, so the static graph above is the check with teeth; this one catches a module
    that fails when loaded by itself.)"""
    leaves = [m for f in FAMILIES for m in sorted(_modules()) if _family(m) == f]
    runs = []
    for order in (leaves, leaves[::-1]):  # the two interpreters run side by side
        code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in order)
        runs.append(subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True))
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]


def test_no_theory_function_takes_a_callback_for_shared_code():
    """Shared code is imported from a lower module, never passed down as an argument."""
    injected = {"finish", "gaussian", "linear_one_loop"}
    found = []
    for name in sorted(_modules()):
        if not name.startswith("mastcore.theory"):
            continue
        module = importlib.import_module(name)
        for obj in vars(module).values():
            funcs = [obj] if inspect.isfunction(obj) else (
                [f for f in vars(obj).values() if inspect.isfunction(f)] if inspect.isclass(obj) else [])
            for f in funcs:
                if getattr(f, "__module__", None) != name:
                    continue
                bad = injected & set(inspect.signature(f).parameters)
                if bad:
                    found.append(f"{name}.{f.__qualname__}({', '.join(sorted(bad))})")
    assert not found, found
