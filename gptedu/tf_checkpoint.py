"""Read OpenAI's original GPT-2 checkpoints without TensorFlow (notebook 07).

OpenAI published GPT-2 as a TensorFlow "tensor bundle": ``model.ckpt.data-00000-of-00001``
holds the raw little-endian tensors one after the other, and ``model.ckpt.index`` says where
each one starts. The index is a LevelDB-style sorted table:

- the last 48 bytes (the footer) point to an index block and end with a magic number;
- the index block lists the data blocks; each block is a run of key/value entries whose keys
  share prefixes with the previous key, and is followed by a type byte and a CRC32C;
- each value is a ``BundleEntryProto`` (a protobuf message): dtype, shape, offset and size of
  the tensor in the data file, and the CRC32C of its bytes. The empty key holds a header.

``read_tf_checkpoint`` checks every CRC (a flipped byte raises ``ChecksumError``) and returns
numpy arrays; ``load_gpt2_params_from_tf_ckpt`` arranges them in the book's nested ``params``
dict that ``gptedu.pretrained.load_weights_into_gpt`` expects. tests/test_pretrained_openai.py
checks the reader against a checkpoint written by TensorFlow itself.
"""

from __future__ import annotations

import functools
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ChecksumError, ConfigError, DataNotFoundError
from .validation import short_repr

# ---------------------------------------------------------------- CRC32C (Castagnoli)

_POLY = 0x82F63B78  # the reversed Castagnoli polynomial


def _make_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table[byte] = crc
    return table


_TABLE = _make_table()
_TABLE_LIST = [int(v) for v in _TABLE]
_CHUNK = 4096  # bytes per lane of the vectorised CRC


def _zeros_operator(length: int) -> list[list[int]]:
    """Byte tables of the linear map "run the CRC register over ``length`` zero bytes"."""
    images = np.array([1 << bit for bit in range(32)], dtype=np.uint32)  # the 32 basis states
    for _ in range(length):
        images = _TABLE[images & 0xFF] ^ (images >> 8)
    images = [int(v) for v in images]
    tables = []
    for k in range(4):  # state = 4 bytes; the map of each byte value, by linearity
        table = [0] * 256
        for value in range(1, 256):
            low = value & -value
            table[value] = table[value ^ low] ^ images[8 * k + low.bit_length() - 1]
        tables.append(table)
    return tables




@functools.cache
def _shift_tables() -> list[list[int]]:
    return _zeros_operator(_CHUNK)


def crc32c(data: bytes | bytearray | memoryview | np.ndarray, crc: int = 0) -> int:
    """CRC32C of ``data``, continuing from a previous ``crc`` (as ``zlib.crc32`` does for CRC32).

    Large inputs are cut into 4 KiB lanes whose CRC registers numpy advances side by side;
    the CRC is linear, so the lanes' results are then chained with a precomputed "skip 4 KiB"
    map. Same result as the byte-at-a-time loop, about a hundred times faster in Python.
    """
    buffer = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
    state = crc ^ 0xFFFFFFFF
    n_lanes = len(buffer) // _CHUNK
    t0, t1, t2, t3 = _shift_tables()
    for start in range(0, n_lanes, 8192):  # at most 32 MiB at a time: bounded extra memory
        lanes = np.ascontiguousarray(buffer[start * _CHUNK:min(n_lanes, start + 8192) * _CHUNK].reshape(-1, _CHUNK).T)
        registers = np.zeros(lanes.shape[1], dtype=np.uint32)
        for column in lanes:  # one byte of every lane per step
            registers = _TABLE[(registers ^ column) & 0xFF] ^ (registers >> 8)
        for register in registers.tolist():  # chain: state after the lane = shifted state ^ lane's register
            state = t0[state & 0xFF] ^ t1[(state >> 8) & 0xFF] ^ t2[(state >> 16) & 0xFF] ^ t3[state >> 24] ^ register
    for byte in buffer[n_lanes * _CHUNK:].tolist():  # the last partial lane, byte by byte
        state = _TABLE_LIST[(state ^ byte) & 0xFF] ^ (state >> 8)
    return state ^ 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """Undo LevelDB's CRC masking (stored CRCs are rotated and offset so CRCs of CRCs stay strong)."""
    rotated = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


# ---------------------------------------------------------------- protobuf and table decoding


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) of a protobuf message: ints for varint/fixed, bytes for nested."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        field, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, pos = _varint(buf, pos)
        elif wire_type == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire_type == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        elif wire_type == 2:
            length, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos:pos + length]), pos + length
        else:
            raise ValueError(f"Unsupported protobuf wire type {wire_type}")
        yield field, value


_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 6: np.int8, 9: np.int64, 19: np.float16}


@dataclass
class BundleEntry:
    """Where one tensor lives in the data file (the fields of ``BundleEntryProto`` gptedu uses)."""

    dtype: int = 1
    shape: tuple[int, ...] = ()
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int = 0

    @classmethod
    def parse(cls, buf: bytes) -> BundleEntry:
        entry, dims = cls(), []
        for field, value in _proto_fields(buf):
            if field == 1:
                entry.dtype = value
            elif field == 2:  # TensorShapeProto: repeated Dim (field 2) with size (field 1)
                dims = [dict(_proto_fields(dim)).get(1, 0) for f, dim in _proto_fields(value) if f == 2]
            elif field in (3, 4, 5, 6):
                setattr(entry, ("shard_id", "offset", "size", "crc32c")[field - 3], value)
            elif field == 7:
                raise ValueError("Sliced (partitioned) tensors are not supported; GPT-2's checkpoints have none.")
        entry.shape = tuple(dims)
        return entry


def _read_block(table: bytes, offset: int, size: int, path: Path) -> bytes:
    contents = table[offset:offset + size]
    block_type, stored_crc = table[offset + size], struct.unpack_from("<I", table, offset + size + 1)[0]
    if crc32c(table[offset:offset + size + 1]) != unmask_crc(stored_crc):
        raise ChecksumError(f"{path} is corrupt: a block at byte {offset} fails its CRC32C check. Download it again.")
    if block_type != 0:
        raise ValueError(f"{path} uses block compression type {block_type}; only uncompressed tables are supported.")
    return contents


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end, pos, key = len(block) - 4 * (num_restarts + 1), 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + non_shared]  # keys are stored as "shared prefix + new suffix"
        pos += non_shared
        yield key, block[pos:pos + value_length]
        pos += value_length


def read_index(index_path: str | os.PathLike) -> dict[str, BundleEntry]:
    """Parse a ``.index`` file: tensor name -> ``BundleEntry`` (also checks the table's CRCs)."""
    path = Path(index_path)
    table = path.read_bytes()
    if len(table) < 48 or struct.unpack_from("<Q", table, len(table) - 8)[0] != 0xDB4775248B80FB57:
        raise ChecksumError(f"{path} is not a TensorFlow checkpoint index (no table magic number at its end). Download it again.")
    footer = table[-48:]
    _, pos = _varint(footer, 0)  # metaindex handle: offset ...
    _, pos = _varint(footer, pos)  # ... and size (unused: bundles have no meta blocks)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    entries = {}
    for _, handle in _block_entries(_read_block(table, index_offset, index_size, path)):
        block_offset, p = _varint(handle, 0)
        block_size, _ = _varint(handle, p)
        for key, value in _block_entries(_read_block(table, block_offset, block_size, path)):
            if key == b"":  # BundleHeaderProto: num_shards (1), endianness (2; 0 = little)
                header = dict(_proto_fields(value))
                if header.get(2, 0) != 0:
                    raise ValueError(f"{path} stores big-endian tensors; only little-endian bundles are supported.")
                continue
            entries[key.decode()] = BundleEntry.parse(value)
    return entries


# ---------------------------------------------------------------- reading tensors


def checkpoint_prefix(folder_or_prefix: str | os.PathLike) -> Path:
    """Resolve a checkpoint folder (with its ``checkpoint`` file) or a ``.../model.ckpt`` prefix."""
    path = Path(folder_or_prefix)
    if path.is_dir():
        checkpoint_file = path / "checkpoint"
        name = "model.ckpt"
        if checkpoint_file.is_file():
            match = re.search(r'model_checkpoint_path:\s*"([^"]+)"', checkpoint_file.read_text())
            name = Path(match.group(1)).name if match else name
        path = path / name
    path = Path(str(path).removesuffix(".index"))
    if not Path(f"{path}.index").is_file():
        raise DataNotFoundError(f"No TensorFlow checkpoint at {path}: expected {path}.index beside {path}.data-00000-of-00001.")
    return path


def read_tf_checkpoint(prefix: str | os.PathLike) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(name, array)`` for every tensor of a checkpoint, one at a time, each CRC32C-checked.

    ``prefix`` is a checkpoint folder or its ``model.ckpt`` prefix. Only one tensor is held
    at a time, so a caller that copies each into a model needs no second copy of the weights.
    """
    prefix = checkpoint_prefix(prefix)
    entries = read_index(f"{prefix}.index")
    shards = {}
    try:
        for name, entry in sorted(entries.items(), key=lambda item: (item[1].shard_id, item[1].offset)):
            if entry.dtype not in _DTYPES:
                raise ValueError(f"Tensor {name} has TensorFlow dtype {entry.dtype}, which gptedu cannot read.")
            if entry.shard_id not in shards:
                num_shards = max(e.shard_id for e in entries.values()) + 1
                data_path = Path(f"{prefix}.data-{entry.shard_id:05d}-of-{num_shards:05d}")
                if not data_path.is_file():
                    raise DataNotFoundError(f"Missing {data_path}, the data file of the checkpoint {prefix}.")
                shards[entry.shard_id] = open(data_path, "rb")  # noqa: SIM115 (closed below)
            data = shards[entry.shard_id]
            array = np.empty(entry.shape, dtype=_DTYPES[entry.dtype])
            data.seek(entry.offset)
            if data.readinto(memoryview(array).cast("B")) != entry.size or array.nbytes != entry.size:
                raise ChecksumError(f"{data.name} is truncated: tensor {name} ends past the end of the file. Download it again.")
            if crc32c(array) != unmask_crc(entry.crc32c):
                raise ChecksumError(
                    f"Tensor {name} in {data.name} fails its CRC32C check: the file is corrupt. Delete the "
                    "checkpoint folder and download it again (gptedu download SIZE --source openai)."
                )
            yield name, array
    finally:
        for file in shards.values():
            file.close()


def openai_to_hf_name(name: str) -> str:
    """``model/h3/attn/c_attn/w`` -> ``h.3.attn.c_attn.weight``: OpenAI's names in Hugging Face's spelling."""
    parts = name.removeprefix("model/").split("/")
    if parts[0].startswith("h") and parts[0][1:].isdigit():
        parts[0] = f"h.{parts[0][1:]}"
    leaf = {"w": "weight", "g": "weight", "b": "bias"}.get(parts[-1], parts[-1])
    if len(parts) == 1:  # wte, wpe
        return f"{parts[0]}.weight"
    return ".".join([*parts[:-1], leaf])


def load_gpt2_params_from_tf_ckpt(ckpt_path: str | os.PathLike, settings: dict) -> dict:
    """The book's ``params``: ``{"wte", "wpe", "blocks": [{"attn": {"c_attn": {"w", "b"}}, ...}], "g", "b"}``.

    ``settings`` is the checkpoint's hparams.json (only ``n_layer`` is used). Leading size-1
    dimensions are dropped, as the book does (``c_attn/w`` is stored as [1, d, 3d]).
    """
    if not isinstance(settings, dict) or not isinstance(settings.get("n_layer"), int) or isinstance(settings["n_layer"], bool):
        raise ConfigError(f"settings must be the checkpoint's hparams.json as a dict, with an integer n_layer (12 for "
                          f"124M); got {short_repr(settings)}. Read it with json.load(open(folder / 'hparams.json')).")
    params: dict = {"blocks": [{} for _ in range(settings["n_layer"])]}
    for name, array in read_tf_checkpoint(ckpt_path):
        parts = name.split("/")[1:]  # drop the leading "model/"
        target = params
        if parts[0].startswith("h") and parts[0][1:].isdigit():
            target = params["blocks"][int(parts[0][1:])]
        # as in the book: the first part picks the block (or nothing: "ln_f/g" -> params["g"])
        for key in parts[1:-1]:
            target = target.setdefault(key, {})
        target[parts[-1]] = np.squeeze(array) if array.ndim == 3 else array
    return params
