"""Load OpenAI's pretrained GPT-2 into ``GPTModel`` (notebook 07), and write it back out for transformers.

``load_gpt2("124M")`` returns a ready model (context 1024, qkv bias on, tied output head) for
any of the four sizes, from one of three sources:

- ``"huggingface"`` (default): ``model.safetensors`` of ``openai-community/gpt2*``, fetched by
  ``huggingface_hub`` (its cache, resumed downloads, ``HF_HUB_OFFLINE=1``), read with ``safetensors``;
- ``"openai"``: OpenAI's original TensorFlow checkpoint, read by ``gptedu.tf_checkpoint``
  without TensorFlow (``gptedu.openai_download`` fetches it);
- a path: a folder in either layout, or one ``.safetensors`` / ``.pth`` file, in Hugging Face's
  names or in the book's (``tok_emb.weight``, ...).

Whatever the source, tensors arrive one at a time under Hugging Face's names and go through
one mapping (``_copy_hf_tensor``): ``c_attn`` is split into query, key and value, GPT-2's
Conv1D weights are transposed into ``nn.Linear``'s layout, and the attention-mask buffers are
skipped. The model is built on the ``meta`` device first, so no random initialisation is
computed, and each tensor is copied straight into its parameter: loading never holds two
copies of the weights. tests/test_pretrained.py compares the logits with transformers'.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from .config import GPT2_PRESETS, gpt2_config
from .errors import ChecksumError, ConfigError, DataNotFoundError
from .model import GPTModel

HF_REPOS = {
    "gpt2-small (124M)": "openai-community/gpt2", "gpt2-medium (355M)": "openai-community/gpt2-medium",
    "gpt2-large (774M)": "openai-community/gpt2-large", "gpt2-xl (1558M)": "openai-community/gpt2-xl",
}
#: Parameters of each size with the output head tied to the token embedding, as published.
GPT2_PARAMETER_COUNTS = {
    "gpt2-small (124M)": 124_439_808, "gpt2-medium (355M)": 354_823_168,
    "gpt2-large (774M)": 774_030_080, "gpt2-xl (1558M)": 1_557_611_200,
}


def gpt2_size_name(model_size: str) -> str:
    """The book's name of a GPT-2 size: ``"124M"``, ``"gpt2"``, ``"openai-community/gpt2"`` -> ``"gpt2-small (124M)"``."""
    cfg = gpt2_config(model_size)  # raises ConfigError listing the known names
    return next(name for name, preset in GPT2_PRESETS.items() if preset == cfg)


def build_empty_gpt(cfg: dict[str, Any], tie_output_head: bool = True) -> GPTModel:
    """A ``GPTModel`` with uninitialised weights (no time spent on a random init that is overwritten).

    Built on the ``meta`` device (shapes only), then given real, empty memory. GPT-2 uses its
    token embedding as output layer, so ``out_head.weight`` *is* ``tok_emb.weight``.
    """
    with torch.device("meta"):
        model = GPTModel(cfg)
    model.to_empty(device="cpu")
    if tie_output_head:
        model.out_head.weight = model.tok_emb.weight
    for block in model.trf_blocks:  # the causal masks are buffers, not weights: rebuild them
        n = block.att.mask.shape[0]
        block.att.mask.copy_(torch.triu(torch.ones(n, n), diagonal=1))
    return model.eval()


# ---------------------------------------------------------------- the one mapping


class _RowBlocks:
    """A large tensor of a ``.safetensors`` file, copied a block of rows at a time.

    Each block is read through its own ``safe_open`` (a fresh memory map), so neither the whole
    tensor nor the whole file is ever resident besides the model itself.
    """

    def __init__(self, path: Path, key: str, shape: list[int], block_rows: int) -> None:
        self.path, self.key, self.shape, self.block_rows = path, key, torch.Size(shape), block_rows

    def copy_into(self, target: torch.Tensor) -> None:
        from safetensors import safe_open

        for start in range(0, self.shape[0], self.block_rows):
            with safe_open(str(self.path), framework="pt") as file:
                target[start:start + self.block_rows].copy_(file.get_slice(self.key)[start:start + self.block_rows])

    def load(self) -> torch.Tensor:
        from safetensors import safe_open

        with safe_open(str(self.path), framework="pt") as file:
            return file.get_tensor(self.key)


def _assign(target: torch.Tensor, value: torch.Tensor | _RowBlocks, target_name: str, source_name: str) -> None:
    if tuple(target.shape) != tuple(value.shape):
        raise ConfigError(
            f"Shape mismatch: {source_name} has shape {tuple(value.shape)} but {target_name} of the model "
            f"has shape {tuple(target.shape)}. Does the model's config (GPT-2 size) match the checkpoint's?"
        )
    with torch.no_grad():
        if isinstance(value, _RowBlocks):
            value.copy_into(target)
        else:
            target.copy_(value)


_BLOCK_KEY = re.compile(r"h\.(\d+)\.(.+)")
_BLOCK_TARGETS = {  # Hugging Face name inside block i -> (gptedu name inside trf_blocks[i], transpose?)
    "ln_1.weight": ("norm1.scale", False), "ln_1.bias": ("norm1.shift", False),
    "ln_2.weight": ("norm2.scale", False), "ln_2.bias": ("norm2.shift", False),
    "attn.c_proj.weight": ("att.out_proj.weight", True), "attn.c_proj.bias": ("att.out_proj.bias", False),
    "mlp.c_fc.weight": ("ff.layers.0.weight", True), "mlp.c_fc.bias": ("ff.layers.0.bias", False),
    "mlp.c_proj.weight": ("ff.layers.2.weight", True), "mlp.c_proj.bias": ("ff.layers.2.bias", False),
}
_TOP_TARGETS = {"wte.weight": "tok_emb.weight", "wpe.weight": "pos_emb.weight",
                "ln_f.weight": "final_norm.scale", "ln_f.bias": "final_norm.shift"}
_SKIPPED = ("attn.bias", "attn.masked_bias")  # causal-mask buffers stored by older GPT-2 code


def _copy_hf_tensor(params: dict[str, torch.Tensor], key: str, value: torch.Tensor) -> list[str]:
    """Copy one tensor with a Hugging Face GPT-2 name into the model's ``params``; return the names filled."""
    key = key.removeprefix("transformer.")
    if key in _TOP_TARGETS:
        _assign(params[_TOP_TARGETS[key]], value, _TOP_TARGETS[key], key)
        return [_TOP_TARGETS[key]]
    match = _BLOCK_KEY.fullmatch(key)
    if key == "lm_head.weight" or (match and match.group(2) in _SKIPPED):
        return []  # the head is tied to wte; masks are rebuilt by the model
    if isinstance(value, _RowBlocks):  # only wte/wpe are copied block by block; the rest needs the whole tensor
        value = value.load()
    if match is None:
        raise ConfigError(f"Unexpected tensor {key!r}: it is not part of GPT-2. Is this a GPT-2 checkpoint?")
    prefix, name = f"trf_blocks.{match.group(1)}.", match.group(2)
    if f"{prefix}norm1.scale" not in params:
        raise ConfigError(f"The checkpoint has {key} but the model has only {len({k.split('.')[1] for k in params if k.startswith('trf_blocks.')})} "
                          "transformer blocks. Does the model's config (GPT-2 size) match the checkpoint's?")
    if name in ("attn.c_attn.weight", "attn.c_attn.bias"):
        # c_attn computes query, key and value at once: [d, 3d] (Conv1D: in x out). Split it in three.
        parts = torch.chunk(value, 3, dim=-1)
        filled = []
        for part, proj in zip(parts, ("W_query", "W_key", "W_value"), strict=True):
            target = f"{prefix}att.{proj}.{name.rsplit('.', 1)[1]}"
            if target not in params:
                raise ConfigError(f"The checkpoint has {key} but the model has no {target}: build it with qkv_bias=True.")
            _assign(params[target], part.T if part.dim() == 2 else part, target, f"{key} ({proj} part)")
            filled.append(target)
        return filled
    if name not in _BLOCK_TARGETS:
        raise ConfigError(f"Unexpected tensor {key!r}: it is not part of GPT-2. Is this a GPT-2 checkpoint?")
    target, transpose = _BLOCK_TARGETS[name]
    # GPT-2's Conv1D stores weights as (in, out); nn.Linear as (out, in).
    _assign(params[prefix + target], value.T if transpose else value, prefix + target, key)
    return [prefix + target]


def _fill_from_hf_tensors(model: GPTModel, tensors: Iterable[tuple[str, Any]]) -> None:
    params = dict(model.named_parameters(remove_duplicate=False))
    expected = {name for name in params if name != "out_head.weight"}
    filled: set[str] = set()
    for key, value in tensors:
        filled.update(_copy_hf_tensor(params, key, value if isinstance(value, _RowBlocks) else torch.as_tensor(value)))
    missing = sorted(expected - filled)
    if missing:
        raise ConfigError(f"The checkpoint has no values for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}: "
                          "it is incomplete, or not a GPT-2 checkpoint of this size.")
    if model.out_head.weight is not model.tok_emb.weight:  # a model built untied: tie it as GPT-2 does
        model.out_head.weight = model.tok_emb.weight


def _book_params_as_hf(params: dict) -> Iterator[tuple[str, Any]]:
    """The book's nested ``params`` (from OpenAI's checkpoint) under Hugging Face's flat names."""
    yield "wte.weight", params["wte"]
    yield "wpe.weight", params["wpe"]
    for i, block in enumerate(params["blocks"]):
        for group, layers in block.items():  # "attn", "mlp", "ln_1", "ln_2"
            if group.startswith("ln_"):
                yield f"h.{i}.{group}.weight", layers["g"]
                yield f"h.{i}.{group}.bias", layers["b"]
                continue
            for layer, values in layers.items():  # c_attn, c_proj, c_fc
                yield f"h.{i}.{group}.{layer}.weight", values["w"]
                yield f"h.{i}.{group}.{layer}.bias", values["b"]
    yield "ln_f.weight", params["g"]
    yield "ln_f.bias", params["b"]


def load_weights_into_gpt(model: GPTModel, params: dict) -> GPTModel:
    """Copy GPT-2 weights into ``model`` (built with a GPT-2 config): the book's function.

    ``params`` is the book's nested dict from ``load_gpt2_params_from_tf_ckpt`` (``params["wte"]``,
    ``params["blocks"][i]["attn"]["c_attn"]["w"]``, ...) or a flat Hugging Face state dict
    (``"h.0.attn.c_attn.weight"``, ...). Splits ``c_attn`` into query, key and value, transposes
    the Conv1D weights and ties ``out_head`` to ``tok_emb``. A shape that does not fit raises
    ``ConfigError`` naming the tensor. Returns the model.
    """
    tensors = _book_params_as_hf(params) if "blocks" in params else params.items()
    _fill_from_hf_tensors(model, tensors)
    return model


# ---------------------------------------------------------------- reading files


def _safetensors_tensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield a ``.safetensors`` file's tensors one at a time.

    The file is memory-mapped; reopening it for each tensor lets the operating system drop the
    pages already copied, so at most one tensor's worth of the file is resident at once.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            shapes = {key: file.get_slice(key).get_shape() for key in file.keys()}
        for key, shape in shapes.items():
            row_bytes = 4 * max(1, shape[-1] if len(shape) > 1 else 1)
            if len(shape) == 2 and shape[0] * row_bytes > _BLOCK_BYTES:  # the token embedding
                yield key, _RowBlocks(path, key, shape, max(1, _BLOCK_BYTES // row_bytes))
                continue
            with safe_open(str(path), framework="pt") as file:
                yield key, file.get_tensor(key)
    except SafetensorError as error:
        raise ChecksumError(f"{path} is not a readable safetensors file ({error}): it is truncated or corrupt. "
                            "Delete it and download it again.") from error


_BLOCK_BYTES = 16 << 20  # tensors above 16 MiB are copied in blocks of about this size


def _torch_file_tensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)  # mmap: no copy in memory
    if "model_state_dict" in state:  # the seed's model-and-optimizer checkpoint
        state = state["model_state_dict"]
    yield from state.items()


def _file_tensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    return _safetensors_tensors(path) if path.suffix == ".safetensors" else _torch_file_tensors(path)


def _config_from_hf_json(path: Path) -> dict[str, Any]:
    hf = json.loads(path.read_text())
    return {"vocab_size": hf.get("vocab_size", 50257), "context_length": hf.get("n_positions", hf.get("n_ctx", 1024)),
            "emb_dim": hf["n_embd"], "n_heads": hf["n_head"], "n_layers": hf["n_layer"], "drop_rate": 0.0, "qkv_bias": True}


def _config_from_openai_hparams(path: Path) -> dict[str, Any]:
    hp = json.loads(path.read_text())
    return {"vocab_size": hp["n_vocab"], "context_length": hp["n_ctx"], "emb_dim": hp["n_embd"],
            "n_heads": hp["n_head"], "n_layers": hp["n_layer"], "drop_rate": 0.0, "qkv_bias": True}


def _load_book_state_dict(path: Path, model_size: str | None) -> GPTModel:
    """A ``.pth`` / ``.safetensors`` file with ``GPTModel``'s own names (the book's layout)."""
    shapes = {key: tuple(value.shape) for key, value in _file_tensors(path)}
    n_layers = 1 + max(int(key.split(".")[1]) for key in shapes if key.startswith("trf_blocks."))
    vocab_size, emb_dim = shapes["tok_emb.weight"]
    saved_cfg = path.with_name("config.json")  # what `gptedu train` writes beside model.pth
    if saved_cfg.is_file() and "n_heads" in json.loads(saved_cfg.read_text()):
        preset = json.loads(saved_cfg.read_text())
    elif model_size or any(p["emb_dim"] == emb_dim for p in GPT2_PRESETS.values()):
        preset = gpt2_config(model_size) if model_size else next(p for p in GPT2_PRESETS.values() if p["emb_dim"] == emb_dim)
    else:
        raise ConfigError(f"{path} has emb_dim {emb_dim}, which is no GPT-2 size, so its number of heads is unknown. "
                          "Put the model's config (a dict with n_heads) as config.json beside it.")
    cfg = {**gpt2_config("124M"), "vocab_size": vocab_size, "context_length": shapes["pos_emb.weight"][0],
           "emb_dim": emb_dim, "n_layers": n_layers, "n_heads": preset["n_heads"],
           "qkv_bias": "trf_blocks.0.att.W_query.bias" in shapes}
    tied = "out_head.weight" not in shapes
    model = build_empty_gpt(cfg, tie_output_head=tied)
    params = dict(model.named_parameters(remove_duplicate=False))
    for key, value in _file_tensors(path):
        if key.endswith(".mask"):
            continue
        if key not in params:
            raise ConfigError(f"Unexpected tensor {key!r} in {path}: not a GPTModel weight.")
        _assign(params[key], value, key, f"{key} of {path.name}")
    return model


def _load_local(path: Path, model_size: str | None) -> GPTModel:
    if path.is_dir():
        if (path / "model.safetensors").is_file() or (path / "pytorch_model.bin").is_file():
            weights = path / "model.safetensors"
            weights = weights if weights.is_file() else path / "pytorch_model.bin"
            cfg = _config_from_hf_json(path / "config.json") if (path / "config.json").is_file() else gpt2_config(model_size or "124M")
            return _load_hf_file(weights, cfg)
        if list(path.glob("*.index")):
            from .tf_checkpoint import read_tf_checkpoint

            cfg = _config_from_openai_hparams(path / "hparams.json") if (path / "hparams.json").is_file() else gpt2_config(model_size or "124M")
            model = build_empty_gpt(cfg)
            _fill_from_hf_tensors(model, _openai_as_hf(read_tf_checkpoint(path)))
            return model
        raise DataNotFoundError(f"{path} holds no GPT-2 weights: expected model.safetensors (+ config.json), "
                                "or OpenAI's model.ckpt.index, model.ckpt.data-00000-of-00001 and hparams.json.")
    if not path.is_file():
        raise DataNotFoundError(f"No such file or folder: {path}.")
    if path.suffix == ".index" or path.name.startswith("model.ckpt"):
        return _load_local(path.parent, model_size)
    first_key = next(iter(_file_tensors(path)))[0]
    if first_key.startswith(("tok_emb.", "pos_emb.", "trf_blocks.", "final_norm.", "out_head.")):
        return _load_book_state_dict(path, model_size)
    return _load_hf_file(path, gpt2_config(model_size or "124M"))


def _openai_as_hf(tensors: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    from .tf_checkpoint import openai_to_hf_name

    for name, array in tensors:
        yield openai_to_hf_name(name), array[0] if array.ndim == 3 else array  # [1, d, k] -> [d, k]


def _load_hf_file(path: Path, cfg: dict[str, Any]) -> GPTModel:
    model = build_empty_gpt(cfg)
    _fill_from_hf_tensors(model, _file_tensors(path))
    return model


def load_gpt2(model_size: str | None = "124M", source: str | os.PathLike = "huggingface", device: str | torch.device = "cpu") -> GPTModel:
    """Return OpenAI's pretrained GPT-2 as a ``GPTModel`` in eval mode.

    ``model_size``: ``"124M"``, ``"355M"``, ``"774M"``, ``"1558M"``, the book's names
    (``"gpt2-small (124M)"``) or Hugging Face's (``"gpt2-medium"``). ``source``:
    ``"huggingface"``, ``"openai"``, or a local folder/file (then a ``config.json`` or
    ``hparams.json`` beside the weights gives the shapes, and ``model_size`` may be ``None``).
    Offline and not cached, it raises ``DataNotFoundError`` saying what to download and where.
    """
    if str(source) in ("huggingface", "hf"):
        from .hub import hf_weights_path

        model = _load_hf_file(hf_weights_path(model_size or "124M"), gpt2_config(model_size or "124M"))
    elif str(source) == "openai":
        from .openai_download import download_openai_gpt2

        folder = download_openai_gpt2(model_size or "124M")
        try:
            model = _load_local(folder, model_size)
        except ChecksumError:  # the right size but corrupt bytes: delete the weights and fetch them again, once
            for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
                (folder / name).unlink(missing_ok=True)
            model = _load_local(download_openai_gpt2(model_size or "124M"), model_size)
    else:
        model = _load_local(Path(source).expanduser(), model_size)
    return model.to(device).eval()


# ---------------------------------------------------------------- export for transformers


def export_to_hf(model: GPTModel, folder: str | os.PathLike) -> Path:
    """Write ``model`` as a Hugging Face GPT-2 folder (``config.json`` + ``model.safetensors``).

    ``transformers.GPT2LMHeadModel.from_pretrained(folder)`` then loads it, for students who
    continue in that ecosystem. The model must be GPT-2-shaped: ``qkv_bias=True`` and an output
    head equal to the token embedding (GPT-2 has no separate head).
    """
    from safetensors.torch import save_file

    cfg = model.cfg
    if not cfg["qkv_bias"]:
        raise ConfigError("export_to_hf needs a GPT-2-shaped model: build it with qkv_bias=True (GPT-2 has q/k/v biases).")
    if model.out_head.weight is not model.tok_emb.weight and not torch.equal(model.out_head.weight, model.tok_emb.weight):
        raise ConfigError("export_to_hf needs out_head tied to tok_emb, as in GPT-2: the model's output head differs "
                          "from its token embedding, and GPT-2's format has no room for a separate head.")
    sd = {name: p.detach().cpu() for name, p in model.named_parameters(remove_duplicate=False)}
    out: dict[str, torch.Tensor] = {"wte.weight": sd["tok_emb.weight"], "wpe.weight": sd["pos_emb.weight"],
                                    "ln_f.weight": sd["final_norm.scale"], "ln_f.bias": sd["final_norm.shift"]}
    for i in range(cfg["n_layers"]):
        p = f"trf_blocks.{i}."
        for hf_name, (name, transpose) in _BLOCK_TARGETS.items():
            out[f"h.{i}.{hf_name}"] = sd[p + name].T if transpose else sd[p + name]
        qkv = ("W_query", "W_key", "W_value")
        out[f"h.{i}.attn.c_attn.weight"] = torch.cat([sd[f"{p}att.{n}.weight"].T for n in qkv], dim=1)
        out[f"h.{i}.attn.c_attn.bias"] = torch.cat([sd[f"{p}att.{n}.bias"] for n in qkv])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous().clone() for k, v in out.items()}, str(folder / "model.safetensors"), metadata={"format": "pt"})
    hf_config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
                 "vocab_size": cfg["vocab_size"], "n_positions": cfg["context_length"], "n_ctx": cfg["context_length"],
                 "n_embd": cfg["emb_dim"], "n_head": cfg["n_heads"], "n_layer": cfg["n_layers"],
                 "layer_norm_epsilon": 1e-5, "bos_token_id": 50256, "eos_token_id": 50256, "tie_word_embeddings": True,
                 "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1, "initializer_range": 0.02}
    (folder / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
    return folder

