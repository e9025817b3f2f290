"""Weight-only int8 quantization for faster generation on a CPU (opt-in; the README's Speed section).

Generating one token reads every weight of the model once, so on a CPU the speed of cached
generation is memory bandwidth divided by the bytes of the weights (``benchmarks/generation.py``
measures both). Storing each linear layer's weight as int8, with one float scale per output row
(``w ≈ scale * w_int8``, the largest ``|w|`` of a row mapping to 127), reads a quarter of the
bytes of float32. The activations stay small vectors: they are multiplied in bfloat16 by
PyTorch's int8 kernel (``torch.ops.aten._weight_int8pack_mm``) where it exists, and everything
else (embeddings, layer norms, attention, the KV cache, sampling) stays float32.

The price is rounding: each weight moves by up to half a step of its row's scale, and the
activations keep bfloat16's three significant digits in the products. Greedy text follows the
float32 model's until two candidate tokens are nearly tied; ``benchmarks/generation.py`` reports
how many of 200 greedy tokens agree and the loss on *The Verdict* of both. The quantized copy is
for generation only: it cannot be trained, and its ``state_dict`` is not the book's (keep and save
the float32 model; quantize again after loading); in training mode it raises an error.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import InvalidInputError
from .model import GPTModel
from .validation import check_instance


def int8_kernel_available() -> bool:
    """True if this PyTorch has the CPU kernel that multiplies by int8 weights directly (PyTorch 2.3 and newer)."""
    return hasattr(torch.ops.aten, "_weight_int8pack_mm")


class Int8Linear(nn.Module):
    """A linear layer with its weight stored as int8 and one float32 scale per output row (for generation).

    ``Int8Linear(linear)`` quantizes a trained ``nn.Linear``: ``weight_int8 = round(weight / scale)``
    with ``scale = max(|row|) / 127``. ``forward`` computes ``x @ (scale * weight_int8).T + bias``.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        check_instance("linear", linear, nn.Linear, "an nn.Linear")
        weight = linear.weight.detach().float()  # (out, in)
        if not torch.isfinite(weight).all():
            raise InvalidInputError(f"The layer's weight {tuple(weight.shape)} holds NaN or infinite values, which int8 "
                                    "cannot represent. Quantize a model whose weights are finite (did its training diverge?).")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        scale = weight.abs().amax(dim=1).clamp(min=torch.finfo(torch.float32).tiny) / 127  # (out,): one step per row
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())
        # The kernel multiplies by a scale of the activations' dtype; ones keep the float32 scale exact (applied after).
        self.register_buffer("_ones", torch.ones(self.out_features, dtype=torch.bfloat16, device=weight.device),
                             persistent=False)
        self.train(False)  # for generation and evaluation only (forward raises in training mode)

    def uses_int8_kernel(self, x: torch.Tensor) -> bool:
        """True if ``forward(x)`` uses PyTorch's int8 kernel: a CPU tensor and ``in_features`` a multiple of 16.

        Other widths gave wrong numbers from that kernel without an error (PyTorch 2.13), so they,
        and other devices, take the plain way: the weight converted back to float, then multiplied.
        """
        return x.device.type == "cpu" and self.in_features % 16 == 0 and int8_kernel_available()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        if self.training:  # train_model_simple and the other loops call model.train()
            raise InvalidInputError("This model's linear layers hold int8 weights (quantize_int8), which cannot "
                                    "learn. Train the float32 model and quantize a copy of it after training.")
        if self.uses_int8_kernel(x):
            rows = x.reshape(-1, self.in_features).to(torch.bfloat16)  # (N, in)
            y = torch.ops.aten._weight_int8pack_mm(rows, self.weight_int8, self._ones).float()  # (N, out)
            y = (y * self.scale).view(*x.shape[:-1], self.out_features)
        else:
            y = F.linear(x.float(), self.weight_int8.float()) * self.scale
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, int8"


def quantize_int8(model: GPTModel) -> GPTModel:
    """A copy of ``model`` for generation whose linear layers hold int8 weights (``Int8Linear``); ``model`` is unchanged.

    Every ``nn.Linear`` (attention, MLP and the output head: 85 million of the 124M model's
    numbers) becomes an ``Int8Linear``; the embeddings and layer norms stay float32. The copy is in
    evaluation mode; use it with ``generate_text`` exactly like the original. On a CPU with
    PyTorch 2.3 or newer the products use the int8 kernel; elsewhere the copy still works, without
    the speed-up.
    """
    check_instance("model", model, GPTModel, "a GPTModel")
    quantized = copy.deepcopy(model).eval().requires_grad_(False)  # nothing in it is trained
    for prefix, module in list(quantized.named_modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.Linear):
                try:
                    setattr(module, name, Int8Linear(child))
                except InvalidInputError as error:
                    raise InvalidInputError(f"{prefix + '.' if prefix else ''}{name}: {error}") from None
    return quantized
