"""Sphinx configuration of the course website (myst-nb renders the committed notebooks).

Build it, from the top folder of the repository (the notebooks are not executed: the site shows
the outputs committed with them)::

    .venv/bin/sphinx-build -W --keep-going -b html -c docs . _site

The source folder is the repository itself (so that a page's path, e.g.
``notebooks/01_the_stochastic_node.ipynb``, is the notebook's path, which the launch buttons
and the "edit" links need); ``include_patterns`` keeps it to this folder's pages, the lectures
and the exercise sheets.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from docutils import nodes

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
REPOSITORY = PYPROJECT["project"]["urls"]["Repository"]  # one source for every link
namespace = {}
exec((ROOT / "vaelib" / "__init__.py").read_text(encoding="utf-8"), namespace)  # no import: no torch

project = "The reparameterization trick, in six notebooks"
author = "The course authors"
copyright = "2026, the course authors. Code: MIT; text and figures: CC BY 4.0; MNIST digits: CC BY-SA 3.0"
release = version = namespace["__version__"]

extensions = ["myst_nb"]
root_doc = "docs/index"
include_patterns = ["docs/*.md", "notebooks/*.ipynb", "exercises/*.ipynb"]
exclude_patterns = [".venv", "_site", "docs/_build", "test-artifacts", "**/.ipynb_checkpoints"]

# Notebooks: render what is committed, never execute; widget views (no saved state, so nothing
# to show in a static page) fall back to their text; math in markdown with $...$ and $$...$$.
nb_execution_mode = "off"
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "The reparameterization trick"
html_baseurl = PYPROJECT["project"]["urls"]["Documentation"]
html_extra_path = ["_extra"]  # index.html at the site root: a redirect to docs/index.html
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "use_issues_button": True,
    "use_download_button": True,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "show_toc_level": 2,
}


def _section_title(node: nodes.Node) -> str | None:
    while node is not None:
        if isinstance(node, nodes.section) and node.children and isinstance(node[0], nodes.title):
            return node[0].astext()
        node = node.parent
    return None


def add_figure_alt_text(app, doctree: nodes.document) -> None:
    """Give every figure without alt text one: the page, its number on the page, its section.

    A figure's own description, where a lecture gives one (cell metadata
    ``{"mystnb": {"image": {"alt": "..."}}}``), is kept.
    """
    page = app.env.titles.get(app.env.docname)
    page = page.astext() if page is not None else app.env.docname
    for number, image in enumerate(doctree.findall(nodes.image), start=1):
        if image.get("alt", "").strip():
            continue
        section = _section_title(image)
        where = f", in the section '{section}'" if section and section != page else ""
        image["alt"] = re.sub(r"\s+", " ", f"Figure {number} of '{page}'{where}")


def setup(app):
    app.connect("doctree-read", add_figure_alt_text)
    return {"parallel_read_safe": True}
