"""docs/theory.md is the maths of the repository: every citation resolves to one of its headings."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "theory.md"
#: Where citations live: code, pages, the app, the UI package, tests, benches and the README.
SOURCES = ["app.py", "README.md", *(str(p.relative_to(ROOT)) for d in ("mastcore", "dashboard", "pages", "tests",
                                                                        "bench") for p in (ROOT / d).rglob("*.py")
                                     if p.name != "test_docs.py")]
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
