"""Downloading files once, verifying them, and finding them again offline.

gptedu keeps what it downloads in one cache folder: ``$GPTEDU_CACHE_DIR`` if set, else
``gptedu`` under the user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``). Every
file has a published SHA-256; a download is written to a temporary file, checked, then
renamed into place, so a broken connection never leaves a corrupt file behind. When the
machine is offline and the file is not cached, the error says which file to put where.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from .errors import ArgumentTypeError, ChecksumError, ConfigError, DataNotFoundError
from .validation import check_float, check_text

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def cache_dir() -> Path:
    """Return gptedu's cache folder (``$GPTEDU_CACHE_DIR``, else ``~/.cache/gptedu``), not creating it."""
    configured = os.environ.get("GPTEDU_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gptedu"


def sha256_of(path: str | os.PathLike) -> str:
    """Return the SHA-256 of a file as 64 hex digits, reading it in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(url: str, filename: str, sha256: str, timeout: float = 30.0) -> Path:
    """Return the path of ``filename`` in the cache, downloading it from ``url`` if needed.

    A cached file is used only if its SHA-256 equals ``sha256``; a mismatching one is
    downloaded again. Raises ``DataNotFoundError`` (offline, not cached: says where to put
    the file) or ``ChecksumError`` (the download is not the published file). An error, or
    Ctrl-C, during the download removes the partial file.
    """
    check_text("url", url)
    check_text("filename", filename)
    if Path(filename).name != filename or filename in (".", ".."):
        raise ConfigError(f"filename must be a plain file name, without folders; got {filename!r}. It names the file in the cache.")
    if not isinstance(sha256, str):
        raise ArgumentTypeError(f"sha256 must be a str of 64 hexadecimal digits; got {sha256!r} ({type(sha256).__name__}).")
    if not _SHA256_HEX.fullmatch(sha256.lower()):
        raise ConfigError(f"sha256 must be 64 hexadecimal digits (a SHA-256); got {sha256!r}.")
    sha256 = sha256.lower()
    check_float("timeout", timeout, positive=True, hint="It is in seconds.")
    target = cache_dir() / filename
    if target.is_file():
        if sha256_of(target) == sha256:
            return target
        target.unlink()  # corrupt or outdated: fetch a fresh copy below
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        _fetch_verified(url, filename, sha256, timeout, partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)  # a cut connection, a wrong hash or Ctrl-C: no half file left in the cache
        raise
    os.replace(partial, target)
    return target


def _fetch_verified(url: str, filename: str, sha256: str, timeout: float, partial: Path, target: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as file:
            shutil.copyfileobj(response, file)
    except (urllib.error.URLError, OSError) as error:
        raise DataNotFoundError(
            f"Could not download {filename} from {url} ({error}). If this machine is offline, "
            f"copy the file from a machine that has it to {target} (or set GPTEDU_CACHE_DIR to "
            "a folder that holds it) and run this again."
        ) from error
    actual = sha256_of(partial)
    if actual != sha256:
        raise ChecksumError(
            f"The download of {filename} from {url} has SHA-256 {actual}, expected {sha256}: "
            "the connection was cut or the file changed. Run this again; if it keeps failing, "
            f"download it by hand and put it at {target}."
        )
