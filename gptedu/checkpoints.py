"""Save and load models and training checkpoints, safely (notebook 06).

Two kinds of file, both ``.safetensors`` (tensors plus a JSON header; reading one never runs code):

- ``save_model`` / ``load_model``: the weights and the model's config, so ``load_model(path)``
  rebuilds the model from the file alone. ``dtype=torch.float16`` halves the file for sharing.
- ``save_checkpoint`` / ``load_checkpoint``: the model plus everything a training run needs to
  continue exactly: the optimizer's state, the step, epoch and tokens seen, the loss history,
  the learning-rate schedule and PyTorch's random states (``gptedu.resume`` uses them).

Every file records its format version and a SHA-256 of its content (``gptedu.safe_io``), and is
written atomically. Loading checks both, then checks that the weights fit the config, and
names the keys or shapes that differ. The seed's ``.pth`` files (a ``state_dict``, or
``{"model_state_dict", "optimizer_state_dict"}``) load too, always with
``torch.load(..., weights_only=True)``: a pickle that would run code is refused. Which reader
to use is decided by the file's content (``gptedu.safe_io.inspect_file``), not its name, and a
file that is neither (text, random bytes, an empty or truncated copy) is reported as what it is.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .errors import (
    ArgumentTypeError,
    ChecksumError,
    ConfigError,
    DataNotFoundError,
    FileKindError,
    FormatVersionError,
    InvalidInputError,
    UnsafeFileError,
)
from .model import GPTModel
from .safe_io import FileKind, atomic_write, file_size_mb, inspect_file, tensor_digest
from .validation import check_bool, check_device, check_instance, check_path

FORMAT_VERSION = 1  # raise when the layout changes; older gptedu versions then refuse newer files clearly
_SKIPPED_BUFFERS = (".mask",)  # causal masks: rebuilt by the model from its config, not saved


# ---------------------------------------------------------------- arguments


def _check_args(path: Any, model: Any = None, optimizer: Any = None, cfg: Any = None, device: Any = "cpu",
                model_required: bool = False) -> Path:
    """The checks shared by the four public functions below; returns ``path`` as a ``Path``."""
    from .config import validate_config

    path = check_path("path", path)
    if model is not None or model_required:
        check_instance("model", model, nn.Module, "a GPTModel")
        if model_required and not isinstance(getattr(model, "cfg", None), dict):  # saving records model.cfg
            raise ArgumentTypeError(f"model must be a GPTModel (a module with its config in .cfg); got a {type(model).__name__} "
                                    "without one. Save other modules with torch.save(module.state_dict(), path).")
    if optimizer is not None:
        check_instance("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim optimizer (or None)")
    if cfg is not None:
        validate_config(cfg)  # a dict like GPT_CONFIG_124M, or ConfigError naming the problem
    check_device("device", device)
    return path


# ---------------------------------------------------------------- reading and writing files


def _write_file(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    if Path(path).suffix != ".safetensors":  # the suffix must tell the truth: loading picks the reader by it
        raise ConfigError(
            f"gptedu saves models and checkpoints in the safetensors format, so the file name must end in "
            f".safetensors; got {str(path)!r}. Use for example {Path(path).with_suffix('.safetensors').name!r}; "
            "for the book's .pth format use torch.save(model.state_dict(), path)."
        )
    meta = {**meta, "format_version": FORMAT_VERSION}
    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    header = {"gptedu": json.dumps(meta), "sha256": tensor_digest(tensors, meta)}
    return atomic_write(path, lambda temporary: save_file(tensors, str(temporary), metadata=header))


_WEIGHT_KINDS = ("safetensors", "torch-zip", "pickle")  # what the loaders read; the rest is reported as what it is


def weights_file_kind(path: str | os.PathLike, kinds: tuple[str, ...] = _WEIGHT_KINDS) -> FileKind:
    """What ``path`` holds (``gptedu.safe_io.inspect_file``), if it is one of ``kinds``; else a clear error.

    Raises ``DataNotFoundError`` for a missing file, ``ChecksumError`` for a truncated or
    damaged safetensors or ``torch.save`` file, and ``FileKindError`` naming what the file is
    (text, random bytes, an empty file, a folder, ...) for anything else, before any reader,
    and before any talk of pickles, touches it.
    """
    path = Path(path)
    kind = inspect_file(path)
    if kind.kind == "missing":
        raise DataNotFoundError(f"No such file: {path}. Check the name and folder (saving creates it).")
    name = path.name or str(path)
    if kind.kind in ("truncated-safetensors", "damaged-safetensors", "damaged-zip"):
        raise ChecksumError(f"{name} is {kind.description}. It is truncated or corrupted: use another copy, or save it again.")
    if kind.kind not in kinds:
        wanted = {"safetensors": "a safetensors file", "torch-zip": "a torch.save file", "pickle": "a torch.save file"}
        expected = " or ".join(dict.fromkeys(wanted[k] for k in kinds))
        raise FileKindError(f"{name} is {kind.description}, not {expected} of model weights. Pass a file that save_model "
                            "or save_checkpoint (.safetensors) or torch.save (.pth) wrote.")
    return kind


def _read_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Tensors and gptedu metadata of a ``.safetensors`` file, verified; metadata ``None`` for a foreign file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    weights_file_kind(path, ("safetensors",))
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as file:
            header = file.metadata() or {}
        tensors = load_file(str(path))
        meta = json.loads(header["gptedu"]) if "gptedu" in header else None
    except (SafetensorError, OSError, ValueError) as error:
        raise ChecksumError(f"{path.name} is not a readable safetensors file ({error}): it is truncated or corrupted. "
                            "Use another copy, or save it again.") from error
    if meta is None:
        return tensors, None
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise FormatVersionError(f"{path.name} has format version {version!r}, newer than this gptedu reads "
                                 f"(up to {FORMAT_VERSION}). Upgrade gptedu: pip install -U gptedu.")
    if tensor_digest(tensors, meta) != header.get("sha256"):
        raise ChecksumError(f"{path.name} is corrupted: its content no longer matches the SHA-256 recorded when it was saved. "
                            "Use another copy, or save it again.")
    return tensors, meta


def read_torch_weights(path: str | os.PathLike, mmap: bool = False) -> dict[str, Any]:
    """Read a ``.pth`` file with ``torch.load(..., weights_only=True)``: tensors and plain containers only.

    A file holding other pickled objects raises ``UnsafeFileError`` without running anything;
    a truncated or damaged file raises ``ChecksumError``; a missing one ``DataNotFoundError``.
    ``mmap=True`` maps a zip-format file instead of reading it (the older pickle format is read).
    """
    path = Path(path)
    kind = weights_file_kind(path, ("torch-zip", "pickle"))  # text, random bytes, ...: said as such, not as a pickle
    try:  # weights_only: never unpickles arbitrary objects
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and kind.kind == "torch-zip")
    except pickle.UnpicklingError as error:
        reason = next((line.strip() for line in str(error).splitlines() if "Unsupported" in line), "not only tensors")
        raise UnsafeFileError(
            f"Refused to load {path.name}: it holds pickled Python objects, not just tensors ({reason}). Unpickling "
            "them could run any code the file's author chose, so gptedu loads .pth files with weights_only=True only. "
            "Ask for the weights as a state_dict or a .safetensors file."
        ) from error
    except Exception as error:  # zip reader and unpickler errors of a damaged file
        raise ChecksumError(f"{path.name} is not a readable PyTorch file ({type(error).__name__}: {str(error)[:120]}): "
                            "it is truncated or corrupted. Use another copy, or save it again.") from error
    if not isinstance(state, dict):
        raise ConfigError(f"{path.name} holds a {type(state).__name__}, not a state_dict (a dict of tensors).")
    return state


# ---------------------------------------------------------------- weights and configs


def _model_tensors(model: nn.Module) -> tuple[dict[str, torch.Tensor], bool]:
    """The model's weights to save, and whether its output head is tied to the token embedding."""
    if any(hasattr(m, "weight_int8") for m in model.modules()):
        raise InvalidInputError("This model holds int8 weights (a quantize_int8 copy, for generation only), which the "
                                "book's format cannot hold. Save the float32 model it was made from, and quantize "
                                "again after loading it (it takes a second or two).")
    tied = getattr(model, "out_head", None) is not None and model.out_head.weight is model.tok_emb.weight
    state = {name: t for name, t in model.state_dict().items() if not name.endswith(_SKIPPED_BUFFERS)}
    if tied:
        del state["out_head.weight"]  # one tensor, saved once
    return state, tied


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str = "the file") -> None:
    """Raise ``ConfigError`` naming every missing, unexpected and wrongly shaped tensor of ``state`` for ``model``."""
    expected, _ = _model_tensors(model)
    given = {name: t for name, t in state.items() if not name.endswith(_SKIPPED_BUFFERS)}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = [f"{name}: {tuple(given[name].shape)} in {source}, {tuple(expected[name].shape)} in the model"
              for name in expected if name in given and given[name].shape != expected[name].shape]
    if missing or unexpected or shapes:
        def listing(names: list[str]) -> str:
            return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")

        parts = [f"missing from {source}: {listing(missing)}" if missing else "",
                 f"not in the model: {listing(unexpected)}" if unexpected else "",
                 f"different shapes: {listing(shapes)}" if shapes else ""]
        raise ConfigError(f"The weights in {source} do not fit the model's config ({'; '.join(p for p in parts if p)}). "
                          "Build the model with the config the weights were trained with.")


def _fill_model(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    if "out_head.weight" not in state and "tok_emb.weight" in state and hasattr(model, "out_head"):
        model.out_head.weight = model.tok_emb.weight  # saved tied (as GPT-2): tie the model too
    check_state_dict(model, state, source)
    tied = getattr(model, "out_head", None) is not None and model.out_head.weight is model.tok_emb.weight
    state = {name: t for name, t in state.items() if not name.endswith(_SKIPPED_BUFFERS)}
    if tied and "out_head.weight" in state:
        del state["out_head.weight"]
    model.load_state_dict(state, strict=False)  # checked above; strict=False only lets the masks keep their values


def _build_model(cfg: dict[str, Any], tied: bool) -> GPTModel:
    model = GPTModel(cfg)
    if tied:
        model.out_head.weight = model.tok_emb.weight
    return model


def _config_beside(path: Path) -> dict[str, Any] | None:
    saved = path.with_name("config.json")  # what `gptedu train` writes next to model.pth
    if saved.is_file():
        cfg = json.loads(saved.read_text())
        return cfg if "n_heads" in cfg else None
    return None


# ---------------------------------------------------------------- models


def save_model(model: nn.Module, path: str | os.PathLike, dtype: torch.dtype | None = None, verbose: bool = True) -> Path:
    """Save ``model``'s weights and config as one ``.safetensors`` file; ``load_model(path)`` rebuilds it.

    ``dtype=torch.float16`` (or ``torch.bfloat16``) stores the weights in half precision:
    half the size, for sharing; ``load_model`` turns them back into float32. Prints the size.
    """
    _check_args(path, model, model_required=True)
    check_bool("verbose", verbose)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ConfigError(f"dtype must be None (keep the weights' dtype) or a floating-point torch.dtype such as "
                          f"torch.float16; got {dtype!r}.")
    state, tied = _model_tensors(model)
    if dtype is not None:
        state = {name: t.to(dtype) if t.is_floating_point() else t for name, t in state.items()}
    saved_dtype = str(next(iter(state.values())).dtype).removeprefix("torch.")
    meta = {"kind": "model", "config": dict(model.cfg), "tied_output_head": tied, "dtype": saved_dtype}
    path = _write_file(path, state, meta)
    if verbose:
        print(f"Saved {path.name}: {file_size_mb(path):.1f} MB ({saved_dtype})")
    return path


def load_model(path: str | os.PathLike, cfg: dict[str, Any] | None = None, device: str | torch.device = "cpu") -> GPTModel:
    """Load a model saved by ``save_model``, a checkpoint, or the seed's ``.pth``; return it in eval mode (float32).

    gptedu's files carry their config. For a ``.pth`` give ``cfg``, or keep the ``config.json``
    that ``gptedu train`` writes beside it; without either the config is inferred from the
    shapes (GPT-2 sizes only). A foreign ``.safetensors`` (GPT-2's own) goes to ``load_gpt2``.
    """
    path = _check_args(path, cfg=cfg, device=device)
    if weights_file_kind(path).kind == "safetensors":  # by content, not by name
        tensors, meta = _read_file(path)
        if meta is None:  # not written by gptedu: GPT-2's or the book's names, read by gptedu.pretrained
            from .pretrained import load_gpt2

            return load_gpt2(None, source=path, device=device)
        prefix = "model." if meta["kind"] == "checkpoint" else ""
        state = {name[len(prefix):]: t.float() if t.is_floating_point() else t
                 for name, t in tensors.items() if name.startswith(prefix)}
        model = _build_model(cfg or meta["config"], meta["tied_output_head"])
        _fill_model(model, state, path.name)
        return model.to(device).eval()
    state = read_torch_weights(path)
    state = state.get("model_state_dict", state)  # the seed's model-and-optimizer checkpoint
    cfg = cfg or _config_beside(path)
    if cfg is None:  # shapes give the sizes; the number of heads comes from GPT-2's presets
        from .pretrained import _load_book_state_dict

        return _load_book_state_dict(path, None).to(device).eval()
    model = _build_model(cfg, tied="out_head.weight" not in state)
    _fill_model(model, state, path.name)
    return model.to(device).eval()


# ---------------------------------------------------------------- training checkpoints


def get_rng_states() -> dict[str, torch.Tensor]:
    """PyTorch's random states (CPU, each CUDA device): they drive dropout and the loader's shuffle order.

    Python's ``random`` and NumPy's generator are not used by gptedu's training, so they are not saved.
    """
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return states


def set_rng_states(states: dict[str, torch.Tensor]) -> None:
    """Restore states from ``get_rng_states``."""
    torch.set_rng_state(states["torch"])
    for name, state in states.items():
        if name.startswith("cuda.") and torch.cuda.is_available():
            torch.cuda.set_rng_state(state, int(name.split(".")[1]))


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns: the model and where the run stood when it was saved."""

    model: nn.Module
    config: dict[str, Any]
    progress: dict[str, Any] = field(default_factory=dict)  # step, epoch, tokens_seen, histories, schedule
    rng: dict[str, torch.Tensor] = field(default_factory=dict)  # random states at the save
    epoch_rng: dict[str, torch.Tensor] = field(default_factory=dict)  # random states when the epoch began

    def __post_init__(self) -> None:
        check_instance("model", self.model, nn.Module, "a GPTModel")
        check_instance("config", self.config, dict, "the model's config dict (like GPT_CONFIG_124M)")
        for name in ("progress", "rng", "epoch_rng"):
            check_instance(name, getattr(self, name), dict, "a dict")


def _tuples(group: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in group.items()}  # betas


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    progress: dict[str, Any] | None = None, epoch_rng: dict[str, torch.Tensor] | None = None) -> Path:
    """Save the model, the optimizer, ``progress`` (JSON values: step, epoch, losses, ...) and the random states.

    The file is one ``.safetensors``: tensors (weights, AdamW's moments, random states) plus a
    JSON header for everything else. Written atomically; ``load_checkpoint`` verifies it.
    """
    _check_args(path, model, optimizer, model_required=True)
    if progress is not None:
        check_instance("progress", progress, dict, "a dict of JSON values (or None)")
    if epoch_rng is not None:
        check_instance("epoch_rng", epoch_rng, dict, "a dict of random-state tensors (or None)")
    state, tied = _model_tensors(model)
    tensors = {f"model.{name}": t for name, t in state.items()}
    tensors.update({f"rng.{name}": t for name, t in get_rng_states().items()})
    tensors.update({f"epoch_rng.{name}": t for name, t in (epoch_rng or {}).items()})
    meta: dict[str, Any] = {"kind": "checkpoint", "config": dict(model.cfg), "tied_output_head": tied,
                            "progress": progress or {}}
    if optimizer is not None:
        opt_state = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, values in opt_state["state"].items():
            for name, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer.state.{index}.{name}"] = value
                else:
                    scalars.setdefault(str(index), {})[name] = value
        meta["optimizer"] = {"class": type(optimizer).__name__, "param_groups": opt_state["param_groups"], "scalars": scalars}
    return _write_file(path, tensors, meta)


def checkpoint_progress(path: str | os.PathLike) -> dict[str, Any]:
    """The ``progress`` recorded in a checkpoint (step, epoch, tokens seen, ...), read from its header only."""
    from safetensors import safe_open

    if not Path(path).is_file():
        raise DataNotFoundError(f"No such file: {path}. Check the name and folder.")
    try:
        with safe_open(str(path), framework="pt") as file:
            return json.loads((file.metadata() or {}).get("gptedu", "{}")).get("progress", {})
    except Exception:  # not a readable gptedu checkpoint: load_checkpoint reports why when it is used
        return {}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): dict(values) for i, values in meta["scalars"].items()}
    for name, tensor in tensors.items():
        if name.startswith("optimizer.state."):
            index, key = name.removeprefix("optimizer.state.").split(".", 1)
            state.setdefault(int(index), {})[key] = tensor
    return {"state": state, "param_groups": [_tuples(group) for group in meta["param_groups"]]}


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint into ``model`` and ``optimizer`` (the model is built from the file when ``None``).

    Reads gptedu's checkpoints and the seed's ``{"model_state_dict", "optimizer_state_dict"}``
    ``.pth``. Random states are returned, not applied: ``gptedu.resume`` restores them when a
    training run continues.
    """
    path = _check_args(path, model, optimizer, device=device)
    if weights_file_kind(path).kind != "safetensors":  # the seed's torch.save of both state dicts
        state = read_torch_weights(path)
        model = model if model is not None else load_model(path)
        _fill_model(model, state.get("model_state_dict", state), path.name)
        if optimizer is not None and "optimizer_state_dict" in state:
            optimizer.load_state_dict(state["optimizer_state_dict"])
        return Checkpoint(model.to(device), dict(getattr(model, "cfg", {})))
    tensors, meta = _read_file(path)
    if meta is None:
        raise ConfigError(f"{path.name} is a safetensors file without gptedu's metadata: load it with load_model or load_gpt2.")
    if model is None:
        model = _build_model(meta["config"], meta["tied_output_head"])
    prefix = "model." if meta["kind"] == "checkpoint" else ""
    _fill_model(model, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, path.name)
    model.to(device)
    if optimizer is not None and "optimizer" in meta:
        if meta["optimizer"]["class"] != type(optimizer).__name__:
            raise ConfigError(f"{path.name} holds the state of a {meta['optimizer']['class']} optimizer, not of a "
                              f"{type(optimizer).__name__}. Create the optimizer the checkpoint was trained with.")
        optimizer.load_state_dict(_optimizer_state(tensors, meta["optimizer"]))

    def states(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    return Checkpoint(model, meta["config"], meta.get("progress", {}), states("rng."), states("epoch_rng."))
