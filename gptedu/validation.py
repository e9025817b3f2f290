"""The small set of checks every public function applies to its arguments where they enter.

Each check raises one of gptedu's errors (``ConfigError`` is a ``ValueError``; wrong types raise
``ArgumentTypeError``, a ``TypeError``) with a message that names the argument, shows the value
seen and says what to pass instead. Functions call these rather than writing the tests by hand,
so that the same mistake reads the same everywhere.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from .errors import ArgumentTypeError, ConfigError


def check_int(name: str, value: Any, minimum: int | None = None, hint: str = "") -> int:
    """Return ``value`` if it is an integer (not a bool) of at least ``minimum``; raise a clear error otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"{name} must be an integer; got {value!r} ({type(value).__name__}).{_tail(hint)}")
    if minimum is not None and value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{name} must be {wanted}; got {value!r}.{_tail(hint)}")
    return value


def check_float(name: str, value: Any, minimum: float | None = None, positive: bool = False, hint: str = "") -> float:
    """Return ``value`` as a float if it is a finite real number (``> 0`` with ``positive``, ``>= minimum``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentTypeError(f"{name} must be a number; got {value!r} ({type(value).__name__}).{_tail(hint)}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; got {value!r}.{_tail(hint)}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be greater than 0; got {value!r}.{_tail(hint)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}; got {value!r}.{_tail(hint)}")
    return value


def _tail(hint: str) -> str:
    return f" {hint}" if hint else ""


def check_int_between(name: str, value: Any, minimum: int, maximum: int, hint: str = "") -> int:
    """Return ``value`` if it is an integer with ``minimum <= value <= maximum``; raise a clear error otherwise."""
    value = check_int(name, value, minimum, hint)
    if value > maximum:
        raise ConfigError(f"{name} must be an integer between {minimum} and {maximum}; got {value!r}.{_tail(hint)}")
    return value


def check_interval(name: str, value: Any, low: float, high: float, low_open: bool = False, high_open: bool = False,
                   hint: str = "") -> float:
    """Return ``value`` as a float if it is a finite number in the interval from ``low`` to ``high``.

    ``low_open`` / ``high_open`` exclude that end: ``check_interval("drop_rate", x, 0, 1, high_open=True)``
    accepts ``[0, 1)``. The message writes the interval the usual way, with the value seen.
    """
    value = check_float(name, value, hint=hint)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a number in {interval}; got {value!r}.{_tail(hint)}")
    return value


_DEVICE_NAME = re.compile(r"cpu|mps|cuda(:\d+)?")


def check_device_name(name: str, value: Any, hint: str = "") -> str:
    """Return ``value`` if it names a device gptedu trains on (``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Only the spelling is checked here; whether the machine has that device is
    ``gptedu.training.get_device``'s question. ``torch.device("tpu")`` would raise a bare
    ``RuntimeError`` listing dozens of backends; this says which names work.
    """
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a device name such as 'cpu'; got {value!r} ({type(value).__name__}).{_tail(hint)}")
    if not _DEVICE_NAME.fullmatch(value):
        raise ConfigError(f"{name} must be 'cpu', 'cuda', 'cuda:N' (N: a GPU number) or 'mps'; got {value!r}.{_tail(hint)}")
    return value


def check_device(name: str, value: Any, hint: str = "") -> Any:
    """Return ``value`` if it is a ``torch.device`` or a device name ``check_device_name`` accepts."""
    import torch  # here, not at the top: the checks above need no torch

    if isinstance(value, torch.device):
        return value
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str such as 'cpu' or a torch.device; got {short_repr(value)} "
                                f"({type(value).__name__}).{_tail(hint)}")
    return check_device_name(name, value, hint)


def check_text(name: str, value: Any, hint: str = "") -> str:
    """Return ``value`` if it is a string with more than white space (``check_str``, then not empty)."""
    check_str(name, value, hint)
    if not value.strip():
        raise ConfigError(f"{name} must not be empty; got {value!r}.{_tail(hint)}")
    return value


def check_path(name: str, value: Any, hint: str = "") -> Path:
    """Return ``value`` as a ``Path`` if it is a non-empty ``str`` or ``os.PathLike``; raise a clear error otherwise."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a path (a str or pathlib.Path); got {value!r} ({type(value).__name__}).{_tail(hint)}")
    if not str(value):
        raise ConfigError(f"{name} must not be an empty path.{_tail(hint)}")
    return Path(value)


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters; a tensor is shown by its shape and dtype instead."""
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None and not isinstance(value, (int, float)):
        return f"a {type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 5]}...{text[-2:]}"


def check_int_or_none(name: str, value: Any, minimum: int | None = None, hint: str = "") -> int | None:
    """Return ``value`` if it is ``None`` or an integer (not a bool) of at least ``minimum``."""
    return None if value is None else check_int(name, value, minimum, hint)


def check_bool(name: str, value: Any, hint: str = "") -> bool:
    """Return ``value`` if it is ``True`` or ``False``; ``1`` or ``"yes"`` raise, so that a typo cannot pass as a flag."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be True or False; got {short_repr(value)} ({type(value).__name__}).{_tail(hint)}")
    return value


def check_instance(name: str, value: Any, types: type | tuple[type, ...], what: str, hint: str = "") -> Any:
    """Return ``value`` if it is an instance of ``types``; otherwise raise saying it must be ``what`` (e.g. "a torch.Tensor")."""
    if not isinstance(value, types):
        raise ArgumentTypeError(f"{name} must be {what}; got {short_repr(value)} ({type(value).__name__}).{_tail(hint)}")
    return value


def check_str(name: str, value: Any, hint: str = "") -> str:
    """Return ``value`` if it is a string (the empty string too); ``bytes`` get the advice to decode them first."""
    if isinstance(value, (bytes, bytearray)):
        raise ArgumentTypeError(
            f"{name} must be a str, but got {type(value).__name__} ({short_repr(value)}). Decode the bytes first: "
            f"{name}.decode('utf-8'), or read the file with open(path, encoding='utf-8').read().{_tail(hint)}"
        )
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str; got {short_repr(value)} ({type(value).__name__}).{_tail(hint)}")
    return value


def check_token_ids(name: str, token_ids: Any, vocab_size: int, allowed: tuple[int, ...] = (), hint: str = "") -> Any:
    """Return ``token_ids`` as an integer tensor if every ID lies in ``[0, vocab_size)`` (or in ``allowed``).

    Accepts a tensor or a (nested) list of ints. Raises ``ArgumentTypeError`` for other types,
    ``InvalidInputError`` for a ragged list, a non-integer dtype, or an ID outside the vocabulary,
    naming the first bad ID and where it is.
    """
    import torch  # here, not at the top: the checks above need no torch

    from .errors import InvalidInputError

    if isinstance(token_ids, (list, tuple)):
        try:
            token_ids = torch.tensor(token_ids)
        except (ValueError, TypeError, RuntimeError, OverflowError) as error:
            raise InvalidInputError(
                f"{name} must be a list of integer token IDs (or a torch tensor of them); could not read "
                f"{short_repr(token_ids)} as one ({error}). Nested lists must all have the same length.{_tail(hint)}"
            ) from None
    if not isinstance(token_ids, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a tensor or list of integer token IDs; got {short_repr(token_ids)} "
                                f"({type(token_ids).__name__}).{_tail(hint)}")
    if token_ids.dtype == torch.bool or token_ids.is_floating_point() or token_ids.is_complex():
        raise InvalidInputError(f"{name} must hold integer token IDs (dtype torch.long); got dtype {token_ids.dtype}. "
                                f"Convert with .long() if the values are whole numbers.{_tail(hint)}")
    if token_ids.numel() == 0:
        return token_ids
    bad = (token_ids < 0) | (token_ids >= vocab_size)
    for extra in allowed:
        bad &= token_ids != extra
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        value = int(token_ids[where])
        also = f" (or {', '.join(map(str, allowed))})" if allowed else ""
        position = "" if not where else f" at position {where if len(where) > 1 else where[0]}"
        raise InvalidInputError(
            f"{name} holds token ID {value}{position}, outside the vocabulary "
            f"of {vocab_size} tokens: IDs must lie in [0, {vocab_size - 1}]{also}.{_tail(hint)}"
        )
    return token_ids
