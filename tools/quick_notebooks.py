"""Write copies of the training notebooks with their ``QUICK`` switch turned on, for nbval to run.

    .venv/bin/python tools/quick_notebooks.py .cache/quick            # 04, 05 and 06
    .venv/bin/python tools/quick_notebooks.py .cache/quick 06         # only notebook 06

Notebooks 04, 05 and 06 start with ``QUICK = False``: the committed outputs are those of the
full run. With ``QUICK = True`` they train a smaller model for fewer steps and finish in under
2 minutes on a laptop CPU; every output that depends on the switch is marked
``# NBVAL_IGNORE_OUTPUT`` and the visible checks print the same line either way, so nbval can
compare the quick run against the committed full one. ``make test`` runs the copies this
writes (the full notebook 04 runs under ``make test-full``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
QUICK_NOTEBOOKS = ("04", "05", "06")
SWITCH = re.compile(r"^QUICK = False\b", re.MULTILINE)


def quick_copy(source: Path, target_dir: Path) -> Path:
    """Write ``source`` into ``target_dir`` with its one ``QUICK = False`` line set to ``QUICK = True``."""
    notebook = nbformat.read(source, as_version=4)
    switches = [cell for cell in notebook.cells if cell.cell_type == "code" and SWITCH.search(cell.source)]
    if len(switches) != 1:
        raise SystemExit(f"{source.name}: expected exactly one code cell with a line `QUICK = False`, "
                         f"found {len(switches)}; the quick run needs the switch in one place.")
    switches[0].source = SWITCH.sub("QUICK = True", switches[0].source, count=1)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    nbformat.write(notebook, target)
    return target


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    target_dir, numbers = Path(argv[0]), argv[1:] or list(QUICK_NOTEBOOKS)
    for number in numbers:
        matches = sorted(NOTEBOOKS.glob(f"{number}_*.ipynb"))
        if len(matches) != 1:
            raise SystemExit(f"No single notebook {number}_*.ipynb in {NOTEBOOKS}; choose among {QUICK_NOTEBOOKS}.")
        print("Quick copy:", quick_copy(matches[0], target_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
