"""Crash-safe file writes and checksums for saved models and checkpoints (notebook 06).

A file being written when the power fails, or when the process is killed, must never replace
the last good copy. ``atomic_write`` therefore writes to a temporary file in the same folder,
flushes it to the disk (``os.fsync``), and only then renames it over the target
(``os.replace``, atomic on one file system); finally it syncs the folder so the rename itself
survives a crash. A reader sees either the old file or the new one, never half of one.

``tensor_digest`` is the SHA-256 that gptedu records inside every file it saves: the tensors'
names, types, shapes and bytes, and the JSON metadata. Loading recomputes it, so a flipped
byte or a truncated copy is reported instead of silently training on damaged weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import torch


def _fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Create ``path`` atomically: ``write(temporary_path)`` writes the content, then it replaces ``path``.

    The temporary file ``.<name>.partial`` lives in the same folder (a rename across file
    systems would not be atomic); a crash leaves at most that file behind, which the next save
    overwrites. Returns ``path`` as a ``Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # the permissions of a file made with open(), whatever the writer chose
        with open(temporary, "rb+") as file:
            file.flush()
            os.fsync(file.fileno())  # the bytes are on the disk before the name points at them
        os.replace(temporary, path)  # atomic: readers see the old file or the new one
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def tensor_digest(tensors: Mapping[str, torch.Tensor], metadata: Mapping) -> str:
    """SHA-256 (hex) of ``tensors`` (names, dtypes, shapes, bytes, in sorted order) and the JSON of ``metadata``."""
    sha = hashlib.sha256()
    sha.update(json.dumps(metadata, sort_keys=True).encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        sha.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            sha.update(tensor.reshape(-1).view(torch.uint8).numpy())  # the raw bytes, no copy
    return sha.hexdigest()


def file_size_mb(path: str | os.PathLike) -> float:
    """Size of a file in megabytes (10^6 bytes), as operating systems and the seed's remark count them."""
    return Path(path).stat().st_size / 1e6
