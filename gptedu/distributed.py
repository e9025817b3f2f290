"""Training on several processes (CPU cores or GPUs) at once: DistributedDataParallel, launched by torchrun.

``torchrun --nproc_per_node=N -m gptedu train ...`` starts N copies of the same program. Each
process holds a full copy of the model and trains on its own share of every batch; after each
``loss.backward()`` PyTorch's ``DistributedDataParallel`` (DDP) all-reduces the gradients, so
every process ends the step with the same gradients, takes the same optimizer step and keeps
the same weights. DDP *averages* them (sum over processes, divided by N) because the loss is a
mean over the batch: the mean of N per-process means over equal shares is the mean over their
union, so the averaged gradient is exactly the gradient of one batch of ``batch_size x N``
sequences (tests/test_distributed.py checks this against one process, within float rounding).

torchrun tells each process who it is through environment variables: ``RANK`` (this process,
0 to ``WORLD_SIZE - 1``), ``LOCAL_RANK`` (its index on this machine: which GPU it uses),
``WORLD_SIZE`` (how many processes in all), ``LOCAL_WORLD_SIZE``, and ``MASTER_ADDR`` /
``MASTER_PORT`` (where rank 0 listens, so the processes can find each other). It also sets
``OMP_NUM_THREADS=1`` unless given, so N processes do not fight over the cores. Processes talk
through a *backend*: gloo on CPUs, NCCL between CUDA GPUs.

Every process seeds the same way, so all start from the same weights (DDP also copies rank
0's to the others) and draw the same dropout numbers; their data differs through
``DistributedSampler``, which gives each rank a different slice of the same shuffled order.
Only rank 0 prints, draws samples and writes files (all hold the same weights). Without
torchrun every function here is a no-op and training is the ordinary single-process run.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from .errors import ConfigError, NotEnoughDataError

_TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedInfo:
    """Where this process stands: its ``rank`` among ``world_size`` processes, ``local_rank`` on its machine, the backend."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None  # "gloo" or "nccl"; None for a single process

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True for rank 0, the one process that prints and writes files."""
        return self.rank == 0


def _env_int(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer. Launch with torchrun, which sets it.") from None


def init_distributed(device: str | torch.device) -> DistributedInfo:
    """Join the other processes started by torchrun and return this process's ``DistributedInfo``.

    Reads torchrun's environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``). Not launched by torchrun (no ``RANK`` nor
    ``WORLD_SIZE``), or launched with one process, it does nothing and returns the
    single-process info. Otherwise it initialises the default process group with gloo for
    ``device`` cpu or nccl for cuda (after making GPU ``LOCAL_RANK`` this process's current
    device). Raises ``ConfigError`` for an incomplete or inconsistent environment and for
    devices no backend supports (mps).
    """
    device_type = torch.device(device).type
    if "RANK" not in os.environ and "WORLD_SIZE" not in os.environ:
        return DistributedInfo()  # a plain `python -m gptedu train`
    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise ConfigError(f"Distributed training needs the environment variables {', '.join(_TORCHRUN_VARIABLES)}; "
                          f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Launch with "
                          "`torchrun --nproc_per_node=N -m gptedu train ...`, which sets them all, or unset RANK and "
                          "WORLD_SIZE to train in one process.")
    rank, local_rank, world_size = _env_int("RANK"), _env_int("LOCAL_RANK"), _env_int("WORLD_SIZE")
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ConfigError(f"RANK={rank}, LOCAL_RANK={local_rank}, WORLD_SIZE={world_size} do not fit together: ranks run "
                          "from 0 to WORLD_SIZE - 1. Launch with torchrun, which sets them.")
    if world_size == 1:
        return DistributedInfo()  # one process: nothing to share
    if device_type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK={local_rank} needs GPU {local_rank}, but this machine has "
                              f"{torch.cuda.device_count()}. Start at most that many processes per machine (--nproc_per_node).")
        torch.cuda.set_device(local_rank)  # "cuda" now means this process's own GPU
        backend = "nccl"
    elif device_type == "cpu":
        backend = "gloo"
    else:
        raise ConfigError(f"Distributed training supports cpu (gloo) and cuda (nccl), not {device_type!r}. "
                          "Use --device cpu, or train in one process.")
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world_size)  # waits until all processes have joined
    return DistributedInfo(rank, local_rank, world_size, backend)


def is_main_process() -> bool:
    """True in rank 0 of a distributed run and in any single-process run: the process that prints and writes files."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def wrap_model(model: nn.Module, info: DistributedInfo) -> nn.Module:
    """Return ``model`` wrapped in ``DistributedDataParallel`` when several processes train; else ``model`` itself.

    DDP copies rank 0's weights to every process, then averages the gradients during each
    ``backward()``. No buffer broadcast in ``forward`` (``broadcast_buffers=False``, called
    ``forward_sync_buffers`` since PyTorch 2.13): the model's only buffers are the constant causal
    masks, and broadcasting them would make every forward pass a collective operation that all
    processes must join, so rank 0 could not evaluate or generate on its own. With CUDA the
    model must be on this process's GPU, ``cuda:LOCAL_RANK`` (``--device cuda``).
    """
    if not info.enabled:
        return model
    if not dist.is_initialized():
        raise ConfigError("wrap_model needs the process group: call init_distributed first (under torchrun).")
    device = next(model.parameters()).device
    if device.type == "cuda" and device.index != info.local_rank:
        raise ConfigError(f"Process {info.rank} has its model on {device}, but each process must use its own GPU "
                          f"(cuda:{info.local_rank}, from LOCAL_RANK). Use --device cuda without a number.")
    device_ids = [info.local_rank] if device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel
    renamed = "forward_sync_buffers" in inspect.signature(ddp.__init__).parameters  # PyTorch >= 2.13
    no_buffer_sync = {"forward_sync_buffers": False} if renamed else {"broadcast_buffers": False}
    return ddp(model, device_ids=device_ids, **no_buffer_sync)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside a ``DistributedDataParallel`` wrapper (its ``.module``); any other model unchanged.

    Save, load, evaluate and generate with the plain model: its ``state_dict`` keys have no
    ``module.`` prefix, and calling it never involves the other processes.
    """
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def distributed_loader(loader: DataLoader, info: DistributedInfo, seed: int) -> DataLoader:
    """Return a loader over this rank's share of ``loader``'s data; ``loader`` itself in a single process.

    Uses a ``DistributedSampler``: the dataset's order (shuffled with ``seed`` if ``loader``
    shuffles, as the seed's training loader does) is dealt out to the ranks, rank ``r`` taking
    windows ``r, r + N, r + 2N, ...``, so each process sees a different ``1/N`` of the data and
    all have the same number of batches. With ``drop_last`` (the training loader) the last
    windows that do not fill a round are left out. ``set_sampler_epoch`` must be called before
    each epoch for a new order (the training loops do it). Raises ``NotEnoughDataError`` when
    a rank would get no batch.
    """
    if not info.enabled:
        return loader
    dataset, batch_size = loader.dataset, loader.batch_size
    shuffle = isinstance(loader.sampler, RandomSampler)
    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed,
                                 drop_last=loader.drop_last)
    if len(sampler) == 0 or (loader.drop_last and len(sampler) < batch_size):  # len(sampler): windows of this rank
        needed = info.world_size * batch_size
        tokens = ""
        if hasattr(dataset, "max_length") and hasattr(dataset, "stride"):  # GPTDatasetV1, TokenFileDataset
            tokens = f" ({dataset.max_length + (needed - 1) * dataset.stride + 1} tokens of training text)"
        raise NotEnoughDataError(
            f"{info.world_size} processes x batch_size {batch_size} need at least {needed} training windows{tokens} so "
            f"that every process gets one batch; the training text gives {len(dataset)}. Use more text, fewer processes "
            "(--nproc_per_node), a smaller batch size or a smaller context length."
        )
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=loader.drop_last,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory)


def set_sampler_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell ``loader``'s ``DistributedSampler`` (if it has one) which epoch starts: each epoch then gets a new order.

    The order is drawn from ``seed + epoch``, the same on every rank, so the ranks' shares
    never overlap; without this call every epoch would repeat the first epoch's order.
    """
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)


@contextlib.contextmanager
def print_on_main_only(info: DistributedInfo) -> Iterator[None]:
    """Inside this block, ``print`` shows output in rank 0 only: other ranks' standard output goes to ``os.devnull``.

    Their errors and warnings (standard error) still show.
    """
    if info.is_main:
        yield
        return
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


def cleanup_distributed() -> None:
    """Leave the process group at the end of a successful run, if this process joined one.

    Every process must call it: it first waits until all have finished (a barrier), because a
    process that tears down its connections while another still uses them can crash that one
    ("terminate called without an active exception", seen here with gloo). Do not call it after
    an error: the barrier would wait for processes that are still training. torchrun stops them.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
