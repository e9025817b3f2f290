"""Exercises of notebook 06 · Saving and loading.

The checks run on tiny GPTs (vocabulary 50, width 16 or 32, one or two layers, no dropout) with
AdamW after a step or two, so that the numbers are deterministic and each check takes
milliseconds. The reference of the byte count is what gptedu's checkpoints store
(``gptedu.checkpoints._model_tensors`` plus the optimizer's state); the reference of the book's
exercise 5.4 is the original model and optimizer simply carrying on, which a model and optimizer
restored from a file must match step for step.
"""

from __future__ import annotations

import copy
import functools
import tempfile
import weakref
from pathlib import Path

import torch

from ..checkpoints import _model_tensors
from ..config import gpt2_config
from ..loss import calc_loss_batch
from ..model import GPTModel, count_parameters
from .core import Case, Exercise, Mistake, answer_hash, register, tensors_close

#: The first code cell of the exercises section (and of the solution notebook): what the exercises use.
SETUP = """\
import tempfile
from pathlib import Path

import torch

from gptedu import (GPT_CONFIG_124M, GPTModel, calc_loss_batch, count_parameters, get_tokenizer, gpt2_config,
                    load_checkpoint, load_model, save_checkpoint, save_model, text_to_token_ids)
from gptedu.exercises import check, hint, list_exercises, solution

SMALL_CONFIG = {**GPT_CONFIG_124M, "emb_dim": 256, "n_heads": 4, "n_layers": 4}  # the lesson's small GPT
exercise_dir = Path(tempfile.mkdtemp())  # the exercises' files go here
list_exercises("06")"""


def _tiny_config(emb_dim: int, n_layers: int) -> dict:
    """A GPT config small enough for a check to train it in milliseconds (no dropout: deterministic)."""
    return {"vocab_size": 50, "context_length": 8, "emb_dim": emb_dim, "n_heads": 2, "n_layers": n_layers,
            "drop_rate": 0.0, "qkv_bias": False}


def _train_steps(model, optimizer, batches) -> list[float]:
    """The book's training step on each ``(inputs, targets)`` batch; returns the batch losses."""
    model.train()
    losses = []
    for input_batch, target_batch in batches:
        optimizer.zero_grad()
        loss = calc_loss_batch(input_batch, target_batch, model, "cpu")
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _tiny_run(seed: int, emb_dim: int, n_layers: int, rows: int, steps: int, tied: bool = False, lr: float = 0.01):
    """A seeded tiny GPT with AdamW that has trained ``steps`` batches of a loader of ``rows`` windows (batches of 2)."""
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    cfg = _tiny_config(emb_dim, n_layers)
    model = GPTModel(cfg)
    if tied:
        model.out_head.weight = model.tok_emb.weight  # GPT-2's weight tying: one tensor for both
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    token_ids = torch.randint(0, cfg["vocab_size"], (rows, cfg["context_length"] + 1))
    loader = DataLoader(TensorDataset(token_ids[:, :-1], token_ids[:, 1:]), batch_size=2)  # no shuffling: deterministic
    _train_steps(model, optimizer, list(loader)[:steps])
    return model, optimizer, loader


# ---------------------------------------------------------------- 06.1 the bytes of a checkpoint


def _tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _optimizer_tensors(optimizer) -> list[torch.Tensor]:
    return [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


def _checkpoint_bytes_reference(model, optimizer) -> int:
    """The bytes of the tensors gptedu's ``save_checkpoint`` stores for the model and the optimizer (random states aside)."""
    state, _ = _model_tensors(model)  # no mask buffers; a tied head once
    return _tensor_bytes(state.values()) + _tensor_bytes(_optimizer_tensors(optimizer))


def _bytes_cases() -> list[Case]:
    with torch.random.fork_rng(devices=[]):  # the seeds below leave the student's random state alone
        untied, untied_optimizer, _ = _tiny_run(seed=1, emb_dim=16, n_layers=1, rows=4, steps=1)
        tied, tied_optimizer, _ = _tiny_run(seed=2, emb_dim=32, n_layers=2, rows=4, steps=2, tied=True)
        torch.manual_seed(3)
        half = GPTModel(_tiny_config(16, 2)).to(torch.bfloat16)
    half_optimizer = torch.optim.AdamW(half.parameters(), lr=0.01)  # no step yet: its state is still empty
    return [
        Case("a float32 GPT (width 16, 1 layer) after one AdamW step", (untied, untied_optimizer)),
        Case("a float32 GPT (width 32, 2 layers) with its output head tied to the token embedding, after two AdamW steps",
             (tied, tied_optimizer)),
        Case("a bfloat16 GPT (width 16, 2 layers) whose AdamW has not taken a step yet", (half, half_optimizer)),
    ]


def checkpoint_bytes(model, optimizer):
    """The bytes of the tensors a checkpoint of model and optimizer stores (an int)."""
    model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())  # a tied tensor is listed once
    optimizer_bytes = sum(value.numel() * value.element_size()
                          for state in optimizer.state.values()  # one dict per parameter: step, exp_avg, exp_avg_sq
                          for value in state.values() if torch.is_tensor(value))
    return model_bytes + optimizer_bytes


register(Exercise(
    id="06.1",
    title="How many bytes does a checkpoint hold?",
    kind="implement",
    minutes=10,
    statement=(
        "Section 4 said a checkpoint with AdamW is about three times the model. Count it exactly: write\n"
        "`checkpoint_bytes(model, optimizer)`, the number of bytes of the tensors a checkpoint of `model` and\n"
        "`optimizer` stores, as an `int`:\n\n"
        "- every parameter of the model once (an output head tied to the token embedding is the *same* tensor:\n"
        "  count it once), but not the causal-mask buffers, which the model rebuilds from its config;\n"
        "- every tensor in the optimizer's state, `optimizer.state` (a dict with one entry per parameter).\n\n"
        "A tensor takes `tensor.numel() * tensor.element_size()` bytes: 4 per number in float32, 2 in float16\n"
        "and bfloat16. Do not write a file: count the tensors."
    ),
    hints=(
        "`model.parameters()` lists each parameter tensor once, even a shared one; `model.state_dict()` also holds the "
        "masks (and a tied tensor under both names).",
        "Print `optimizer.state_dict()[\"state\"][0]` after a step: which tensors does AdamW keep per parameter? "
        "And what is in it before the first step?",
        "Add up `v.numel() * v.element_size()` over the values of each `optimizer.state[p]` that are tensors "
        "(`torch.is_tensor(v)`).",
    ),
    name="checkpoint_bytes",
    stub=(
        "def checkpoint_bytes(model, optimizer):\n"
        "    \"\"\"The bytes of the tensors a checkpoint of model and optimizer stores (an int).\"\"\"\n"
        "    # Your code here: the model's parameters, then every tensor in optimizer.state\n"
        "    raise NotImplementedError"
    ),
    reference=_checkpoint_bytes_reference,
    cases=_bytes_cases,
    mistakes=(
        Mistake("You counted only the model: a checkpoint also stores the optimizer's state (for AdamW two running "
                "averages per weight and a step counter). Add the tensors in optimizer.state.",
                lambda model, optimizer: _tensor_bytes(model.parameters())),
        Mistake("You assumed 4 bytes per number; use tensor.element_size(), which is 2 for float16 and bfloat16.",
                lambda model, optimizer: 4 * (sum(p.numel() for p in model.parameters())
                                              + sum(t.numel() for t in _optimizer_tensors(optimizer)))),
        Mistake("You assumed the optimizer holds exactly two numbers per weight (3 × the model). Count the tensors "
                "really in optimizer.state: none before the first step, and a `step` counter beside the two averages.",
                lambda model, optimizer: 3 * _tensor_bytes(model.parameters())),
        Mistake("You counted model.state_dict(): it also holds the causal-mask buffers, which a checkpoint does not "
                "store (and a tied head twice). Count model.parameters() instead.",
                lambda model, optimizer: _tensor_bytes(model.state_dict().values())
                + _tensor_bytes(_optimizer_tensors(optimizer))),
    ),
    solution=checkpoint_bytes,
))


# ---------------------------------------------------------------- 06.2 the sizes of GPT-2 124M's files


def solve_06_2():
    with torch.device("meta"):  # shapes only: no memory
        model = GPTModel(gpt2_config("124M"))
    params = count_parameters(model, tied_output_head=True)  # GPT-2's output head is its token embedding
    model_mb = 4 * params / 1e6  # float32: 4 bytes per parameter; 1 MB = 10**6 bytes
    checkpoint_mb = 3 * model_mb  # the weights plus AdamW's two running averages per weight
    return model_mb, checkpoint_mb


@functools.cache
def _gpt2_124m_parameters() -> int:
    with torch.device("meta"):
        model = GPTModel(gpt2_config("124M"))
    model.out_head.weight = model.tok_emb.weight  # tied, as load_gpt2 returns it
    return count_parameters(model)


def _gpt2_124m_sizes() -> tuple[float, float]:
    """GPT-2 124M in float32 and with AdamW's two moments, in MB (10**6 bytes); step counters are a few bytes."""
    weights = 4 * _gpt2_124m_parameters()
    return weights / 1e6, (weights + 2 * weights) / 1e6


def _head_mb() -> float:
    cfg = gpt2_config("124M")
    return 4 * cfg["vocab_size"] * cfg["emb_dim"] / 1e6


register(Exercise(
    id="06.2",
    title="The files of the pretrained GPT-2 124M",
    kind="numeric",
    minutes=5,
    statement=(
        "Notebook 07 loads GPT-2 124M: `gpt2_config(\"124M\")` (context 1,024, qkv biases) with its output head\n"
        "*tied* to the token embedding, so the two share one tensor. How large, in MB (10⁶ bytes), are\n\n"
        "1. its weights in float32, and\n"
        "2. a checkpoint of it with AdamW, for continuing to train it (weights plus optimizer state; ignore the\n"
        "   step counters and the header, a few kilobytes)?\n\n"
        "Set `answer = (model_mb, checkpoint_mb)`. Count the parameters as section 4 does, on the `meta` device."
    ),
    hints=(
        "`count_parameters(model, tied_output_head=True)` counts a tied head once; `GPTModel` builds an untied one.",
        "4 bytes per float32 number; AdamW keeps two more numbers per weight (the running averages of the gradients "
        "and of their squares).",
    ),
    name="answer",
    stub="answer = None  # (model_mb, checkpoint_mb)",
    reference=_gpt2_124m_sizes,
    compare=lambda expected, got: tensors_close(expected, got, atol=0.0, rtol=2e-3),  # rounding to 1 MB is fine
    mistakes=(
        Mistake("You counted the output head as a separate matrix: GPT-2 ties it to the token embedding, so its "
                "50,257 × 768 weights are stored once (count_parameters(..., tied_output_head=True)).",
                lambda sizes: (sizes[0] + _head_mb(), sizes[1] + 3 * _head_mb())),
        Mistake("You used 2 bytes per parameter: that is float16 or bfloat16. The question asks for float32, 4 bytes.",
                lambda sizes: (sizes[0] / 2, sizes[1] / 2)),
        Mistake("You divided by 2**20 (MiB); here MB means 10**6 bytes, as file sizes are usually given.",
                lambda sizes: (sizes[0] / 1.048576, sizes[1] / 1.048576)),
        Mistake("The checkpoint equals your model size: you forgot the optimizer's state, two numbers per weight.",
                lambda sizes: (sizes[0], sizes[0])),
        Mistake("AdamW keeps *two* running averages per weight (of the gradients and of their squares), so the "
                "checkpoint is 3 × the model, not 2 ×.", lambda sizes: (sizes[0], 2 * sizes[0])),
        Mistake("Those are GB: the question asks for MB (10**6 bytes).", lambda sizes: (sizes[0] / 1000, sizes[1] / 1000)),
    ),
    solution=solve_06_2,
))


# ---------------------------------------------------------------- 06.3 float16 or bfloat16 for sharing


register(Exercise(
    id="06.3",
    title="float16 or bfloat16 for a shared model?",
    kind="experiment",
    minutes=10,
    cpu_seconds=10,
    statement=(
        "Save a model three times with `save_model(model, path, dtype=...)`: `None` (float32), `torch.float16` and\n"
        "`torch.bfloat16`. Load each file with `load_model` (it turns the weights back into float32) and compare,\n"
        "with the float32 model in eval mode:\n\n"
        "- the file sizes;\n"
        "- the largest absolute difference of the logits for `text_to_token_ids(\"Every effort moves you\", tokenizer)`;\n"
        "- the largest difference of the weights, and whether any weight became exactly 0.\n\n"
        "Use the model the lesson trained (`model`); after a kernel restart, `GPTModel(SMALL_CONFIG)` works too. Which\n"
        "format keeps more precision, and why? (float16 has 10 bits of mantissa and 5 of exponent; bfloat16 7 and 8.)"
    ),
    hints=(
        "`(out_16 - out_32).abs().max().item()` gives the largest logit difference; `tokenizer = get_tokenizer()`.",
        "Compare `(p == 0).sum()` of the reloaded weights with the float32 ones: tiny weights are where the two formats differ.",
    ),
    observe=(
        "Both half-precision files are half the size: 57.9 MB against 115.8 MB for the lesson's 29-million-parameter model.\n"
        "float16 keeps more precision: the largest logit difference was 0.0010 for float16 and 0.0072 for bfloat16 (the\n"
        "logits themselves reach 5.3), the largest weight difference 0.0020 against 0.0156, and the validation loss of one\n"
        "batch moved from 7.38536 to 7.38541 (float16) and to 7.38499 (bfloat16). The untrained GPTModel(SMALL_CONFIG) gave\n"
        "the same picture (0.00076 against 0.0073). The reason is the mantissa: 10 bits give about 3 decimal digits, 7 bits\n"
        "about 2. bfloat16's advantage is its range, the exponent of float32: float16 cannot hold numbers below about 6e-8,\n"
        "and the trained model's smallest weight (2.5e-9) became exactly 0 in float16 (a relative error of 100%) but not in\n"
        "bfloat16. For a model to share and reload in float32, float16 is the better choice here; bfloat16 matters for\n"
        "training in half precision, where gradients span many orders of magnitude. "
        "(Measured on a 2-core AMD EPYC, torch 2.13 CPU; about 10 s.)"
    ),
))


# ---------------------------------------------------------------- 06.4 continue from a checkpoint (book 5.4)


_SCRATCH: list[tempfile.TemporaryDirectory] = []  # one temporary folder per Python process, removed when it exits
#: For each case's model: a copy of the (model, optimizer) pair as the case built it. The reference and the mistakes
#: start from a copy of it, so a student's function that trains the case's own model cannot change them.
_PRISTINE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _scratch_folder() -> Path:
    """A new empty folder for one case's files, inside a temporary folder that is removed when Python exits."""
    if not _SCRATCH:
        _SCRATCH.append(tempfile.TemporaryDirectory(prefix="gptedu-exercise-06-"))
    return Path(tempfile.mkdtemp(dir=_SCRATCH[0].name))


def _pristine(model, optimizer):
    """A fresh copy of the case's model and optimizer (``deepcopy`` of the pair keeps the optimizer on the model's tensors)."""
    return copy.deepcopy(_PRISTINE.get(model, (model, optimizer)))


def _resume_cases() -> list[Case]:
    cases = []
    for seed, emb_dim, n_layers, rows, steps, description in (
        (4, 16, 1, 6, 1, "a GPT of width 16 and 1 layer after one AdamW step, resumed on a loader of 3 batches"),
        (5, 32, 2, 4, 2, "a GPT of width 32 and 2 layers after two AdamW steps, resumed on a loader of 2 batches"),
        (6, 16, 2, 7, 3, "a GPT of width 16 and 2 layers after three AdamW steps, resumed on 4 batches (the last of 1 row)"),
    ):
        with torch.random.fork_rng(devices=[]):  # the seed leaves the student's random state alone
            model, optimizer, loader = _tiny_run(seed, emb_dim, n_layers, rows, steps)
        _PRISTINE[model] = copy.deepcopy((model, optimizer))
        cases.append(Case(description, (model, optimizer, _scratch_folder(), loader)))
    return cases


def _carry_on(model, optimizer, folder, train_loader) -> list[float]:
    """The reference: the original model and optimizer train one more epoch, never having stopped."""
    model, optimizer = _pristine(model, optimizer)
    return _train_steps(model, optimizer, train_loader)


def _fresh_optimizer(model, optimizer, folder, train_loader) -> list[float]:
    model, _ = _pristine(model, optimizer)
    new_model = GPTModel(model.cfg)
    new_model.load_state_dict(model.state_dict())
    new_optimizer = torch.optim.AdamW(new_model.parameters(), lr=0.0005, weight_decay=0.1)  # its state never loaded
    return _train_steps(new_model, new_optimizer, train_loader)


def _optimizer_on_old_model(model, optimizer, folder, train_loader) -> list[float]:
    model, optimizer = _pristine(model, optimizer)
    new_model = GPTModel(model.cfg)
    new_model.load_state_dict(model.state_dict())
    new_model.train()
    losses = []
    for input_batch, target_batch in train_loader:  # optimizer.step() moves the old model's tensors, not new_model's
        optimizer.zero_grad()
        loss = calc_loss_batch(input_batch, target_batch, new_model, "cpu")
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _no_zero_grad(model, optimizer, folder, train_loader) -> list[float]:
    model, optimizer = _pristine(model, optimizer)
    model.train()
    optimizer.zero_grad()
    losses = []
    for input_batch, target_batch in train_loader:  # gradients of every batch pile up
        loss = calc_loss_batch(input_batch, target_batch, model, "cpu")
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def save_and_resume(model, optimizer, folder, train_loader):
    """Save model and optimizer into folder, restore both into fresh objects, train them one epoch; return the batch losses."""
    path = folder / "model_and_optimizer.pth"
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict()}, path)

    # A new session: nothing but the file and the config
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    new_model = GPTModel(model.cfg)
    new_model.load_state_dict(checkpoint["model_state_dict"])
    new_optimizer = torch.optim.AdamW(new_model.parameters(), lr=0.0005, weight_decay=0.1)
    new_optimizer.load_state_dict(checkpoint["optimizer_state_dict"])  # AdamW's averages, step counts and lr
    new_model.train()

    losses = []
    for input_batch, target_batch in train_loader:  # one epoch
        new_optimizer.zero_grad()
        loss = calc_loss_batch(input_batch, target_batch, new_model, "cpu")
        loss.backward()
        new_optimizer.step()
        losses.append(loss.item())
    return losses


register(Exercise(
    id="06.4",
    title="Continue pretraining from a saved model and optimizer",
    kind="implement",
    minutes=15,
    book="5.4",
    statement=(
        "The book's exercise: save a model *and its optimizer*, load them in a new session, and continue\n"
        "pretraining for one more epoch. Write `save_and_resume(model, optimizer, folder, train_loader)`:\n\n"
        "1. save the model's weights and the optimizer's state into a file in `folder` (a `pathlib.Path`);\n"
        "2. as a new Python session would, build a fresh `GPTModel(model.cfg)` and a fresh\n"
        "   `torch.optim.AdamW(new_model.parameters(), lr=0.0005, weight_decay=0.1)` (the book's code), and restore\n"
        "   both from the file only;\n"
        "3. train the fresh pair for one epoch on `train_loader`: for each `(input_batch, target_batch)`, `zero_grad`,\n"
        "   `calc_loss_batch(..., \"cpu\")`, `backward`, `step`. Return the list of the batch losses (floats).\n\n"
        "Use the book's `torch.save` of both `state_dict`s with `torch.load(path, weights_only=True)`, or gptedu's\n"
        "`save_checkpoint` / `load_checkpoint` (with a `.safetensors` name). The check runs it on tiny GPTs that have\n"
        "trained a step or more with AdamW, and compares your losses with those of the original model and optimizer\n"
        "simply carrying on: they agree only if the file held everything the optimizer needs."
    ),
    hints=(
        "The book saves one dict: `{\"model_state_dict\": model.state_dict(), \"optimizer_state_dict\": optimizer.state_dict()}`.",
        "Build the new optimizer on `new_model.parameters()`, then call `new_optimizer.load_state_dict(...)`: it brings "
        "back AdamW's running averages, its step counts and the learning rate the run used.",
        "An optimizer only updates the tensors it was built with: one built on the old model's parameters never changes "
        "`new_model`.",
    ),
    name="save_and_resume",
    stub=(
        "def save_and_resume(model, optimizer, folder, train_loader):\n"
        "    \"\"\"Save model and optimizer into folder, restore both into fresh objects, train them one epoch; "
        "return the batch losses.\"\"\"\n"
        "    # Your code here: save both states, build a fresh GPTModel and AdamW, load both, train one epoch\n"
        "    raise NotImplementedError"
    ),
    reference=_carry_on,
    cases=_resume_cases,
    mistakes=(
        Mistake("The model came back but the optimizer started fresh: its running averages and step counts were lost "
                "(and its learning rate is the new one). Save optimizer.state_dict() too and call "
                "new_optimizer.load_state_dict(...).", _fresh_optimizer),
        Mistake("new_model never changed: your optimizer holds the old model's parameters. Build it on "
                "new_model.parameters(), then load its state.", _optimizer_on_old_model),
        Mistake("The gradients piled up from batch to batch: call optimizer.zero_grad() before each backward().",
                _no_zero_grad),
    ),
    solution=save_and_resume,
))


# ---------------------------------------------------------------- 06.5 why weights_only=True


register(Exercise(
    id="06.5",
    title="Why load .pth files with weights_only=True?",
    kind="choice",
    minutes=3,
    statement=(
        "A classmate sends you `finetuned.pth`, written with `torch.save`. gptedu would load it only with\n"
        "`torch.load(path, weights_only=True)`. Why?\n\n"
        "- **a**: it reads only the weights and skips the optimizer's state, so loading is faster\n"
        "- **b**: unpickling can call any function the file names; `weights_only=True` accepts only tensors and plain\n"
        "  containers\n"
        "- **c**: without it, PyTorch converts the weights to float64 on loading, doubling the memory\n"
        "- **d**: it checks the SHA-256 stored in the file, so a flipped bit is noticed before the weights are used"
    ),
    hints=("Section 7 built a harmless file that would have created `pwned.txt`: what stopped it?",),
    name="answer",
    options={"a": "faster, skips the optimizer", "b": "unpickling could run the file's code",
             "c": "avoids a float64 conversion", "d": "checks a SHA-256"},
    answer_hash=answer_hash("06.5", "b"),
    explanations={
        "a": "weights_only=True reads the whole file, optimizer state included (section 6 restored an optimizer from such a "
             "file); it limits what kinds of objects may be rebuilt, not which entries are read.",
        "b": "Pickle rebuilds objects by calling the functions the file names (section 7's __reduce__ called open). With "
             "weights_only=True, torch.load refuses anything but tensors and plain containers, so nothing runs.",
        "c": "torch.load keeps each tensor's stored dtype with or without weights_only; a float32 weight stays float32.",
        "d": "A .pth file carries no checksum for torch.load to check; the SHA-256 is in the header of gptedu's "
             ".safetensors files, and load_model verifies it there.",
    },
))
