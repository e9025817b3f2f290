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


class ArgumentTypeError(GPTEduError, TypeError):
    """An argument of the wrong type (for example a float where a number of tokens is expected)."""


class TrainingDivergedError(GPTEduError, FloatingPointError):
    """The training loss became NaN or infinite: the run stopped instead of going on with broken weights."""


class FileKindError(GPTEduError, ValueError):
    """A file that is not the kind a function reads (a text file given as weights, random bytes, a folder, ...)."""


class TextEncodingError(GPTEduError, ValueError):
    """A text file that is not valid UTF-8 (for example saved as Latin-1 or Windows-1252)."""


class OverwriteRefusedError(GPTEduError, FileExistsError):
    """Writing would replace a file gptedu did not create, or the very file it reads; nothing was written."""


class InvalidInputError(GPTEduError, ValueError):
    """Input data that cannot be used as given: token IDs outside the vocabulary, a tensor of the wrong shape or dtype."""


class DriveMountError(GPTEduError, RuntimeError):
    """Google Drive could not be mounted on Colab (access refused, or the mount timed out); nothing was saved there."""
