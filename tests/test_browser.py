"""End-to-end: every explorer of the course works in a real browser.

JupyterLab (a throwaway server on loopback) in headless Chromium opens each notebook of
``tests/browser/`` (sorted), made for this test: each builds the explorers of some lectures exactly
as the lectures do (tests/test_browser_notebooks.py checks that), with nothing else of the
lectures (nbval runs the lectures themselves). Each notebook is run with Run > Run All Cells, as a
student does. Then:

- every explorer on the shared base (:mod:`vaelib.explorers.base`: CSS class ``vaelib-explorer``)
  gets one key press on its first control's slider handle (``.vaelib-explorer-control``):
  ArrowRight, or ArrowLeft where the slider starts at its maximum; its image
  (``.vaelib-explorer-image``) must change: the bytes of the PNG the page shows are compared, so
  the check covers the whole loop browser -> kernel (recompute, repaint) -> browser;
- lecture 05's explorers (``vaelib.widgets``, in ``explorers_04_06.ipynb``) keep their own checks:
  each slider is moved with the keyboard (arrow keys) and with the mouse (a drag), and the decoded
  image must change each time. Their CSS classes: the interpolation slider
  ``vaelib-interp-slider`` and the decodes ``vaelib-interp-image``; the latent-plane sliders
  ``vaelib-plane-slider`` and the decode ``vaelib-plane-image``.

Artefacts go to ``test-artifacts/browser/``: one screenshot per explorer,
``<notebook>_<k>_explorer.png`` (k counts the notebook's explorers from 1), the lecture-05 shots
``05_interpolation.png`` (the page) and ``05_interpolation_widget.png`` (the explorer), the same for
``05_latent_plane``, the server log and the browser console; on failure ``failure_<test>.png`` and
the notebook's progress.

Needs Debian's Chromium (``apt-get install chromium``) and ``playwright`` (the ``test`` extra):
without them the tests skip, except under ``CI=true``, where they fail. Run them alone with
``pytest tests/test_browser.py`` (or ``pytest -m browser``; ``-m "not browser"`` leaves them out).
``VAELIB_BROWSER_TIMEOUT`` (seconds, default 600) bounds Run All Cells; other waits get a fifth.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path

import pytest
from browser_support import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    REPO_ROOT,
    copy_artifact,
    copy_notebook_cleared,
    image_bytes,
    notebook_progress,
    open_notebook,
    require_browser,
    run_all_cells,
    save_artifact,
    start_lab,
    wait_for_images_loaded,
)

pytestmark = pytest.mark.browser

BROWSER_NOTEBOOKS = sorted((REPO_ROOT / "tests" / "browser").glob("*.ipynb"))
LECTURE_05_EXPLORERS = "explorers_04_06.ipynb"  # the notebook that holds lecture 05's two explorers

# Generous: the machine may be a slow, shared 2-core CI runner.
RUN_ALL_TIMEOUT = float(os.environ.get("VAELIB_BROWSER_TIMEOUT", "600"))
STEP_TIMEOUT = RUN_ALL_TIMEOUT / 5  # starting the server, loading the page, one redraw


@contextlib.contextmanager
def artefacts_on_failure(page, name: str):
    """On any failure inside: save a screenshot and the notebook's progress, then re-raise."""
    for stale in (f"failure_{name}.png", f"failure_{name}.txt"):
        (ARTIFACTS / stale).unlink(missing_ok=True)
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # the page may be gone; the first error matters
            page.screenshot(path=ARTIFACTS / f"failure_{name}.png")
            save_artifact(f"failure_{name}.txt", f"{notebook_progress(page)!r}\n")
        raise


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require_browser()


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    """A JupyterLab server whose root holds cleared copies of the notebooks of tests/browser/ under browser/."""
    if not BROWSER_NOTEBOOKS:
        pytest.fail("the browser test drives the notebooks of tests/browser/, and there are none")
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    for notebook in BROWSER_NOTEBOOKS:
        copy_notebook_cleared(notebook, root / "browser" / notebook.name)
    started = time.monotonic()
    server = start_lab(root, tmp / "state", timeout=STEP_TIMEOUT)
    print(f"JupyterLab answered after {time.monotonic() - started:.1f} s at {server.base_url}")
    try:
        yield server
    finally:
        server.stop()
        copy_artifact(server.log_path, "jupyter-server.log")


@pytest.fixture(scope="module")
def page(chromium, lab):
    """A headless Chromium page; its console and page errors are saved as an artefact."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    console: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(STEP_TIMEOUT * 1000)
            page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
            page.on("pageerror", lambda err: console.append(f"[pageerror] {err}"))
            yield page
        finally:
            save_artifact("browser-console.log", "\n".join(console) + "\n")
            browser.close()


class Notebooks:
    """Shows one notebook at a time in the page, each run once (Run All Cells on a fresh kernel)."""

    def __init__(self, lab, page):
        self.lab, self.page, self.current = lab, page, None

    def show(self, name: str):
        if name != self.current:
            with artefacts_on_failure(self.page, f"run_all_{Path(name).stem}"):
                started = time.monotonic()
                open_notebook(self.page, self.lab.lab_url(f"browser/{name}"), STEP_TIMEOUT)
                progress = run_all_cells(self.page, RUN_ALL_TIMEOUT)
                print(
                    f"{name}: Run All Cells: {progress['done']} code cells in"
                    f" {time.monotonic() - started:.1f} s (page load included);"
                    f" (cells done, at seconds): {progress['finished_at']}"
                )
            self.current = name
        return self.page


@pytest.fixture(scope="module")
def notebooks(lab, page) -> Notebooks:
    return Notebooks(lab, page)


def _digests(images) -> list[str | None]:
    return [None if data is None else hashlib.sha256(data).hexdigest()[:12] for data in image_bytes(images)]


def drive_slider(page, slider_selector: str, image_selector: str, shot: str) -> list[tuple[str, list]]:
    """Move the first slider matching ``slider_selector`` with the keyboard, then the mouse;
    after each move, wait until every ``image_selector`` image in the same output has changed.

    Returns the (readout, image digests) before and after each move; saves the screenshots
    ``{shot}.png`` (the page) and ``{shot}_widget.png`` (the explorer).
    """
    page.wait_for_selector(f"{slider_selector} .noUi-handle", state="visible")
    slider = page.locator(slider_selector).first
    handle = slider.locator(".noUi-handle")
    explorer = slider.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea-output')][1]")
    images = explorer.locator(image_selector)
    explorer.scroll_into_view_if_needed()
    assert images.count() >= 1, f"no {image_selector} in the output that holds {slider_selector}"
    wait_for_images_loaded(page, images, STEP_TIMEOUT)

    def state() -> tuple[str, list[str | None]]:
        """The slider's readout (its value as the student sees it) and the images' digests."""
        return slider.locator(".widget-readout").inner_text().strip(), _digests(images)

    def wait_until_redrawn(before: list[str | None], how: str) -> tuple[str, list[str | None]]:
        """Poll until every image differs from ``before`` (the kernel decodes, then the new PNG
        comes back over the widget's comm)."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            readout, digests = state()
            if None not in digests and all(a != b for a, b in zip(digests, before)):
                return readout, digests
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"after moving {slider_selector} {how}, the {image_selector} images did not"
                    f" all change within {STEP_TIMEOUT:.0f} s: before {before}, now {digests}"
                    f" (readout {readout!r})"
                )
            page.wait_for_timeout(250)  # poll interval

    history = [state()]
    assert None not in history[0][1], f"an {image_selector} element shows no image: {history[0][1]}"
    # noUiSlider's aria values are rounded for display: good enough to pick a direction.
    now, low, high = (float(handle.get_attribute(f"aria-value{k}")) for k in ("now", "min", "max"))
    assert low < high, f"{slider_selector} cannot move: range [{low}, {high}]"
    towards_high = now < (low + high) / 2

    # 1. Keyboard: step away from the nearer end with the arrow keys on the focused handle.
    key = "ArrowRight" if towards_high else "ArrowLeft"
    handle.focus()
    for _ in range(3):
        handle.press(key)
    history.append(wait_until_redrawn(history[-1][1], f"with {key}"))
    assert history[-1][0] != history[-2][0], f"{key} did not change the readout: {history}"

    # 2. Mouse: drag the handle on, to 90% of the way to the far end of the track.
    track = slider.locator(".noUi-base").bounding_box()
    box = handle.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + (0.9 if towards_high else 0.1) * track["width"], y, steps=12)
    page.mouse.up()
    history.append(wait_until_redrawn(history[-1][1], "by dragging its handle"))
    assert history[-1][0] != history[-2][0], f"the drag did not change the readout: {history}"

    explorer.evaluate("el => el.scrollIntoView({block: 'center'})")  # the page shot shows it
    explorer.screenshot(path=ARTIFACTS / f"{shot}_widget.png")
    page.screenshot(path=ARTIFACTS / f"{shot}.png")
    print(f"{slider_selector}: " + " -> ".join(f"{r} {d}" for r, d in history))
    print(f"screenshot: {ARTIFACTS / f'{shot}.png'}\nscreenshot: {ARTIFACTS / f'{shot}_widget.png'}")
    return history


def press_once_and_wait(page, explorer, shot: str) -> tuple[str, str]:
    """One key press on the first control's slider handle of ``explorer`` (a ``.vaelib-explorer``);
    wait until its ``.vaelib-explorer-image`` shows other PNG bytes; screenshot it. Returns the digests."""
    handle = explorer.locator(".vaelib-explorer-control .noUi-handle").first
    image = explorer.locator(".vaelib-explorer-image")
    explorer.evaluate("el => el.scrollIntoView({block: 'center'})")
    handle.wait_for(state="visible")
    assert image.count() == 1, f"expected one .vaelib-explorer-image in the explorer, found {image.count()}"
    wait_for_images_loaded(page, image, STEP_TIMEOUT)
    (before,) = _digests(image)
    now, high = (float(handle.get_attribute(f"aria-value{k}")) for k in ("now", "max"))
    key = "ArrowLeft" if now >= high else "ArrowRight"  # a slider that starts at its maximum steps back
    handle.focus()
    handle.press(key)
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        (after,) = _digests(image)
        if after is not None and after != before:
            break
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{shot}: after {key} on its slider, the explorer's image did not change within {STEP_TIMEOUT:.0f} s ({before})"
            )
        page.wait_for_timeout(100)  # poll interval
    explorer.screenshot(path=ARTIFACTS / f"{shot}.png")
    print(f"{shot}: {key}: image {before} -> {after}; screenshot: {ARTIFACTS / f'{shot}.png'}")
    return before, after


@pytest.mark.parametrize("notebook", [p.name for p in BROWSER_NOTEBOOKS], ids=lambda name: Path(name).stem)
def test_every_explorer_redraws_when_its_slider_moves(notebooks, notebook):
    page = notebooks.show(notebook)
    stem = Path(notebook).stem
    with artefacts_on_failure(page, f"explorers_{stem}"):
        explorers = page.locator(".vaelib-explorer")
        count = explorers.count()
        assert count >= 1, f"{notebook}: no .vaelib-explorer on the page after Run All Cells"
        for k in range(count):
            press_once_and_wait(page, explorers.nth(k), f"{stem}_{k + 1}_explorer")


def test_interpolation_slider_redraws_the_decodes(notebooks):
    page = notebooks.show(LECTURE_05_EXPLORERS)
    with artefacts_on_failure(page, "interpolation"):
        page.wait_for_selector(".vaelib-interp-slider .noUi-handle", state="visible")
        assert page.locator(".vaelib-interp-slider").count() == 1, "expected one interpolation slider"
        drive_slider(page, ".vaelib-interp-slider", ".vaelib-interp-image", "05_interpolation")


def test_latent_plane_slider_redraws_the_decode(notebooks):
    page = notebooks.show(LECTURE_05_EXPLORERS)
    with artefacts_on_failure(page, "latent_plane"):
        page.wait_for_selector(".vaelib-plane-slider .noUi-handle", state="visible")
        drive_slider(page, ".vaelib-plane-slider", ".vaelib-plane-image", "05_latent_plane")
