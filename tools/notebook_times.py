"""Print how long each notebook took under nbval, from the JUnit report `make test` writes.

    .venv/bin/python tools/notebook_times.py .cache/junit.xml

Each nbval test is one cell; the sum per notebook is the time to run it top to bottom in a fresh
kernel (kernel start-up included in its first cell). TEACHING.md and the README quote these sums.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def notebook_times(path: str) -> dict[str, float]:
    """Seconds per notebook file, summed over its cells, in the order the report lists them."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(path).iter("testcase"):
        name = case.get("classname", "") + "::" + case.get("name", "")
        if ".ipynb" not in case.get("classname", ""):  # an nbval cell; a test *named* after a notebook is not one
            continue
        notebook = name.split(".ipynb")[0].replace(".", "/").split("/")[-1] + ".ipynb"
        if "quick" in name.split(".ipynb")[0].replace(".", "/").split("/")[:-1]:
            notebook = "QUICK " + notebook  # tools/quick_notebooks.py's copy
        totals[notebook] += float(case.get("time", 0))
    return dict(totals)


def main() -> None:
    report = sys.argv[1] if len(sys.argv) > 1 else ".cache/junit.xml"
    times = notebook_times(report)
    for notebook, seconds in times.items():
        print(f"{notebook:<58} {seconds / 60:5.1f} min ({seconds:6.1f} s)")
    print(f"{'all notebooks':<58} {sum(times.values()) / 60:5.1f} min")


if __name__ == "__main__":
    main()
