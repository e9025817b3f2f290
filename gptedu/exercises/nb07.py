"""Exercises of notebook 07 · Loading GPT-2's weights.

The mapping exercise is checked against gptedu's own mapping (``pretrained._copy_hf_tensor``) on
seeded random ``c_attn`` tensors, up to the real (768, 2304); the parameter count against
``count_parameters`` of models built on the ``meta`` device (no memory). The book's exercise 5.5
is computed with ``load_gpt2("124M")`` from the hub cache: on a student's machine the real GPT-2,
in the tests and CI a random-weights stand-in in the published layout, so the reference is always
the same computation as the student's, never a stored number.
"""

from __future__ import annotations

import functools
import math

import torch

from ..config import GPT2_PRESETS, GPT_CONFIG_124M, gpt2_config
from ..data import load_text, train_val_loaders
from ..loss import calc_loss_batch, calc_loss_loader
from ..model import GPTModel, count_parameters
from ..pretrained import GPT2_PARAMETER_COUNTS, _copy_hf_tensor, load_gpt2
from .core import Case, Exercise, Mistake, answer_hash, register

#: The first code cell of the exercises section (and of the solution notebook): what the exercises use.
SETUP = """\
import math

import torch

from gptedu import (GPT2_PARAMETER_COUNTS, GPT2_PRESETS, GPT_CONFIG_124M, GPTModel, calc_loss_loader, count_parameters,
                    generate_text, get_tokenizer, gpt2_config, load_gpt2, load_text, text_to_token_ids,
                    token_ids_to_text, train_val_loaders)
from gptedu.exercises import check, hint, list_exercises, solution

list_exercises("07")"""

_QKV = ("W_query", "W_key", "W_value")


# ---------------------------------------------------------------- 07.1 split c_attn into query, key and value


def _package_split(c_attn_weight, c_attn_bias):
    """gptedu's own mapping of ``h.0.attn.c_attn.*`` into a block's W_query, W_key, W_value (weights and biases)."""
    d = c_attn_weight.shape[0]
    params = {"trf_blocks.0.norm1.scale": torch.empty(d)}  # the mapping checks that block 0 exists
    for proj in _QKV:
        params[f"trf_blocks.0.att.{proj}.weight"] = torch.empty(d, d)
        params[f"trf_blocks.0.att.{proj}.bias"] = torch.empty(d)
    _copy_hf_tensor(params, "h.0.attn.c_attn.weight", c_attn_weight)
    _copy_hf_tensor(params, "h.0.attn.c_attn.bias", c_attn_bias)
    return (tuple(params[f"trf_blocks.0.att.{p}.weight"] for p in _QKV),
            tuple(params[f"trf_blocks.0.att.{p}.bias"] for p in _QKV))


def _c_attn_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(7)
    cases = []
    for d, description in ((6, "a c_attn of width 6: weight (6, 18), bias (18,)"),
                           (12, "a c_attn of width 12: weight (12, 36), bias (36,)"),
                           (768, "GPT-2 124M's shape: weight (768, 2304), bias (2304,)")):
        weight = torch.randn(d, 3 * d, generator=generator)
        bias = torch.randn(3 * d, generator=generator)
        cases.append(Case(description, (weight, bias)))
    return cases


def split_c_attn(c_attn_weight, c_attn_bias):
    """c_attn_weight: (d, 3d) as GPT-2 stores it; c_attn_bias: (3d,).
    Returns (W_query, W_key, W_value) as nn.Linear weights, each (d, d), and (b_query, b_key, b_value), each (d,)."""
    q_w, k_w, v_w = torch.chunk(c_attn_weight, 3, dim=-1)  # each (d, d), Conv1D's (in, out)
    q_b, k_b, v_b = torch.chunk(c_attn_bias, 3, dim=-1)  # each (d,)
    return (q_w.T, k_w.T, v_w.T), (q_b, k_b, v_b)  # nn.Linear keeps (out, in)


register(Exercise(
    id="07.1",
    title="Split GPT-2's fused c_attn into query, key and value",
    kind="implement",
    minutes=10,
    statement=(
        "Section 3 showed that GPT-2 stores a block's three attention projections as one matrix: `attn.c_attn.weight`\n"
        "of shape `(d, 3d)`, `(768, 2304)` for 124M, and a bias of shape `(3d,)`. Write\n"
        "`split_c_attn(c_attn_weight, c_attn_bias)` that returns what `load_weights_into_gpt` copies into\n"
        "`W_query`, `W_key` and `W_value`: `((W_query, W_key, W_value), (b_query, b_key, b_value))`, the weights in\n"
        "`nn.Linear`'s orientation, each of shape `(d, d)`, and the biases each of shape `(d,)`. Query comes first,\n"
        "then key, then value. Do not call gptedu's loading functions."
    ),
    hints=(
        "Which dimension of `(d, 3d)` holds the three projections side by side? That is the one to cut in three "
        "(`torch.chunk(t, 3, dim=...)`).",
        "GPT-2's Conv1D computes `x @ W` with `W` of shape (in, out); `nn.Linear` stores (out, in) and computes "
        "`x @ W.T`. For a square (d, d) part the shape cannot tell you whether you transposed it.",
    ),
    name="split_c_attn",
    stub=(
        "def split_c_attn(c_attn_weight, c_attn_bias):\n"
        "    \"\"\"c_attn_weight: (d, 3d) as GPT-2 stores it; c_attn_bias: (3d,).\n"
        "    Returns (W_query, W_key, W_value) as nn.Linear weights, each (d, d), and (b_query, b_key, b_value), "
        "each (d,).\"\"\"\n"
        "    # Your code here: cut both tensors in three along the right dimension, orient the weights like nn.Linear\n"
        "    raise NotImplementedError"
    ),
    reference=_package_split,
    cases=_c_attn_cases,
    mistakes=(
        Mistake("The weights are not transposed: GPT-2's Conv1D stores (in, out), nn.Linear (out, in). Take .T of each "
                "(d, d) part; its shape alone cannot show the difference.",
                lambda w, b: (tuple(torch.chunk(w, 3, dim=-1)), tuple(torch.chunk(b, 3, dim=-1)))),
        Mistake("You cut the weight along its first dimension (the inputs); query, key and value sit side by side "
                "along the last one, (d, 3d) -> three (d, d).",
                lambda w, b: (tuple(p.T for p in torch.chunk(w, 3, dim=0)), tuple(torch.chunk(b, 3, dim=-1)))),
        Mistake("You cut the weight along its first dimension and did not transpose; split (d, 3d) along the last "
                "dimension into three (d, d) parts, then transpose each.",
                lambda w, b: (tuple(torch.chunk(w, 3, dim=0)), tuple(torch.chunk(b, 3, dim=-1)))),
        Mistake("The biases are not split: the (3d,) bias holds query's, key's and value's biases one after the other.",
                lambda w, b: (tuple(p.T for p in torch.chunk(w, 3, dim=-1)), (b, b, b))),
    ),
    solution=split_c_attn,
))


# ---------------------------------------------------------------- 07.2 the pretrained model's losses (book 5.5)


def solve_07_2():
    model = load_gpt2("124M")  # eval mode; GPT-2's config has drop_rate 0.0
    text = load_text("the-verdict")
    torch.manual_seed(123)  # the training loader shuffles
    train_loader, val_loader = train_val_loaders(text, context_length=256, batch_size=2, train_ratio=0.90)
    with torch.no_grad():
        train_loss = calc_loss_loader(train_loader, model, "cpu")
        val_loss = calc_loss_loader(val_loader, model, "cpu")
    # 4 decimals are plenty to compare, and the same on every CPU (the digits after them vary with its rounding)
    return round(train_loss, 4), round(val_loss, 4)


@functools.cache
def _verdict_losses_124m() -> dict[str, float]:
    """The pretrained 124M's losses on the seed's split: all batches, and the first batch of each."""
    model = load_gpt2("124M")
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # seeding here must not change the student's random state
        torch.manual_seed(123)
        loaders = train_val_loaders(load_text("the-verdict"), context_length=256, batch_size=2, train_ratio=0.90)
        # calc_loss_loader's average, batch by batch (the same sum in the same order), to keep the first batch too
        train, val = ([calc_loss_batch(x, y, model, "cpu").item() for x, y in loader] for loader in loaders)
    losses = {"train": sum(train) / len(train), "val": sum(val) / len(val), "train_first": train[0], "val_first": val[0]}
    return losses


register(Exercise(
    id="07.2",
    title="How well does the pretrained GPT-2 predict The Verdict?",
    kind="numeric",
    minutes=5,
    cpu_seconds=25,  # loading 124M and its losses over the story: 4 s + 22 s on this project's idle CPU
    needs_download=True,
    book="5.5",
    statement=(
        "The book's exercise: compute the training and validation losses of the pretrained GPT-2 124M on *The\n"
        "Verdict*, in one cell that runs on its own after a kernel restart (section 6 showed the pieces). Use the\n"
        "seed's split: `torch.manual_seed(123)`, then\n"
        "`train_val_loaders(text, context_length=256, batch_size=2, train_ratio=0.90)`, every batch of both loaders.\n"
        "Set `answer = (train_loss, val_loss)`. The loss of a model that never saw the story: is it closer to the\n"
        "model notebook 04 trained on it (training loss 0.39, validation loss 6.45) or to a blind guess, ln(50,257) = 10.8?\n\n"
        "Where `load_gpt2` finds the random-weights stand-in of the automated tests instead of OpenAI's weights, both\n"
        "losses are near 10.8: the check recomputes what your `load_gpt2` returns, so it is right in both cases."
    ),
    hints=(
        "`load_gpt2(\"124M\")`, `load_text(\"the-verdict\")`, `train_val_loaders(...)`, then `calc_loss_loader` on each "
        "loader, under `torch.no_grad()`.",
        "`calc_loss_loader` uses every batch unless you pass `num_batches`; the answer is the loss itself, not its "
        "perplexity. `load_gpt2` returns the model in eval mode.",
    ),
    name="answer",
    stub="answer = None  # (train_loss, val_loss)",
    reference=lambda: (_verdict_losses_124m()["train"], _verdict_losses_124m()["val"]),
    mistakes=(
        Mistake("Training and validation are swapped: answer (train_loss, val_loss), in that order.",
                lambda losses: (losses[1], losses[0])),
        Mistake("Those are perplexities, exp(loss); the question asks for the losses themselves.",
                lambda losses: (math.exp(losses[0]), math.exp(losses[1]))),
        Mistake("That is the loss of the first batch only (num_batches=1): average over every batch of each loader.",
                lambda losses: (_verdict_losses_124m()["train_first"], _verdict_losses_124m()["val_first"])),
    ),
    solution=solve_07_2,
))


# ---------------------------------------------------------------- 07.3 larger GPT-2 sizes (book 5.6)


def _gpt2_file_gb(name: str) -> float:
    """The published ``model.safetensors``: float32 weights plus one (1024, 1024) float32 mask buffer per block."""
    cfg = GPT2_PRESETS[name]
    return 4 * (GPT2_PARAMETER_COUNTS[name] + cfg["n_layers"] * cfg["context_length"] ** 2) / 1e9


_SIZES_TABLE = "\n".join(
    f"- {name}: {GPT2_PARAMETER_COUNTS[name]:,} parameters, a {_gpt2_file_gb(name):.2f} GB file, "
    f"{4 * GPT2_PARAMETER_COUNTS[name] / 1e9:.2f} GB of float32 weights in memory"
    for name in GPT2_PRESETS)

register(Exercise(
    id="07.3",
    title="Larger GPT-2 models",
    kind="experiment",
    minutes=20,
    cpu_seconds=540,  # 124M's 25 s (07.2) scaled by the parameter counts, 2.9 + 6.2 + 12.5 times, plus the texts
    cpu_estimated=True,
    needs_download=True,
    book="5.6",
    statement=(
        "The book's exercise: repeat the loss computation of exercise 07.2 and the generation of section 5 (seed 123,\n"
        "25 new tokens, `top_k=50`, `temperature=1.5`) with the larger sizes `\"355M\"`, `\"774M\"` and `\"1558M\"`, as\n"
        "far as your machine's memory allows. For each size note the number of parameters (`count_parameters`), the\n"
        "size of the downloaded file (`gptedu.hub.hf_weights_path(size).stat().st_size`), the time the losses take,\n"
        "the two losses and the text. The downloads are large: 1.5 GB, 3.2 GB and 6.4 GB, each once."
    ),
    hints=(
        "`load_gpt2(size)` takes the same names as `CHOOSE_MODEL`; nothing else in the code changes (the config comes "
        "with the size).",
        "Free the previous model before loading the next (`del model`), or the memory of both is held at once.",
    ),
    quick_variant="only \"355M\": about a minute and a half on this project's 2-core CPU (estimated from 124M's time), "
                  "2.1 GB of memory and a 1.5 GB download.",
    observe=(
        "The four sizes (parameters with the tied head as published, gptedu.GPT2_PARAMETER_COUNTS; the files hold float32\n"
        "weights plus GPT-2's stored (1024, 1024) mask per block):\n"
        f"{_SIZES_TABLE}\n"
        "Memory: the weights plus a few hundred MB. The peak memory of computing the losses here was 1.2 GB for 124M (loaded\n"
        "with load_gpt2, which copies one tensor at a time into a model built on the meta device), and 2.1 GB, 3.9 GB and\n"
        "6.9 GB for 355M, 774M and 1558M (built with random weights of the same shapes), so 1558M wants a machine with 8 GB\n"
        "or more. Time grows with the size: the losses over The Verdict's 10 batches of 2 × 256 tokens (9 training, 1\n"
        "validation) took 14 to 25 s for 124M here, and one batch took 2.1 s, 5.9 s, 11.9 s and 24.9 s of single-threaded\n"
        "CPU time for 124M, 355M, 774M and 1558M: expect about 3, 6 and 12 times the 124M time (2-core AMD EPYC shared\n"
        "with other jobs, torch 2.13 CPU).\n"
        "The losses should fall with the size. The book reports, with OpenAI's weights, training and validation losses of\n"
        "about 3.75 and 3.56 for 124M and 3.30 and 3.12 for 1558M: the book's numbers, not measured here (this machine has\n"
        "no internet, and its tests use a random stand-in); expect 355M and 774M in between. In the text, look for how long\n"
        "it stays on one topic as the model grows; with temperature 1.5 and top-k 50 it is random, so compare a few seeds\n"
        "before judging."
    ),
))


# ---------------------------------------------------------------- 07.4 count a config's parameters


def _count_reference(cfg, tied_head):
    with torch.device("meta"):  # shapes only: even 1558M costs no memory
        model = GPTModel(cfg)
    return count_parameters(model, tied_output_head=tied_head)


def _count_cases() -> list[Case]:
    tiny = {"vocab_size": 50, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0,
            "qkv_bias": False}
    small = {"vocab_size": 100, "context_length": 16, "emb_dim": 32, "n_heads": 4, "n_layers": 3, "drop_rate": 0.1,
             "qkv_bias": True}
    return [
        Case("a tiny GPT (vocabulary 50, width 16, 2 layers, no qkv bias), untied head", (tiny, False)),
        Case("the book's GPT_CONFIG_124M (context 256, no qkv bias), untied head", (dict(GPT_CONFIG_124M), False)),
        Case("GPT-2 355M (qkv bias), head tied to the token embedding", (gpt2_config("355M"), True)),
        Case("a small GPT (vocabulary 100, width 32, 3 layers, qkv bias), tied head", (small, True)),
    ]


def count_gpt_parameters(cfg, tied_head):
    """The number of parameters of GPTModel(cfg), from the config alone; tied_head: the head is the token embedding."""
    d, vocab, n_layers = cfg["emb_dim"], cfg["vocab_size"], cfg["n_layers"]
    embeddings = vocab * d + cfg["context_length"] * d  # tok_emb, pos_emb
    attention = 3 * d * d + (3 * d if cfg["qkv_bias"] else 0) + d * d + d  # W_query, W_key, W_value, out_proj (bias)
    feed_forward = d * 4 * d + 4 * d + 4 * d * d + d  # two Linear layers with biases: d -> 4d -> d
    norms = 2 * 2 * d  # norm1, norm2: scale and shift
    final_norm = 2 * d
    out_head = 0 if tied_head else d * vocab  # no bias; tied: the token embedding's matrix again
    return embeddings + n_layers * (attention + feed_forward + norms) + final_norm + out_head


register(Exercise(
    id="07.4",
    title="Count a GPT's parameters from its config",
    kind="implement",
    minutes=15,
    statement=(
        "Section 1 counted parameters by building models on the `meta` device. Count them from the config alone:\n"
        "write `count_gpt_parameters(cfg, tied_head)` that returns the number of parameters of `GPTModel(cfg)` as an\n"
        "`int`, where `cfg` is a config dict like `GPT_CONFIG_124M` and `tied_head=True` means the output head is the\n"
        "token embedding (GPT-2's weight tying), so its matrix is not counted a second time. Every weight and every\n"
        "bias counts; the causal-mask buffers are not parameters. Do not build a model."
    ),
    hints=(
        "List the pieces: two embeddings; per block an attention (four linear layers), a feed-forward (two), two "
        "layer norms; a final layer norm; the output head. `print(GPTModel(cfg))` on a tiny config shows them all.",
        "Which linear layers have biases? `W_query`, `W_key` and `W_value` only if `cfg[\"qkv_bias\"]`; `out_proj` and the "
        "feed-forward layers always; `out_head` never. A LayerNorm has a scale and a shift of emb_dim numbers each.",
        "Check yourself: GPT-2 124M with a tied head has 124,439,808 parameters.",
    ),
    name="count_gpt_parameters",
    stub=(
        "def count_gpt_parameters(cfg, tied_head):\n"
        "    \"\"\"The number of parameters of GPTModel(cfg), from the config alone; tied_head: the head is the token "
        "embedding.\"\"\"\n"
        "    # Your code here: embeddings + n_layers * (attention + feed-forward + 2 layer norms) + final norm + head\n"
        "    raise NotImplementedError"
    ),
    reference=_count_reference,
    cases=_count_cases,
    mistakes=(
        Mistake("You counted the output head although it is tied: it is the token embedding's matrix, already counted.",
                lambda cfg, tied: _count_reference(cfg, tied) + (cfg["vocab_size"] * cfg["emb_dim"] if tied else 0)),
        Mistake("The query, key and value biases are missing: with cfg[\"qkv_bias\"] each of W_query, W_key and W_value "
                "has emb_dim biases.",
                lambda cfg, tied: _count_reference(cfg, tied) - (3 * cfg["emb_dim"] * cfg["n_layers"] if cfg["qkv_bias"] else 0)),
        Mistake("The layer norms are missing: two per block and a final one, each with a scale and a shift of emb_dim numbers.",
                lambda cfg, tied: _count_reference(cfg, tied) - 2 * cfg["emb_dim"] * (2 * cfg["n_layers"] + 1)),
        Mistake("The position embedding is missing: context_length × emb_dim more.",
                lambda cfg, tied: _count_reference(cfg, tied) - cfg["context_length"] * cfg["emb_dim"]),
        Mistake("The biases of out_proj and of the feed-forward layers are missing: nn.Linear has a bias unless told not to.",
                lambda cfg, tied: _count_reference(cfg, tied) - cfg["n_layers"] * 6 * cfg["emb_dim"]),
    ),
    solution=count_gpt_parameters,
))


# ---------------------------------------------------------------- 07.5 why transpose


register(Exercise(
    id="07.5",
    title="Why GPT-2's weights are transposed on loading",
    kind="choice",
    minutes=3,
    statement=(
        "GPT-2's file holds `h.0.mlp.c_fc.weight` with shape (768, 3072), while gptedu's `trf_blocks[0].ff.layers[0]`,\n"
        "an `nn.Linear(768, 3072)`, has a weight of shape (3072, 768). Why does loading copy the transpose?\n\n"
        "- **a**: Conv1D computes `x @ W` with `W` stored as (in, out); `nn.Linear` computes `x @ W.T` with (out, in)\n"
        "- **b**: TensorFlow stores matrices column by column, and the conversion to safetensors kept that order\n"
        "- **c**: the published file stores its matrices transposed because they compress better that way\n"
        "- **d**: the values are used as stored; `.T` only relabels the shape so that gptedu's shape check passes"
    ),
    hints=("Write out what each layer computes for an input row `x` of 768 numbers: which shape must `W` have for each?",),
    name="answer",
    options={"a": "Conv1D stores (in, out), nn.Linear (out, in)", "b": "TensorFlow's column order",
             "c": "better compression", "d": "only a relabelling for the shape check"},
    answer_hash=answer_hash("07.5", "a"),
    explanations={
        "a": "Conv1D's forward is x @ W + b with W of shape (768, 3072); nn.Linear's is x @ W.T + b with W of shape "
             "(3072, 768). Copying W.T gives nn.Linear exactly GPT-2's computation.",
        "b": "The order of the bytes in memory does not change a tensor's shape; (768, 3072) is the matrix GPT-2 "
             "multiplies by, and the Hugging Face file was written from PyTorch, not TensorFlow.",
        "c": "safetensors stores the raw numbers without compression, and a transposed matrix has the same numbers.",
        "d": "The square (768, 768) c_proj weight would pass any shape check untransposed, yet give wrong outputs: "
             "the transpose moves the values, and the model computes a different function without it.",
    },
))
