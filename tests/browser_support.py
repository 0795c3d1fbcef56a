"""Support for the end-to-end browser test (tests/test_browser.py).

Three pieces, each usable on its own:

- ``require_browser()``: find Debian's Chromium and the ``playwright`` package, or skip the test
  with the install command (fail instead when ``$CI`` is set, so CI cannot skip it silently);
- ``start_lab()``: a throwaway JupyterLab server on loopback, with its own token, port, root,
  settings, workspace and runtime directories (nothing touches the user's home), always
  stoppable with ``LabServer.stop()``, kernels included;
- the page helpers (``open_notebook``, ``run_all_cells``, ``image_bytes``, ...): drive JupyterLab
  the way a student does (menus, keyboard, mouse) and wait on conditions, never on fixed sleeps.

Playwright's own browser download needs the internet, so the test launches the system Chromium
(``executable_path``) instead.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"

CHROMIUM = Path(os.environ.get("VAELIB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",  # offline: no update pings, no safe-browsing lists
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
INSTALL_HINT = (
    "install Debian's Chromium (`sudo apt-get install chromium`) and the test extra "
    "(`pip install -e '.[test]'`, which brings `playwright`; its own browser download is not "
    "needed: the test launches /usr/bin/chromium, or $VAELIB_CHROMIUM)"
)

# JupyterLab user settings for the test server: every cell attached to the DOM (the default
# 'contentVisibility' windowing may detach off-screen cells, and the test reads every prompt),
# and no news or update check (offline, and no toast over the notebook).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def in_ci() -> bool:
    """True when ``$CI`` is set to anything but an empty/false value (GitHub, GitLab set CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def require_browser() -> Path:
    """Return Chromium's path; skip (fail under ``$CI``) if Chromium or playwright is missing."""
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"no Chromium executable at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package `playwright` is not installed")
    if missing:
        reason = "browser test needs a browser: " + "; ".join(missing) + ". To run it, " + INSTALL_HINT
        if in_ci():
            pytest.fail(reason + " (CI is set, so this test fails instead of skipping)", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


# ---------------------------------------------------------------------------------------------
# The JupyterLab server
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_start_time(pid: int) -> str | None:
    """The start time field of /proc/PID/stat (tells a process from a later one with its pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every descendant of ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*") if Path("/proc").is_dir() else []:
        try:
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        start = _proc_start_time(child)
        if start is not None:
            found.append((child, start))
        todo.extend(children.get(child, []))
    return found


@dataclass
class LabServer:
    """A running JupyterLab subprocess. ``stop()`` is idempotent and never raises."""

    process: subprocess.Popen
    base_url: str
    token: str
    root_dir: Path
    log_path: Path
    _log_file: object = field(repr=False)

    def get(self, path: str, timeout: float = 5.0) -> dict:
        request = urllib.request.Request(f"{self.base_url}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode())

    def lab_url(self, relative_path: str) -> str:
        # ?reset starts from the default workspace (no layout restored from an earlier run)
        return f"{self.base_url}/lab/tree/{relative_path}?reset&token={self.token}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Shut the server down: politely (kernels too), then SIGTERM/SIGKILL its process group
        and any descendant left (kernels run in their own sessions, outside the group)."""
        descendants = _descendants(self.process.pid) if self.process.poll() is None else []
        if self.process.poll() is None:
            try:
                request = urllib.request.Request(
                    f"{self.base_url}/api/shutdown",
                    method="POST",
                    headers={"Authorization": f"token {self.token}"},
                )
                urllib.request.urlopen(request, timeout=10).close()
                self.process.wait(timeout=30)
            except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
                pass
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # Whatever outlived the server (kernels, or group members after the leader died).
        for pid, start in descendants:
            if _proc_start_time(pid) == start:  # still the same process, not a reused pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if self.process.poll() is None:
            self.process.wait(timeout=10)
        self._log_file.close()


def start_lab(root_dir: Path, state_dir: Path, timeout: float = 180.0) -> LabServer:
    """Start ``python -m jupyterlab`` on 127.0.0.1 serving ``root_dir``; return once it answers.

    Every directory JupyterLab or IPython would write (config, data, runtime, settings,
    workspaces, IPython profile) lives under ``state_dir``. Polls ``/api/status`` with the token
    until it answers 200, the process dies (raises with the log), or ``timeout`` seconds pass.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    dirs = {name: state_dir / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
    for path in dirs.values():
        path.mkdir(exist_ok=True)
    for relative, settings in LAB_SETTINGS.items():
        target = dirs["settings"] / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(settings, indent=2))

    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        IPYTHONDIR=str(dirs["ipython"]),
        PYTHONUNBUFFERED="1",
    )
    # One torch/OpenMP thread in the kernel unless the caller chose: Chromium and the server
    # already busy the CPU, and on a loaded 2-core machine two OpenMP threads train the lecture's
    # small MLPs about 5x slower than one (measured: 3 epochs in 20 s against 4 s).
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    token = secrets.token_hex(24)
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail loudly rather than serve on another port
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no PyPI queries from the extension manager
        "--ServerApp.terminals_enabled=False",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers often run as root
    log_path = state_dir / "jupyter-server.log"
    log_file = open(log_path, "wb")
    process = subprocess.Popen(
        command,
        cwd=root_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stop() can kill it whole
    )
    server = LabServer(process, f"http://127.0.0.1:{port}", token, root_dir, log_path, log_file)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {process.returncode} before answering;"
                    f" its log:\n{server.log()[-4000:]}"
                )
            try:
                server.get("/api/status", timeout=5)
                return server
            except (OSError, urllib.error.URLError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"JupyterLab did not answer /api/status within {timeout:.0f} s; its log:\n{server.log()[-4000:]}"
                )
            time.sleep(0.5)  # poll interval
    except BaseException:
        server.stop()
        raise


def copy_notebook_cleared(source: Path, target: Path) -> None:
    """Copy a notebook with its outputs and execution counts cleared, so that everything the
    page shows after a run (prompts, widgets) comes from this run's live kernel."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


# ---------------------------------------------------------------------------------------------
# Driving JupyterLab in the page
# ---------------------------------------------------------------------------------------------

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
NOTEBOOK = f"{PANEL} .jp-Notebook"

_KERNEL_READY_JS = """
(panel) => {
  const indicator = document.querySelector(panel + ' .jp-Notebook-ExecutionIndicator');
  const name = (document.querySelector(panel + ' .jp-Toolbar-kernelName')?.textContent || '').trim();
  return indicator?.getAttribute('data-status') === 'idle' && name !== '' && name !== 'No Kernel';
}
"""

# Counts code cells by prompt: "[ ]:" not run, "[*]:" queued or running, "[7]:" done; and keeps
# the stderr outputs (tracebacks included) of the last cell that ran: where a failed run stopped.
_PROGRESS_JS = """
(panel) => {
  const root = document.querySelector(panel + ' .jp-Notebook');
  if (!root) return null;
  const cells = [...root.querySelectorAll('.jp-CodeCell')];
  const prompts = cells.map(c => (c.querySelector('.jp-InputPrompt')?.textContent || '').trim());
  const ran = cells.filter((c, i) => /\\[\\d+\\]/.test(prompts[i]));
  const errors = ran.length === 0 ? [] : [...ran[ran.length - 1].querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.innerText.slice(-2000));
  const status = document.querySelector(panel + ' .jp-Notebook-ExecutionIndicator')
      ?.getAttribute('data-status') || null;
  const dialog = document.querySelector('.jp-Dialog')?.innerText || null;
  return {
    total: cells.length,
    running: prompts.filter(p => p.includes('*')).length,
    done: prompts.filter(p => /\\[\\d+\\]/.test(p)).length,
    prompts, errors, status, dialog,
  };
}
"""


def notebook_progress(page) -> dict | None:
    return page.evaluate(_PROGRESS_JS, PANEL)


def open_notebook(page, url: str, timeout_s: float) -> None:
    """Load JupyterLab at ``url`` (a /lab/tree/... URL); wait until the notebook's kernel is idle.

    The toolbar's execution indicator reads 'idle' once before any kernel exists ("No Kernel"),
    so the wait also needs a kernel name in the toolbar; running cells before that opens the
    "Select Kernel" dialog instead.
    """
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=timeout_s * 1000)
    page.wait_for_function(_KERNEL_READY_JS, arg=PANEL, timeout=timeout_s * 1000, polling=250)


def run_all_cells(page, timeout_s: float, start_timeout_s: float = 60.0, settle_s: float = 10.0) -> dict:
    """Run > Run All Cells from the menu bar; wait until every code cell has run.

    Done means: every code cell shows an execution count, none is queued, the kernel is idle.
    A run that stops early (an uncaught error) is recognised by a kernel that stays idle, with
    nothing changing in the page, for ``settle_s`` seconds. (Prompts alone are not enough:
    after a cell tagged ``raises-exception`` fails, JupyterLab blanks the queued cells' "[*]"
    although the kernel goes on to run them.)

    Returns the final progress (see ``_PROGRESS_JS``). Raises AssertionError if a dialog opens
    (e.g. "Select Kernel") or the run stopped before the last cell (the message shows the
    traceback from the page), TimeoutError if it does not start or finish in time.
    """
    page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
    page.locator(".lm-Menu:visible .lm-Menu-itemLabel:text-is('Run All Cells')").click()
    clicked = changed = time.monotonic()
    started = False
    last: dict | None = None
    finished_at: list[tuple[int, float]] = []  # (code cells done, seconds since the click)
    while True:
        now = time.monotonic()
        progress = notebook_progress(page)
        if progress != last:
            changed, last = now, progress
            if last is not None and (not finished_at or finished_at[-1][0] != last["done"]):
                finished_at.append((last["done"], round(now - clicked, 1)))
        if last is not None:
            if last["dialog"]:
                raise AssertionError(f"a dialog opened during Run All Cells: {last['dialog']!r}")
            started = started or last["running"] > 0 or last["done"] > 0
            idle = last["running"] == 0 and last["status"] == "idle"
            if started and idle and (last["done"] == last["total"] or now - changed > settle_s):
                break
        if not started and now - clicked > start_timeout_s:
            raise TimeoutError(f"Run All Cells did not start within {start_timeout_s:.0f} s; progress: {last}")
        if now - clicked > timeout_s:
            raise TimeoutError(
                f"Run All Cells did not finish within {timeout_s:.0f} s; prompts:"
                f" {last and last['prompts']}, kernel status: {last and last['status']};"
                f" (cells done, at seconds): {finished_at}"
            )
        page.wait_for_timeout(500)  # poll interval
    last["finished_at"] = finished_at
    if last["done"] < last["total"]:
        errors = "\n---\n".join(last["errors"]) or "(no traceback in the page)"
        raise AssertionError(
            f"Run All Cells stopped after {last['done']} of {last['total']} code cells;"
            f" prompts: {last['prompts']}\nerrors shown in the last cell that ran:\n{errors}"
        )
    return last


# Bytes of each image: an <img> element itself (ipywidgets Image, whose src is a blob: URL) or the
# first <img> inside it (an Output area showing a PNG as a data: URL). fetch() reads both.
_IMAGE_BYTES_JS = """
async (elements) => Promise.all(elements.map(async (el) => {
  const img = el.tagName === 'IMG' ? el : el.querySelector('img');
  if (!img || !img.src) return null;
  const response = await fetch(img.src);
  const bytes = new Uint8Array(await response.arrayBuffer());
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}))
"""


_IMAGES_LOADED_JS = """
(elements) => elements.length > 0 && elements.every((el) => {
  const img = el.tagName === 'IMG' ? el : el.querySelector('img');
  return img && img.complete && img.naturalWidth > 0;
})
"""


def wait_for_images_loaded(page, locator, timeout_s: float) -> None:
    """Wait until every element the locator matches shows a decoded (loaded, non-empty) image."""
    deadline = time.monotonic() + timeout_s
    while not locator.evaluate_all(_IMAGES_LOADED_JS):
        if time.monotonic() > deadline:
            raise TimeoutError(f"images not loaded within {timeout_s:.0f} s: {locator}")
        page.wait_for_timeout(250)  # poll interval


def image_bytes(locator) -> list[bytes | None]:
    """The encoded image bytes shown by each element the locator matches (None: no image)."""
    encoded = locator.evaluate_all(_IMAGE_BYTES_JS)
    return [None if item is None else base64.b64decode(item) for item in encoded]


def save_artifact(name: str, content: str | bytes) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def copy_artifact(source: Path, name: str) -> Path | None:
    if not source.exists():
        return None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(source, ARTIFACTS / name))
