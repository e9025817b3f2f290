"""Small helpers for the notebooks: show a gptedu function's real source code.

The notebooks import tested code from gptedu rather than copying it into cells; where a
student should read an implementation, ``show_source(calc_loss_batch)`` displays the
function exactly as the package runs it, syntax-highlighted in Jupyter and Colab.
"""

from __future__ import annotations

import inspect
from typing import Any

from .errors import ArgumentTypeError
from .validation import short_repr

#: The one place that names the repository: every notebook's "Open in Colab" badge and its install cell use it
#: (tests/test_colab_links.py checks them, and pyproject.toml's Repository URL).
REPOSITORY_URL = "https://github.com/gptedu/gptedu"


def colab_badge(notebook_path: str) -> str:
    """The markdown of the "Open in Colab" badge of ``notebook_path`` (relative to the repository, e.g. ``notebooks/01_...``)."""
    github = REPOSITORY_URL.removeprefix("https://github.com/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{github}/blob/main/{notebook_path})")


def colab_install_source() -> str:
    """The first code cell of every notebook: on Colab it installs gptedu from the repository; elsewhere it does nothing."""
    return ('import sys\nif "google.colab" in sys.modules:  # Colab: install gptedu; locally `make lab` already did\n'
            f'    %pip install -q "gptedu @ git+{REPOSITORY_URL}"')


def show_source(obj: Any) -> Any:
    """Display the source code of a function, class or module, syntax-highlighted in a notebook.

    Returns an ``IPython.display.Code`` object (shown when it is the cell's last value);
    outside IPython it returns the source as a string.
    """
    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as error:  # a number, a built-in, a function typed into a cell
        raise ArgumentTypeError(f"show_source shows the code of a function, class or module of a .py file; got "
                                f"{short_repr(obj)} ({type(obj).__name__}), whose source Python cannot find ({error}).") from None
    try:
        from IPython.display import Code
    except ImportError:  # plain Python: the text itself is the most useful thing to return
        return source
    return Code(source, language="python")
