"""Opening and running a lecture in JupyterLab leaves `git status` clean.

A student's checkout must not turn dirty just because they opened a lecture: JupyterLab writes the
kernel's ``language_info`` and ``kernelspec`` into the notebook when it connects the kernel, and a
notebook committed without them is marked modified at once (and saved so by autosave). Here a
throwaway git repository holds a byte-for-byte copy of lecture 01 and the course's .gitignore;
JupyterLab in headless Chromium opens it: the tab must not be marked modified, saving it must
not change a byte, and running every cell must leave no new file that git would report.

Needs Debian's Chromium and ``playwright`` (see tests/browser_support.py): skipped without them,
except under ``CI=true``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from browser_support import CHROMIUM_ARGS, REPO_ROOT, open_notebook, require_browser, run_all_cells, start_lab

pytestmark = pytest.mark.browser

LECTURE = "notebooks/01_the_stochastic_node.ipynb"
TIMEOUT_S = 180.0
DIRTY_TAB = ".lm-TabBar-tab.jp-mod-current.jp-mod-dirty"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("checkout") / "course"
    (root / "notebooks").mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / LECTURE, root / LECTURE)
    shutil.copyfile(REPO_ROOT / ".gitignore", root / ".gitignore")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-qm", "checkout")
    return root


def test_open_save_and_run_leave_git_status_clean(checkout, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = require_browser()
    server = start_lab(checkout, tmp_path / "state", timeout=TIMEOUT_S)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                open_notebook(page, server.lab_url(LECTURE), TIMEOUT_S)
                page.wait_for_timeout(3000)  # the kernel's info reply lands after "idle"
                assert page.locator(DIRTY_TAB).count() == 0, (
                    "opening the lecture marked it modified: commit it with the metadata the kernel "
                    "fills in (python -m vaelib.nbtools tidy)"
                )
                page.keyboard.press("Control+s")
                deadline = time.monotonic() + 30
                while "last_modified" not in server.get(f"/api/contents/{LECTURE}?content=0") or (
                    time.monotonic() < deadline and not page.locator(".jp-mod-current .jp-mod-dirty").count() == 0
                ):
                    page.wait_for_timeout(250)
                page.wait_for_timeout(1000)
                assert git(checkout, "status", "--porcelain") == "", (
                    "saving the freshly opened lecture changed it:\n" + git(checkout, "diff", "--stat")
                )
                run_all_cells(page, TIMEOUT_S)
                untracked = git(checkout, "status", "--porcelain", "--untracked-files=all")
                new = [line for line in untracked.splitlines() if line.startswith("??")]
                assert new == [], f"running the lecture left files git would report: {new}"
            finally:
                browser.close()
    finally:
        server.stop()
