"""An interactive explorer of the next-token distribution (notebook 05).

Sliders for temperature, top-k and top-p over a prompt; for each setting it draws the most
likely next tokens as a bar chart and samples one. The explorer is a thin layer over tested
functions: ``next_token_distribution`` (the numbers), ``plot_next_token_distribution`` (the
chart) and ``SamplingExplorer.render`` (what one slider move shows), which
tests/test_widgets.py calls directly. ipywidgets is imported only when the widget is built;
only APIs common to ipywidgets 7 (Colab) and 8 are used (sliders, ``observe``, ``Image``, ``Label``).
The chart goes into the widget as a PNG image (``figure_png``), so it draws in a fresh kernel
whatever pyplot's state: displaying a bare ``Figure`` would show the text ``<Figure size ...>``
unless an earlier cell had imported pyplot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from matplotlib.figure import Figure

from .errors import NotEnoughDataError
from .model import model_context_length
from .sampling import check_sampling_args, next_token_probs
from .tokenizer import text_to_token_ids
from .validation import check_instance, check_int, check_str


@dataclass
class NextTokenDistribution:
    """The next-token probabilities after the transforms, and the most likely tokens as text."""

    probs: torch.Tensor  # (vocab_size,)
    top_ids: list[int]
    top_tokens: list[str]
    top_probs: list[float]


def next_token_distribution(
    model: nn.Module,
    prompt: str,
    tokenizer: Any,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    num_tokens: int = 10,
) -> NextTokenDistribution:
    """The distribution ``generate_text`` would sample the token after ``prompt`` from (``temperature=0``: greedy)."""
    _check_explorer_args(model, prompt, num_tokens)
    check_sampling_args(temperature, top_k, top_p)
    idx = text_to_token_ids(prompt, tokenizer)  # (1, T)
    context_size = model_context_length(model) or idx.shape[1]
    with torch.no_grad():
        logits = model(idx[:, -context_size:])[0, -1]  # (vocab_size,)
    probs = next_token_probs(logits, temperature, top_k, top_p)
    top = torch.topk(probs, min(num_tokens, probs.numel()))
    ids = top.indices.tolist()
    return NextTokenDistribution(probs, ids, [tokenizer.decode([i]) for i in ids], top.values.tolist())


def _check_explorer_args(model: nn.Module, prompt: str, num_tokens: int) -> None:
    check_instance("model", model, nn.Module, "a torch model such as GPTModel(cfg)")
    check_str("prompt", prompt)
    if not prompt:
        raise NotEnoughDataError("prompt is empty: the model needs at least one token to predict the next one. "
                                 "Pass a start such as 'Every effort moves you'.")
    check_int("num_tokens", num_tokens, 1, hint="It is how many of the most likely tokens to show, e.g. 10.")


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """``fig`` as PNG bytes, drawn with matplotlib's Agg renderer: no pyplot and no notebook backend needed."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)  # matplotlib picks its Agg renderer for "png"
    return buffer.getvalue()


def plot_next_token_distribution(dist: NextTokenDistribution, title: str = "Next-token distribution") -> Figure:
    """A bar chart of the most likely next tokens and their probabilities."""
    check_instance("dist", dist, NextTokenDistribution, "a NextTokenDistribution from next_token_distribution(...)")
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    labels = [repr(token) for token in dist.top_tokens]  # repr shows leading spaces and newlines
    ax.bar(range(len(labels)), dist.top_probs, color="tab:blue")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_ylim(0, max(dist.top_probs) * 1.25 or 1)  # an untrained model's bars (about 1e-4) stay visible
    for x, prob in enumerate(dist.top_probs):
        ax.annotate(f"{prob:.2g}", (x, prob), ha="center", va="bottom", fontsize=7)
    ax.set_xlabel("Next token")
    ax.set_ylabel("Probability")
    ax.set_title(title)
    fig.tight_layout()
    return fig


class SamplingExplorer:
    """Sliders for temperature, top-k and top-p over ``prompt``; call ``widget()`` to build and show them."""

    def __init__(self, model: nn.Module, tokenizer: Any, prompt: str, num_tokens: int = 10, seed: int = 123) -> None:
        _check_explorer_args(model, prompt, num_tokens)
        check_int("seed", seed, 0)
        self.model, self.tokenizer, self.prompt = model.eval(), tokenizer, prompt
        self.num_tokens = num_tokens
        self.generator = torch.Generator().manual_seed(seed)  # samples reproducible from the first slider move

    def render(self, temperature: float, top_k: int, top_p: float) -> tuple[Figure, str]:
        """What the explorer shows for one setting: the chart and a sampled next token.

        ``top_k=0`` and ``top_p=1.0`` mean "off", as on the sliders.
        """
        check_int("top_k", top_k, 0, hint="0 switches top-k off, as on the slider.")
        top_k_or_none = None if top_k == 0 else top_k
        dist = next_token_distribution(self.model, self.prompt, self.tokenizer, temperature, top_k_or_none, top_p,
                                       self.num_tokens)
        token_id = int(torch.multinomial(dist.probs, 1, generator=self.generator))
        sample = self.tokenizer.decode([token_id])
        title = f"temperature={temperature:g}, top_k={top_k or 'off'}, top_p={top_p:g}"
        return plot_next_token_distribution(dist, title), sample

    def widget(self) -> Any:
        """The ipywidgets explorer: three sliders above the chart (a PNG image) and the sampled text."""
        import ipywidgets as widgets  # noqa: PLC0415 (optional dependency, needed only here)

        style = {"description_width": "initial"}
        self.sliders = {
            "temperature": widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.05, description="temperature",
                                               style=style),
            "top_k": widgets.IntSlider(value=0, min=0, max=50, description="top_k (0 = off)", style=style),
            "top_p": widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top_p (1 = off)",
                                         style=style),
        }
        self.image = widgets.Image(format="png")
        self.sample = widgets.Label()

        def update(_change: Any = None) -> None:
            fig, sample = self.render(**{name: slider.value for name, slider in self.sliders.items()})
            self.image.value = figure_png(fig)
            self.sample.value = f"{self.prompt}[{sample}]"

        for slider in self.sliders.values():
            slider.observe(update, names="value")
        update()
        return widgets.VBox([*self.sliders.values(), self.image, self.sample])


def explore_sampling(model: nn.Module, tokenizer: Any, prompt: str, num_tokens: int = 10) -> Any:
    """Build the sampling explorer for ``prompt`` and return its widget (display it as a cell's last value)."""
    return SamplingExplorer(model, tokenizer, prompt, num_tokens).widget()
