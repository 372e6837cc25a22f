"""mastcore never imports streamlit (STYLE.md: dependency direction pages/ → mastcore)."""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import mastcore

ROOT = Path(__file__).resolve().parent.parent


def _submodules():
    return sorted(m.name for m in pkgutil.iter_modules(mastcore.__path__) if m.name != "__main__")


def test_package_and_every_submodule_import_without_streamlit():
    mods = ["mastcore"] + [f"mastcore.{m}" for m in _submodules()]
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
    assert info["loaded"] == mods  # the check has teeth: every module was really imported
    assert info["streamlit"] == [], info["streamlit"]


def test_lazy_public_names_resolve():
    import mastcore as mc

    assert mc.exact_posterior.__module__ == "mastcore.gibbs"
    assert mc.PosteriorResult.__name__ == "PosteriorResult"
