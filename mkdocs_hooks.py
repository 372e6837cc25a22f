"""mkdocs hooks of the documentation site (mkdocs.yml `hooks:`)."""
from __future__ import annotations

from mkdocs.structure.files import File

#: Pages the navigation names that another part of the project writes: until they exist the site shows a stub, so a
#: strict build of this checkout does not fail on a page that is merely not written yet.
STUBS = {"cluster.md": "# Running on a cluster\n\nThis guide is not written yet.\n"}


def on_files(files, config):
    for name, text in STUBS.items():
        if files.get_file_from_path(name) is None:
            files.append(File.generated(config, name, content=text))
    return files
