"""The documentation: docs/theory.md is the maths of the repository (every citation resolves to one of its headings,
its contents list and equation numbers are complete); the README is short and its example runs; the docs site
builds in strict mode with every public name in its API reference.

`python tests/test_docs.py --write-toc` rewrites the contents list of docs/theory.md after a section is added.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "theory.md"
#: Where citations live: code, pages, the app, the UI package, tests, benches and the README.
SOURCES = ["app.py", "README.md", *(str(p.relative_to(ROOT)) for d in ("mastcore", "mastcore_dashboard", "pages", "tests",
                                                                        "bench") for p in (ROOT / d).rglob("*.py")
                                     if p.name != "test_docs.py"),
           *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "theory.md"),
           *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "notebooks").glob("*.ipynb")))]
CITATION = re.compile(r"§\s?(\d+(?:\.\d+)?)")


def _heading_list() -> list[str]:
    """Section numbers of docs/theory.md in document order: "4" from "## 4. Tree level", "4.2" from "### 4.2 ..."."""
    out = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(#{2,3}) (\d+(?:\.\d+)?)\.? ", line)
        if m:
            out.append(m.group(2))
    return out


def _headings() -> set[str]:
    return set(_heading_list())


def _citations(text: str) -> set[str]:
    found = set()
    for m in CITATION.finditer(text):
        found.add(m.group(1))
    # ranges and lists written "§5–§6" or "§4, §11" are caught one number at a time by the pattern above
    return found


def test_headings_are_numbered_in_order():
    top = [int(h) for h in _heading_list() if "." not in h]
    assert top == list(range(len(top))) and len(top) >= 16, top


def test_every_citation_in_the_repository_resolves():
    heads = _headings()
    missing = {}
    cited = 0
    for rel in SOURCES:
        text = (ROOT / rel).read_text(encoding="utf-8")
        for c in _citations(text):
            cited += 1
            if c not in heads and c.split(".")[0] not in heads:
                missing.setdefault(rel, []).append(c)
            elif "." in c and c not in heads:
                missing.setdefault(rel, []).append(c)
    assert cited > 100, "the check has teeth: the code cites docs/theory.md"
    assert not missing, missing


def test_citations_inside_the_document_resolve():
    heads = _headings()
    bad = sorted(c for c in _citations(DOC.read_text(encoding="utf-8")) if c not in heads)
    assert not bad, bad


def test_no_citation_points_outside_the_repository():
    for rel in SOURCES:
        text = (ROOT / rel).read_text(encoding="utf-8")
        assert not re.search(r"THEORY(\.md)?\s*§", text), f"{rel} cites THEORY.md, which is not in the repository"
        assert "../shared" not in text, rel


def test_no_comment_cites_an_issue_or_acceptance_number():
    pattern = re.compile(r"\b([Ii]ssue|[Aa]cceptance)\s+\d")
    for rel in SOURCES:
        if rel == "README.md":
            continue
        hits = [line for line in (ROOT / rel).read_text(encoding="utf-8").splitlines() if pattern.search(line)]
        assert not hits, (rel, hits)


# --- docs/theory.md: contents list and equation numbers ------------------------------------------------------------

TOC_START = "<!-- toc: one line per section, made from the headings; `python tests/test_docs.py --write-toc` rewrites it -->"
TOC_END = "<!-- /toc -->"
#: A display line of docs/theory.md: two spaces and a formula, in a paragraph (not a list item, table or code).
LIST_ITEM = re.compile(r"^\s*([-*]|\d+\.) ")
EQUATION_NUMBER = re.compile(r"\s\((\d+)\.(\d+)\)$")


def _slug(heading: str) -> str:
    """The anchor GitHub and the docs site (pymdownx.slugs, lower case; mkdocs.yml) give a heading."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _outside_fences(text: str):
    fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
            continue
        if not fence:
            yield line


def expected_toc(text: str) -> str:
    """One line per top-level section, its subsections after it, each a link to its heading."""
    out = []
    for line in _outside_fences(text):
        m = re.match(r"^(#{2,3}) ((\d+)(?:\.\d+)?\.? .*)$", line)
        if not m:
            continue
        title = m.group(2).strip()
        link = f"[{title}](#{_slug(title)})"
        if m.group(1) == "##":
            out.append(f"- {link}")
        else:
            out[-1] += (": " if out[-1].count("](") == 1 else " · ") + link
    return "\n".join([TOC_START, *out, TOC_END])


def _current_toc(text: str) -> str:
    start, end = text.index(TOC_START), text.index(TOC_END) + len(TOC_END)
    return text[start:end]


def test_theory_contents_list_every_section():
    text = DOC.read_text(encoding="utf-8")
    want = expected_toc(text)
    assert want.count("\n") > 18 and "(#42-weight-space-form-and-σ_v)" in want  # the check has teeth
    assert _current_toc(text) == want, ("docs/theory.md's contents list is out of date; run "
                                        "`python tests/test_docs.py --write-toc`")


def _display_lines(text: str):
    """(section, line) of every display line: two spaces then a formula, inside a paragraph."""
    section, in_list = None, False
    for line in _outside_fences(text):
        m = re.match(r"^## (\d+)\. ", line)
        if m:
            section = m.group(1)
        if not line.strip():
            in_list = False
            continue
        if LIST_ITEM.match(line):
            in_list = True
        elif not line.startswith(" "):
            in_list = False
        if re.match(r"^  \S", line) and not line.lstrip().startswith("|") and not in_list:
            yield section, line


def test_theory_display_equations_are_numbered_by_section():
    lines = list(_display_lines(DOC.read_text(encoding="utf-8")))
    assert len(lines) > 40
    seen = set()
    for section, line in lines:
        m = EQUATION_NUMBER.search(line)
        assert m, f"display line without an equation number (N.k) at its end, in §{section}: {line.strip()!r}"
        assert m.group(1) == section, f"equation ({m.group(1)}.{m.group(2)}) sits in §{section}: {line.strip()!r}"
        assert m.group(0) not in seen, f"equation number{m.group(0)} used twice"
        seen.add(m.group(0))


def test_moved_sections_keep_their_heading_and_point_on():
    text = DOC.read_text(encoding="utf-8")
    for head, target in (("### 16.3 Time", "operations.md#time"), ("### 17.1 The thread policy",
                                                                    "operations.md#the-thread-policy"),
                         ("### 12.7 Against trained networks", "performance.md#one-loop-erf-and-relu")):
        after = text[text.index(head):].split("\n###")[0]
        assert target in after, head


# --- README -----------------------------------------------------------------------------------------------------------

README = ROOT / "README.md"


def _readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_is_short_with_a_two_command_quick_start():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    quick = text.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.splitlines() if line.split("#")[0].strip()]
    assert commands == ["pip install -r requirements.txt && streamlit run app.py", "bash .ci/run"], commands
    assert "docs/regimes.png" in text and (ROOT / "docs" / "regimes.png").exists()


def test_readme_test_command_is_the_one_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_command = [line.strip() for line in ci.splitlines() if line.strip().startswith("pytest")]
    readme = [b.strip() for b in _readme_blocks("bash") if b.strip().startswith("pytest")]
    assert ci_command == readme == ['pytest -m "not slow"']
    assert "requirements.txt" in ci


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MASTCORE_CACHE_DIR", str(tmp_path))
    (code,) = _readme_blocks("python")
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "one_loop" in out and "mean_y_delta" in out


def test_readme_and_docs_links_resolve():
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+://", target):
                continue
            if target == "cluster.md" or target.endswith("docs/cluster.md"):
                continue  # written in another part of the project; the site shows a stub until it exists
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


# --- the docs site ------------------------------------------------------------------------------------------------------

API = ROOT / "docs" / "api.md"


def _api_entries() -> dict[str, str]:
    """{public name: the dotted path its '::: path' line in docs/api.md documents}."""
    paths = re.findall(r"^::: (mastcore(?:\.\w+)+)\s*$", API.read_text(encoding="utf-8"), re.M)
    return {path.rsplit(".", 1)[1]: path for path in paths}


def _resolve(path: str):
    import importlib

    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(path)


def test_every_public_name_is_in_the_api_reference():
    import mastcore

    entries = _api_entries()
    missing = sorted(set(mastcore.__all__) - set(entries))
    assert not missing, f"add these public names to docs/api.md (a line '::: mastcore.NAME'): {missing}"
    assert not set(entries) - set(mastcore.__all__), sorted(set(entries) - set(mastcore.__all__))
    for name, path in entries.items():
        assert _resolve(path) is getattr(mastcore, name), f"docs/api.md documents {path}, which is not mc.{name}"


def _repo_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=False).stdout


def test_docs_site_builds_in_strict_mode(tmp_path):
    """The whole site — README as home page, guides, theory, notebooks, API reference — with every warning an error
    (griffe's docstring warnings and broken links or anchors included); written to a temporary folder only."""
    before = _repo_status()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    site = tmp_path / "site"
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    rendered = dict((ident, kind) for kind, ident in
                    re.findall(r'<div class="doc doc-object doc-(\w+)">\s*<h\d id="([^"]+)"', api))
    for name, path in _api_entries().items():
        # a module of the same name as a function hides it from griffe: the entry must render the object itself
        assert rendered.get(path) in ("function", "class", "attribute"), (name, path, rendered.get(path))
    assert (site / "notebooks" / "01_quickstart" / "index.html").exists()
    assert 'class="equation"' in (site / "theory" / "index.html").read_text(encoding="utf-8")
    assert _repo_status() == before, "the docs build wrote into the repository"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-toc"]:
        text = DOC.read_text(encoding="utf-8")
        DOC.write_text(text.replace(_current_toc(text), expected_toc(text)), encoding="utf-8")
        print(f"rewrote the contents list of {DOC}")
    else:
        sys.exit("usage: python tests/test_docs.py --write-toc")
