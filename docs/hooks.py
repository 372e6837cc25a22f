"""mkdocs hooks of the documentation site (mkdocs.yml `hooks:`; this file is left out of the site by `exclude_docs`).

- The home page is the README (one text, not two): docs/index.md is a placeholder filled with README.md at build
  time, its repository links (``docs/x.md``, ``notebooks/``) rewritten to the site's.
- The theory's numbered display equations (a line "  formula   (N.k)") render as blocks with the number at the right.
- Pages the navigation names that another part of the project writes get a stub until they exist, so that a strict
  build of this checkout does not fail on a page that is merely not written yet.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent  # the repository root (this file is docs/hooks.py)
STUBS = {"cluster.md": "# Running on a cluster\n\nThis guide is not written yet.\n"}


def on_files(files, config):
    for name, text in STUBS.items():
        if files.get_file_from_path(name) is None:
            files.append(File.generated(config, name, content=text))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "index.md":
        markdown = (ROOT / "README.md").read_text(encoding="utf-8")
        markdown = markdown.replace("](docs/", "](").replace("](notebooks/)", "](notebooks/01_quickstart.ipynb)")
    if page.file.src_uri == "theory.md":
        markdown = display_equations(markdown)
    return literal_stars(markdown)


#: A star that is maths, not emphasis, and not part of "**": after a capital, a Greek letter, a digit, a bracket or a one-letter
#: lower-case symbol (X*, P*, C(X*, X), f*_tree, y*); the closing star of an emphasised word (*test*) stays.
STAR = re.compile(r"(?:(?<=[A-Z0-9)\]\u0370-\u03ff])|(?<=(?<![A-Za-z])[a-z]))(?<!\*)\*(?!\*)")


def literal_stars(markdown: str) -> str:
    """Escape the stars of X*, P*, C* (test-set symbols) outside code, so that two of them on a line are not read
    as emphasis; GitHub shows the same text, where the stars only look odd."""
    out, fence = [], False
    for line in markdown.split("\n"):
        if line.startswith("```"):
            fence = not fence
        if fence or line.startswith("<div"):
            out.append(line)
            continue
        parts = line.split("`")
        parts[::2] = [STAR.sub(r"\\*", part) for part in parts[::2]]
        out.append("`".join(parts))
    return "\n".join(out)


#: A numbered display line of docs/theory.md: two spaces, the formula, then "(N.k)" at the end of the line.
EQUATION = re.compile(r"^  (\S.*?)\s+\((\d+\.\d+)\)$")


def display_equations(markdown: str) -> str:
    """Each numbered display line as its own block with its number at the right (outside code fences)."""
    out, fence = [], False
    for line in markdown.split("\n"):
        if line.startswith("```"):
            fence = not fence
        m = None if fence else EQUATION.match(line)
        if m is None:
            out.append(line)
            continue
        formula = html.escape(m.group(1).strip())
        out += ["", f'<div class="equation" id="eq-{m.group(2)}"><span>{formula}</span>'
                    f'<span class="eqno">({m.group(2)})</span></div>', ""]
    return "\n".join(out)
