"""The training loops' progress bar: one text line that updates in place, in a terminal and in a notebook.

In a terminal it is tqdm's usual bar. In Jupyter and Colab it is the same line of text shown as a
display that the bar updates in place (no widget), so a saved notebook keeps the bar's final state,
``Training: 100%|██████████| 90/90 [06:42<00:00, ...]``, where a tqdm widget would show a frozen
"0%" on GitHub or in a kernel without ipywidgets. Lines printed during training (the loss lines,
the samples) go below it as ordinary output.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.std import tqdm

from .distributed import is_main_process


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")  # a Jupyter or Colab kernel, not a terminal IPython


class _DisplayLine:
    """A file-like target for tqdm that shows the latest bar text as one updatable notebook display."""

    def __init__(self) -> None:
        self.handle = None

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if not line:
            return  # tqdm clears its line with spaces before a tqdm.write; keep the last state instead
        from IPython.display import display

        shown = {"text/plain": line}
        if self.handle is None:
            self.handle = display(shown, raw=True, display_id=True)
        else:
            self.handle.update(shown, raw=True)

    def flush(self) -> None:
        pass


class ProgressBar:
    """A progress bar over ``total`` steps; ``enabled=False`` shows nothing (``progress=False``, torchrun's other ranks)."""

    def __init__(self, total: int, initial: int = 0, desc: str = "Training", unit: str = "step", enabled: bool = True) -> None:
        self.in_notebook = enabled and _in_notebook()
        file = _DisplayLine() if self.in_notebook else sys.stderr
        # A notebook display has no terminal width to follow: a fixed 90 characters fits JupyterLab and Colab.
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, file=file,
                        ncols=90 if self.in_notebook else None, dynamic_ncols=not self.in_notebook,
                        ascii=False if self.in_notebook else None)  # block characters, as a widget would draw

    def update(self, **postfix: Any) -> None:
        """Count one step and show ``postfix`` (for example ``loss="3.921"``) after the bar."""
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def write(self, line: str) -> None:
        """Print ``line`` without breaking the bar (in a terminal the bar moves below it)."""
        if self.in_notebook or self.bar.disable:
            print(line)
        else:
            self.bar.write(line)

    def close(self) -> None:
        """Show the final state (steps done, time taken) and stop updating."""
        self.bar.close()


def print_line(line: str) -> None:
    """``print(line)``, on the main process only (torchrun) and without breaking a progress bar in a terminal."""
    if is_main_process():
        tqdm.write(line)  # a terminal bar steps aside for the line; a notebook bar is a display of its own
