"""The package as a user gets it: the wheel built from this checkout, installed in a fresh virtual
environment, gives the ``mastcore`` command; ``mastcore app`` serves the dashboard (Streamlit's health endpoint
answers "ok") and ``mastcore cache info`` reports a per-user cache directory, not one inside site-packages.

The heavy dependencies come from the host (``--system-site-packages``) but mastcore itself comes from the wheel:
the commands run outside the checkout, and the test checks where the imported package lives.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: What the wheel is built from (copied, so that the build writes nothing into the checkout).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "app.py", "mastcore", "pages", "mastcore_dashboard")
#: Streamlit starts in a few seconds here; a dashboard that is not up by then is broken.
START_SECONDS = 45

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with the wheel of this checkout installed (no dependencies: they come from the host)."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, src / name)
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src),
                    "-w", str(wheels)], check=True, cwd=base, timeout=120)
    (wheel,) = wheels.glob("mastcore-*.whl")
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)],
                   check=True, timeout=60)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                   check=True, cwd=base, timeout=120)
    return env_dir


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTCORE_") and k != "PYTHONPATH"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))  # the per-user cache in a temporary home
    return env


def test_wheel_carries_the_app_and_the_typing_marker(venv):
    py = venv / "bin" / "python"
    out = subprocess.run([str(py), "-c", "import mastcore, mastcore.cli as c; print(mastcore.__file__); "
                          "print(c.app_script())"], capture_output=True, text=True, cwd=venv, check=True).stdout
    module, script = out.split()
    assert str(venv) in module and str(ROOT) not in module, f"mastcore imported from {module}, not the wheel"
    assert Path(script).is_file() and (Path(script).parent / "pages" / "regimes.py").is_file()
    assert (Path(module).parent / "py.typed").is_file()


def test_wheel_holds_every_module_of_the_checkout(venv):
    """pyproject lists the packages by name (app.py and pages/ are mapped into mastcore_app): a new subpackage
    must be added there, or the installed library would lack it."""
    import zipfile

    (wheel,) = (venv.parent / "wheels").glob("mastcore-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    ui = "mastcore_dashboard"
    expected = {p.relative_to(ROOT).as_posix() for d in ("mastcore", ui) for p in (ROOT / d).rglob("*.py")
                if "__pycache__" not in p.parts}
    expected |= {f"mastcore_app/pages/{p.name}" for p in (ROOT / "pages").glob("*.py")} | {"mastcore_app/app.py"}
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel (add the package to pyproject's [tool.setuptools] packages): {missing}"


def test_cache_info_is_outside_site_packages(venv):
    home = venv.parent / "home"
    out = subprocess.run([str(venv / "bin" / "mastcore"), "cache", "info"], capture_output=True, text=True,
                         cwd=venv.parent, env=_env(home), check=True, timeout=60).stdout
    path = out.splitlines()[0].removeprefix("cache: ").strip()
    assert "site-packages" not in path and Path(path).is_relative_to(home), out
    module_out = subprocess.run([str(venv / "bin" / "python"), "-m", "mastcore", "cache", "info"],
                                capture_output=True, text=True, cwd=venv.parent, env=_env(home), timeout=60)
    assert module_out.returncode == 0 and module_out.stdout == out  # `python -m mastcore` as well


def test_mastcore_app_serves_the_dashboard(venv):
    port = _free_port()
    home = venv.parent / "home"
    proc = subprocess.Popen([str(venv / "bin" / "mastcore"), "app", "--server.headless", "true", "--server.port",
                             str(port), "--browser.gatherUsageStats", "false"],
                            cwd=venv.parent, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        body, deadline = None, time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert body == "ok", f"no health answer (exit code {proc.poll()})"
    finally:
        os.killpg(proc.pid, 15)  # the session of the `mastcore app` we started: it and its streamlit child
        try:
            out = proc.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out = proc.communicate()[0].decode(errors="replace")
    assert str(ROOT) not in out, "the app ran from the checkout, not from the wheel"


def test_app_passes_streamlit_options_through(monkeypatch):
    from mastcore import cli

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert cli.main(["app", "--server.port", "8601", "--server.headless", "true"]) == 0
    (cmd,) = calls
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]) == ROOT / "app.py"  # the checkout's own
    assert cmd[5:] == ["--server.port", "8601", "--server.headless", "true"]


def test_scikit_learn_is_optional(monkeypatch):
    """Only the bundled digits need scikit-learn: the library imports without it, the digits task names the extra."""
    code = ("import sys; sys.modules['sklearn'] = None; import mastcore as mc; "
            "mc.make_task(mc.TaskSpec(name='ising', P=8, P_test=8, D=10, p=0.1, seed=0)); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    from mastcore.data import digits

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"mastcore\[digits\]"):
        digits.load_digits()
