"""Model configurations: the seed's ``GPT_CONFIG_124M`` and the four GPT-2 sizes.

Configs are plain dicts, as in the book, so students can print and edit them. The
notebooks 02-04 train the 124M model with the seed's shortened context of 256 tokens;
``GPT2_PRESETS`` hold OpenAI's published sizes (context 1024, qkv bias on) for loading
pretrained weights. ``validate_config`` turns a bad value into an error that says what
to change, before ``torch`` fails somewhere deep inside a layer.
"""

from __future__ import annotations

from typing import Any

from .errors import ArgumentTypeError, ConfigError
from .validation import short_repr

GPT_CONFIG_124M: dict[str, Any] = {
    "vocab_size": 50257,  # Vocabulary size of the GPT-2 tokenizer
    "context_length": 256,  # Shortened context length (orig: 1024)
    "emb_dim": 768,  # Embedding dimension
    "n_heads": 12,  # Number of attention heads
    "n_layers": 12,  # Number of layers
    "drop_rate": 0.1,  # Dropout rate
    "qkv_bias": False,  # Query-key-value bias
}

_GPT2_BASE = {"vocab_size": 50257, "context_length": 1024, "drop_rate": 0.0, "qkv_bias": True}

#: OpenAI's four GPT-2 sizes, by the names the book uses.
GPT2_PRESETS: dict[str, dict[str, Any]] = {
    "gpt2-small (124M)": {**_GPT2_BASE, "emb_dim": 768, "n_layers": 12, "n_heads": 12},
    "gpt2-medium (355M)": {**_GPT2_BASE, "emb_dim": 1024, "n_layers": 24, "n_heads": 16},
    "gpt2-large (774M)": {**_GPT2_BASE, "emb_dim": 1280, "n_layers": 36, "n_heads": 20},
    "gpt2-xl (1558M)": {**_GPT2_BASE, "emb_dim": 1600, "n_layers": 48, "n_heads": 25},
}

_ALIASES = {
    "124M": "gpt2-small (124M)", "gpt2": "gpt2-small (124M)", "gpt2-small": "gpt2-small (124M)",
    "355M": "gpt2-medium (355M)", "gpt2-medium": "gpt2-medium (355M)",
    "774M": "gpt2-large (774M)", "gpt2-large": "gpt2-large (774M)",
    "1558M": "gpt2-xl (1558M)", "gpt2-xl": "gpt2-xl (1558M)",
}

REQUIRED_KEYS = ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate", "qkv_bias")

#: The most memory the causal masks may take: every attention layer keeps a (context_length, context_length)
#: float32 mask (the book's state_dict holds it), so context_length=10**7 would ask for 400 TB per layer.
MAX_MASK_BYTES = 4 * 2**30


def causal_mask_bytes(context_length: int, n_layers: int = 1) -> int:
    """Bytes that ``n_layers`` causal masks of ``context_length`` take (4 bytes per float32 entry)."""
    return n_layers * context_length**2 * 4


def check_mask_size(context_length: int, n_layers: int = 1, name: str = "context_length") -> None:
    """Raise ``ConfigError`` before torch tries to allocate causal masks larger than ``MAX_MASK_BYTES`` in all."""
    needed = causal_mask_bytes(context_length, n_layers)
    if needed > MAX_MASK_BYTES:
        layers = f"{n_layers} layers x " if n_layers != 1 else ""
        raise ConfigError(
            f"{name}={context_length:,} is too long: the causal attention masks ({layers}{context_length:,} x "
            f"{context_length:,} floats) would take {needed / 2**30:,.1f} GiB, more than the {MAX_MASK_BYTES // 2**30} GiB "
            f"gptedu allows. GPT-2 uses 1,024 and the notebooks 256; lower {name} (at most "
            f"{_longest_context(n_layers):,} with {n_layers} layer{'s' if n_layers != 1 else ''})."
        )


def _longest_context(n_layers: int) -> int:
    return int((MAX_MASK_BYTES / (4 * n_layers)) ** 0.5)


def gpt2_config(model_size: str) -> dict[str, Any]:
    """Return a copy of the config of a GPT-2 size.

    Accepts the book's names (``"gpt2-small (124M)"``), the short sizes (``"124M"``) and the
    Hugging Face names (``"gpt2-medium"``, also with the ``openai-community/`` prefix).
    """
    if not isinstance(model_size, str):
        raise ArgumentTypeError(f"model_size must be a str such as '124M' or 'gpt2-medium'; got {short_repr(model_size)} "
                                f"({type(model_size).__name__}).")
    name = model_size.removeprefix("openai-community/")
    name = _ALIASES.get(name, name)
    if name not in GPT2_PRESETS:
        known = ", ".join(["124M", "355M", "774M", "1558M", *GPT2_PRESETS])
        raise ConfigError(f"Unknown GPT-2 size {model_size!r}. Use one of: {known}.")
    return dict(GPT2_PRESETS[name])


def _check_int(cfg: dict[str, Any], key: str, minimum: int) -> None:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"cfg[{key!r}] must be an integer >= {minimum}; got {value!r}.")


def validate_config(cfg: dict[str, Any]) -> None:
    """Raise ``ConfigError`` naming the problem if ``cfg`` cannot build a ``GPTModel``.

    Checks that every key of ``GPT_CONFIG_124M`` is present, that sizes are positive
    integers, that ``emb_dim`` splits evenly across ``n_heads``, that ``drop_rate`` is
    a probability, and that the causal masks of ``context_length`` fit in ``MAX_MASK_BYTES``
    (4 GiB), so that a huge ``context_length`` fails here rather than inside torch.
    """
    if not isinstance(cfg, dict):
        raise ConfigError(f"The model config must be a dict like GPT_CONFIG_124M; got {type(cfg).__name__}.")
    missing = [key for key in REQUIRED_KEYS if key not in cfg]
    if missing:
        raise ConfigError(
            f"The model config is missing {', '.join(repr(k) for k in missing)}. "
            "Start from a copy of GPT_CONFIG_124M and change what you need: {**GPT_CONFIG_124M, ...}."
        )
    for key in ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers"):
        _check_int(cfg, key, 1)
    check_mask_size(cfg["context_length"], cfg["n_layers"], name="cfg['context_length']")
    if cfg["emb_dim"] % cfg["n_heads"] != 0:
        raise ConfigError(
            f"emb_dim ({cfg['emb_dim']}) must be divisible by n_heads ({cfg['n_heads']}) so that "
            "every attention head gets emb_dim // n_heads dimensions. Change one of the two, "
            f"for example n_heads={_nearest_divisor(cfg['emb_dim'], cfg['n_heads'])}."
        )
    rate = cfg["drop_rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ConfigError(f"drop_rate must be a number in [0, 1); got {rate!r}. The seed uses 0.1.")
    if not isinstance(cfg["qkv_bias"], bool):
        raise ConfigError(f"qkv_bias must be True or False; got {cfg['qkv_bias']!r}.")


def _nearest_divisor(n: int, near: int) -> int:
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(d - near), d))
