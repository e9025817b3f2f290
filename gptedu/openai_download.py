"""Download OpenAI's original GPT-2 checkpoint: seven files per size, resumable, size-checked (notebook 07).

OpenAI published each size as ``checkpoint``, ``encoder.json``, ``hparams.json``,
``model.ckpt.data-00000-of-00001``, ``model.ckpt.index``, ``model.ckpt.meta`` and ``vocab.bpe``.
``download_openai_gpt2("124M")`` puts them in ``<gptedu cache>/gpt2/124M`` (the book's
``models_dir/124M``). Each file is written to ``<name>.part`` first: an interrupted download
resumes where it stopped (an HTTP ``Range`` request) and a file is renamed into place only
when its size equals the server's and, where known, the published size. Corruption inside a
complete file is caught later by the checkpoint's own CRC32C checksums (``tf_checkpoint``).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from .download import cache_dir
from .errors import ChecksumError, DataNotFoundError

OPENAI_BASE_URL = "https://openaipublic.blob.core.windows.net/gpt-2/models"
OPENAI_FILES = ("checkpoint", "encoder.json", "hparams.json", "model.ckpt.data-00000-of-00001",
                "model.ckpt.index", "model.ckpt.meta", "vocab.bpe")
_KNOWN_SIZES = {"encoder.json": 1_042_301, "vocab.bpe": 456_318}  # the same for every size


def expected_size(filename: str, model_size: str) -> int | None:
    """The published size in bytes of one checkpoint file, where it is known in advance."""
    from .pretrained import GPT2_PARAMETER_COUNTS, gpt2_size_name

    if filename == "model.ckpt.data-00000-of-00001":  # every weight once, as float32
        return 4 * GPT2_PARAMETER_COUNTS[gpt2_size_name(model_size)]
    return _KNOWN_SIZES.get(filename)


def fetch_with_resume(url: str, target: Path, size: int | None = None, progress: bool = True,
                      timeout: float = 30.0, attempts: int = 3) -> Path:
    """Download ``url`` to ``target``, resuming a ``.part`` file left by an earlier attempt.

    Raises ``DataNotFoundError`` when the server cannot be reached (the ``.part`` file is kept
    for next time) and ``ChecksumError`` when the finished file has the wrong size.
    """
    if target.is_file() and (size is None or target.stat().st_size == size):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    for _ in range(attempts):
        done = partial.stat().st_size if partial.is_file() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                resumed = response.status == 206
                total = int(response.headers.get("Content-Length", 0)) + (done if resumed else 0) or None
                if size is not None and total is not None and total != size:
                    raise ChecksumError(f"{url} has {total:,} bytes; the published {target.name} has {size:,}. "
                                        "The server sent a different file: check the URL.")
                _copy(response, partial, "ab" if resumed else "wb", done if resumed else 0, total, target.name, progress)
        except urllib.error.HTTPError as error:
            if error.code == 416:  # the range starts at or past the end: start afresh
                partial.unlink(missing_ok=True)
                continue
            raise DataNotFoundError(f"Could not download {url}: HTTP {error.code}. Check the model size and the URL.") from error
        except (urllib.error.URLError, OSError) as error:
            raise DataNotFoundError(
                f"Could not download {url} ({error}). If this machine is offline, download the seven files of "
                f"OpenAI's checkpoint elsewhere (`gptedu download SIZE --source openai`) and copy them to "
                f"{target.parent}; a partial download is kept and resumed next time."
            ) from error
        got = partial.stat().st_size
        if total is None or got == total:
            if size is not None and got != size:
                partial.unlink()
                raise ChecksumError(f"{target.name} from {url} has {got:,} bytes, expected {size:,}: deleted. Run this again.")
            os.replace(partial, target)
            return target
        # a short read (connection cut): loop and resume from what we have
    raise ChecksumError(f"The download of {url} kept stopping early; {partial} holds what arrived. Run this again to resume.")


def _copy(response, partial: Path, mode: str, done: int, total: int | None, name: str, progress: bool) -> None:
    from tqdm.auto import tqdm

    with open(partial, mode) as file, tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=name,
                                           disable=not progress) as bar:
        for block in iter(lambda: response.read(1 << 20), b""):
            file.write(block)
            bar.update(len(block))


def download_openai_gpt2(model_size: str = "124M", models_dir: str | os.PathLike | None = None,
                         base_url: str | None = None, progress: bool = True) -> Path:
    """Download (or find) OpenAI's checkpoint of a GPT-2 size; return its folder.

    ``models_dir`` defaults to ``<gptedu cache>/gpt2``; ``base_url`` to OpenAI's server (or
    ``$GPTEDU_OPENAI_URL``, for a local mirror).
    """
    from .pretrained import gpt2_size_name

    short = gpt2_size_name(model_size).split("(")[1].rstrip(")")
    folder = Path(models_dir or cache_dir() / "gpt2") / short
    base = (base_url or os.environ.get("GPTEDU_OPENAI_URL") or OPENAI_BASE_URL).rstrip("/")
    for filename in OPENAI_FILES:
        fetch_with_resume(f"{base}/{short}/{filename}", folder / filename, expected_size(filename, short), progress)
    return folder
