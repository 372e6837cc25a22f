"""The notebooks of notebooks/ run from a clean kernel, are stored without outputs and write nothing to the repository."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Seconds one notebook may take on the CI machine (2 cores); the three together take well under a minute.
TIMEOUT_S = 180


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored", "--", "."], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout


def test_the_documented_notebooks_exist():
    """The three the docs site and the README name (more may be added; each then runs below)."""
    assert {"01_quickstart.ipynb", "02_theory_vs_networks.ipynb", "03_your_data.ipynb"} <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.source[:60])
        assert not cell.metadata.get("execution"), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    """Run in a fresh kernel whose working folder is a temporary one; the notebook's own checks (asserts) must pass."""
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    before = _git_status()
    book = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(book, timeout=TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - start
    print(f"{path.name}: {seconds:.1f} s")
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    warned = [o.text for c in book.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "stream" and "Warning" in o.text]
    assert not warned, "a notebook should run without warnings (e.g. an unequilibrated Langevin run)"
    assert _git_status() == before, "the notebook wrote into the repository"
    # the stored file is untouched: execution happened on a copy in memory
    assert all(not c.outputs for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
