"""Small helpers for the notebooks: show a gptedu function's real source code, keep checkpoints where they last.

The notebooks import tested code from gptedu rather than copying it into cells; where a
student should read an implementation, ``show_source(calc_loss_batch)`` displays the
function exactly as the package runs it, syntax-highlighted in Jupyter and Colab.
``checkpoint_folder()`` is where the training notebooks save their runs: Google Drive on Colab,
whose runtimes lose their files when they disconnect, and a local folder elsewhere.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from .errors import ArgumentTypeError, ConfigError, DriveMountError
from .validation import check_bool, check_str, short_repr

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


#: Where Colab mounts Google Drive; the student's own files are in its ``MyDrive`` folder.
COLAB_DRIVE = Path("/content/drive")
#: The folder ``checkpoint_folder`` uses off Colab (or without Drive): relative, in the working directory.
LOCAL_CHECKPOINTS = Path("checkpoints")


def on_colab() -> bool:
    """True inside a Google Colab runtime (its ``google.colab`` module is loaded), as the install cell tests it."""
    return "google.colab" in sys.modules


def checkpoint_folder(name: str = "gptedu", use_drive: bool = True) -> Path:
    """The folder for training checkpoints, created: on Colab a folder of Google Drive, elsewhere ``checkpoints``.

    A Colab runtime loses its files when it disconnects, so on Colab this mounts Google Drive at
    ``/content/drive`` (Colab asks for permission once per session) and returns
    ``/content/drive/MyDrive/<name>``; a run checkpointed there continues after a reconnect with
    ``resume=``. Elsewhere, or with ``use_drive=False``, it returns the relative folder
    ``checkpoints`` of the working directory. It prints one line saying which, and never an absolute
    path of the local machine.
    """
    check_str("name", name, hint='Pass a folder name, for example checkpoint_folder("gptedu").')
    check_bool("use_drive", use_drive, hint="Pass False to keep the checkpoints on the runtime's own disk.")
    if not name.strip() or name != name.strip() or name in (".", "..") or any(sep in name for sep in "/\\"):
        raise ConfigError(f"name must be the name of one folder in your Google Drive, without slashes or surrounding "
                          f'spaces; got {name!r}. For example checkpoint_folder("gptedu") or checkpoint_folder("gptedu-04").')
    if on_colab() and use_drive:
        return _drive_folder(name)
    LOCAL_CHECKPOINTS.mkdir(exist_ok=True)
    where = "Colab without Google Drive" if on_colab() else "Not on Colab"
    lost = ", lost when the runtime disconnects" if on_colab() else ""
    print(f"{where}: checkpoints go to the local folder '{LOCAL_CHECKPOINTS}'{lost}.")
    return LOCAL_CHECKPOINTS


def _drive_folder(name: str) -> Path:
    """Mount Google Drive and return its folder ``name``, created; a refused or failed mount raises ``DriveMountError``."""
    from google.colab import drive  # only on Colab

    try:
        drive.mount(str(COLAB_DRIVE))  # a no-op with a message when Drive is already mounted
    except Exception as error:  # Colab raises ValueError or its own MessageError: a refused access, a timeout
        raise DriveMountError(_mount_advice(f"Google Drive could not be mounted at {COLAB_DRIVE} ({error})")) from error
    my_drive = COLAB_DRIVE / "MyDrive"
    if not my_drive.is_dir():  # creating it ourselves would put the "Drive" checkpoints on the runtime's disk
        raise DriveMountError(_mount_advice(f"Google Drive is not mounted: {my_drive} does not exist"))
    folder = my_drive / name
    folder.mkdir(exist_ok=True)
    print(f"Colab: checkpoints go to Google Drive, {folder}, and survive a disconnect of the runtime.")
    return folder


def _mount_advice(problem: str) -> str:
    return (f"{problem}. Run the cell again and allow access to your Google Drive when Colab asks; or pass "
            "use_drive=False to keep the checkpoints on the runtime's disk, where a disconnect loses them.")


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
