"""gptedu.notebook: show_source shows the code the package really runs; checkpoint_folder keeps runs on Drive on Colab."""

import inspect
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from gptedu import calc_loss_batch, checkpoint_folder, notebook, show_source
from gptedu.errors import DriveMountError


def test_show_source_returns_syntax_highlighted_code_in_ipython():
    display = pytest.importorskip("IPython.display")
    shown = show_source(calc_loss_batch)
    assert isinstance(shown, display.Code)
    assert shown.data == inspect.getsource(calc_loss_batch)


def test_show_source_returns_the_text_without_ipython(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # as in plain Python without IPython
    assert show_source(calc_loss_batch) == inspect.getsource(calc_loss_batch)
    assert show_source(calc_loss_batch).startswith("def calc_loss_batch(")


# --- checkpoint_folder: Google Drive on Colab, a local folder elsewhere --------------------------------------------------


@pytest.fixture
def fake_colab(monkeypatch, tmp_path):
    """A stand-in for ``google.colab`` whose ``drive.mount`` records its argument and, like Colab, fills ``MyDrive``."""
    mounted = []

    def mount(mountpoint):
        mounted.append(mountpoint)
        (Path(mountpoint) / "MyDrive").mkdir(parents=True, exist_ok=True)

    drive = types.ModuleType("google.colab.drive")
    drive.mount = mount
    colab = types.ModuleType("google.colab")
    colab.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
    monkeypatch.setattr(notebook, "COLAB_DRIVE", tmp_path / "content" / "drive")  # Colab's /content/drive, here
    (tmp_path / "content").mkdir()
    monkeypatch.chdir(tmp_path / "content")  # Colab's working directory, /content
    return SimpleNamespace(drive=drive, mounted=mounted, root=tmp_path / "content" / "drive")


def test_off_colab_checkpoints_go_to_a_relative_local_folder(monkeypatch, tmp_path, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.chdir(tmp_path)
    folder = checkpoint_folder()
    assert folder == Path("checkpoints") and not folder.is_absolute()
    assert (tmp_path / "checkpoints").is_dir()
    assert checkpoint_folder() == folder  # a second call (a rerun cell) finds the folder there
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["Not on Colab: checkpoints go to the local folder 'checkpoints'."] * 2
    assert str(tmp_path) not in "".join(lines)  # no machine path in a committed notebook output


def test_the_default_drive_is_where_colab_mounts_it():
    assert notebook.COLAB_DRIVE == Path("/content/drive")


def test_on_colab_checkpoints_go_to_a_folder_of_google_drive(fake_colab, capsys):
    folder = checkpoint_folder()
    assert fake_colab.mounted == [str(fake_colab.root)]
    assert folder == fake_colab.root / "MyDrive" / "gptedu" and folder.is_dir()
    assert capsys.readouterr().out == f"Colab: checkpoints go to Google Drive, {folder}, and survive a disconnect of the runtime.\n"
    assert checkpoint_folder("gptedu-04") == fake_colab.root / "MyDrive" / "gptedu-04"
    assert not Path("checkpoints").exists()  # nothing on the runtime's own disk


def test_on_colab_without_drive_the_line_says_a_disconnect_loses_the_files(fake_colab, capsys):
    assert checkpoint_folder(use_drive=False) == Path("checkpoints") and Path("checkpoints").is_dir()
    assert fake_colab.mounted == []
    assert "lost when the runtime disconnects" in capsys.readouterr().out


def test_a_refused_mount_says_what_to_do(fake_colab):
    def refuse(mountpoint):
        raise ValueError("mount failed")

    fake_colab.drive.mount = refuse
    with pytest.raises(DriveMountError, match="could not be mounted.*mount failed.*allow access.*use_drive=False"):
        checkpoint_folder()
    assert not (fake_colab.root / "MyDrive").exists()


def test_a_mount_without_my_drive_is_not_taken_for_drive(fake_colab):
    fake_colab.drive.mount = lambda mountpoint: None  # returns, but nothing appeared under the mount point
    with pytest.raises(DriveMountError, match="not mounted.*MyDrive does not exist"):
        checkpoint_folder()
    assert not (fake_colab.root / "MyDrive").exists()  # not created on the runtime's disk in Drive's place
