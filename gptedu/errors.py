"""The few exceptions gptedu raises, each a subclass of a built-in type.

Every message says what was wrong, the value seen, and what to change. Because each class
also derives from the matching built-in exception (``ValueError``, ``FileNotFoundError``,
...), ordinary ``except ValueError:`` clauses in a student's code keep working.
"""


class GPTEduError(Exception):
    """Base class of every error gptedu raises on purpose."""


class ConfigError(GPTEduError, ValueError):
    """A model or training setting that cannot work (for example ``emb_dim % n_heads != 0``)."""


class NotEnoughDataError(GPTEduError, ValueError):
    """The text is too short for the requested context length, split or batch size."""


class ChecksumError(GPTEduError, ValueError):
    """A file's SHA-256 differs from the published one: corrupted, truncated or the wrong file."""


class DataNotFoundError(GPTEduError, FileNotFoundError):
    """A file or corpus that gptedu needs is neither on disk nor downloadable right now."""


class UnsafeFileError(GPTEduError, ValueError):
    """A ``.pth`` file holds pickled Python objects besides tensors; loading it could run arbitrary code."""


class FormatVersionError(GPTEduError, ValueError):
    """A model or checkpoint file written by a newer gptedu, in a format this version cannot read."""


class UnknownExerciseError(GPTEduError, LookupError):
    """An exercise id that does not exist (ids look like ``"02.1"``: notebook 02, exercise 1)."""
