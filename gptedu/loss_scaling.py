"""Dynamic loss scaling: training in float16 without losing small gradients (the fast path on T4 and V100 GPUs).

float16 has 5 exponent bits: numbers below about 6e-8 become 0 and above 65,504 become
infinite. Many gradients of a language model are smaller than that, so a float16 backward pass
would silently drop them. Loss scaling multiplies the gradient by a large power of two S where
the backward pass starts (at the logits), so the small gradients stay representable on their way
through the float16 matrix products, and divides it out again where it reaches each fp32 weight.
Powers of two multiply exactly, so the weights receive the same gradient as without scaling.

If S was too large, some gradient overflows to infinity: that step is skipped (no weight moves)
and S is halved. After ``growth_interval`` clean steps S is doubled, to stay as large as is safe.
This is what ``torch.amp.GradScaler`` does; here it hides behind the model and the optimizer
(hooks), so the book's lines ``loss.backward()`` and ``optimizer.step()`` stay as they are, and
gradient clipping and accumulation see true, unscaled gradients.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import torch
import torch.nn as nn

from .errors import ConfigError
from .validation import check_float, check_instance, check_int


class _ScaleGradient(torch.autograd.Function):
    """Identity in the forward pass; multiplies the gradient by ``scaler.scale`` in the backward pass."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, scaler: LossScaler) -> torch.Tensor:
        ctx.scaler, ctx.scale = scaler, scaler.scale
        return logits.view_as(logits)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        ctx.scaler.backward_scale = ctx.scale  # the weights' hooks divide by the same S
        return grad * ctx.scale, None


class LossScaler:
    """Dynamic loss scaling for float16 autocast: scales gradients up at the logits and back down at the weights.

    ``attach(model)`` registers the down-scaling on every weight; ``watch(optimizer)`` makes each
    ``optimizer.step()`` skip the update (and halve ``scale``) when a gradient overflowed. The
    starting scale 2**16, growth every 2,000 clean steps, and the factors 2 and 0.5 are
    ``torch.amp.GradScaler``'s defaults.
    """

    def __init__(self, init_scale: float = 2.0**16, growth_interval: int = 2000) -> None:
        self.scale = check_float("init_scale", init_scale, positive=True, hint="Use a power of two such as 2**16.")
        self.growth_interval = check_int("growth_interval", growth_interval, minimum=1)
        self.backward_scale = self.scale
        self.clean_steps = 0  # steps since the last overflow or growth
        self.skipped_steps = 0
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []
        self._optimizers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def scale_gradient(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits`` unchanged, but their gradient is multiplied by ``scale`` in the backward pass."""
        return _ScaleGradient.apply(logits, self) if logits.requires_grad else logits

    def attach(self, model: nn.Module) -> None:
        """Divide every weight's gradient of ``model`` by the scale before it is added to ``.grad``."""
        check_instance("model", model, nn.Module, "a GPTModel")
        self.detach()
        for param in model.parameters():
            if param.requires_grad:
                self._hooks.append(param.register_hook(self._unscale))

    def detach(self) -> None:
        """Remove the hooks of ``attach`` (the model is back to ordinary gradients)."""
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def watch(self, optimizer: torch.optim.Optimizer) -> None:
        """Make every ``optimizer.step()`` check the gradients first; a second call does nothing."""
        check_instance("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim optimizer such as AdamW")
        if optimizer not in self._optimizers:
            self._optimizers[optimizer] = optimizer.register_step_pre_hook(self._before_step)

    def _unscale(self, grad: torch.Tensor) -> torch.Tensor:
        return grad * (1.0 / self.backward_scale)  # a power of two: exact

    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not grads:
            return
        # One number per gradient, one transfer to the CPU: the largest magnitude (inf or nan if any is).
        largest = torch.stack([torch.linalg.vector_norm(g.detach().float(), ord=math.inf) for g in grads])
        if bool(torch.isfinite(largest).all()):
            self.clean_steps += 1
            if self.clean_steps == self.growth_interval:
                self.scale, self.clean_steps = self.scale * 2.0, 0
            return
        # Overflow: this step must not move any weight. Optimizers skip weights without a gradient.
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = None
        self.scale, self.clean_steps = self.scale * 0.5, 0
        self.skipped_steps += 1
        if self.scale < 2.0**-24:
            raise ConfigError(f"float16 loss scaling gave up: the gradients overflow even at scale {self.scale:g} "
                              "(the loss or a weight is probably NaN or infinite). Train in float32 (FastPath() "
                              "or without --fast), or lower the learning rate.")

    def state_dict(self) -> dict[str, float | int]:
        """The scale and counters, as JSON values for a checkpoint (an exact resume continues with them)."""
        return {"scale": self.scale, "clean_steps": self.clean_steps, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        check_instance("state", state, dict, "what LossScaler.state_dict() returned")
        self.scale = self.backward_scale = check_float("scale", state["scale"], positive=True)
        self.clean_steps = check_int("clean_steps", state["clean_steps"], minimum=0)
        self.skipped_steps = check_int("skipped_steps", state["skipped_steps"], minimum=0)
