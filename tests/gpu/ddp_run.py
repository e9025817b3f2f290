"""The GPU check's torchrun test: one process joins a NCCL process group and takes one DDP step (tests/gpu/test_gpu.py).

Usage: ``python -m torch.distributed.run --nproc_per_node=1 --standalone tests/gpu/ddp_run.py DEVICE OUT_JSON``.
``gptedu.distributed.init_distributed`` treats one process as no distribution at all (nothing
to share), so this script joins the group itself, with the backend gptedu uses for ``DEVICE``
(NCCL on CUDA, gloo on the CPU self-test), and checks what a multi-GPU run relies on: an
all-reduce through the backend, and ``DistributedDataParallel`` taking the same AdamW step as
the plain model (with one process the average over the processes is the gradient itself).
Writes the results to ``OUT_JSON``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn

from gptedu import GPTModel, calc_loss_batch

CFG = {"vocab_size": 1000, "context_length": 16, "emb_dim": 32, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0,
       "qkv_bias": False}  # no dropout: the plain and the DDP model compute the same function


def one_step(model: nn.Module, device: torch.device) -> tuple[nn.Module, float]:
    """One AdamW step on a fixed batch; returns the model and the loss."""
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, CFG["vocab_size"], (4, CFG["context_length"] + 1), generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)
    model.train()
    optimizer.zero_grad()
    loss = calc_loss_batch(tokens[:, :-1], tokens[:, 1:], model, device)
    loss.backward()  # under DDP: the gradients all-reduced (averaged) over the processes
    optimizer.step()
    return model, loss.item()


def main(device_name: str, out_path: Path) -> None:
    local_rank = int(os.environ["LOCAL_RANK"])
    if device_name.startswith("cuda"):
        torch.cuda.set_device(local_rank if device_name == "cuda" else torch.device(device_name).index)
        device, backend = torch.device("cuda", torch.cuda.current_device()), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend)  # rank and world size from torchrun's environment
    try:
        ones = torch.full((1024,), float(dist.get_rank() + 1), device=device)
        dist.all_reduce(ones)  # the sum over the ranks: 1 + 2 + ... + world_size
        torch.manual_seed(123)
        plain, plain_loss = one_step(GPTModel(CFG).to(device), device)
        torch.manual_seed(123)
        ddp = nn.parallel.DistributedDataParallel(GPTModel(CFG).to(device),
                                                  device_ids=[device.index] if device.type == "cuda" else None)
        ddp, ddp_loss = one_step(ddp, device)
        max_diff = max(float((p - q).abs().max()) for p, q in zip(plain.parameters(), ddp.module.parameters(), strict=True))
        world = dist.get_world_size()
        result = {"backend": dist.get_backend(), "world_size": world, "rank": dist.get_rank(),
                  "all_reduce": float(ones.mean()), "expected_all_reduce": world * (world + 1) / 2,
                  "plain_loss": plain_loss, "ddp_loss": ddp_loss, "max_param_diff": max_diff}
        out_path.write_text(json.dumps(result))
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
