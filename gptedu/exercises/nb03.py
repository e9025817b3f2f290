"""Exercises of notebook 03 · Data loaders.

The sliding-window check feeds seeded random token IDs (a vocabulary of 50) to gptedu's own
``GPTDatasetV1``; the split check compares with the texts ``train_val_loaders`` itself puts
into its two loaders; the numeric answers are computed from *The Verdict* with the package's
``create_dataloader_v1``, ``count_tokens`` and ``train_val_loaders``.
"""

from __future__ import annotations

import functools

import torch

from ..data import GPTDatasetV1, count_tokens, create_dataloader_v1, load_text, num_windows, train_val_loaders
from ..errors import NotEnoughDataError
from ..tokenizer import ENDOFTEXT, get_tokenizer
from .core import Case, Exercise, Mistake, answer_hash, register

#: The first code cell of the exercises section (and of the solution notebook): what the exercises use.
SETUP = """\
import torch

from gptedu import NotEnoughDataError, count_tokens, create_dataloader_v1, get_tokenizer, load_text, train_val_loaders
from gptedu.exercises import check, hint, list_exercises, solution

tokenizer = get_tokenizer()
raw_text = load_text("the-verdict")
list_exercises("03")"""


# ---------------------------------------------------------------- 03.1 sliding windows


class _IdsTokenizer:
    """A stand-in tokenizer whose "text" is already a list of token IDs, so ``GPTDatasetV1`` can window them."""

    def encode(self, token_ids, allowed_special=()):
        return list(token_ids)


def _dataset_windows(token_ids: torch.Tensor, max_length: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All (inputs, targets) windows of ``GPTDatasetV1`` over ``token_ids``, stacked: two (num_windows, max_length)."""
    dataset = GPTDatasetV1(token_ids.tolist(), _IdsTokenizer(), max_length, stride)
    inputs, targets = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
    return torch.stack(inputs), torch.stack(targets)


def _window_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(3)
    cases = []
    for num_tokens, max_length, stride in ((10, 4, 2), (13, 3, 3), (20, 5, 5), (9, 4, 1)):
        token_ids = torch.randint(0, 50, (num_tokens,), generator=generator)
        cases.append(Case(f"windows of {max_length} tokens with stride {stride} over {num_tokens} token IDs",
                          (token_ids, max_length, stride)))
    return cases


def sliding_windows(token_ids, max_length, stride):
    """token_ids: (num_tokens,). Returns inputs and targets, each (num_windows, max_length)."""
    inputs, targets = [], []
    for i in range(0, len(token_ids) - max_length, stride):  # stop early enough to leave room for the last target
        inputs.append(token_ids[i : i + max_length])
        targets.append(token_ids[i + 1 : i + max_length + 1])  # the same window, shifted by one token
    return torch.stack(inputs), torch.stack(targets)


def _windows_starting_at_i(token_ids, max_length, stride):
    """The mistake of starting window i at token i (the right number of windows, but stride 1 between them)."""
    count = num_windows(len(token_ids), max_length, stride)
    inputs = torch.stack([token_ids[i : i + max_length] for i in range(count)])
    targets = torch.stack([token_ids[i + 1 : i + max_length + 1] for i in range(count)])
    return inputs, targets


register(Exercise(
    id="03.1",
    title="Sliding windows of inputs and targets",
    kind="implement",
    minutes=10,
    statement=(
        "Write `sliding_windows(token_ids, max_length, stride)`, the windows of `GPTDatasetV1` without the data set\n"
        "class: `token_ids` is a 1-D tensor of shape `(num_tokens,)`. Window `i` starts at token `i * stride` and\n"
        "holds `max_length` tokens; its target is the same window shifted by one token. Make every window whose\n"
        "target fits in the text, and return `(inputs, targets)`, two tensors of shape `(num_windows, max_length)`.\n"
        "For 10 tokens, `max_length=4` and `stride=2` that is 3 windows, starting at tokens 0, 2 and 4."
    ),
    hints=(
        "Loop over the start positions with `range(start, stop, stride)`, slice the inputs and the targets, and "
        "`torch.stack` each list at the end.",
        "The target of the window starting at `i` is `token_ids[i + 1 : i + max_length + 1]`.",
        "The last target must be full: it needs `start + max_length + 1 <= num_tokens`. "
        "If `torch.stack` complains about tensors of different sizes, your loop goes one window too far.",
    ),
    name="sliding_windows",
    stub=(
        "def sliding_windows(token_ids, max_length, stride):\n"
        "    \"\"\"token_ids: (num_tokens,). Returns inputs and targets, each (num_windows, max_length).\"\"\"\n"
        "    # Your code here: one window every `stride` tokens; each target is its window shifted by one\n"
        "    raise NotImplementedError"
    ),
    reference=_dataset_windows,
    cases=_window_cases,
    mistakes=(
        Mistake("Your targets equal your inputs: the target of a window is the same window shifted by one token, "
                "token_ids[i + 1 : i + max_length + 1].",
                lambda token_ids, max_length, stride: (lambda inputs: (inputs, inputs.clone()))(
                    _dataset_windows(token_ids, max_length, stride)[0])),
        Mistake("You ignored the stride: your windows start at every token (stride 1). Start window i at token i * stride, "
                "for example with range(0, ..., stride).",
                lambda token_ids, max_length, stride: _dataset_windows(token_ids, max_length, 1)),
        Mistake("You have the right number of windows, but window i starts at token i; it must start at token i * stride.",
                _windows_starting_at_i),
        Mistake("You made one window too many: the last window has no full target, so it needs to go (here the inputs "
                "have one more row than the targets). A window starting at i needs i + max_length + 1 tokens.",
                lambda token_ids, max_length, stride: (token_ids.unfold(0, max_length, stride),
                                                       token_ids[1:].unfold(0, max_length, stride))),
    ),
    solution=sliding_windows,
    cpu_seconds=0.1,
))


# ---------------------------------------------------------------- 03.2 the split by characters


def _loader_texts(text: str, train_ratio: float) -> tuple[str, str]:
    """The training and validation texts that ``train_val_loaders`` puts into its loaders (decoding is lossless)."""
    train_loader, val_loader = train_val_loaders(text, context_length=1, batch_size=1, train_ratio=train_ratio)
    tokenizer = get_tokenizer()
    return tuple(tokenizer.decode(loader.dataset.token_ids.tolist()) for loader in (train_loader, val_loader))


def _split_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(4)
    words = ("every", "effort", "moves", "you", "the", "story", "painted", "Gisburn", "genius", "\n")
    cases = []
    for num_words, train_ratio in ((40, 0.9), (30, 0.75), (23, 0.9)):
        picks = torch.randint(0, len(words), (num_words,), generator=generator).tolist()
        text = " ".join(words[i] for i in picks) + "."
        cases.append(Case(f"a text of {len(text)} characters with train_ratio={train_ratio}", (text, train_ratio)))
    return cases


def split_train_val(text, train_ratio):
    """Split text by characters: the first train_ratio for training, the rest for validation."""
    split_idx = int(train_ratio * len(text))  # a character index; int rounds down, as the seed does
    return text[:split_idx], text[split_idx:]


def _split_by_tokens(text: str, train_ratio: float) -> tuple[str, str]:
    """The mistake of splitting the list of token IDs instead of the characters."""
    tokenizer = get_tokenizer()
    token_ids = tokenizer.encode(text, allowed_special={ENDOFTEXT})
    split_idx = int(train_ratio * len(token_ids))
    return tokenizer.decode(token_ids[:split_idx]), tokenizer.decode(token_ids[split_idx:])


register(Exercise(
    id="03.2",
    title="The training and validation split",
    kind="implement",
    minutes=5,
    statement=(
        "Write `split_train_val(text, train_ratio)`, the split of section 5: the first `train_ratio` of the\n"
        "*characters* of `text` (a string) are for training, the rest for validation. Round the split position\n"
        "down, as the seed does. Return `(train_text, val_text)`, two strings that together are `text`."
    ),
    hints=(
        "The split position is a character index: `train_ratio` times the length of the text, made an integer.",
        "`int(...)` rounds down; `round(...)` would sometimes put one character more into the training part.",
        "Slice the string at that index: everything before it, and everything from it on.",
    ),
    name="split_train_val",
    stub=(
        "def split_train_val(text, train_ratio):\n"
        "    \"\"\"Split text by characters: the first train_ratio for training, the rest for validation.\"\"\"\n"
        "    # Your code here: the split index, then two slices of the string\n"
        "    raise NotImplementedError"
    ),
    reference=_loader_texts,
    cases=_split_cases,
    mistakes=(
        Mistake("Your two parts are swapped: return the training part (the first train_ratio of the text) first, "
                "then the validation part.",
                lambda text, train_ratio: split_train_val(text, train_ratio)[::-1]),
        Mistake("Your training part is the small one: you split at (1 - train_ratio). The training part is the first "
                "train_ratio of the characters, e.g. 90%.",
                lambda text, train_ratio: split_train_val(text, 1 - train_ratio)),
        Mistake("You split the token IDs; the seed splits the characters of the text, before tokenizing. "
                "Compute the index from len(text).",
                _split_by_tokens),
        Mistake("You rounded the split index to the nearest integer; the seed uses int(...), which rounds down.",
                lambda text, train_ratio: (text[:round(train_ratio * len(text))], text[round(train_ratio * len(text)):])),
    ),
    solution=split_train_val,
    cpu_seconds=0.1,
))


# ---------------------------------------------------------------- 03.3 an epoch with overlapping windows


def solve_03_3():
    raw_text = load_text("the-verdict")
    train_text = raw_text[: int(0.90 * len(raw_text))]  # the training part of section 5
    loader = create_dataloader_v1(train_text, batch_size=2, max_length=256, stride=128)
    # 4,612 tokens -> 35 windows starting every 128 tokens -> 17 full batches (drop_last drops the 35th window)
    return len(loader), count_tokens(loader)


@functools.cache
def _epoch_numbers(text_part: str = "training", stride: int = 128, drop_last: bool = True) -> tuple[int, int]:
    """Batches and input tokens of one pass over create_dataloader_v1 on a part of The Verdict (batches of 2, 256 tokens)."""
    raw_text = load_text("the-verdict")
    text = raw_text[: int(0.90 * len(raw_text))] if text_part == "training" else raw_text
    loader = create_dataloader_v1(text, batch_size=2, max_length=256, stride=stride, drop_last=drop_last)
    return len(loader), count_tokens(loader)


register(Exercise(
    id="03.3",
    title="An epoch with overlapping windows",
    kind="numeric",
    minutes=6,
    statement=(
        "The seed trains on windows that do not overlap (stride 256): 9 batches, 4,608 tokens per epoch. Take\n"
        "`train_text`, the first 90% of the characters of `raw_text` (section 5), and build the loader\n"
        "`create_dataloader_v1(train_text, batch_size=2, max_length=256, stride=128)` in your head or in code.\n"
        "How many batches does one epoch have, and how many input tokens? Answer with the tuple\n"
        "`answer = (batches, tokens)`. Then think: how many times is a typical token seen per epoch now?"
    ),
    hints=(
        "First the windows: the training part has 4,612 tokens, and a window starts every 128 tokens as long as its "
        "target still fits.",
        "Then the batches: `create_dataloader_v1` keeps `drop_last=True`, so an incomplete last batch is dropped.",
        "Count only the inputs: each batch holds `batch_size * max_length` input tokens (`count_tokens` does the same).",
    ),
    name="answer",
    stub="answer = None  # replace None by (batches, tokens)",
    reference=_epoch_numbers,
    mistakes=(
        Mistake("Those are the numbers for stride 256 (no overlap), the seed's loader. With stride=128 a new window "
                "starts every 128 tokens, so there are about twice as many.",
                lambda expected: _epoch_numbers(stride=256)),
        Mistake("You kept the incomplete last batch: create_dataloader_v1 has drop_last=True, so a last batch with "
                "fewer than 2 windows is dropped.",
                lambda expected: _epoch_numbers(drop_last=False)),
        Mistake("You counted the input and the target tokens; count only the inputs, as count_tokens does.",
                lambda expected: (expected[0], 2 * expected[1])),
        Mistake("You used the whole story; the question is about train_text, the first 90% of the characters.",
                lambda expected: _epoch_numbers(text_part="whole")),
    ),
    solution=solve_03_3,
    cpu_seconds=0.2,
))


# ---------------------------------------------------------------- 03.4 the longest context the story allows


def solve_03_4():
    raw_text = load_text("the-verdict")
    split_idx = int(0.90 * len(raw_text))
    tokenizer = get_tokenizer()
    train_tokens = len(tokenizer.encode(raw_text[:split_idx]))  # 4,612
    val_tokens = len(tokenizer.encode(raw_text[split_idx:]))  # 534
    # validation: one window of c inputs needs c + 1 tokens, because its target is shifted by one
    # training: drop_last=True needs batch_size=2 windows, starting at 0 and at c: 2c + 1 tokens
    largest = min(val_tokens - 1, (train_tokens - 1) // 2)
    train_val_loaders(raw_text, context_length=largest, batch_size=2)  # works; largest + 1 raises NotEnoughDataError
    return largest


def _works(text: str, context_length: int, batch_size: int = 2) -> bool:
    """Whether train_val_loaders accepts this context length for this text."""
    try:
        train_val_loaders(text, context_length=context_length, batch_size=batch_size)
    except NotEnoughDataError:
        return False
    return True


@functools.cache
def _largest_context_length() -> int:
    """The largest context_length train_val_loaders accepts for The Verdict with batch_size=2 (bisection)."""
    raw_text = load_text("the-verdict")
    works, fails = 1, len(get_tokenizer().encode(raw_text))  # a context as long as the whole story cannot work
    while fails - works > 1:
        middle = (works + fails) // 2
        works, fails = (middle, fails) if _works(raw_text, middle) else (works, middle)
    return works


@functools.cache
def _largest_for_training_part_only() -> int:
    """The limit the training part alone sets: two windows of c tokens plus one target token."""
    raw_text = load_text("the-verdict")
    train_tokens = len(get_tokenizer().encode(raw_text[: int(0.90 * len(raw_text))]))
    return max(c for c in range(1, train_tokens) if num_windows(train_tokens, c, c) >= 2)


register(Exercise(
    id="03.4",
    title="The longest context the story allows",
    kind="numeric",
    minutes=8,
    statement=(
        "What is the largest `context_length` for which `train_val_loaders(raw_text, context_length, batch_size=2)`\n"
        "works, without a `NotEnoughDataError`? Work it out from the token counts of section 5 first (the training\n"
        "part has 4,612 tokens, the validation part 534), then check it with the function. Put the number in `answer`."
    ),
    hints=(
        "Each loader must get enough windows: the training loader (drop_last=True) at least `batch_size` of them, "
        "the validation loader at least one.",
        "A window of `context_length` inputs needs `context_length + 1` tokens, because its target is shifted by one.",
        "Compute the limit each part sets; the smaller one is the answer.",
    ),
    name="answer",
    reference=_largest_context_length,
    mistakes=(
        Mistake("That one is just too long: a window of context_length input tokens needs context_length + 1 tokens, "
                "because the target is shifted by one.",
                lambda expected: expected + 1),
        Mistake("That is the limit of the training part; the validation part (the last 10%, 534 tokens) is much "
                "shorter and sets a lower one.",
                lambda expected: _largest_for_training_part_only()),
        Mistake("That would be a context as long as the whole story; each loader only gets its own part of it.",
                lambda expected: len(get_tokenizer().encode(load_text("the-verdict"))) - 1),
    ),
    solution=solve_03_4,
    cpu_seconds=0.3,
))


# ---------------------------------------------------------------- 03.5 the size of the validation part


register(Exercise(
    id="03.5",
    title="How much text to hold out",
    kind="choice",
    minutes=4,
    statement=(
        "With `train_ratio=0.9` the validation loss of notebook 04 is measured on 512 tokens of the story (2 windows\n"
        "of 256); with `train_ratio=0.8` on 1,024. Why does the larger validation part give a more trustworthy\n"
        "estimate of how the model does on text it has not seen?\n\n"
        "- **a**: the model also learns from the validation part, so it has seen more of the story\n"
        "- **b**: the loss of one batch is biased, and averaging over more batches removes that bias\n"
        "- **c**: the loss averages more tokens from more passages, so it depends less on the passage held out\n"
        "- **d**: the training part gets shorter, so the model cannot overfit and the two losses meet"
    ),
    hints=(
        "The validation loss is a mean over the held-out tokens. How much would that mean change if a different "
        "512 tokens had been held out?",
    ),
    name="answer",
    options={"a": "the model learns from it too", "b": "averaging batches removes a bias",
             "c": "an average over more tokens", "d": "the model can no longer overfit"},
    answer_hash=answer_hash("03.5", "c"),
    explanations={
        "a": "The validation part is never trained on, whatever its size: it is held out so that its loss measures text "
             "the model has not seen.",
        "b": "The mean loss of one batch is an unbiased estimate of the mean over all windows; it is only noisier. More "
             "batches reduce the noise, not a bias.",
        "c": "A mean over 512 tokens of one passage varies a lot with which passage it is; over 1,024 tokens from a longer "
             "stretch of the story it varies less. The price: the model trains on less text.",
        "d": "Less training text usually makes overfitting worse, not better; the gap between the losses stays.",
    },
))
