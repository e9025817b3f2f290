"""Crash-safe file writes and checksums for saved models and checkpoints (notebook 06).

A file being written when the power fails, or when the process is killed, must never replace
the last good copy. ``atomic_write`` therefore writes to a temporary file in the same folder,
flushes it to the disk (``os.fsync``), and only then renames it over the target
(``os.replace``, atomic on one file system); finally it syncs the folder so the rename itself
survives a crash. A reader sees either the old file or the new one, never half of one.

``tensor_digest`` is the SHA-256 that gptedu records inside every file it saves: the tensors'
names, types, shapes and bytes, and the JSON metadata. Loading recomputes it, so a flipped
byte or a truncated copy is reported instead of silently training on damaged weights.

``inspect_file`` (and ``describe_file_kind``) tell from a file's first bytes what it is (text,
safetensors, a ``torch.save`` zip, a pickle, random bytes, a truncated copy), so every loader
reports a wrong file as what it is. ``read_utf8_text`` reads text and names the first byte
that is not UTF-8; ``check_output_file`` refuses to write over an input or a foreign file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


# ---------------------------------------------------------------- what a file is, from its bytes


@dataclass(frozen=True)
class FileKind:
    """What ``inspect_file`` found: a ``kind`` for code to branch on and a ``description`` for messages.

    ``kind`` is one of ``"missing"``, ``"folder"``, ``"empty"``, ``"text"``, ``"non-utf8-text"``,
    ``"safetensors"``, ``"truncated-safetensors"``, ``"damaged-safetensors"``, ``"torch-zip"``,
    ``"damaged-zip"``, ``"zip"``, ``"pickle"``, ``"token-file"``, ``"numpy"``, ``"gzip"``,
    ``"hdf5"``, ``"png"`` or ``"binary"``. ``gptedu`` is ``"model"`` or ``"checkpoint"`` for a
    safetensors file that gptedu wrote, else ``None``.
    """

    kind: str
    description: str
    gptedu: str | None = None


_MAX_SAFETENSORS_HEADER = 100_000_000  # the safetensors library refuses larger headers too
_MAGIC = {  # other formats people pass by mistake, told by their first bytes
    b"\x93NUMPY": ("numpy", "a NumPy .npy array file (np.save)"),
    b"\x1f\x8b": ("gzip", "a gzip-compressed file; decompress it first"),
    b"\x89HDF\r\n\x1a\n": ("hdf5", "an HDF5 file (Keras .h5 weights or similar)"),
    b"\x89PNG\r\n\x1a\n": ("png", "a PNG image"),
}


def inspect_file(path: str | os.PathLike) -> FileKind:
    """Tell what ``path`` holds from its first bytes, without unpickling or loading anything.

    Loaders call this before reading, so that a text file, random bytes or a truncated copy is
    reported as what it is, and only a real pickle gets the warning about pickles. It reads
    at most 8 KiB and, for safetensors, the JSON header (whose length the first 8 bytes give).
    """
    path = Path(path)
    if path.is_dir():
        return FileKind("folder", "a folder")
    if not path.is_file():
        return FileKind("missing", "missing (there is no file at that path)")
    size = path.stat().st_size
    if size == 0:
        return FileKind("empty", "an empty file (0 bytes)")
    with open(path, "rb") as file:
        head = file.read(8192)
        safetensors = _inspect_safetensors(file, head, size)
    if safetensors is not None:
        return safetensors
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _inspect_zip(path)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # PROTO opcode: a pickle of protocol 2 to 5
        return FileKind("pickle", "a pickle of Python objects (PyTorch's older torch.save format writes these)")
    for magic, (kind, description) in _MAGIC.items():
        if head.startswith(magic):
            return FileKind(kind, description)
    from .corpus import is_token_file  # not at the top: corpus imports the data modules

    if is_token_file(path):
        return FileKind("token-file", f"a token file written by `gptedu prepare` ({size // 2:,} uint16 token IDs)")
    return _inspect_text(head, size)


def describe_file_kind(path: str | os.PathLike) -> str:
    """A phrase saying what ``path`` holds, for error messages: ``"a text file (it starts with 'Hello')"``.

    The one place gptedu tells file kinds apart (``inspect_file``); every loader puts this
    phrase in its error, so a text file given as weights is called a text file, not a pickle.
    """
    return inspect_file(path).description


def _inspect_safetensors(file, head: bytes, size: int) -> FileKind | None:
    """A safetensors file: 8 bytes of header length N (little-endian), N bytes of JSON, then the tensor bytes."""
    if len(head) < 10 or head[8:9] != b"{":
        return None
    header_len = int.from_bytes(head[:8], "little")
    if not 2 <= header_len <= _MAX_SAFETENSORS_HEADER:
        return None
    if size < 8 + header_len:
        return FileKind("truncated-safetensors", f"a truncated safetensors file (its header alone should take {8 + header_len:,} "
                        f"bytes; the file has {size:,})")
    file.seek(8)
    try:
        header = json.loads(file.read(header_len))
        entries = {name: entry for name, entry in header.items() if name != "__metadata__"}
        data_end = max((int(entry["data_offsets"][1]) for entry in entries.values()), default=0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return FileKind("damaged-safetensors", "a damaged safetensors file (its JSON header cannot be read)")
    expected = 8 + header_len + data_end
    if size < expected:
        return FileKind("truncated-safetensors", f"a truncated safetensors file (its header describes {expected:,} bytes; "
                        f"only {size:,} are there)")
    if size > expected:
        return FileKind("damaged-safetensors", f"a damaged safetensors file ({size - expected:,} bytes more than its header describes)")
    meta = header.get("__metadata__") or {}
    gptedu = None
    if isinstance(meta, dict) and "gptedu" in meta:
        try:
            gptedu = json.loads(meta["gptedu"]).get("kind")
        except (ValueError, AttributeError):
            gptedu = None
    if gptedu == "checkpoint":
        description = f"a gptedu training checkpoint (safetensors, {_tensors(len(entries))})"
    elif gptedu == "model":
        description = f"a gptedu model file (safetensors, {_tensors(len(entries))})"
    else:
        description = f"a safetensors file without gptedu's metadata ({_tensors(len(entries))})"
    return FileKind("safetensors", description, gptedu)


def _inspect_zip(path: Path) -> FileKind:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return FileKind("damaged-zip", "a damaged zip archive (torch.save writes zip archives; this one lacks the table of "
                        "contents stored at the end, as a truncated copy does)")
    if any(name.endswith("data.pkl") for name in names):
        return FileKind("torch-zip", "a PyTorch file written by torch.save (a zip archive holding pickled tensors)")
    listing = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return FileKind("zip", f"a zip archive that torch.save did not write (it holds {listing or 'nothing'})")


def _inspect_text(head: bytes, size: int) -> FileKind:
    cut = len(head) < size  # only the first 8 KiB were read: the last character may be cut in two
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as error:
            if cut and error.start >= len(head) - 3 and error.reason == "unexpected end of data":
                text = head[: error.start].decode("utf-8")
            else:
                controls = sum(byte < 0x20 and byte not in b"\t\n\r\f" or byte == 0x7F for byte in head)
                if controls <= len(head) // 100:  # letters outside ASCII, but no control bytes: text in another encoding
                    return FileKind("non-utf8-text", f"a text file that is not UTF-8 (byte 0x{head[error.start]:02X} at "
                                    f"offset {error.start:,} is not valid UTF-8)")
                text = None
        if text is not None:
            controls = sum(ch < " " and ch not in "\t\n\r\f" for ch in text)
            if controls <= len(text) // 100:
                first_line = text.lstrip().split("\n", 1)[0][:40]
                return FileKind("text", f"a text file (it starts with {first_line!r})")
    return FileKind("binary", f"binary data in no format gptedu knows ({size:,} bytes starting {head[:8].hex(' ')}; "
                    "random bytes, or a damaged or foreign file)")


# ---------------------------------------------------------------- reading text, refusing to overwrite


def read_utf8_text(path: str | os.PathLike) -> str:
    """Return the text of a UTF-8 file, line breaks read as ``open()`` reads them (``\\r\\n`` becomes ``\\n``).

    A file that is not UTF-8 raises ``TextEncodingError`` naming the file, the first byte
    that cannot be decoded (its offset and line) and how to convert the file; a file that is
    not text at all (a token file, weights, random bytes) is called what it is.
    """
    from .errors import TextEncodingError

    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        data = path.read_bytes()  # again, whole: the offset the decoder reported is within one chunk
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        kind = inspect_file(path)
        if kind.kind not in ("text", "non-utf8-text"):
            raise TextEncodingError(f"{path} is {kind.description}, not a UTF-8 text file. Pass a text file.") from None
        line = data.count(b"\n", 0, error.start) + 1
        raise TextEncodingError(
            f"{path} is not UTF-8 text: byte 0x{data[error.start]:02X} at byte offset {error.start:,} (line {line}) is not "
            f"valid UTF-8, so the file was saved in another encoding (often Windows-1252 or Latin-1). Convert it, e.g. "
            f"`iconv -f WINDOWS-1252 -t UTF-8 {path.name} > {path.stem}-utf8{path.suffix}`, and use the converted file."
        ) from None
    raise AssertionError("unreachable: read_text failed but the bytes decode")  # pragma: no cover


def check_output_file(output: str | os.PathLike, inputs: list[Path] | tuple[Path, ...] = (), force: bool = False,
                      ours: Callable[[Path], bool] | None = None) -> Path:
    """Return ``output`` as a ``Path`` if writing it loses nothing; raise a clear error otherwise.

    Refused always: ``output`` is one of ``inputs`` (also through a symlink, a hard link or
    another spelling of the path), or a folder, or inside a file. Refused unless ``force``: an
    existing file that ``ours(output)`` does not recognise as one gptedu wrote.
    """
    from .errors import ConfigError, OverwriteRefusedError

    output = Path(output)
    for source in inputs:
        same = os.path.samefile(output, source) if output.exists() and source.exists() else output.resolve() == source.resolve()
        if same:
            via = "" if output == source else f" (as {source})"
            other = output.with_suffix(".bin") if output.suffix != ".bin" else output.with_name(f"{output.stem}-tokens.bin")
            raise OverwriteRefusedError(
                f"Refused to write {output}: it is the input file itself{via}, which writing would replace and lose. "
                f"Choose another output name, for example {other}."
            )
    if output.is_dir():
        raise ConfigError(f"{output} is a folder; the output must be a file name, for example {output / 'corpus.bin'}.")
    parent = next((p for p in output.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"Cannot write {output}: {parent} is a file, not a folder. Choose an output path in a folder.")
    if output.exists() and not force and not (ours is not None and ours(output)):
        raise OverwriteRefusedError(
            f"Refused to overwrite {output}: it exists and gptedu did not write it; it is {describe_file_kind(output)}. "
            "Choose another output name, or pass force=True (on the command line: --force) to replace it."
        )
    return output


def _tensors(count: int) -> str:
    return f"{count} tensor" + ("" if count == 1 else "s")
