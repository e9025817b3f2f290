"""Large corpora: tokenize once into a ``uint16`` token file, then train from it through ``np.memmap``.

The-verdict fits in memory a thousand times over; a real pretraining corpus does not.
``prepare_corpus`` turns a text file or a folder of ``.txt`` files into one binary file of
GPT-2 token IDs (2 bytes each: all 50,257 IDs fit in 16 bits) plus a small JSON file
describing it, tokenizing pieces of text in several processes. ``TokenFileDataset`` reads
windows straight from that file with ``np.memmap``: the operating system pages in only
what a batch needs, so memory stays flat whatever the corpus size.

A text tokenizes here exactly as ``train_val_loaders`` tokenizes it (and as the book does, with
``allowed_special={"<|endoftext|>"}``): a literal ``<|endoftext|>`` in the text is token 50256
on both paths. ``prepare_corpus`` never writes over its input or over a file it did not
write (unless ``force=True``), and an error leaves no partial file behind.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from .data import num_windows
from .errors import ChecksumError, DataNotFoundError, FileKindError, NotEnoughDataError
from .safe_io import atomic_write, check_output_file, read_utf8_text
from .tokenizer import ENDOFTEXT, ENDOFTEXT_ID, get_tokenizer
from .validation import check_int, check_interval, check_path, check_str

TOKEN_DTYPE = np.uint16
FORMAT = "gptedu-tokens-v1"

# A piece boundary sits between a non-space character and a line break: no pattern of GPT-2's
# pre-tokenizer matches across such a place, so tokenizing the pieces separately gives exactly
# the tokens of the whole text (tests/test_corpus.py checks this). Cutting *after* the line
# break would not work: "\n\n" at the end of a piece is one token, two tokens before a letter.
_BOUNDARY = re.compile(r"(?<=\S)(?=\n)")


def _text_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if source.is_dir():
        files = sorted(p for p in source.rglob("*.txt") if p.is_file())
        if files:
            return files
        raise DataNotFoundError(f"The folder {source} contains no .txt files. Point prepare at a text file or a folder of .txt files.")
    raise DataNotFoundError(f"No file or folder at {source}. Check the path.")


def split_into_pieces(text: str, piece_chars: int = 1 << 20) -> list[str]:
    """Cut ``text`` into pieces of about ``piece_chars`` characters that tokenize independently.

    Cuts only where a line break follows a non-space character, so the concatenated token
    IDs of the pieces equal those of the whole text. A text without such a place stays in
    one piece.
    """
    check_str("text", text, "Read a file with gptedu.load_text.")
    check_int("piece_chars", piece_chars, 1)
    pieces, start = [], 0
    while len(text) - start > piece_chars:
        match = _BOUNDARY.search(text, start + piece_chars)
        if match is None:
            break
        pieces.append(text[start : match.start()])
        start = match.start()
    pieces.append(text[start:])
    return pieces


def _iter_pieces(files: list[Path], piece_chars: int, separate_documents: bool) -> Iterator[tuple[str, bool]]:
    for path in files:
        pieces = split_into_pieces(read_utf8_text(path), piece_chars)  # not UTF-8: TextEncodingError naming the byte
        for i, piece in enumerate(pieces):
            yield piece, separate_documents and i == len(pieces) - 1


def encode_text(text: str) -> list[int]:
    """GPT-2's token IDs of ``text``, a literal ``<|endoftext|>`` being token 50256: the one tokenization of gptedu.

    The book calls ``tokenizer.encode(text, allowed_special={"<|endoftext|>"})``, and so do
    ``GPTDatasetV1`` and ``train_val_loaders``; the token-file path uses the same call, so a
    text gives the same IDs whichever way it is trained on.
    """
    return get_tokenizer().encode(text, allowed_special={ENDOFTEXT})


def _encode_piece(job: tuple[str, bool]) -> np.ndarray:
    piece, end_of_document = job
    ids = encode_text(piece)
    if end_of_document:
        ids.append(ENDOFTEXT_ID)  # marks where one document ends and the next begins
    return np.asarray(ids, dtype=TOKEN_DTYPE)


def prepare_corpus(
    source: str | os.PathLike,
    output: str | os.PathLike,
    num_workers: int | None = None,
    piece_chars: int = 1 << 20,
    separate_documents: bool = True,
    progress: bool = True,
    force: bool = False,
) -> dict:
    """Tokenize a text file or a folder of ``.txt`` files into ``output`` (uint16 token IDs) and ``output.json``.

    ``num_workers`` processes (default: all CPU cores) tokenize pieces of about
    ``piece_chars`` characters; the pieces are written in order. With
    ``separate_documents`` an ``<|endoftext|>`` token follows each file. Refuses to write
    over a source file (by any path), and over an existing file that ``prepare_corpus`` did
    not write unless ``force=True``. Returns the metadata written to the JSON file.
    """
    from tqdm.auto import tqdm

    files = _text_files(check_path("source", source))
    if num_workers is None:
        num_workers = os.cpu_count() or 1
    check_int("num_workers", num_workers, 1, "Pass None for all CPU cores.")
    check_int("piece_chars", piece_chars, 1)
    output = check_path("output", output)
    description = Path(str(output) + ".json")
    check_output_file(output, files, force, ours=is_token_file)  # the text is never replaced by its own token IDs
    check_output_file(description, files, force, ours=_is_description)
    for path in files:  # before any progress bar or worker starts, so the error is the only thing printed
        _check_utf8(path)
    total_chars = sum(p.stat().st_size for p in files)
    state = {"num_tokens": 0}

    def write_tokens(temporary: Path) -> None:
        jobs = _iter_pieces(files, piece_chars, separate_documents)
        if num_workers == 1:
            pool, results = None, map(_encode_piece, jobs)
        else:
            get_tokenizer()  # load it once here, so forked workers inherit it
            # Linux: fork (workers start at once, sharing the loaded modules: measured 1.71x with 2 workers against
            # 1.36x with spawn). Elsewhere spawn, the safe choice on macOS and the only one on Windows. The pool is
            # started before the progress bar, whose monitor thread must not be running when the process forks.
            pool = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn").Pool(num_workers)
            results = pool.imap(_encode_piece, jobs, chunksize=1)  # a file that is not UTF-8: its error comes back here
        try:
            with open(temporary, "wb") as out, tqdm(total=total_chars, unit="B", unit_scale=True, desc="Tokenizing",
                                                    disable=not progress) as bar:
                for ids in results:
                    out.write(ids.tobytes())
                    state["num_tokens"] += len(ids)
                    bar.update(min(piece_chars, bar.total - bar.n))
        finally:
            if pool is not None:
                pool.terminate()  # all results are in, or an error (Ctrl-C) stops the workers at once
                pool.join()

    atomic_write(output, write_tokens)  # an error or Ctrl-C removes the partial file; the old output stays
    meta = {"format": FORMAT, "dtype": "uint16", "tokenizer": "gpt2", "num_tokens": state["num_tokens"],
            "files": [str(p) for p in files]}
    atomic_write(description, lambda temporary: temporary.write_text(json.dumps(meta, indent=2) + "\n"))
    return meta


def _check_utf8(path: Path, block: int = 1 << 24) -> None:
    """Raise ``TextEncodingError`` (from ``read_utf8_text``, naming the byte) if ``path`` is not UTF-8.

    Reads the file in 16 MiB blocks through an incremental decoder: a pass that costs far less than
    tokenizing it, so a bad byte at the end of a large corpus is found before any work is done.
    """
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as file:
            while chunk := file.read(block):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        read_utf8_text(path)  # raises the error that names the byte, its offset and its line
        raise  # pragma: no cover (read_utf8_text always raises on the same bytes)


def _is_description(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("format") == FORMAT
    except (ValueError, OSError, AttributeError):
        return False


def open_token_file(path: str | os.PathLike) -> np.memmap:
    """Open a file written by ``prepare_corpus`` as a read-only ``np.memmap`` of uint16 token IDs."""
    path = check_path("path", path)
    if path.is_dir():
        raise FileKindError(f"{path} is a folder, not a token file. Pass the file that `gptedu prepare` wrote.")
    if not path.is_file():
        raise DataNotFoundError(f"No token file at {path}. Create it with `gptedu prepare TEXT_OR_FOLDER {path}`.")
    if path.stat().st_size == 0:
        raise NotEnoughDataError(f"{path} is empty: it holds no tokens. Prepare it again from a text that is not empty.")
    if path.stat().st_size % np.dtype(TOKEN_DTYPE).itemsize:
        raise ChecksumError(f"{path} has an odd number of bytes, so it is not a uint16 token file (truncated?). Prepare it again.")
    return np.memmap(path, dtype=TOKEN_DTYPE, mode="r")


class TokenFileDataset(Dataset):
    """The windows of ``GPTDatasetV1``, read from a token file on disk instead of from memory.

    Window ``i`` holds tokens ``[i*stride, i*stride + max_length)`` and its target is shifted by
    one, exactly as in the seed's dataset. Only the requested window is read from disk.
    ``start`` and ``end`` restrict it to a range of the file's tokens (a train/validation split).
    """

    def __init__(self, path: str | os.PathLike, max_length: int, stride: int | None = None,
                 start: int = 0, end: int | None = None) -> None:
        check_int("max_length", max_length, 1)
        stride = max_length if stride is None else check_int("stride", stride, 1)
        check_int("start", start, 0)
        if end is not None:
            check_int("end", end, start, "end is the index after the last token to use, at least start.")
        self.path = Path(path)
        self.tokens = open_token_file(path)[start:end]  # a view: tokens [start, end) of the file, still on disk
        self.max_length = max_length
        self.stride = stride
        if len(self) == 0:
            raise NotEnoughDataError(
                f"max_length={max_length} needs at least {max_length + 1} tokens; {path} holds {len(self.tokens)}. "
                "Lower max_length or prepare more text."
            )

    def __len__(self) -> int:
        return num_windows(len(self.tokens), self.max_length, self.stride)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= idx < len(self):
            raise IndexError(f"window {idx} out of range for a dataset of {len(self)} windows")
        start = idx * self.stride
        window = self.tokens[start : start + self.max_length + 1]
        if int(window.max()) > ENDOFTEXT_ID:  # a uint16 reaches 65535; GPT-2's embedding has 50,257 rows
            raise FileKindError(
                f"{self.path} holds token ID {int(window.max())} near token {start:,}, outside GPT-2's vocabulary "
                f"(0 to {ENDOFTEXT_ID}): it is not a token file that `gptedu prepare` wrote. Prepare it again from the text.")
        chunk = torch.from_numpy(window.astype(np.int64))  # (max_length + 1,)
        return chunk[:-1], chunk[1:]


def create_token_file_loader(
    path: str | os.PathLike,
    batch_size: int,
    max_length: int,
    stride: int | None = None,
    shuffle: bool = True,
    num_samples: int | None = None,
    drop_last: bool = True,
    num_workers: int = 0,
) -> DataLoader:
    """Return a loader of ``(inputs, targets)`` batches from a token file, sequential or in random order.

    ``shuffle=True`` visits windows in random order; with ``num_samples`` it draws that many
    windows at random (with replacement) per pass, for corpora too large to go through once.
    """
    check_int("batch_size", batch_size, 1)
    if num_samples is not None:
        check_int("num_samples", num_samples, 1, "Pass None to visit every window once per pass.")
    dataset = TokenFileDataset(path, max_length, stride)
    sampler = RandomSampler(dataset, replacement=True, num_samples=num_samples) if num_samples else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      drop_last=drop_last, num_workers=num_workers)


def is_token_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is a token file written by ``gptedu prepare`` (it has the JSON description beside it)."""
    description = Path(str(path) + ".json")
    if not Path(path).is_file() or not description.is_file():
        return False
    try:
        return json.loads(description.read_text()).get("format") == FORMAT
    except (ValueError, OSError):
        return False


def token_file_loaders(path: str | os.PathLike, context_length: int, batch_size: int = 2,
                       train_ratio: float = 0.90) -> tuple[DataLoader, DataLoader]:
    """The seed's two loaders over a token file: its first ``train_ratio`` of tokens for training, the rest for validation.

    As ``train_val_loaders`` does for a text: windows of ``context_length`` tokens with stride
    ``context_length``, the training loader shuffled without its last incomplete batch. The
    windows are read from disk through ``np.memmap`` as they are needed, so memory stays flat.
    """
    check_int("context_length", context_length, 1)
    check_int("batch_size", batch_size, 1)
    check_interval("train_ratio", train_ratio, 0, 1, low_open=True, high_open=True, hint="The seed uses 0.90.")
    num_tokens = len(open_token_file(path))
    split = int(train_ratio * num_tokens)
    parts = {"training": (0, split), "validation": (split, num_tokens)}
    for name, (start, end) in parts.items():
        if end - start <= context_length:
            raise NotEnoughDataError(
                f"The {name} part of {path} ({end - start} of its {num_tokens} tokens, train_ratio={train_ratio}) needs "
                f"at least {context_length + 1} tokens for context_length={context_length}. Lower context_length, "
                "change train_ratio or prepare more text.")
    train_set, val_set = (TokenFileDataset(path, context_length, context_length, start, end) for start, end in parts.values())
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True),
            DataLoader(val_set, batch_size=batch_size, shuffle=False, drop_last=False))


def count_window_tokens(loader: DataLoader, context_length: int) -> int:
    """Input tokens in one pass over a loader of full windows (as ``count_tokens``, without reading the data)."""
    windows = len(loader) * loader.batch_size if loader.drop_last else len(loader.dataset)
    return windows * context_length


def add_prepare_command(commands) -> None:
    """Add the ``prepare`` subcommand (tokenize a large corpus into a token file) to the ``gptedu`` parser."""
    prepare = commands.add_parser("prepare", help="tokenize a text file or a folder of .txt files into a uint16 token file",
                                  description="Tokenize once, train from disk: see gptedu/corpus.py.")
    prepare.add_argument("source", help="a UTF-8 text file, or a folder searched for .txt files")
    prepare.add_argument("output", help="the token file to write (a .json description is written beside it)")
    prepare.add_argument("--workers", type=int, default=None, help="tokenizing processes (default: all CPU cores)")
    prepare.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    prepare.add_argument("--force", action="store_true",
                         help="replace OUTPUT even if it is not a token file that gptedu prepare wrote (never the source itself)")


def run_prepare(args) -> None:
    """Run ``gptedu prepare`` with parsed arguments and print what was written."""
    if args.workers is not None:
        check_int("--workers", args.workers, 1, "Leave it out to use all CPU cores.")
    meta = prepare_corpus(args.source, args.output, num_workers=args.workers, progress=not args.no_progress, force=args.force)
    print(f"Wrote {meta['num_tokens']:,} tokens from {len(meta['files'])} file(s) to {args.output}.")
