"""What the GPU check (tests/gpu) shares: the device it runs on, its model sizes, and the book's training setup.

The check runs on ``cuda`` when ``torch.cuda.is_available()``; otherwise every test is skipped.
``GPTEDU_GPU_CHECK_DEVICE=cpu`` runs the same tests on the CPU with smaller models: a self-test
of the check's own code (on a machine without a GPU), not a check of any GPU.
``GPTEDU_GPU_CHECK_DEVICE=cuda:1`` checks the second GPU.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from gptedu.doctor import hardware_name

ENV_VAR = "GPTEDU_GPU_CHECK_DEVICE"
NO_CUDA = "no CUDA GPU: torch.cuda.is_available() is False"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

#: The book's first two printed lines of the seed's run (chapter 5), as (epoch, step, train loss, val loss).
BOOK_FIRST_LINES = [(1, 0, 9.781, 9.933), (1, 5, 8.111, 8.339)]


def check_device() -> torch.device | None:
    """The device the check runs on: ``$GPTEDU_GPU_CHECK_DEVICE`` if set, else ``cuda``; None when CUDA is missing.

    Raises ``ValueError`` for a value that is neither ``cpu`` nor ``cuda`` (with or without an
    index), so that a typo does not silently turn the check into a skip.
    """
    requested = os.environ.get(ENV_VAR, "").strip()
    if not requested:
        return torch.device("cuda") if torch.cuda.is_available() else None
    try:
        device = torch.device(requested)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"{ENV_VAR}={requested!r}: use 'cpu' (the CPU self-test of the check), 'cuda' or 'cuda:N', "
                         "or leave it unset (cuda if available).")
    if device.type == "cuda" and not torch.cuda.is_available():
        return None
    return device


def is_self_test(device: torch.device) -> bool:
    """True when the check runs on the CPU: it tests its own code, with small models, and checks no GPU."""
    return device.type == "cpu"


def device_label(device: torch.device) -> str:
    """What the check ran on, for the summary table: the GPU's name and compute capability, or the CPU of the self-test."""
    if device.type == "cuda":
        return f"{hardware_name(device)} on {device}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"CPU SELF-TEST of the check, no GPU checked: {hardware_name(device)}, torch {torch.__version__}"


def synchronize(device: torch.device) -> None:
    """Wait until the GPU has finished its queued work (CUDA runs asynchronously); nothing to wait for on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def small_cfg(device: torch.device, **changes: object) -> dict:
    """A GPT that trains in a second on ``device``: 4 layers of width 256 on a GPU, 2 of width 32 on the CPU.

    Both keep GPT-2's vocabulary and the seed's dropout 0.1; ``changes`` override single entries.
    """
    if is_self_test(device):
        cfg = {"vocab_size": 50257, "context_length": 32, "emb_dim": 32, "n_heads": 2, "n_layers": 2}
    else:
        cfg = {"vocab_size": 50257, "context_length": 128, "emb_dim": 256, "n_heads": 4, "n_layers": 4}
    return {**cfg, "drop_rate": 0.1, "qkv_bias": False, **changes}


def fixed_batches(cfg: dict, count: int, batch_size: int = 4, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` batches of random token windows (inputs, targets shifted by one), the same on every call with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, cfg["vocab_size"], (count, batch_size, cfg["context_length"] + 1), generator=generator)
    return [(window[:, :-1], window[:, 1:]) for window in tokens]


def train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, batches: list, device: torch.device) -> list[float]:
    """The seed's step (zero the gradients, loss, backward, update) on each batch; returns each step's loss."""
    from gptedu.exercises.nb04 import _reference_train_epoch  # the loop of train_model_simple, without evaluation

    return _reference_train_epoch(model, optimizer, batches, device)


def verdict_path() -> Path:
    """Where gptedu's cache keeps the seed's corpus, ``the-verdict.txt`` (``$GPTEDU_CACHE_DIR``, else ~/.cache/gptedu)."""
    from gptedu import cache_dir
    from gptedu.data import CORPORA

    return cache_dir() / CORPORA["the-verdict"]["filename"]


class FirstTrainingBatches:
    """``loader``, except that its first pass (a training epoch) stops after ``steps`` batches.

    ``train_model_simple`` also reads the training loader to evaluate (fresh passes, the first
    ``eval_iter`` batches); those passes are the loader's own. Every pass is the loader's iterator,
    so each draws its shuffle seed from the global random state exactly where the book's loop
    does, and the first ``steps`` steps compute what they compute in a full epoch.
    """

    def __init__(self, loader: DataLoader, steps: int) -> None:
        self.loader, self.steps, self.passes = loader, steps, 0

    def __len__(self) -> int:
        return len(self.loader)  # the full length: evaluations average min(eval_iter, len) batches, as the book's do

    def __iter__(self) -> Iterator:
        self.passes += 1
        iterator = iter(self.loader)
        return itertools.islice(iterator, self.steps) if self.passes == 1 else iterator


def book_first_losses(device: torch.device, text: str, steps: int) -> tuple[list[float], list[float]]:
    """The book's run (chapter 5) on ``device`` for its first ``steps`` steps: the train and val losses it prints.

    The seed's setup, seeded in the seed's order: ``GPT_CONFIG_124M`` with context length 256,
    ``torch.manual_seed(123)`` before the model, ``AdamW(lr=0.0004, weight_decay=0.1)``, batches of
    2 windows of The Verdict, ``train_model_simple`` with ``eval_freq=5, eval_iter=5``. The model
    is initialised on the CPU, as the book does, and moved to ``device``.
    """
    from gptedu import GPT_CONFIG_124M, GPTModel, get_tokenizer, train_model_simple, train_val_loaders

    cfg = {**GPT_CONFIG_124M, "context_length": 256}
    train_loader, val_loader = train_val_loaders(text, cfg["context_length"], batch_size=2)  # draws no random number
    torch.manual_seed(123)
    model = GPTModel(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0004, weight_decay=0.1)
    train_losses, val_losses, _ = train_model_simple(
        model, FirstTrainingBatches(train_loader, steps), val_loader, optimizer, device, num_epochs=1, eval_freq=5,
        eval_iter=5, start_context="Every effort moves you", tokenizer=get_tokenizer(), progress=False)
    return train_losses, val_losses


def subprocess_env(device: torch.device) -> dict[str, str]:
    """This process's environment for a child process of the check, with gptedu on its path.

    On CUDA, ``CUBLAS_WORKSPACE_CONFIG`` lets cuBLAS compute reproducibly under
    ``torch.use_deterministic_algorithms`` (the resume check compares two runs bit for bit).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    if device.type == "cuda":
        env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    else:
        env.setdefault("OMP_NUM_THREADS", "1")  # the self-test runs beside other work: one core per process
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)  # a stray torchrun variable would make a child think it is one of several processes
    return env


def run_python(args: list[str], device: torch.device, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` with this interpreter in the repository's root; returns the finished process (output as text)."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, env=subprocess_env(device),
                          timeout=timeout)


def failure_text(result: subprocess.CompletedProcess) -> str:
    """The end of a failed child process's output, for an assertion message."""
    return f"exit code {result.returncode}\n--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}"
