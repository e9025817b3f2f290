"""Small helpers for the notebooks: show a gptedu function's real source code.

The notebooks import tested code from gptedu rather than copying it into cells; where a
student should read an implementation, ``show_source(calc_loss_batch)`` displays the
function exactly as the package runs it, syntax-highlighted in Jupyter and Colab.
"""

from __future__ import annotations

import inspect
from typing import Any


def show_source(obj: Any) -> Any:
    """Display the source code of a function, class or module, syntax-highlighted in a notebook.

    Returns an ``IPython.display.Code`` object (shown when it is the cell's last value);
    outside IPython it returns the source as a string.
    """
    source = inspect.getsource(obj)
    try:
        from IPython.display import Code
    except ImportError:  # plain Python: the text itself is the most useful thing to return
        return source
    return Code(source, language="python")
