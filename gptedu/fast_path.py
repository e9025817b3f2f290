"""The fast training path: the same model and loop, with faster kernels, optimizer and precision.

The book's code spells every operation out (layer norm as mean, variance and division, GELU
as seven elementwise operations, attention as matmul, mask, softmax, dropout, matmul), which
is what a student should read, but each step writes a large tensor to memory. The fast path
switches each model part to PyTorch's fused kernel, and optionally:

- fused AdamW: one kernel updates all parameters (``torch.optim.AdamW(fused=True)``);
- bfloat16 autocast: matrix products in bf16, where the hardware computes bf16 natively (CUDA
  GPUs of compute capability 8.0 or newer, x86 CPUs with AVX512_BF16 or AMX). Elsewhere bf16
  would be emulated and slower, so ``native_bf16`` says no;
- float16 autocast with loss scaling (gptedu/loss_scaling.py), on CUDA GPUs with tensor cores
  but no native bf16 (compute capability 7.x: Colab's free T4, the V100). float16 keeps more
  digits than bf16 but a much smaller range, so the gradients are scaled to stay in it;
- ``torch.compile`` of the transformer blocks (compiles for a minute first; pays off on long runs);
- quick dropout, on request only (``quick_dropout=True``): on CPUs, dropout masks from 16 random
  bits per element (``gptedu.model.quick_dropout``) instead of PyTorch's one-at-a-time draws, and
  attention spelled out so that its weights use it too. It draws other random numbers than the
  book's code, so a run's losses change with it; that is why ``fast_path_for`` leaves it off.

Every switch keeps the parameter names (``state_dict`` keys), so weights move freely between
the paths. What the fast path changes: rounding (bf16 keeps about three significant digits per
product), so a run no longer prints the book's exact losses (the "faithful" path does); in the
seed's 10-epoch run on a CPU they agreed to two or three decimals (notebook 04). On CPUs,
PyTorch's attention kernel draws its dropout from the same random numbers as the book's code
(tests/test_fast_path.py); CUDA's fused kernels draw their own. ``benchmarks/training.py``
measures each switch against the book's implementation.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from .errors import ConfigError
from .loss_scaling import LossScaler
from .model import GELU, Dropout, GPTModel, LayerNorm, MultiHeadAttention
from .validation import check_bool, check_device, check_float, check_instance


@dataclass(frozen=True)
class FastPath:
    """Which speed-ups a model and its optimizer use; ``FastPath()`` is all off (the faithful path).

    ``why`` says why ``fast_path_for`` chose this precision (it is not compared: two paths with
    the same switches are equal).
    """

    fused_kernels: bool = False  # SDPA with dropout, F.layer_norm, F.gelu
    fused_adamw: bool = False
    bf16: bool = False
    compile: bool = False
    fp16: bool = False  # float16 autocast with loss scaling (GPUs without native bf16)
    quick_dropout: bool = False  # CPU dropout masks from 16 random bits each (other random numbers)
    why: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name in ("fused_kernels", "fused_adamw", "bf16", "compile", "fp16", "quick_dropout"):
            check_bool(name, getattr(self, name))
        if self.bf16 and self.fp16:
            raise ConfigError("FastPath: bf16=True and fp16=True exclude each other (one autocast precision); "
                              "use fast_path_for(device), which picks the one this hardware computes natively.")

    @property
    def precision(self) -> str:
        """The precision of the matrix products: ``"bf16"``, ``"fp16"`` or ``"fp32"``."""
        return "bf16" if self.bf16 else "fp16" if self.fp16 else "fp32"

    def describe(self) -> str:
        """A short text such as ``"fused kernels + fused AdamW + bf16 autocast"`` (or ``"faithful"``), and why that precision."""
        parts = [name for name, on in (("fused kernels", self.fused_kernels), ("fused AdamW", self.fused_adamw),
                                       ("bf16 autocast", self.bf16), ("fp16 autocast with loss scaling", self.fp16),
                                       ("torch.compile", self.compile), ("quick dropout", self.quick_dropout)) if on]
        text = " + ".join(parts) if parts else "faithful (the book's fp32 operations)"
        return f"{text}; {self.why}" if self.why else text


def _cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports in /proc/cpuinfo (empty elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not sys.platform.startswith("linux") or not cpuinfo.is_file():
        return set()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16(device: torch.device | str) -> bool:
    """True if ``device`` computes bfloat16 matrix products in hardware, so bf16 autocast speeds training up.

    CUDA: compute capability 8.0 or newer (Ampere: A100, RTX 30xx, L4, H100, ...). Not
    ``torch.cuda.is_bf16_supported()``, which by default also says yes where bf16 is only emulated,
    as on Colab's T4 (7.5) and the V100 (7.0), where it would be slower than fp32. CPU: Linux x86 with AVX512_BF16 or AMX-BF16
    instructions. Everywhere else (other CPUs, Apple's MPS) False: PyTorch would emulate bf16
    there, which is slower than fp32.
    """
    device = torch.device(check_device("device", device))
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        major, _minor = torch.cuda.get_device_capability(device)
        return major >= 8  # Ampere and newer compute bf16 in their tensor cores
    if device.type == "cpu":
        return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    return False


def fused_adamw_supported(device: torch.device | str) -> bool:
    """True if this PyTorch has a fused AdamW kernel for ``device`` (CUDA; CPU since PyTorch 2.4)."""
    check_device("device", device)
    try:
        torch.optim.AdamW([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, ValueError):
        return False
    return True


def autocast_precision(device: torch.device | str) -> tuple[str, str]:
    """The fastest safe precision for training on ``device`` (``"bf16"``, ``"fp16"`` or ``"fp32"``) and why, in words.

    bf16 where it is native (``native_bf16``); float16 with loss scaling on CUDA GPUs of compute
    capability 7.x (tensor cores compute fp16, not bf16: the T4, the V100); fp32 everywhere else.
    """
    device = torch.device(check_device("device", device))
    if device.type == "cuda" and torch.cuda.is_available():
        name = torch.cuda.get_device_name(device)
        major, minor = torch.cuda.get_device_capability(device)
        capability = f"{name} has compute capability {major}.{minor}"
        if native_bf16(device):
            return "bf16", f"bf16 because the {capability} (8.0 or newer: native bf16)"
        if major >= 7:
            return "fp16", f"fp16 because the {capability}: fast fp16 tensor cores, no native bf16"
        return "fp32", f"fp32 because the {capability}: no tensor cores for fp16 or bf16"
    if device.type == "cpu":
        if native_bf16(device):
            return "bf16", "bf16 because this CPU has AVX512_BF16 or AMX instructions"
        return "fp32", "fp32 because this CPU has no AVX512_BF16 or AMX (bf16 would be emulated, slower than fp32)"
    return "fp32", f"fp32 on {device.type} (no native bf16 there)"


def fast_path_for(device: torch.device | str, compile: bool = False, quick_dropout: bool = False) -> FastPath:
    """Everything that helps on ``device``: fused kernels, fused AdamW where supported, bf16 or fp16 where native.

    ``compile`` and ``quick_dropout`` are added only on request: compiling takes a minute first,
    and quick dropout (CPUs only; elsewhere it changes nothing) draws other random numbers.
    """
    check_device("device", device)
    check_bool("compile", compile)
    check_bool("quick_dropout", quick_dropout)
    precision, why = autocast_precision(device)
    return FastPath(fused_kernels=True, fused_adamw=fused_adamw_supported(device), bf16=precision == "bf16",
                    fp16=precision == "fp16", compile=compile, quick_dropout=quick_dropout, why=why)


def apply_fast_path(model: nn.Module, fast_path: FastPath) -> nn.Module:
    """Switch ``model``'s parts to ``fast_path`` in place and return the model.

    ``FastPath()`` switches everything back to the book's operations (except a compiled
    block, which stays compiled). Works on a ``GPTModel`` and on any module built from its
    parts; parameters and ``state_dict`` keys do not change.
    """
    check_instance("model", model, nn.Module, "a GPTModel (or a module built from its parts)")
    if not isinstance(fast_path, FastPath):
        raise ConfigError(f"fast_path must be a FastPath, for example fast_path_for(device); got {type(fast_path).__name__}.")
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.fused_dropout = fast_path.fused_kernels
        elif isinstance(module, Dropout):
            module.quick = fast_path.quick_dropout
        elif isinstance(module, (LayerNorm, GELU)):
            module.fused = fast_path.fused_kernels
        elif isinstance(module, GPTModel):
            module.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(fast_path.precision)
            _switch_loss_scaler(module, fast_path.fp16)
    if fast_path.compile:
        blocks = getattr(model, "trf_blocks", None)
        if blocks is None:
            raise ConfigError("compile=True needs a GPTModel (it compiles model.trf_blocks).")
        for block in blocks:
            block.compile()  # in place: the parameter names stay those of the book
    return model


def _switch_loss_scaler(model: GPTModel, on: bool) -> None:
    """float16 needs loss scaling (gptedu/loss_scaling.py); the other precisions must not have it."""
    scaler = getattr(model, "loss_scaler", None)
    if on and scaler is None:
        model.loss_scaler = LossScaler()
        model.loss_scaler.attach(model)
    elif not on and scaler is not None:
        scaler.detach()
        model.loss_scaler = None


def make_optimizer(model: nn.Module, lr: float = 0.0004, weight_decay: float = 0.1,
                   fast_path: FastPath | None = None) -> torch.optim.AdamW:
    """The seed's ``AdamW(lr=0.0004, weight_decay=0.1)``, fused into one kernel if ``fast_path.fused_adamw``."""
    check_instance("model", model, nn.Module, "a GPTModel")
    check_float("lr", lr, positive=True, hint="The seed trains with lr=0.0004.")
    check_float("weight_decay", weight_decay, minimum=0.0, hint="The seed uses weight_decay=0.1; 0 turns it off.")
    if fast_path is not None:
        check_instance("fast_path", fast_path, FastPath, "a FastPath (for example fast_path_for(device)) or None")
    if fast_path is not None and fast_path.fused_adamw:
        device = next(model.parameters()).device
        if not fused_adamw_supported(device):
            raise ConfigError(f"This PyTorch ({torch.__version__}) has no fused AdamW for {device.type}: use "
                              f"fast_path_for({device.type!r}), which turns it off, or upgrade PyTorch (CPU: 2.4 or newer).")
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scaler = getattr(model, "loss_scaler", None)
    if scaler is not None:  # fp16: skip the steps whose gradients overflowed
        scaler.watch(optimizer)
    return optimizer
