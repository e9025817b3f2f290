"""GPT-2 from the Hugging Face hub: download once, verify, find again offline (notebook 07).

``huggingface_hub`` does the downloading: it keeps files in its cache (``HF_HUB_CACHE``, by
default ``~/.cache/huggingface/hub``), resumes interrupted downloads and, with
``HF_HUB_OFFLINE=1``, only looks in the cache. gptedu adds two things:

- verification: the hub stores each weights file under its SHA-256 (``blobs/<sha256>``), so a
  truncated or corrupt file is recognised, deleted and fetched again instead of being loaded;
- an actionable error when the weights are neither cached nor downloadable: what to download,
  where to put it, and how a teacher prefetches them for a classroom (``gptedu download``).
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from .download import cache_dir, sha256_of
from .errors import ChecksumError, DataNotFoundError


def _hf_cache_folder() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _missing_message(repo: str, filename: str, size: str, reason: str) -> str:
    return (
        f"Could not get {filename} of {repo} ({reason}). "
        f"{'HF_HUB_OFFLINE=1 is set' if _offline() else 'This machine cannot reach huggingface.co'} and the file is not "
        f"in the Hugging Face cache ({_hf_cache_folder()}). Either:\n"
        f"  - on a machine with internet, run `gptedu download {size}`, then copy the folder "
        f"models--{repo.replace('/', '--')} of its Hugging Face cache into this machine's cache "
        "(a teacher can prefetch once for a classroom and share that cache folder: set HF_HUB_CACHE to it);\n"
        f"  - or download https://huggingface.co/{repo}/resolve/main/model.safetensors and config.json into one "
        f"folder and call load_gpt2({size!r}, source='that/folder')."
    )


def _safetensors_size_ok(path: Path) -> bool:
    """Cheap check: does the file end exactly where its header says the last tensor ends?"""
    try:
        with open(path, "rb") as file:
            (header_len,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(header_len))
    except (OSError, ValueError, struct.error):
        return False
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    return path.stat().st_size == 8 + header_len + end


def _verify(path: Path) -> bool:
    """True if the cached file is complete and, when named by its SHA-256 (hub blobs are), matches it.

    The full SHA-256 is computed once per file; a small marker in gptedu's cache remembers it.
    """
    blob = path.resolve()
    if not _safetensors_size_ok(blob):
        return False
    if not re.fullmatch(r"[0-9a-f]{64}", blob.name):
        return True
    stat = blob.stat()
    marker = cache_dir() / "verified" / blob.name
    stamp = f"{stat.st_size} {stat.st_mtime_ns}"
    if marker.is_file() and marker.read_text() == stamp:
        return True
    if sha256_of(blob) != blob.name:
        return False
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(stamp)
    except OSError:
        pass  # a read-only cache: verify again next time
    return True


def hf_file(repo: str, filename: str, size: str, force_download: bool = False) -> Path:
    """Path of ``filename`` of ``repo`` in the hub cache, downloading it if needed and allowed."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename, force_download=force_download))
    except Exception as error:  # LocalEntryNotFoundError, HTTP and connection errors
        raise DataNotFoundError(_missing_message(repo, filename, size, f"{type(error).__name__}: {str(error).splitlines()[0]}")) from error


def hf_weights_path(model_size: str) -> Path:
    """Return the verified ``model.safetensors`` of a GPT-2 size, from the hub cache or downloaded.

    A corrupt or truncated cached file is deleted and downloaded again (``ChecksumError`` if
    that is impossible offline, or if the fresh download is corrupt too).
    """
    from .pretrained import HF_REPOS, gpt2_size_name

    size = gpt2_size_name(model_size)
    short = size.split("(")[1].rstrip(")")
    repo = HF_REPOS[size]
    hf_file(repo, "config.json", short)
    path = hf_file(repo, "model.safetensors", short)
    if _verify(path):
        return path
    blob = path.resolve()
    blob.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    if _offline():
        raise ChecksumError(
            f"The cached {repo}/model.safetensors was corrupt or truncated, so gptedu deleted it ({blob}). "
            f"Unset HF_HUB_OFFLINE and run this again to download it afresh, or run `gptedu download {short}` "
            "on a machine with internet and copy the file here."
        )
    path = hf_file(repo, "model.safetensors", short, force_download=True)
    if not _verify(path):
        raise ChecksumError(f"The fresh download of {repo}/model.safetensors is corrupt too ({path.resolve()}). "
                            "Check the disk and the connection, then run this again.")
    return path
