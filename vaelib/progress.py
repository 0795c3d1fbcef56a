"""``fit``'s progress display: tqdm in a terminal, one line redrawn in place in Jupyter.

In a notebook, tqdm.auto would draw a widget whose saved text is the state at display time (a
bar frozen at 0% in a committed notebook); the line drawn here is saved in its final state.
"""

from __future__ import annotations

import time


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where tqdm.auto would draw a widget)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class _NotebookBar:
    """fit's progress bar in a Jupyter kernel: one text line redrawn in place (``update_display``).

    tqdm's notebook bar is a widget; a saved notebook keeps only the text it had when it was first
    displayed ("0%"), frozen. This bar is a plain ``text/plain`` display updated at most every
    ``interval`` seconds and once when it closes, so a saved notebook (nbclient applies display
    updates) holds the final state. The same interface as the part of tqdm that fit uses.
    """

    def __init__(self, total: int, initial: int, desc: str, interval: float = 0.25):
        from IPython.display import display

        self.total, self.n, self.initial, self.desc, self.postfix = total, initial, initial, desc, ""
        self.interval = interval
        self.start = self.last = time.perf_counter()
        self.handle = display({"text/plain": self._text()}, raw=True, display_id=True)

    def _text(self) -> str:
        from tqdm import tqdm

        return tqdm.format_meter(
            self.n,
            self.total,
            time.perf_counter() - self.start,
            prefix=self.desc,
            unit="step",
            postfix=self.postfix or None,
            initial=self.initial,
        )

    def refresh(self) -> None:
        self.handle.update({"text/plain": self._text()}, raw=True)
        self.last = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.perf_counter() - self.last >= self.interval:
            self.refresh()

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def set_postfix(self, postfix: dict, refresh: bool = False) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in postfix.items())

    def write(self, message: str) -> None:
        print(message)

    def close(self) -> None:
        self.refresh()


def progress_bar(total: int, initial: int, desc: str, enabled: bool):
    if enabled and _in_notebook():
        return _NotebookBar(total, initial, desc)
    from tqdm import tqdm  # text on stderr

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", desc=desc, leave=True)
