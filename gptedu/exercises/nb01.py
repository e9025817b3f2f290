"""Exercises of notebook 01 · Text to token IDs and back.

The implement-it checks run the student's function on a few short texts (with and without
``<|endoftext|>``) and on seeded random token IDs, against gptedu's own ``text_to_token_ids``
and ``token_ids_to_text`` with GPT-2's tokenizer; the numeric one is computed from *The Verdict*.
"""

from __future__ import annotations

import functools

import torch

from ..data import load_text
from ..tokenizer import ENDOFTEXT, get_tokenizer
from ..tokenizer import text_to_token_ids as package_text_to_token_ids
from ..tokenizer import token_ids_to_text as package_token_ids_to_text
from .core import Case, Exercise, Mistake, answer_hash, register, tensors_close

#: The first code cell of the exercises section (and of the solution notebook): what the exercises use.
SETUP = """\
import torch

from gptedu import get_tokenizer, load_text
from gptedu.exercises import check, hint, list_exercises, solution

tokenizer = get_tokenizer()
raw_text = load_text("the-verdict")
list_exercises("01")"""


def _encode(text: str, **kwargs) -> list[int]:
    """GPT-2's token IDs of ``text`` (``<|endoftext|>`` allowed unless ``kwargs`` say otherwise)."""
    return get_tokenizer().encode(text, **(kwargs or {"allowed_special": {ENDOFTEXT}}))


# ---------------------------------------------------------------- 01.1 text_to_token_ids by hand


def _text_cases() -> list[Case]:
    tokenizer = get_tokenizer()
    texts = (
        ("the sentence 'Every effort moves you'", "Every effort moves you"),
        ("two documents joined by <|endoftext|>", "Hello, do you like tea? <|endoftext|> In the sunlit terraces"),
        ("'naïve 🙂', two <|endoftext|> tokens and 'The end.'", "naïve 🙂<|endoftext|><|endoftext|>The end."),
    )
    return [Case(description, (text, tokenizer)) for description, text in texts]


def _compare_token_ids(expected, got) -> str | None:
    """Like ``tensors_close``, but a tensor of floats is named: nn.Embedding needs integer token IDs."""
    if isinstance(got, torch.Tensor) and got.is_floating_point():
        return (f"your tensor holds floats ({got.dtype}); token IDs are integers, and nn.Embedding needs them as "
                "torch.long, which torch.tensor(list_of_ints) gives")
    return tensors_close(expected, got)


def text_to_token_ids(text, tokenizer):
    """Encode text into a (1, num_tokens) tensor of token IDs; <|endoftext|> becomes token 50256."""
    encoded = tokenizer.encode(text, allowed_special={"<|endoftext|>"})  # a list of num_tokens ints
    return torch.tensor(encoded).unsqueeze(0)  # (1, num_tokens): add the batch dimension


register(Exercise(
    id="01.1",
    title="Text to a batch of token IDs",
    kind="implement",
    minutes=5,
    statement=(
        "Write `text_to_token_ids(text, tokenizer)` yourself: encode the string `text` with GPT-2's `tokenizer` and\n"
        "return a `torch.long` tensor of shape `(1, num_tokens)`, a batch holding one sequence, the shape `GPTModel`\n"
        "expects. The special token `<|endoftext|>` must be allowed: in the text it becomes the single ID 50256\n"
        "(section 4)."
    ),
    hints=(
        "Two steps: `tokenizer.encode` gives a Python list of IDs; `torch.tensor` turns it into a tensor of shape `(num_tokens,)`.",
        "`tokenizer.encode` refuses `<|endoftext|>` unless you pass `allowed_special={\"<|endoftext|>\"}`.",
        "Add the batch dimension in front with `.unsqueeze(0)`: `(num_tokens,)` becomes `(1, num_tokens)`.",
    ),
    name="text_to_token_ids",
    stub=(
        "def text_to_token_ids(text, tokenizer):\n"
        "    \"\"\"Encode text into a (1, num_tokens) tensor of token IDs; <|endoftext|> becomes token 50256.\"\"\"\n"
        "    # Your code here: encode (allowing <|endoftext|>), make a tensor, add the batch dimension\n"
        "    raise NotImplementedError"
    ),
    reference=package_text_to_token_ids,
    cases=_text_cases,
    compare=_compare_token_ids,
    mistakes=(
        Mistake("The batch dimension is missing: your tensor has shape (num_tokens,). Add it with .unsqueeze(0), "
                "so that the shape is (1, num_tokens).",
                lambda text, tokenizer: torch.tensor(_encode(text))),
        Mistake("You returned a Python list; the model takes a tensor: torch.tensor(ids), then add the batch dimension.",
                lambda text, tokenizer: _encode(text)),
        Mistake("Your tensor has shape (num_tokens, 1): unsqueeze(1) adds the new dimension at the end. The batch "
                "dimension comes first: .unsqueeze(0) gives (1, num_tokens).",
                lambda text, tokenizer: torch.tensor(_encode(text)).unsqueeze(1)),
        Mistake("<|endoftext|> became seven ordinary tokens ('<', '|', 'end', ...): you encoded it as plain text. "
                "Pass allowed_special={\"<|endoftext|>\"} so that it becomes the single token 50256.",
                lambda text, tokenizer: torch.tensor(_encode(text, disallowed_special=())).unsqueeze(0)),
    ),
    solution=text_to_token_ids,
    cpu_seconds=0.1,
))


# ---------------------------------------------------------------- 01.2 token_ids_to_text by hand


def _token_id_cases() -> list[Case]:
    tokenizer = get_tokenizer()
    generator = torch.Generator().manual_seed(1)
    random_ids = torch.randint(0, 50256, (12,), generator=generator)  # any ordinary tokens, no special one
    return [
        Case("the (1, 4) tensor of 'Every effort moves you'", (package_text_to_token_ids("Every effort moves you", tokenizer), tokenizer)),
        Case("a (1, 15) tensor of two documents joined by <|endoftext|>",
             (package_text_to_token_ids("Hello, do you like tea? <|endoftext|> In the sunlit terraces", tokenizer), tokenizer)),
        Case("12 random token IDs (seeded) without the batch dimension, shape (12,)", (random_ids, tokenizer)),
    ]


def token_ids_to_text(token_ids, tokenizer):
    """Decode a (1, num_tokens) or (num_tokens,) tensor of token IDs back to a string."""
    flat = token_ids.squeeze(0)  # (num_tokens,): remove the batch dimension (if there is one)
    return tokenizer.decode(flat.tolist())  # decode takes a plain list of ints


def _pieces(token_ids: torch.Tensor) -> list[str]:
    """The text piece of each token, decoded one at a time."""
    return [get_tokenizer().decode([token_id]) for token_id in token_ids.flatten().tolist()]


register(Exercise(
    id="01.2",
    title="Token IDs back to text",
    kind="implement",
    minutes=5,
    statement=(
        "Write `token_ids_to_text(token_ids, tokenizer)`: `token_ids` is a tensor of shape `(1, num_tokens)` (one\n"
        "sequence with its batch dimension, as `text_to_token_ids` returns it) or `(num_tokens,)` (without it).\n"
        "Return the decoded text as one string, exactly the text the IDs stand for."
    ),
    hints=(
        "`tokenizer.decode` takes a plain Python list of ints, not a tensor: `.tolist()` converts one.",
        "On a `(1, num_tokens)` tensor `.tolist()` gives a list of lists, which `decode` rejects with a TypeError: "
        "remove the batch dimension first.",
        "`.squeeze(0)` removes a dimension of size 1 at the front and leaves a `(num_tokens,)` tensor unchanged.",
    ),
    name="token_ids_to_text",
    stub=(
        "def token_ids_to_text(token_ids, tokenizer):\n"
        "    \"\"\"Decode a (1, num_tokens) or (num_tokens,) tensor of token IDs back to a string.\"\"\"\n"
        "    # Your code here: remove the batch dimension, make a list of ints, decode\n"
        "    raise NotImplementedError"
    ),
    reference=package_token_ids_to_text,
    cases=_token_id_cases,
    mistakes=(
        Mistake("You returned a list holding the string: you decoded each row of the batch. Remove the batch "
                "dimension (.squeeze(0)) and return the one string.",
                lambda token_ids, tokenizer: [tokenizer.decode(row) for row in token_ids.tolist()]),
        Mistake("You returned the list of pieces, one per token; decode the whole list of IDs at once to get one string.",
                lambda token_ids, tokenizer: _pieces(token_ids)),
        Mistake("You joined the pieces with spaces, which doubles them: the spaces already belong to the tokens "
                "(' effort'). Decode the whole list of IDs at once.",
                lambda token_ids, tokenizer: " ".join(_pieces(token_ids))),
    ),
    solution=token_ids_to_text,
    cpu_seconds=0.1,
))


# ---------------------------------------------------------------- 01.3 tokens per word


def solve_01_3():
    raw_text = load_text("the-verdict")
    token_ids = get_tokenizer().encode(raw_text)  # 5,145 tokens
    words = raw_text.split()  # split at every run of spaces and line breaks
    return len(token_ids) / len(words)


@functools.cache
def _verdict_counts() -> dict[str, int]:
    """Token, distinct-token, word and character counts of The Verdict."""
    text = load_text("the-verdict")
    token_ids = _encode(text)
    return {"tokens": len(token_ids), "distinct": len(set(token_ids)), "words": len(text.split()),
            "space_words": len(text.split(" ")), "characters": len(text)}


def _tokens_per_word() -> float:
    counts = _verdict_counts()
    return counts["tokens"] / counts["words"]


register(Exercise(
    id="01.3",
    title="How many tokens per word?",
    kind="numeric",
    minutes=4,
    statement=(
        "Section 6 found about 4 characters per token in *The Verdict*. How many tokens does GPT-2 use per *word*\n"
        "of the story, on average? Count the words as `len(raw_text.split())` (pieces between whitespace) and put\n"
        "the number of tokens divided by the number of words in `answer` (3 decimals or better)."
    ),
    hints=(
        "You need two counts: the tokens of `raw_text` and its words.",
        "`tokenizer.encode(raw_text)` gives the tokens; `raw_text.split()` without an argument splits at spaces and line breaks.",
    ),
    name="answer",
    reference=_tokens_per_word,
    compare=lambda expected, got: tensors_close(expected, got, atol=1e-3, rtol=0),  # 3 decimals are enough
    mistakes=(
        Mistake("That is characters per token, the number of section 6; the question asks for tokens per word.",
                lambda expected: _verdict_counts()["characters"] / _verdict_counts()["tokens"]),
        Mistake("That is words per token, the inverse ratio: divide the number of tokens by the number of words.",
                lambda expected: 1 / expected),
        Mistake("You divided the characters, not the tokens, by the words: encode raw_text and count its token IDs.",
                lambda expected: _verdict_counts()["characters"] / _verdict_counts()["words"]),
        Mistake("You split at single spaces only (split(\" \")), so words at line breaks are glued together: "
                "split() with no argument splits at every whitespace.",
                lambda expected: _verdict_counts()["tokens"] / _verdict_counts()["space_words"]),
        Mistake("You counted distinct tokens (len(set(...))); count every token of the text, repeats included.",
                lambda expected: _verdict_counts()["distinct"] / _verdict_counts()["words"]),
    ),
    solution=solve_01_3,
    cpu_seconds=0.1,
))


# ---------------------------------------------------------------- 01.4 the leading space


register(Exercise(
    id="01.4",
    title="A word at the start of a text",
    kind="choice",
    minutes=3,
    statement=(
        "In `\"every effort moves you\"` the word `' effort'`, with its leading space, is the single token 3626.\n"
        "What does `tokenizer.encode(\"effort moves you\")` start with, now that the word begins the text?\n\n"
        "- **a**: token 3626, because the tokenizer ignores the space in front of a word\n"
        "- **b**: token 220 (a space) and then token 3626\n"
        "- **c**: two other tokens, `'eff'` and `'ort'`\n"
        "- **d**: a token for unknown words, then the tokens of `' moves you'`\n\n"
        "Guess first, then run the line to see."
    ),
    hints=(
        "Decoding the IDs must give back exactly `\"effort moves you\"`, character for character.",
        "Token 3626 stands for the string `' effort'`, space included. Is that string in the text?",
    ),
    name="answer",
    options={"a": "token 3626", "b": "token 220, then 3626", "c": "'eff' and 'ort'", "d": "an unknown-word token"},
    answer_hash=answer_hash("01.4", "c"),
    explanations={
        "a": "Token 3626 is the string ' effort' with its space; the text has no space before 'effort', so decoding 3626 "
             "would add one, and tokenization never changes the text.",
        "b": "The tokenizer never adds characters: 220 would decode to a space that is not in the text.",
        "c": "'effort' without a space is a different string from ' effort'; GPT-2 learned a merge for the common ' effort' "
             "but not for 'effort', so it is split into 'eff' and 'ort'. The first word of a text often reaches the model "
             "as other tokens than the same word in the middle of a sentence.",
        "d": "Byte-pair encoding has no unknown token: any string is split into known pieces, down to single bytes.",
    },
))


# ---------------------------------------------------------------- 01.5 other languages


register(Exercise(
    id="01.5",
    title="Tokens per character in another language",
    kind="experiment",
    minutes=10,
    statement=(
        "Encode the English sentence below and its translation into another language you know (or try German,\n"
        "Russian, Chinese, Hindi, ...). Print, for each, the number of characters, of tokens, and the tokens per\n"
        "character. Which needs more tokens per character, and why might that be, given that GPT-2's merges were\n"
        "learned from mostly English web text? What would that mean for a model's context of 1,024 tokens?"
    ),
    hints=(
        "`len(sentence)` counts characters, `len(tokenizer.encode(sentence))` tokens.",
        "Compare with the number of UTF-8 bytes, `len(sentence.encode(\"utf-8\"))`: the tokenizer starts from bytes.",
    ),
    stub=(
        "english = \"I had always thought Jack Gisburn rather a cheap genius, though a good fellow enough.\"\n"
        "translation = \"\"  # the same sentence in another language\n"
        "# Your experiment here: characters, tokens and tokens per character of each; "
        "solution(\"01.5\") says what to observe."
    ),
    observe=(
        "Measured here (2-core AMD EPYC, torch 2.13 CPU, GPT-2's tokenizer) on the English sentence and translations of it:\n"
        "English 85 characters -> 19 tokens (0.22 tokens per character); German 109 -> 40 (0.37); French 97 -> 40 (0.41);\n"
        "Spanish 89 -> 31 (0.35); Russian 84 -> 93 (1.11); Greek 93 -> 104 (1.12); Hindi 95 -> 145 (1.53);\n"
        "Chinese 31 -> 61 (1.97).\n"
        "English needs the fewest tokens per character: GPT-2's 50,000 merges were learned from mostly English web text, so\n"
        "whole English words (with their leading space) are single tokens. Other languages in the Latin alphabet get about\n"
        "twice as many tokens per character (words split into pieces); Cyrillic, Greek and Devanagari letters take two or\n"
        "three UTF-8 bytes each and few merges, so about one token or more per character; a Chinese character (three bytes)\n"
        "often takes two tokens. The same 1,024-token context therefore holds about five times less Russian or Hindi text\n"
        "than English, and training and generating it costs more per sentence."
    ),
    cpu_seconds=0.1,
))
