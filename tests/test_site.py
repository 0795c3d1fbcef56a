"""The course website builds from the committed notebooks, with warnings as errors.

One build (Sphinx + myst-nb, notebooks not executed, ``docs/conf.py``) into a temporary folder,
then what a reader needs is checked in the HTML: the curriculum as navigation, every lecture and
sheet, search, the committed figures with alt text, math, and each lecture's launch buttons.
The command is the README's: ``sphinx-build -W --keep-going -b html -c docs . _site``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("*.ipynb"))
SHEETS = sorted((ROOT / "exercises").glob("*.ipynb"))
URLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
OWNER_REPO = URLS["Repository"].removeprefix("https://github.com/")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-c", "docs", ".", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, f"the site build failed (warnings are errors):\n{build.stdout}\n{build.stderr}"
    return out


def _page(site: Path, notebook: Path) -> str:
    return (site / notebook.parent.name / f"{notebook.stem}.html").read_text(encoding="utf-8")


def test_the_readme_gives_the_build_command():
    readme = (ROOT / "README.md").read_text()
    assert "sphinx-build -W --keep-going -b html -c docs . _site" in readme


def test_navigation_lists_the_curriculum_in_order(site):
    assert "url=docs/index.html" in (site / "index.html").read_text()  # the site root redirects
    home = (site / "docs" / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'href="\.\./(notebooks|exercises)/(\d\d_[a-z0-9_]+)\.html"', home)
    lectures = [stem for folder, stem in links if folder == "notebooks"]
    sheets = [stem for folder, stem in links if folder == "exercises"]
    assert list(dict.fromkeys(lectures)) == [p.stem for p in LECTURES]
    assert list(dict.fromkeys(sheets)) == [p.stem for p in SHEETS]
    for nb in LECTURES + SHEETS:
        assert (site / nb.parent.name / f"{nb.stem}.html").is_file()


def test_search_works_offline(site):
    assert (site / "search.html").is_file()
    index = (site / "searchindex.js").read_text(encoding="utf-8")
    assert "reparameter" in index.lower() and "cholesky" in index.lower()


def _committed_pngs(notebook: Path) -> set[str]:
    found = set()
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                found.add(hashlib.sha256(base64.b64decode("".join(png))).hexdigest())
    return found


@pytest.mark.parametrize("notebook", LECTURES, ids=[p.stem for p in LECTURES])
def test_lecture_page_has_its_figures_alt_text_math_and_launch_buttons(site, notebook):
    html = _page(site, notebook)
    images = re.findall(r"<img ([^>]*?)/?>", html)
    figures = [i for i in images if "_images/" in i]
    shown = {re.search(r"_images/([0-9a-f]{64})\.png", i).group(1) for i in figures}
    assert shown == _committed_pngs(notebook), "every committed figure, and only those, is on the page"
    for img in images:
        alt = re.search(r'alt="([^"]*)"', img)
        assert alt and alt.group(1).strip(), f"an image without alt text: <img {img}>"
    assert "mathjax" in html.lower() and "\\(" in html, "math is rendered by MathJax"
    path = f"{notebook.parent.name}/{notebook.name}"
    assert f"https://mybinder.org/v2/gh/{OWNER_REPO}/main?urlpath=lab/tree/{path}" in html
    assert f"https://colab.research.google.com/github/{OWNER_REPO}/blob/main/{path}" in html
    text = re.sub(r"<[^>]+>", "", html).replace("&quot;", '"')  # code cells are split into spans
    assert 'find_spec("vaelib")' not in text, "the install cell (tag remove-cell) is hidden on the website"
    assert "setup(seed=0)" in text, "the lecture's code is shown"
