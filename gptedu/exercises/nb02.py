"""Exercises of notebook 02 · Loss and perplexity.

Each implement-it check runs the student's function on small seeded cases (random logits
over a 10- or 50-token vocabulary, a 2-layer GPT of width 16) against gptedu's own
``torch.nn.functional.cross_entropy``, ``calc_loss_loader`` and ``perplexity``.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from ..loss import calc_loss_loader
from .core import Case, Exercise, Mistake, answer_hash, register

#: The first code cell of the exercises section (and of the solution notebook): what the exercises use.
SETUP = """\
import math

import torch
import torch.nn.functional as F

from gptedu import calc_loss_loader, perplexity
from gptedu.exercises import check, hint, list_exercises, solution

list_exercises("02")"""


def _logits_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(2)
    cases = []
    for rows, vocab, scale in ((3, 10, 1.0), (6, 50, 3.0), (4, 10, 8.0)):
        logits = torch.randn(rows, vocab, generator=generator) * scale
        targets = torch.randint(0, vocab, (rows,), generator=generator)
        cases.append(Case(f"{rows} rows of logits over a vocabulary of {vocab} (scale {scale:g})", (logits, targets)))
    return cases


# ---------------------------------------------------------------- 02.1 cross-entropy by hand


def cross_entropy_by_hand(logits, targets):
    """logits: (N, vocab) raw scores; targets: (N,) the correct token IDs. Returns the mean cross-entropy."""
    probas = torch.softmax(logits, dim=-1)  # (N, vocab): each row sums to 1
    target_probas = probas[torch.arange(len(targets)), targets]  # (N,): the probability of each correct token
    log_probas = torch.log(target_probas)
    return -log_probas.mean()


register(Exercise(
    id="02.1",
    title="Cross-entropy from logits, by hand",
    kind="implement",
    minutes=10,
    statement=(
        "Write `cross_entropy_by_hand(logits, targets)` without `F.cross_entropy`: `logits` is an `(N, vocab)`\n"
        "tensor of raw scores, `targets` an `(N,)` tensor of the correct token IDs. Return the mean\n"
        "cross-entropy loss as a 0-dimensional tensor, following the steps of sections 3 to 5."
    ),
    hints=(
        "Four steps: softmax over the vocabulary, pick each row's probability of its target, take the log, average and flip the sign.",
        "Pick one entry per row with advanced indexing: `probas[torch.arange(N), targets]` has shape `(N,)`.",
        "The loss is positive: minus the *mean of the logs*, not the log of the mean.",
    ),
    name="cross_entropy_by_hand",
    stub=(
        "def cross_entropy_by_hand(logits, targets):\n"
        "    \"\"\"logits: (N, vocab) raw scores; targets: (N,) the correct token IDs. Returns the mean cross-entropy.\"\"\"\n"
        "    # Your code here: softmax, the target's probability, log, mean, minus sign\n"
        "    raise NotImplementedError"
    ),
    reference=lambda logits, targets: F.cross_entropy(logits, targets),
    cases=_logits_cases,
    mistakes=(
        Mistake("You computed the log of the mean probability; the loss is minus the mean of the log-probabilities.",
                lambda logits, targets: -torch.log(torch.softmax(logits, -1)[torch.arange(len(targets)), targets].mean())),
        Mistake("The sign is flipped: the mean log-probability is negative, and the loss is minus it.",
                lambda logits, targets: torch.log(torch.softmax(logits, -1)[torch.arange(len(targets)), targets]).mean()),
        Mistake("You added the log-probabilities up; the loss is their mean (divide by the number of rows).",
                lambda logits, targets: -torch.log(torch.softmax(logits, -1)[torch.arange(len(targets)), targets]).sum()),
        Mistake("You passed probabilities (after softmax) to cross_entropy, which applies softmax itself: pass the logits.",
                lambda logits, targets: F.cross_entropy(torch.softmax(logits, -1), targets)),
    ),
    solution=cross_entropy_by_hand,
))


# ---------------------------------------------------------------- 02.2 which perplexity


register(Exercise(
    id="02.2",
    title="What perplexity means",
    kind="choice",
    minutes=3,
    statement=(
        "A model reaches a validation loss of 2.3 nats on some text. Which sentence describes it best?\n\n"
        "- **a**: it gives the correct next token a probability of 2.3% on average\n"
        "- **b**: it is, on average, about as unsure as a fair choice among 10 tokens\n"
        "- **c**: it gets the next token right 23% of the time\n"
        "- **d**: it is 2.3 times better than a uniform guess over the vocabulary"
    ),
    hints=("Perplexity is `exp(loss)`. Compute `math.exp(2.3)` and think of a uniform guess among that many tokens.",),
    name="answer",
    options={"a": "a probability of 2.3%", "b": "as unsure as a fair choice among about 10 tokens",
             "c": "right 23% of the time", "d": "2.3 times better than a uniform guess"},
    answer_hash=answer_hash("02.2", "b"),
    explanations={
        "a": "A loss of 2.3 is -mean(log p); the probabilities behind it are near exp(-2.3) ≈ 0.10, not 0.023.",
        "b": "exp(2.3) ≈ 9.97: perplexity is the size of the uniform choice that would be just as uncertain.",
        "c": "The loss says nothing directly about the argmax being right: a model can be right often with a high loss.",
        "d": "A uniform guess has loss log(50,257) ≈ 10.8; ratios of losses have no such meaning.",
    },
))


# ---------------------------------------------------------------- 02.3 the uniform model's loss


def solve_02_3():
    vocab_size = 50257
    return math.log(vocab_size)  # every token gets 1 / vocab_size: -log(1 / vocab_size)


@functools.cache
def _uniform_loss() -> float:
    return F.cross_entropy(torch.zeros(1, 50257), torch.tensor([0])).item()


register(Exercise(
    id="02.3",
    title="The loss of a blind guess",
    kind="numeric",
    minutes=3,
    statement=(
        "What cross-entropy loss does a model get that gives all 50,257 tokens the same probability, whatever\n"
        "the text? Compute it as a number in `answer` (to 3 decimals or better)."
    ),
    hints=("Each correct token gets probability 1 / 50,257.", "The loss is minus the log of that probability; `math.log` is natural."),
    name="answer",
    reference=_uniform_loss,
    mistakes=(
        Mistake("That is the perplexity, exp(loss); the question asks for the loss itself.", lambda expected: math.exp(expected)),
        Mistake("You used log base 10; PyTorch's cross-entropy uses the natural log (math.log).",
                lambda expected: expected / math.log(10)),
        Mistake("The sign is flipped: the loss is minus the log-probability, a positive number.", lambda expected: -expected),
    ),
    solution=solve_02_3,
))


# ---------------------------------------------------------------- 02.4 the loss over a data loader


def _loader_cases() -> list[Case]:
    from torch.utils.data import DataLoader, TensorDataset

    from ..model import GPTModel

    torch.manual_seed(4)
    cfg = {"vocab_size": 50, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0, "qkv_bias": False}
    model = GPTModel(cfg).eval()
    token_ids = torch.randint(0, 50, (7, 9))  # 7 windows of 8 inputs + 1 shifted target token
    loader = DataLoader(TensorDataset(token_ids[:, :-1], token_ids[:, 1:]), batch_size=2)  # 4 batches, the last of 1 row
    return [
        Case("a loader of 4 batches, num_batches=None (all of them)", (loader, model, "cpu")),
        Case("the same loader with num_batches=2", (loader, model, "cpu"), {"num_batches": 2}),
        Case("the same loader with num_batches=10 (more than it has)", (loader, model, "cpu"), {"num_batches": 10}),
    ]


def calc_loss_loader_by_hand(data_loader, model, device, num_batches=None):
    """The average batch loss over the first num_batches batches of data_loader (all of them if None)."""
    num_batches = len(data_loader) if num_batches is None else min(num_batches, len(data_loader))
    total_loss = 0.0
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i >= num_batches:
            break
        logits = model(input_batch.to(device))  # (B, T, vocab)
        loss = F.cross_entropy(logits.flatten(0, 1), target_batch.to(device).flatten())
        total_loss += loss.item()
    return total_loss / num_batches


def _loss_of_batches(data_loader, model, num_batches):
    return [F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in list(data_loader)[:num_batches]]


register(Exercise(
    id="02.4",
    title="The loss over a data loader",
    kind="implement",
    minutes=10,
    cpu_seconds=1,
    statement=(
        "Write `calc_loss_loader_by_hand(data_loader, model, device, num_batches=None)` as the seed defines it:\n"
        "the average of the batch losses over the first `num_batches` batches (all of them when `None`; at most as\n"
        "many as the loader has). Each batch is `(inputs, targets)` of shape `(batch, num_tokens)`; return a float.\n"
        "You may call `F.cross_entropy`, but not `calc_loss_loader`."
    ),
    hints=(
        "Loop over `enumerate(data_loader)`, stop after `num_batches` batches, add up each batch's loss with `.item()`.",
        "`num_batches` larger than `len(data_loader)` must be cut down to it, and the sum is divided by the number "
        "of batches you actually used.",
    ),
    name="calc_loss_loader_by_hand",
    stub=(
        "def calc_loss_loader_by_hand(data_loader, model, device, num_batches=None):\n"
        "    \"\"\"The average batch loss over the first num_batches batches of data_loader (all of them if None).\"\"\"\n"
        "    # Your code here: a loop over the batches, F.cross_entropy on flattened logits and targets\n"
        "    raise NotImplementedError"
    ),
    reference=calc_loss_loader,
    cases=_loader_cases,
    mistakes=(
        Mistake("You divided by len(data_loader); divide by the number of batches you actually used (num_batches).",
                lambda loader, model, device, num_batches=None: sum(_loss_of_batches(loader, model, num_batches or len(loader)))
                / len(loader)),
        Mistake("num_batches larger than the loader must be capped at len(data_loader) before dividing by it.",
                lambda loader, model, device, num_batches=None: sum(_loss_of_batches(loader, model, num_batches or len(loader)))
                / (num_batches or len(loader))),
        Mistake("You returned the sum of the batch losses; the seed returns their average.",
                lambda loader, model, device, num_batches=None: sum(_loss_of_batches(loader, model, num_batches or len(loader)))),
    ),
    solution=calc_loss_loader_by_hand,
))


# ---------------------------------------------------------------- 02.5 train mode and eval mode


register(Exercise(
    id="02.5",
    title="Why evaluate in eval mode",
    kind="choice",
    minutes=5,
    cpu_seconds=3,
    statement=(
        "Call `model.train()` on the 124M model of this notebook and compute `calc_loss_batch(inputs, targets, model,\n"
        "device)` twice: the two losses differ. Which statement explains it?\n\n"
        "- **a**: the weights change a little each time the loss is computed\n"
        "- **b**: dropout zeroes a different random 10% of the activations on every forward pass\n"
        "- **c**: the tokenizer splits the text differently on each call\n"
        "- **d**: floating-point sums are added up in a random order on a CPU"
    ),
    hints=("Which layer of the config (`drop_rate`) behaves differently in `model.train()` and `model.eval()`?",),
    name="answer",
    options={"a": "the weights change", "b": "dropout draws new random numbers", "c": "the tokenizer differs",
             "d": "random summation order"},
    answer_hash=answer_hash("02.5", "b"),
    explanations={
        "a": "Computing a loss reads the weights and changes none of them; only optimizer.step() does.",
        "b": "With drop_rate 0.1 each forward pass in train mode drops another random tenth of the activations; "
             "model.eval() switches dropout off, which is why losses are measured in eval mode.",
        "c": "The inputs are the same token ID tensors both times; no tokenizer is involved here.",
        "d": "PyTorch's CPU kernels give the same result for the same input on the same machine.",
    },
))
