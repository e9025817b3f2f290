"""Text corpora, the sliding-window dataset and the data loaders (notebook 03).

``GPTDatasetV1`` and ``create_dataloader_v1`` keep the seed's signatures and produce exactly
the seed's windows, but store the text as one tensor of token IDs and hand out views into
it, so memory grows with the number of tokens, not with the number of windows (stride 1 on
a million tokens costs one 8 MB tensor, not a million small ones). ``train_val_loaders``
does the seed's 90/10 split by characters and turns its printed sanity checks into errors
that say what to change.
"""

from __future__ import annotations

import os
from pathlib import Path

import tiktoken
import torch
from torch.utils.data import DataLoader, Dataset

from .download import download_file
from .errors import ArgumentTypeError, DataNotFoundError, NotEnoughDataError
from .tokenizer import ENDOFTEXT, get_tokenizer
from .validation import check_bool, check_int, check_interval, check_str, short_repr

#: Named corpora that ``load_text`` can download: URL and published SHA-256.
CORPORA: dict[str, dict[str, str]] = {
    "the-verdict": {
        "filename": "the-verdict.txt",
        "url": "https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch02/01_main-chapter-code/the-verdict.txt",
        "sha256": "b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f",
    },
}


def load_text(name_or_path: str | os.PathLike = "the-verdict") -> str:
    """Return the text of a named corpus (downloaded once, hash-checked) or of a local file.

    ``load_text("the-verdict")`` gives the seed's short story (20,479 characters);
    ``load_text("notes.txt")`` reads a UTF-8 file. Raises ``DataNotFoundError`` for a name
    that is neither a known corpus nor an existing file, and ``TextEncodingError`` naming the
    first byte that is not UTF-8 (or what the file is, when it is not text at all).
    """
    from .safe_io import read_utf8_text
    from .validation import check_path

    if isinstance(name_or_path, str) and name_or_path in CORPORA:
        corpus = CORPORA[name_or_path]
        path = download_file(corpus["url"], corpus["filename"], corpus["sha256"])
    else:
        path = check_path("name_or_path", name_or_path, hint=f"Pass a corpus name ({', '.join(CORPORA)}) or a text file's path.")
        if path.is_dir():
            raise DataNotFoundError(f"{str(path)!r} is a folder, not a text file. Pass one text file (or, for a folder of "
                                    "many .txt files, tokenize them into one token file with `gptedu prepare`).")
        if not path.is_file():
            raise DataNotFoundError(
                f"No text file at {str(path)!r}, and it is not a known corpus name "
                f"({', '.join(CORPORA)}). Check the path, or use one of those names."
            )
    return read_utf8_text(Path(path))


def num_windows(num_tokens: int, max_length: int, stride: int) -> int:
    """Count the windows the seed's ``range(0, num_tokens - max_length, stride)`` produces."""
    return len(range(0, num_tokens - max_length, stride))


class GPTDatasetV1(Dataset):
    """Input/target windows of ``max_length`` tokens, starting every ``stride`` tokens.

    Window ``i`` starts at token ``i * stride``; its target is the same window shifted by
    one token. As in the seed the last window must leave room for its target, so ``N``
    tokens give ``len(range(0, N - max_length, stride))`` windows.
    """

    def __init__(self, txt: str, tokenizer: tiktoken.Encoding, max_length: int, stride: int) -> None:
        check_window_args(txt, tokenizer, max_length, stride)  # clear errors for arguments that cannot work
        token_ids = tokenizer.encode(txt, allowed_special={ENDOFTEXT})
        self.token_ids = torch.tensor(token_ids, dtype=torch.long)  # (num_tokens,) the only copy
        self.max_length = max_length
        self.stride = stride

    def __len__(self) -> int:
        return num_windows(len(self.token_ids), self.max_length, self.stride)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= idx < len(self):
            raise IndexError(f"window {idx} out of range for a dataset of {len(self)} windows")
        start = (idx % len(self)) * self.stride
        input_chunk = self.token_ids[start : start + self.max_length]  # (max_length,) a view
        target_chunk = self.token_ids[start + 1 : start + self.max_length + 1]  # shifted by one
        return input_chunk, target_chunk


def create_dataloader_v1(
    txt: str,
    batch_size: int = 4,
    max_length: int = 256,
    stride: int = 128,
    shuffle: bool = True,
    drop_last: bool = True,
    num_workers: int = 0,
) -> DataLoader:
    """Tokenize ``txt`` with GPT-2's tokenizer and return a loader of ``(inputs, targets)`` batches.

    Each batch is two ``(batch_size, max_length)`` tensors of token IDs. Same signature and
    defaults as the seed. Raises ``NotEnoughDataError`` when the text yields no window, or
    too few for one batch while ``drop_last=True`` (the loader would silently be empty).
    """
    check_loader_args(batch_size, shuffle, drop_last, num_workers)  # txt, max_length, stride: GPTDatasetV1 checks them
    dataset = GPTDatasetV1(txt, get_tokenizer(), max_length, stride)
    num_tokens = len(dataset.token_ids)
    if len(dataset) == 0:
        raise NotEnoughDataError(
            f"max_length={max_length} needs at least {max_length + 1} tokens of text (inputs plus "
            f"the shifted target); got {num_tokens}. Lower max_length (the model's "
            "context_length) or use more text."
        )
    if drop_last and len(dataset) < batch_size:
        raise NotEnoughDataError(
            f"batch_size={batch_size} is larger than the {len(dataset)} window(s) of "
            f"{max_length} tokens this text gives, so with drop_last=True the loader would be "
            f"empty. Lower batch_size to at most {len(dataset)}, lower max_length or stride, or use more text."
        )
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=num_workers)


def train_val_loaders(
    text: str,
    context_length: int,
    batch_size: int = 2,
    train_ratio: float = 0.90,
    num_workers: int = 0,
) -> tuple[DataLoader, DataLoader]:
    """Split ``text`` by characters (first ``train_ratio`` for training) and build the seed's two loaders.

    Both use ``max_length = stride = context_length``; the training loader shuffles and drops
    the last incomplete batch, the validation loader does neither. Raises
    ``NotEnoughDataError`` that says whether to lower ``context_length`` or move
    ``train_ratio`` when either part is too short, instead of the seed's printed warning.
    """
    check_split_args(text, context_length, batch_size, train_ratio, num_workers)  # clear errors for bad settings
    split_idx = int(train_ratio * len(text))
    parts = {"training": text[:split_idx], "validation": text[split_idx:]}
    tokenizer = get_tokenizer()
    for name, part in parts.items():
        tokens = len(tokenizer.encode(part, allowed_special={ENDOFTEXT}))
        if tokens <= context_length:
            ratio_advice = "increase train_ratio" if name == "training" else "decrease train_ratio"
            raise NotEnoughDataError(
                f"Not enough tokens for the {name} loader: context_length={context_length} needs at "
                f"least {context_length + 1} tokens, but the {name} part ({len(part)} characters, "
                f"train_ratio={train_ratio}) has {tokens}. Lower context_length, {ratio_advice}, or use more text."
            )
    loader_args = {"max_length": context_length, "stride": context_length, "num_workers": num_workers}
    train_loader = create_dataloader_v1(parts["training"], batch_size=batch_size, shuffle=True, drop_last=True, **loader_args)
    val_loader = create_dataloader_v1(parts["validation"], batch_size=batch_size, shuffle=False, drop_last=False, **loader_args)
    return train_loader, val_loader


def count_tokens(data_loader: DataLoader) -> int:
    """Return how many input tokens one pass over ``data_loader`` yields (the seed's token count)."""
    if not hasattr(data_loader, "__iter__"):
        raise ArgumentTypeError(f"data_loader must be a DataLoader of (inputs, targets) batches; got "
                                f"{short_repr(data_loader)} ({type(data_loader).__name__}).")
    return sum(input_batch.numel() for input_batch, _ in data_loader)


def check_window_args(txt: str, tokenizer: tiktoken.Encoding, max_length: int, stride: int) -> None:
    """Raise a clear gptedu error for a text, tokenizer, ``max_length`` or ``stride`` that ``GPTDatasetV1`` cannot use.

    ``txt`` must be a ``str`` for tiktoken's tokenizers; another tokenizer (anything with an
    ``encode`` method, like the stand-in of exercise 03.1 that takes a list of IDs) decides for itself.
    """
    if isinstance(tokenizer, (str, bytes)) or not callable(getattr(tokenizer, "encode", None)):
        raise ArgumentTypeError(f"tokenizer must be a tokenizer such as get_tokenizer(); got {short_repr(tokenizer)} "
                                f"({type(tokenizer).__name__}). The call is GPTDatasetV1(txt, tokenizer, max_length, stride).")
    if isinstance(tokenizer, tiktoken.Encoding):
        check_str("txt", txt, hint="Pass the text itself, e.g. load_text('the-verdict'), not its file name or bytes.")
    check_int("max_length", max_length, 1, hint="It is the number of tokens per window: the model's context_length.")
    check_int("stride", stride, 1, hint="It is how many tokens each window starts after the previous one.")


def check_loader_args(batch_size: int, shuffle: bool, drop_last: bool, num_workers: int) -> None:
    """Raise a clear gptedu error for a ``batch_size``, ``shuffle``, ``drop_last`` or ``num_workers`` that cannot work."""
    check_int("batch_size", batch_size, 1, hint="The seed uses 4 in notebook 03 and 2 for training.")
    check_bool("shuffle", shuffle)
    check_bool("drop_last", drop_last)
    check_int("num_workers", num_workers, 0, hint="0 loads the batches in the main process (the default).")


def check_split_args(text: str, context_length: int, batch_size: int, train_ratio: float, num_workers: int) -> None:
    """Raise a clear gptedu error for a setting ``train_val_loaders`` cannot use (before tokenizing anything)."""
    check_str("text", text, hint="Pass the text itself, e.g. load_text('the-verdict').")
    check_int("context_length", context_length, 1, hint="Use the model's cfg['context_length'], e.g. 256.")
    check_int("batch_size", batch_size, 1, hint="The seed uses 2.")
    check_interval("train_ratio", train_ratio, 0, 1, low_open=True, high_open=True,
                   hint="It is the share of the text used for training; the seed uses 0.90.")
    check_int("num_workers", num_workers, 0, hint="0 loads the batches in the main process (the default).")
