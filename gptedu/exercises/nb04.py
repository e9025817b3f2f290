"""Exercises of notebook 04 · The training loop.

The implement-it checks train and evaluate tiny seeded GPTs (a vocabulary of 50 tokens, width 16,
one or two layers, dropout on) for a few batches of 2 x 8 tokens, against gptedu's own
``calc_loss_batch`` step, ``evaluate_model`` and ``lr_at_step``. A training step changes its model
and optimizer in place, so those cases build their arguments afresh (from a seed) for every run:
gptedu's reference, the student's function and each known mistake all start from the same weights,
optimizer state and dropout draws.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math

import torch
from torch.utils.data import DataLoader, TensorDataset

from ..config import GPT_CONFIG_124M
from ..data import load_text, train_val_loaders
from ..loss import calc_loss_batch, calc_loss_loader
from ..model import GPTModel
from ..tokenizer import get_tokenizer
from ..training import evaluate_model, lr_at_step, train_model_simple
from .core import Case, Exercise, Mistake, answer_hash, register, tensors_close

#: The first code cell of the exercises section (and of the solution notebook): what the exercises use.
SETUP = """\
import math

import torch

from gptedu import (GPT_CONFIG_124M, GPTModel, calc_loss_batch, calc_loss_loader, get_tokenizer, load_text,
                    train_model, train_model_simple, train_val_loaders)
from gptedu.exercises import check, hint, list_exercises, solution

list_exercises("04")"""

#: The tiny GPT of the checks: 50 tokens, 8 positions, width 16, and dropout, so that train and eval mode differ.
_TINY = {"vocab_size": 50, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.1, "qkv_bias": False}


class _FreshCase(Case):
    """A case whose arguments ``build()`` makes anew, from a seed, each time they are read.

    ``check`` copies tensor arguments before each run, but not a model or an optimizer; a training
    step changes both in place. Built afresh, they give every run the same start.
    """

    def __init__(self, description: str, build) -> None:
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "kwargs", {})
        object.__setattr__(self, "build", build)

    @property
    def args(self) -> tuple:
        return self.build()


def _loader(generator: torch.Generator, num_batches: int) -> DataLoader:
    """``num_batches`` batches of 2 windows of 8 token IDs, with the targets shifted by one (no shuffling)."""
    token_ids = torch.randint(0, _TINY["vocab_size"], (2 * num_batches, _TINY["context_length"] + 1), generator=generator)
    return DataLoader(TensorDataset(token_ids[:, :-1], token_ids[:, 1:]), batch_size=2)


# ---------------------------------------------------------------- 04.1 one epoch of the training loop


def _training_args(seed: int, n_layers: int, num_batches: int, optimizer: str):
    """A fresh tiny GPT in eval mode (as after an evaluation), its optimizer and a loader, seeded."""
    torch.manual_seed(seed)
    model = GPTModel({**_TINY, "n_layers": n_layers})
    model.eval()
    if optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loader = _loader(torch.Generator().manual_seed(seed), num_batches)
    torch.manual_seed(seed + 1)  # the dropout masks: the same for every run of this case
    return model, opt, loader, "cpu"


def _training_cases() -> list[Case]:
    return [
        _FreshCase("a 1-layer GPT (width 16, dropout 0.1) with AdamW (lr 0.01) on 3 batches of 2 x 8 tokens",
                   lambda: _training_args(41, 1, 3, "adamw")),
        _FreshCase("a 2-layer GPT with AdamW on 4 batches", lambda: _training_args(42, 2, 4, "adamw")),
        _FreshCase("a 1-layer GPT with SGD (lr 0.5, momentum 0.9) on 3 batches", lambda: _training_args(43, 1, 3, "sgd")),
    ]


def _reference_train_epoch(model, optimizer, train_loader, device):
    """The inner loop of gptedu's ``train_model_simple`` (tests/exercises/test_nb04.py checks they agree)."""
    model.train()
    losses = []
    for input_batch, target_batch in train_loader:
        optimizer.zero_grad()
        loss = calc_loss_batch(input_batch, target_batch, model, device)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _epoch_with(model, optimizer, train_loader, device, *, train_mode=True, zero_grad=True, step_first=False):
    """The loop with one of the known mistakes switched on."""
    if train_mode:
        model.train()
    losses = []
    for input_batch, target_batch in train_loader:
        if zero_grad:
            optimizer.zero_grad()
        loss = calc_loss_batch(input_batch, target_batch, model, device)
        if step_first:  # the gradients are still None (zero_grad sets them so): the step changes nothing
            optimizer.step()
            loss.backward()
        else:
            loss.backward()
            optimizer.step()
        losses.append(loss.item())
    return losses


def train_epoch(model, optimizer, train_loader, device):
    """One epoch of training: one update per batch of train_loader. Returns the list of the batch losses (floats)."""
    model.train()  # dropout on (the model may come from an evaluation, in eval mode)
    losses = []
    for input_batch, target_batch in train_loader:  # each (2, 8): inputs and the targets shifted by one
        optimizer.zero_grad()  # forget the previous batch's gradients
        loss = calc_loss_batch(input_batch, target_batch, model, device)
        loss.backward()  # the gradient of the loss for every weight
        optimizer.step()  # update the weights with those gradients
        losses.append(loss.item())
    return losses


register(Exercise(
    id="04.1",
    title="One epoch of the training loop",
    kind="implement",
    minutes=10,
    statement=(
        "Write `train_epoch(model, optimizer, train_loader, device)`: one epoch of the inner loop of\n"
        "`train_model_simple` (section 3). For every `(input_batch, target_batch)` of `train_loader` (each of shape\n"
        "`(batch, num_tokens)`), make one training step: reset the gradients, compute the batch loss with\n"
        "`calc_loss_batch`, backpropagate, update the weights. Return the list of the batch losses as floats, one per\n"
        "batch, in order. The model may arrive in eval mode (as it is after an evaluation): train it in training mode.\n\n"
        "The check trains tiny seeded GPTs with AdamW and with SGD: the loss of each step depends on the updates of\n"
        "all the steps before it, so the list shows whether your steps changed the weights the way gptedu's do."
    ),
    hints=(
        "Four lines per batch, in the order section 3 gives them; before the loop, one line that switches dropout on.",
        "`optimizer.zero_grad()` comes first in every step: `backward` *adds* to the gradients already there.",
        "`loss.backward()` fills the gradients that `optimizer.step()` uses, so it must come before it; "
        "`loss.item()` gives the float to keep.",
    ),
    name="train_epoch",
    stub=(
        "def train_epoch(model, optimizer, train_loader, device):\n"
        "    \"\"\"One epoch of training: one update per batch of train_loader. Returns the list of the batch losses.\"\"\"\n"
        "    # Your code here: training mode, then per batch zero_grad, calc_loss_batch, backward, step\n"
        "    raise NotImplementedError"
    ),
    reference=_reference_train_epoch,
    cases=_training_cases,
    mistakes=(
        Mistake("The gradients pile up from batch to batch: call optimizer.zero_grad() at the start of every step, "
                "since loss.backward() adds to the gradients already there.",
                lambda model, opt, loader, device: _epoch_with(model, opt, loader, device, zero_grad=False)),
        Mistake("Your losses are those of a model whose weights never change: call loss.backward() and then "
                "optimizer.step(), in that order (step uses the gradients that backward computes).",
                lambda model, opt, loader, device: _epoch_with(model, opt, loader, device, step_first=True)),
        Mistake("The model trained in eval mode, with dropout off: call model.train() before the loop, as "
                "train_model_simple does at the start of every epoch.",
                lambda model, opt, loader, device: _epoch_with(model, opt, loader, device, train_mode=False)),
    ),
    solution=train_epoch,
))


# ---------------------------------------------------------------- 04.2 evaluate_model


def _evaluation_args(seed: int, n_train: int, n_val: int, eval_iter: int):
    """A fresh tiny GPT in training mode (as in the middle of training), two loaders and eval_iter, seeded."""
    torch.manual_seed(seed)
    model = GPTModel({**_TINY, "drop_rate": 0.2})
    generator = torch.Generator().manual_seed(seed)
    train_loader, val_loader = _loader(generator, n_train), _loader(generator, n_val)
    torch.manual_seed(seed + 1)  # dropout draws, should dropout be left on
    return model, train_loader, val_loader, "cpu", eval_iter


def _evaluation_cases() -> list[Case]:
    return [
        _FreshCase("a 1-layer GPT (dropout 0.2) in training mode, 4 training and 2 validation batches, eval_iter=2",
                   lambda: _evaluation_args(51, 4, 2, 2)),
        _FreshCase("3 training and 3 validation batches, eval_iter=1", lambda: _evaluation_args(52, 3, 3, 1)),
        _FreshCase("2 training batches and 1 validation batch, eval_iter=5 (more than either loader has)",
                   lambda: _evaluation_args(53, 2, 1, 5)),
    ]


def _reference_evaluate(model, train_loader, val_loader, device, eval_iter):
    train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
    return train_loss, val_loss, model.training


def _evaluate_with(model, train_loader, val_loader, device, eval_iter, *, eval_mode=True, back_to_train=True,
                   num_batches=True, val_loader_used=True):
    """``evaluate_model`` with one of the known mistakes switched on."""
    if eval_mode:
        model.eval()
    with torch.no_grad():
        train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter if num_batches else None)
        val_loss = calc_loss_loader(val_loader if val_loader_used else train_loader, model, device,
                                    num_batches=eval_iter if num_batches else None)
    if back_to_train:
        model.train()
    return train_loss, val_loss, model.training


def evaluate_model_by_hand(model, train_loader, val_loader, device, eval_iter):
    """The losses over eval_iter batches of each loader, measured without dropout; the model goes back to training."""
    model.eval()  # dropout off: the measurement must not be noisy
    with torch.no_grad():  # no gradients needed to measure
        train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)
        val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)
    model.train()  # training goes on with dropout
    return train_loss, val_loss, model.training


register(Exercise(
    id="04.2",
    title="Evaluate during training",
    kind="implement",
    minutes=8,
    statement=(
        "Write `evaluate_model_by_hand(model, train_loader, val_loader, device, eval_iter)`, the evaluation that\n"
        "`train_model_simple` runs every `eval_freq` steps: the average loss over the first `eval_iter` batches of\n"
        "`train_loader` and of `val_loader` (use `calc_loss_loader`), measured with dropout off and without\n"
        "gradients; afterwards the model must be back in training mode, because training goes on.\n\n"
        "Return `(train_loss, val_loss, model.training)`: the third value, read just before you return, lets the\n"
        "check see the mode you leave the model in. The check's models come in training mode with dropout 0.2."
    ),
    hints=(
        "Three things around the two `calc_loss_loader` calls: a mode before, a context manager around, a mode after.",
        "`model.eval()` turns dropout off, `torch.no_grad()` skips the gradient bookkeeping, `model.train()` turns "
        "dropout back on.",
        "`calc_loss_loader(loader, model, device, num_batches=...)` averages over only that many batches.",
    ),
    name="evaluate_model_by_hand",
    stub=(
        "def evaluate_model_by_hand(model, train_loader, val_loader, device, eval_iter):\n"
        "    \"\"\"The losses over eval_iter batches of each loader, without dropout; returns (train, val, model.training).\"\"\"\n"
        "    # Your code here: eval mode, no gradients, two calc_loss_loader calls, training mode again\n"
        "    raise NotImplementedError"
    ),
    reference=_reference_evaluate,
    cases=_evaluation_cases,
    mistakes=(
        Mistake("Dropout was on while you measured, so the losses are noisy: call model.eval() before computing them.",
                lambda *args: _evaluate_with(*args, eval_mode=False)),
        Mistake("The model is still in eval mode when your function returns, so training would go on without dropout: "
                "call model.train() at the end.",
                lambda *args: _evaluate_with(*args, back_to_train=False)),
        Mistake("You averaged over every batch of the loaders: pass num_batches=eval_iter to calc_loss_loader, so that "
                "an evaluation costs only eval_iter batches each.",
                lambda *args: _evaluate_with(*args, num_batches=False)),
        Mistake("Your validation loss is the training loss: compute the second one over val_loader.",
                lambda *args: _evaluate_with(*args, val_loader_used=False)),
    ),
    solution=evaluate_model_by_hand,
))


# ---------------------------------------------------------------- 04.3 warmup and cosine decay


def _schedule_cases() -> list[Case]:
    return [
        Case("10 steps, 4 of warmup from initial_lr 0.0 to peak_lr 1.0, decay down to min_lr 0.1", (10, 1.0, 4, 0.0, 0.1)),
        Case("section 4's run with a schedule: 90 steps, 18 of warmup from 3e-5 to 0.0004, decay down to 1e-6", (90, 0.0004, 18, 3e-5, 1e-6)),
        Case("8 steps without warmup (warmup_steps=0), from 0.01 down to 0.001", (8, 0.01, 0, 0.0, 0.001)),
    ]


def _reference_schedule(total_steps, peak_lr, warmup_steps, initial_lr, min_lr):
    return [lr_at_step(step, total_steps, peak_lr, warmup_steps, initial_lr, min_lr) for step in range(total_steps)]


def _schedule_with(total_steps, peak_lr, warmup_steps, initial_lr, min_lr, *, warmup_shift=0, start=None, floor=None,
                   period=1.0, decay_end=1):
    """The schedule with one of the known mistakes switched on."""
    start = initial_lr if start is None else start
    floor = min_lr if floor is None else floor
    lrs = []
    for step in range(total_steps):
        if step < warmup_steps:
            lrs.append(start + (peak_lr - start) * (step + warmup_shift) / warmup_steps)
        else:
            progress = (step - warmup_steps) / max(total_steps - warmup_steps - decay_end, 1)
            lrs.append(floor + (peak_lr - floor) * 0.5 * (1 + math.cos(math.pi * period * progress)))
    return lrs


def lr_schedule(total_steps, peak_lr, warmup_steps, initial_lr, min_lr):
    """The learning rate of every step 0 .. total_steps - 1: linear warmup, then half a cosine down to min_lr."""
    lrs = []
    decay_steps = max(total_steps - warmup_steps - 1, 1)  # the last step, total_steps - 1, ends the decay
    for step in range(total_steps):
        if step < warmup_steps:  # initial_lr at step 0, rising by the same amount each step
            lrs.append(initial_lr + (peak_lr - initial_lr) * step / warmup_steps)
        else:  # progress goes from 0 (peak_lr) to 1 (min_lr)
            progress = (step - warmup_steps) / decay_steps
            lrs.append(min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress)))
    return lrs


register(Exercise(
    id="04.3",
    title="Warmup and cosine decay",
    kind="implement",
    minutes=10,
    statement=(
        "Write `lr_schedule(total_steps, peak_lr, warmup_steps, initial_lr, min_lr)` without calling gptedu's\n"
        "`lr_at_step`: the list of the learning rates of the steps `0, 1, ..., total_steps - 1` (floats), as\n"
        "`train_model` uses them.\n\n"
        "- **warmup**: during the first `warmup_steps` steps the rate rises linearly, starting at exactly\n"
        "  `initial_lr` at step 0 and rising by the same amount every step, so that it would reach `peak_lr` at\n"
        "  step `warmup_steps`;\n"
        "- **cosine decay**: from step `warmup_steps` (at `peak_lr`) to the last step (at exactly `min_lr`) it\n"
        "  follows half a cosine, `min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress))`, with\n"
        "  `progress` growing linearly from 0 to 1 over those steps (if the decay has a single step, count it as\n"
        "  one step long).\n\n"
        "The check compares every rate to one part in a million."
    ),
    hints=(
        "Loop over `range(total_steps)` with two branches: `step < warmup_steps`, and the rest.",
        "At step 0 the warmup gives `initial_lr`; each step adds `(peak_lr - initial_lr) / warmup_steps`.",
        "The decay runs from step `warmup_steps` to step `total_steps - 1`: that is `total_steps - warmup_steps - 1` "
        "steps for progress to go from 0 to 1.",
    ),
    name="lr_schedule",
    stub=(
        "def lr_schedule(total_steps, peak_lr, warmup_steps, initial_lr, min_lr):\n"
        "    \"\"\"The learning rate of every step 0 .. total_steps - 1: linear warmup, then half a cosine down to min_lr.\"\"\"\n"
        "    # Your code here: a list with one rate per step (math.cos, math.pi)\n"
        "    raise NotImplementedError"
    ),
    reference=_reference_schedule,
    cases=_schedule_cases,
    compare=lambda expected, got: tensors_close(expected, got, atol=1e-12, rtol=1e-6),  # rates are tiny: relative
    mistakes=(
        Mistake("Your warmup is one step ahead (warmup off by one): step 0 must use initial_lr itself, so the fraction "
                "of the warmup done is step / warmup_steps, not (step + 1) / warmup_steps.",
                lambda *args: _schedule_with(*args, warmup_shift=1)),
        Mistake("Your warmup starts at 0 instead of initial_lr: it rises linearly from initial_lr to peak_lr.",
                lambda *args: _schedule_with(*args, start=0.0)),
        Mistake("Your rate decays to 0 instead of min_lr: the cosine part is min_lr + (peak_lr - min_lr) * 0.5 * "
                "(1 + cos(pi * progress)).",
                lambda *args: _schedule_with(*args, floor=0.0)),
        Mistake("Your cosine makes a full period and climbs back to peak_lr at the end: use half a period, "
                "cos(pi * progress) with progress from 0 to 1.",
                lambda *args: _schedule_with(*args, period=2.0)),
        Mistake("Your last step stays above min_lr (the decay ends one step too late): progress is "
                "(step - warmup_steps) / (total_steps - warmup_steps - 1), so that the last step reaches 1.",
                lambda *args: _schedule_with(*args, decay_end=0)),
    ),
    solution=lr_schedule,
))


# ---------------------------------------------------------------- 04.4 counting steps, evaluations and tokens


def solve_04_4():
    batches_per_epoch, tokens_per_batch = 9, 2 * 256  # section 1: 9 training batches of 2 x 256 tokens
    num_epochs, eval_freq = 3, 4
    steps = range(num_epochs * batches_per_epoch)  # global_step 0, 1, ..., 26
    evaluated = [step for step in steps if step % eval_freq == 0]  # 0, 4, ..., 24, each after its step's update
    return len(evaluated), (evaluated[-1] + 1) * tokens_per_batch  # global step s is the (s + 1)-th batch


@functools.cache
def _evaluations_and_tokens() -> tuple[int, int]:
    """Run train_model_simple for 3 epochs with eval_freq=4 on section 1's batches, and count.

    What is counted depends only on the batches' number and shape (9 of 2 x 256 tokens), not on what the
    model learns: the token IDs are folded into a vocabulary of 50 for a GPT of width 8, which makes the
    run take about a second instead of the full vocabulary's 10 to 20 s.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small runs faster on one thread, on a busy machine much faster
    try:
        with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):  # keep the student's RNG, hide the lines
            return _count_evaluations_and_tokens()
    finally:
        torch.set_num_threads(threads)


def _count_evaluations_and_tokens() -> tuple[int, int]:
    """The run itself: section 1's loaders with the token IDs folded into 50, a 1-layer GPT of width 8."""
    torch.manual_seed(123)
    loaders = train_val_loaders(load_text("the-verdict"), GPT_CONFIG_124M["context_length"], batch_size=2)
    folded = []
    for loader, training in zip(loaders, (True, False), strict=True):
        inputs, targets = (torch.cat(parts) for parts in zip(*loader, strict=True))  # all windows, (N, 256) each
        folded.append(DataLoader(TensorDataset(inputs % 50, targets % 50), batch_size=2, shuffle=training, drop_last=training))
    model = GPTModel({**GPT_CONFIG_124M, "vocab_size": 50, "emb_dim": 8, "n_heads": 1, "n_layers": 1})
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0004, weight_decay=0.1)
    train_losses, _, tokens_seen = train_model_simple(
        model, *folded, optimizer, "cpu", num_epochs=3, eval_freq=4, eval_iter=1,
        start_context="!", tokenizer=get_tokenizer(), progress=False)  # "!" is token 0, inside the 50
    return len(train_losses), tokens_seen[-1]


register(Exercise(
    id="04.4",
    title="Steps, evaluations and tokens seen",
    kind="numeric",
    minutes=5,
    statement=(
        "Section 4 ran `train_model_simple` for 10 epochs with `eval_freq=5`. Suppose you run it on the same\n"
        "loaders (9 training batches of 2 x 256 tokens per epoch) for `num_epochs=3` with `eval_freq=4`. How many\n"
        "evaluations does it record (the length of `train_losses`), and how many tokens has the model seen at the\n"
        "last of them (the last entry of `tokens_seen`)? Work it out from the loop's code in section 3 and set\n"
        "`answer = (evaluations, tokens)`; no training needed."
    ),
    hints=(
        "`global_step` starts at -1 and is incremented after each update: the first step is step 0. Which steps "
        "satisfy `global_step % eval_freq == 0`?",
        "`tokens_seen` is increased by `input_batch.numel()` before the evaluation of the same step.",
    ),
    name="answer",
    stub="answer = None  # (evaluations, tokens seen at the last one)",
    reference=_evaluations_and_tokens,
    mistakes=(
        Mistake("The first evaluation happens at step 0, right after the first update (0 % eval_freq == 0): count it too.",
                lambda expected: (expected[0] - 1, expected[1])),
        Mistake("The tokens are counted before the evaluation of the same step: global step s has seen s + 1 batches.",
                lambda expected: (expected[0], expected[1] - 2 * 256)),
        Mistake("Each batch holds 2 sequences of 256 tokens, 512 tokens in all: count every token of the batch.",
                lambda expected: (expected[0], expected[1] // 2)),
        Mistake("You counted from 1: the steps are 0 to 26, evaluated at 0, 4, ..., 24, and step s has seen s + 1 batches.",
                lambda expected: (expected[0] - 1, expected[1] - 2 * 256)),
    ),
    solution=solve_04_4,
))


# ---------------------------------------------------------------- 04.5 reading the curves


register(Exercise(
    id="04.5",
    title="What the two loss curves say",
    kind="choice",
    minutes=4,
    statement=(
        "In section 4 the training loss falls from 9.8 to 0.39 in 10 epochs, while the validation loss falls fast for\n"
        "three epochs, reaches its lowest, 6.13, in epoch 7 and ends at 6.45 (a perplexity of about 630). What do the\n"
        "curves tell you, and what would help most?\n\n"
        "- **a**: the learning rate is too high; with a lower one the validation loss would follow the training loss down\n"
        "- **b**: the model memorises its 4,608 training tokens; much more training text would help most, and stopping\n"
        "  at the lowest validation loss (epoch 7) would keep the best model\n"
        "- **c**: the model is too small to learn the story; a larger one would lower both losses\n"
        "- **d**: the validation loss is measured wrongly: dropout stays on during evaluation and keeps it high"
    ),
    hints=("Compare the two perplexities at the end of section 5: how sure is the model of the training text, and of "
           "new text? What could a model with 162 million weights do with 4,608 tokens?",),
    name="answer",
    options={"a": "the learning rate is too high", "b": "memorising: more text, or stop early",
             "c": "the model is too small", "d": "dropout stays on in evaluation"},
    answer_hash=answer_hash("04.5", "b"),
    explanations={
        "a": "A lower rate slows learning down but leaves the gap: in exercise 04.6 the runs that spend more steps at "
             "low rates end with higher training losses, and every validation loss still stalls above 6.",
        "b": "162 million weights can store 4,608 tokens almost word for word (the epoch-10 sample is copied from the "
             "story) without learning much that carries over to new text; more text is the cure, early stopping "
             "keeps the best model.",
        "c": "The model fits the training text almost perfectly (training perplexity about 1.5); a larger model would "
             "memorise it even faster.",
        "d": "evaluate_model calls model.eval(), which turns dropout off; the training loss is measured the same way and "
             "still falls to 0.39.",
    },
))


# ---------------------------------------------------------------- 04.6 a higher peak learning rate


register(Exercise(
    id="04.6",
    title="Warmup at a higher learning rate",
    kind="experiment",
    minutes=15,
    cpu_seconds=3420,  # four runs like section 4's, 14.2 min each on this project's idle CPU
    cpu_estimated=True,
    statement=(
        "Section 6 showed a constant rate of 0.3 throwing a small GPT off, where warmup + cosine + clipping kept it\n"
        "steady. Does a schedule matter at ordinary rates, for the full model? Repeat\n"
        "section 6 with `GPT_CONFIG_124M` instead of `DEMO_CONFIG` at `PEAK_LR = 0.0004` (the seed's rate) and at\n"
        "`PEAK_LR = 0.004`: four runs of 10 epochs, each from `torch.manual_seed(123)`, each schedule with\n"
        "`train_model_simple` and `train_model` as in section 6. For each run note the final training loss, the\n"
        "best and the final validation loss, and how the first two epochs look (smooth, or jumps?)."
    ),
    quick_variant=(
        "`QUICK_CONFIG = {**GPT_CONFIG_124M, \"context_length\": 64, \"emb_dim\": 64, \"n_heads\": 2, \"n_layers\": 2}` "
        "(6.5 million weights) with its own loaders, `train_val_loaders(text, 64, batch_size=2)` (36 batches per "
        "epoch), for 5 epochs with `eval_freq=12, eval_iter=2` and `warmup_steps=36` (20% of the 180 steps), at "
        "`PEAK_LR = 0.001` and `0.01`. The cell below sets it up; the four runs take about 2 minutes on this project's 2-core CPU."
    ),
    stub=(
        "# Quick variant: a 2-layer GPT of width 64 with a 64-token context, on loaders of that context\n"
        "text, tokenizer = load_text(\"the-verdict\"), get_tokenizer()\n"
        "QUICK_CONFIG = {**GPT_CONFIG_124M, \"context_length\": 64, \"emb_dim\": 64, \"n_heads\": 2, \"n_layers\": 2}\n"
        "torch.manual_seed(123)\n"
        "train_loader, val_loader = train_val_loaders(text, QUICK_CONFIG[\"context_length\"], batch_size=2)\n"
        "loop_args = dict(num_epochs=5, eval_freq=12, eval_iter=2, start_context=\"Every effort moves you\", tokenizer=tokenizer)\n"
        "# Your experiment here: for each PEAK_LR, a run with train_model_simple and one with train_model\n"
        "# (warmup_steps=36, initial_lr=3e-5, min_lr=1e-6, max_norm=1.0); solution(\"04.6\") then says what to observe."
    ),
    hints=(
        "Wrap section 6's two cells in a loop over the peak rates; keep every history in a dict keyed by "
        "(schedule, rate) and print one line per run at the end.",
        "For `train_model`, give `warmup_steps` as 20% of `num_epochs * len(train_loader)`, and keep `initial_lr=3e-5, "
        "min_lr=1e-6, max_norm=1.0` as in section 6.",
    ),
    observe=(
        "Look at where each run ends, and at its first evaluations. Measured here with the quick variant (2-core AMD EPYC,\n"
        "torch 2.13 CPU, a machine shared with other jobs: the four runs took 114 s in all, 20 to 35 s each):\n\n"
        "    PEAK_LR  schedule                     final train  best val  final val\n"
        "    0.001    constant                     5.80         6.52      6.52\n"
        "    0.001    warmup + cosine + clipping   6.08         6.62      6.62\n"
        "    0.01     constant                     3.07         6.26      6.29\n"
        "    0.01     warmup + cosine + clipping   5.38         6.46      6.46\n\n"
        "At these ordinary rates the constant schedule ends lower (at 0.01: validation 6.26 against 6.46), the\n"
        "opposite of section 6 at 0.3. The higher rate helps both schedules on this short run, and this small model\n"
        "shows no instability at 0.01:\n"
        "after 12 steps the constant run is already at a training loss of 8.09 while the warmup run, still at small\n"
        "rates, is at 10.30; in the first two epochs neither training loss rises by more than 0.2 between evaluations.\n"
        "The warmup run catches up before its warmup ends (step 24: 7.02 against 7.04). With 180 steps a schedule costs progress; it pays off where a full-size first step can throw\n"
        "the weights off, which takes larger models, larger rates or much longer runs. The full version (GPT_CONFIG_124M,\n"
        "about 27 minutes of CPU for the four runs) was not run for these notes: if you run it, compare the first two\n"
        "epochs at 0.004 closely, since that is where a constant rate could make the loss jump.\n"
        "(Each run's exact numbers also depend on eval_freq: every evaluation's DataLoader draws a seed from torch's\n"
        "generator, which shifts the dropout masks and shuffles that follow.)"
    ),
))
