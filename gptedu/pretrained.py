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
one mapping, ``gpt2_weight_map`` (a table in the order of the book's ``load_weights_into_gpt``),
copied by ``copy_gpt2_tensor``: ``c_attn`` is split into query, key and value, GPT-2's Conv1D
weights are transposed into ``nn.Linear``'s layout, and the attention-mask buffers are skipped.
The model is built on the ``meta`` device first, so no random initialisation is computed, and
each tensor is copied straight into its parameter (on the chosen device): loading never holds
two copies of the weights. tests/test_pretrained.py compares the logits with transformers'.
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
from .errors import ChecksumError, ConfigError, DataNotFoundError, FileKindError
from .model import GPTModel
from .validation import check_bool, check_device, check_instance, check_path

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


#: The made-up commit under which tests/fixtures/make_hub_standin.py stores its random stand-in in a hub cache.
STANDIN_COMMIT = "0000000000000000000000000000000000000124"


def is_test_standin(model_size: str = "124M") -> bool:
    """True if the Hugging Face cache holds gptedu's random stand-in for this GPT-2 size instead of OpenAI's weights.

    Machines without internet (CI, the run that stored notebook 07's outputs) get a GPT-2 with
    *random* weights in the published layout from tests/fixtures/make_hub_standin.py, cached under
    the made-up commit ``STANDIN_COMMIT``. Its names, shapes and parameter count are GPT-2's; its
    text and losses are those of an untrained model. Looks only in the cache; never downloads.
    """
    from .hub import _hf_cache_folder

    repo = HF_REPOS[gpt2_size_name(model_size)]
    ref = Path(_hf_cache_folder()) / f"models--{repo.replace('/', '--')}" / "refs" / "main"
    return ref.is_file() and ref.read_text().strip() == STANDIN_COMMIT


def build_empty_gpt(cfg: dict[str, Any], tie_output_head: bool = True, device: str | torch.device = "cpu") -> GPTModel:
    """A ``GPTModel`` with uninitialised weights (no time spent on a random init that is overwritten).

    Built on the ``meta`` device (shapes only), then given real, empty memory on ``device`` (a GPU
    too: the weights are then copied straight there, with no full copy in CPU memory). GPT-2 uses its
    token embedding as output layer, so ``out_head.weight`` *is* ``tok_emb.weight``.
    """
    check_bool("tie_output_head", tie_output_head)
    check_device("device", device)
    with torch.device("meta"):
        model = GPTModel(cfg)
    model.to_empty(device=device)
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


def gpt2_weight_map(n_layers: int) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Where each of GPT-2's tensors goes in ``GPTModel``: ``{GPT-2 name: (GPTModel names, transpose?)}``.

    The entries follow the book's ``load_weights_into_gpt`` step by step: the two embeddings, then
    per block ``c_attn`` (cut into query, key and value), ``c_proj``, the two feed-forward layers and
    the two layer norms, then the final norm. "Transpose" marks GPT-2's Conv1D weights, stored as
    (in, out) where ``nn.Linear`` keeps (out, in). ``out_head`` has no entry: GPT-2 has no output
    layer of its own, so the loader ties it to the token embedding. Shapes below: d = emb_dim.
    """
    qkv = ("W_query", "W_key", "W_value")
    mapping = {
        "wpe.weight": (("pos_emb.weight",), False),  # (context_length, d)
        "wte.weight": (("tok_emb.weight",), False),  # (vocab_size, d), also the output head
    }
    for i in range(n_layers):
        h, b = f"h.{i}.", f"trf_blocks.{i}."
        mapping.update({
            # query, key and value side by side: (d, 3d) -> three (d, d), each transposed; bias (3d,) -> three (d,)
            h + "attn.c_attn.weight": (tuple(f"{b}att.{p}.weight" for p in qkv), True),
            h + "attn.c_attn.bias": (tuple(f"{b}att.{p}.bias" for p in qkv), False),
            h + "attn.c_proj.weight": ((b + "att.out_proj.weight",), True),  # (d, d)
            h + "attn.c_proj.bias": ((b + "att.out_proj.bias",), False),
            h + "mlp.c_fc.weight": ((b + "ff.layers.0.weight",), True),  # (d, 4d) -> nn.Linear's (4d, d)
            h + "mlp.c_fc.bias": ((b + "ff.layers.0.bias",), False),
            h + "mlp.c_proj.weight": ((b + "ff.layers.2.weight",), True),  # (4d, d) -> (d, 4d)
            h + "mlp.c_proj.bias": ((b + "ff.layers.2.bias",), False),
            h + "ln_1.weight": ((b + "norm1.scale",), False),  # (d,) each
            h + "ln_1.bias": ((b + "norm1.shift",), False),
            h + "ln_2.weight": ((b + "norm2.scale",), False),
            h + "ln_2.bias": ((b + "norm2.shift",), False),
        })
    mapping["ln_f.weight"] = (("final_norm.scale",), False)
    mapping["ln_f.bias"] = (("final_norm.shift",), False)
    return mapping


def copy_gpt2_tensor(params: dict[str, torch.Tensor], name: str, value: torch.Tensor,
                     mapping: dict[str, tuple[tuple[str, ...], bool]]) -> tuple[str, ...]:
    """Copy one GPT-2 tensor into the model's ``params`` (``dict(model.named_parameters())``) as ``mapping`` says.

    A tensor that fills three parameters (``c_attn``) is cut in three along its last dimension, in
    the order query, key, value; a Conv1D weight is transposed into ``nn.Linear``'s (out, in). Each
    copy checks the shape first (``ConfigError`` naming both tensors). Returns the names filled.
    """
    targets, transpose = mapping[name]
    parts = torch.chunk(value, len(targets), dim=-1) if len(targets) > 1 else (value,)  # c_attn: 3 x (d, d)
    for target, part in zip(targets, parts, strict=True):
        _assign(params[target], part.T if transpose else part, target, name)
    return targets


_BLOCK_KEY = re.compile(r"h\.(\d+)\.(.+)")
_SKIPPED = ("attn.bias", "attn.masked_bias")  # causal-mask buffers stored by older GPT-2 code


def _copy_hf_tensor(params: dict[str, torch.Tensor], key: str, value: Any,
                    mapping: dict[str, tuple[tuple[str, ...], bool]] | None = None) -> list[str]:
    """``copy_gpt2_tensor`` for any tensor of a GPT-2 file: the names checked first, masks and the head skipped.

    ``mapping`` defaults to ``gpt2_weight_map`` for as many blocks as ``params`` has. Returns the
    names filled (none for a skipped tensor); an unknown name or a model too small raises ``ConfigError``.
    """
    key = key.removeprefix("transformer.")
    match = _BLOCK_KEY.fullmatch(key)
    if key == "lm_head.weight" or (match and match.group(2) in _SKIPPED):
        return []  # the head is tied to wte; the masks are rebuilt by the model
    n_blocks = len({k.split(".")[1] for k in params if k.startswith("trf_blocks.")})
    mapping = gpt2_weight_map(n_blocks) if mapping is None else mapping
    if key not in mapping:
        if match and f"h.0.{match.group(2)}" in gpt2_weight_map(1):
            raise ConfigError(f"The checkpoint has {key} but the model has only {n_blocks} transformer blocks. "
                              "Does the model's config (GPT-2 size) match the checkpoint's?")
        raise ConfigError(f"Unexpected tensor {key!r}: it is not part of GPT-2. Is this a GPT-2 checkpoint?")
    targets, transpose = mapping[key]
    for target in targets:
        if target not in params:
            hint = "build it with qkv_bias=True" if ".W_" in target else "is it a GPTModel of the checkpoint's GPT-2 size?"
            raise ConfigError(f"The checkpoint has {key} but the model has no {target}: {hint}.")
    if isinstance(value, _RowBlocks) and (transpose or len(targets) > 1):
        value = value.load()  # only untransposed, whole tensors (the token embedding) are copied block by block
    elif not isinstance(value, _RowBlocks):
        value = torch.as_tensor(value)  # the book's params hold NumPy arrays
    return list(copy_gpt2_tensor(params, key, value, mapping))


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


def load_weights_into_gpt(gpt: GPTModel, params: dict | Iterable[tuple[str, Any]]) -> GPTModel:
    """Copy GPT-2's weights into ``gpt`` (a ``GPTModel`` built with a GPT-2 config): the book's function.

    ``params`` is the book's nested dict (``params["blocks"][i]["attn"]["c_attn"]["w"]``, from
    ``load_gpt2_params_from_tf_ckpt``), a flat Hugging Face state dict (``"h.0.attn.c_attn.weight"``)
    or (name, tensor) pairs under those names, read one at a time. Each tensor goes where
    ``gpt2_weight_map`` says; then ``out_head`` is tied to ``tok_emb``, as in GPT-2. A missing
    tensor or a shape that does not fit raises ``ConfigError`` naming it. Returns ``gpt``.
    """
    check_instance("gpt", gpt, GPTModel, "a GPTModel built with a GPT-2 config")
    check_instance("params", params, (dict, Iterable), "the book's params dict, a state dict or (name, tensor) pairs")
    if isinstance(params, dict):  # -> (GPT-2 name, tensor) pairs
        params = _book_params_as_hf(params) if "blocks" in params else params.items()
    model_params = dict(gpt.named_parameters(remove_duplicate=False))  # "trf_blocks.0.att.W_query.weight" -> tensor
    mapping = gpt2_weight_map(len(gpt.trf_blocks))
    filled: set[str] = set()
    for name, value in params:  # one tensor at a time: the file is never held whole besides the model
        filled.update(_copy_hf_tensor(model_params, name, value, mapping))  # skips masks, checks names
    missing = sorted(set(model_params) - filled - {"out_head.weight"})
    if missing:
        raise ConfigError(f"The checkpoint has no values for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}: "
                          "it is incomplete, or not a GPT-2 checkpoint of this size.")
    gpt.out_head.weight = gpt.tok_emb.weight  # weight tying: GPT-2's output layer is its token embedding
    return gpt


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
    from .checkpoints import read_torch_weights

    state = read_torch_weights(path, mmap=True)  # weights_only; text, random bytes, truncated files said as such
    if "model_state_dict" in state:  # the seed's model-and-optimizer checkpoint
        state = state["model_state_dict"]
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise FileKindError(f"{path.name} holds {name!r} = {type(value).__name__}, not a tensor: it is no state dict "
                                "of GPT-2 weights. Pass a file of model weights (torch.save(model.state_dict(), path)).")
        yield name, value


def _file_tensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """A weights file's (name, tensor) pairs; the reader is picked by the file's content, not its name."""
    from .checkpoints import weights_file_kind

    kind = weights_file_kind(path)  # a clear error for text, random bytes, a truncated file, ...
    return _safetensors_tensors(path) if kind.kind == "safetensors" else _torch_file_tensors(path)


def _read_json(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object in ``path``, which must hold ``keys``; ``ConfigError`` saying what is wrong otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON ({error}). Restore it from the download, or delete it "
                          "(then model_size gives the shapes).") from None
    missing = [key for key in keys if key not in data] if isinstance(data, dict) else list(keys)
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}: it is not a GPT-2 {path.name} (GPT-2's has "
                          f"{', '.join(keys)}). Restore it from the download, or delete it (then model_size gives the shapes).")
    return data


def _config_from_hf_json(path: Path) -> dict[str, Any]:
    hf = _read_json(path, ("n_embd", "n_head", "n_layer"))
    return {"vocab_size": hf.get("vocab_size", 50257), "context_length": hf.get("n_positions", hf.get("n_ctx", 1024)),
            "emb_dim": hf["n_embd"], "n_heads": hf["n_head"], "n_layers": hf["n_layer"], "drop_rate": 0.0, "qkv_bias": True}


def _config_from_openai_hparams(path: Path) -> dict[str, Any]:
    hp = _read_json(path, ("n_vocab", "n_ctx", "n_embd", "n_head", "n_layer"))
    return {"vocab_size": hp["n_vocab"], "context_length": hp["n_ctx"], "emb_dim": hp["n_embd"],
            "n_heads": hp["n_head"], "n_layers": hp["n_layer"], "drop_rate": 0.0, "qkv_bias": True}


def _load_book_state_dict(path: Path, model_size: str | None, device: str | torch.device = "cpu") -> GPTModel:
    """A ``.pth`` / ``.safetensors`` file with ``GPTModel``'s own names (the book's layout)."""
    shapes = {key: tuple(value.shape) for key, value in _file_tensors(path)}
    missing = [key for key in ("tok_emb.weight", "pos_emb.weight", "trf_blocks.0.att.W_query.weight") if key not in shapes]
    if missing:
        raise ConfigError(f"{path} has GPTModel names but lacks {', '.join(missing)}: it is incomplete, or not a "
                          "GPTModel's state_dict. Save it again with torch.save(model.state_dict(), path).")
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
    model = build_empty_gpt(cfg, tie_output_head=tied, device=device)
    params = dict(model.named_parameters(remove_duplicate=False))
    for key, value in _file_tensors(path):
        if key.endswith(".mask"):
            continue
        if key not in params:
            raise ConfigError(f"Unexpected tensor {key!r} in {path}: not a GPTModel weight.")
        _assign(params[key], value, key, f"{key} of {path.name}")
    return model


def _load_local(path: Path, model_size: str | None, device: str | torch.device = "cpu") -> GPTModel:
    if path.is_dir():
        if (path / "model.safetensors").is_file() or (path / "pytorch_model.bin").is_file():
            weights = path / "model.safetensors"
            weights = weights if weights.is_file() else path / "pytorch_model.bin"
            cfg = _config_from_hf_json(path / "config.json") if (path / "config.json").is_file() else gpt2_config(model_size or "124M")
            return _load_hf_file(weights, cfg, device)
        if list(path.glob("*.index")):
            from .tf_checkpoint import read_tf_checkpoint

            cfg = _config_from_openai_hparams(path / "hparams.json") if (path / "hparams.json").is_file() else gpt2_config(model_size or "124M")
            model = build_empty_gpt(cfg, device=device)
            load_weights_into_gpt(model, _openai_as_hf(read_tf_checkpoint(path)))
            return model
        raise DataNotFoundError(f"{path} holds no GPT-2 weights: expected model.safetensors (+ config.json), "
                                "or OpenAI's model.ckpt.index, model.ckpt.data-00000-of-00001 and hparams.json.")
    if not path.is_file():
        raise DataNotFoundError(f"No such file or folder: {path}.")
    if path.suffix == ".index" or path.name.startswith("model.ckpt"):
        return _load_local(path.parent, model_size, device)
    first_key = next(iter(_file_tensors(path)), ("", None))[0]
    if not first_key:
        raise ConfigError(f"{path} holds no tensors: it is not a file of GPT-2 weights.")
    if first_key.startswith(("tok_emb.", "pos_emb.", "trf_blocks.", "final_norm.", "out_head.")):
        return _load_book_state_dict(path, model_size, device)
    return _load_hf_file(path, gpt2_config(model_size or "124M"), device)


def _openai_as_hf(tensors: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    from .tf_checkpoint import openai_to_hf_name

    for name, array in tensors:
        yield openai_to_hf_name(name), array[0] if array.ndim == 3 else array  # [1, d, k] -> [d, k]


def _load_hf_file(path: Path, cfg: dict[str, Any], device: str | torch.device = "cpu") -> GPTModel:
    model = build_empty_gpt(cfg, device=device)
    load_weights_into_gpt(model, _file_tensors(path))
    return model


def load_gpt2(model_size: str | None = "124M", source: str | os.PathLike = "huggingface", device: str | torch.device = "cpu") -> GPTModel:
    """Return OpenAI's pretrained GPT-2 as a ``GPTModel`` in eval mode.

    ``model_size``: ``"124M"``, ``"355M"``, ``"774M"``, ``"1558M"``, the book's names
    (``"gpt2-small (124M)"``) or Hugging Face's (``"gpt2-medium"``). ``source``:
    ``"huggingface"``, ``"openai"``, or a local folder/file (then a ``config.json`` or
    ``hparams.json`` beside the weights gives the shapes, and ``model_size`` may be ``None``).
    ``device``: where the weights go (copied there tensor by tensor, e.g. ``get_device()``).
    Offline and not cached, it raises ``DataNotFoundError`` saying what to download and where.
    """
    if model_size is not None:
        gpt2_config(model_size)  # a clear error for an unknown size, before any file is read
    check_path("source", source, hint="Pass 'huggingface', 'openai', or a folder or file of GPT-2 weights.")
    check_device("device", device)
    if str(source) in ("huggingface", "hf"):
        from .hub import hf_weights_path

        model = _load_hf_file(hf_weights_path(model_size or "124M"), gpt2_config(model_size or "124M"), device)
    elif str(source) == "openai":
        from .openai_download import download_openai_gpt2

        folder = download_openai_gpt2(model_size or "124M")
        try:
            model = _load_local(folder, model_size, device)
        except ChecksumError:  # the right size but corrupt bytes: delete the weights and fetch them again, once
            for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
                (folder / name).unlink(missing_ok=True)
            model = _load_local(download_openai_gpt2(model_size or "124M"), model_size, device)
    else:
        model = _load_local(Path(source).expanduser(), model_size, device)
    return model.to(device).eval()  # already there: the weights were copied straight onto the device


# ---------------------------------------------------------------- export for transformers


def export_to_hf(model: GPTModel, folder: str | os.PathLike, force: bool = False) -> Path:
    """Write ``model`` as a Hugging Face GPT-2 folder (``config.json`` + ``model.safetensors``).

    ``transformers.GPT2LMHeadModel.from_pretrained(folder)`` then loads it, for students who
    continue in that ecosystem. The model must be GPT-2-shaped: ``qkv_bias=True`` and an output
    head equal to the token embedding (GPT-2 has no separate head). An existing ``model.safetensors``
    in ``folder`` that ``export_to_hf`` did not write is refused unless ``force=True``.
    """
    from safetensors.torch import save_file

    from .safe_io import check_output_file

    check_instance("model", model, GPTModel, "a GPTModel")
    folder = check_path("folder", folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file; export_to_hf writes a folder (config.json + model.safetensors). Choose a new folder name.")
    check_output_file(folder / "model.safetensors", force=check_bool("force", force), ours=_exported_by_us)
    cfg = model.cfg
    if not cfg["qkv_bias"]:
        raise ConfigError("export_to_hf needs a GPT-2-shaped model: build it with qkv_bias=True (GPT-2 has q/k/v biases).")
    if model.out_head.weight is not model.tok_emb.weight and not torch.equal(model.out_head.weight, model.tok_emb.weight):
        raise ConfigError("export_to_hf needs out_head tied to tok_emb, as in GPT-2: the model's output head differs "
                          "from its token embedding, and GPT-2's format has no room for a separate head.")
    sd = {name: p.detach().cpu() for name, p in model.named_parameters(remove_duplicate=False)}
    # the loading map run backwards: transpose back to Conv1D's (in, out); join query, key, value into c_attn
    out = {name: torch.cat([sd[t].T if transpose else sd[t] for t in targets], dim=-1)
           for name, (targets, transpose) in gpt2_weight_map(cfg["n_layers"]).items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous().clone() for k, v in out.items()}, str(folder / "model.safetensors"),
              metadata={"format": "pt", _EXPORT_MARK: "1"})
    hf_config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
                 "vocab_size": cfg["vocab_size"], "n_positions": cfg["context_length"], "n_ctx": cfg["context_length"],
                 "n_embd": cfg["emb_dim"], "n_head": cfg["n_heads"], "n_layer": cfg["n_layers"],
                 "layer_norm_epsilon": 1e-5, "bos_token_id": 50256, "eos_token_id": 50256, "tie_word_embeddings": True,
                 "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1, "initializer_range": 0.02}
    (folder / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
    return folder


_EXPORT_MARK = "gptedu_export_to_hf"  # in the metadata of the model.safetensors export_to_hf writes


def _exported_by_us(path: Path) -> bool:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            return (file.metadata() or {}).get(_EXPORT_MARK) == "1"
    except (SafetensorError, OSError, ValueError):
        return False
