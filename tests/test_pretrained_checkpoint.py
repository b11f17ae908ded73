"""The TensorFlow V2 checkpoint reader against a checkpoint written by TensorFlow itself.

tests/fixtures/tf_checkpoint/tiny.* and expected.npz come from make_checkpoint.py (TensorFlow 2.15.1);
corrupt variants are built from their bytes, multi-block tables by re-packing the index's entries.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from autotag.pretrained import tf_checkpoint as tfc
from autotag.pretrained.tf_checkpoint import CheckpointError, open_checkpoint, read_checkpoint

HERE = Path(__file__).parent / "fixtures" / "tf_checkpoint"
INDEX = (HERE / "tiny.index").read_bytes()
DATA = (HERE / "tiny.data-00000-of-00001").read_bytes()


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(HERE / "expected.npz") as z:
        return {k: z[k] for k in z.files}


def _crc_reference(data: bytes) -> int:
    """Plain bit-by-bit CRC-32C, independent of the reader's table-driven one."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _entries(index: bytes) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a table, read with the reader's block helpers."""
    footer, limit = index[-48:], len(index) - 48
    pos = tfc._varint(footer, tfc._varint(footer, 0, 40)[1], 40)[1]
    handles = tfc._items(tfc._block(index, footer[pos:40], limit))
    return [kv for _, handle in handles for kv in tfc._items(tfc._block(index, handle, limit))]


def _table(items: list[tuple[bytes, bytes]], block_size: int, restarts: int, compression: int = 0):
    """A LevelDB-style table of `items` (sorted), blocks of ~block_size bytes; (bytes, #blocks)."""
    out = bytearray()

    def block(entries: list[tuple[bytes, bytes]]) -> bytes:
        body, starts, prev = bytearray(), [], b""
        for i, (key, value) in enumerate(entries):
            shared = 0
            if i % restarts:
                while shared < min(len(prev), len(key)) and prev[shared] == key[shared]:
                    shared += 1
            else:
                starts.append(len(body))
            body += _varint(shared) + _varint(len(key) - shared) + _varint(len(value))
            body += key[shared:] + value
            prev = key
        starts = starts or [0]
        body += b"".join(s.to_bytes(4, "little") for s in starts) + len(starts).to_bytes(
            4, "little"
        )
        body += bytes([compression])
        crc = _crc_reference(bytes(body))
        masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
        handle = _varint(len(out)) + _varint(len(body) - 1)
        out.extend(body + masked.to_bytes(4, "little"))
        return handle

    index, current = [], []
    for key, value in items:
        current.append((key, value))
        if sum(len(k) + len(v) for k, v in current) >= block_size:
            index.append((key, block(current)))
            current = []
    if current:
        index.append((current[-1][0], block(current)))
    handles = block([]) + block(index)
    footer = handles.ljust(40, b"\0") + (0xDB4775248B80FB57).to_bytes(8, "little")
    return bytes(out + footer), len(index)


def _check_all(ck: tfc.TFCheckpoint, expected: dict[str, np.ndarray]) -> None:
    assert ck.shapes() == {k: v.shape for k, v in expected.items()}
    assert ck.dtypes() == {k: v.dtype for k, v in expected.items()}
    for key, want in expected.items():
        got = ck.tensor(key)
        assert got.dtype == want.dtype and got.shape == want.shape, key
        assert got.tobytes() == want.tobytes(), key
        assert got.flags.writeable


def test_every_variable_equals_tensorflows(expected):
    ck = open_checkpoint(HERE / "tiny")
    assert ck.name == str(HERE / "tiny")
    assert len(expected) > 100 and {"dense/kernel", "global_step", "half", "mask"} <= set(expected)
    assert expected["global_step"].shape == () and expected["conv/block_1/kernel"].ndim == 4
    _check_all(ck, expected)
    assert "dense/kernel" in ck and "dense" not in ck
    assert ck.tensor("global_step") == 2**40 + 3


def test_read_checkpoint_from_bytes(expected):
    _check_all(read_checkpoint(INDEX, DATA, "tiny"), expected)
    _check_all(read_checkpoint(bytearray(INDEX), [DATA], "tiny"), expected)
    with pytest.raises(CheckpointError, match="tiny: the index names 1 data shards, got 2"):
        read_checkpoint(INDEX, [DATA, DATA], "tiny")


@pytest.mark.parametrize("block_size, restarts", [(64, 1), (256, 3), (1024, 16)])
def test_multi_block_tables(expected, block_size, restarts):
    index, n_blocks = _table(_entries(INDEX), block_size, restarts)
    assert n_blocks > 2
    _check_all(read_checkpoint(index, DATA, "repacked"), expected)


def test_unknown_proto_fields_are_skipped_and_the_last_value_wins(expected):
    extra = b"\x78\x05" + b"\x81\x01" + b"\x00" * 8 + b"\x8a\x01\x02hi" + b"\x95\x01" + b"\x00" * 4
    items = [(k, v + extra) for k, v in _entries(INDEX)]
    _check_all(read_checkpoint(_table(items, 4096, 16)[0], DATA, "extra"), expected)
    items = [(k, v + b"\x08\x07" if k == b"mask" else v) for k, v in _entries(INDEX)]
    with pytest.raises(CheckpointError, match="^strings: variable mask: unsupported dtype 7$"):
        read_checkpoint(_table(items, 4096, 16)[0], DATA, "strings")


@pytest.mark.parametrize(
    "value, message",
    [
        (b"\x08" + b"\xff" * 10 + b"\x01", "variable counts: bad varint"),
        (b"\x08", "variable counts: truncated varint"),
        (b"\x08\x01\x3a\x00", "variable counts: partitioned"),
        (b"\x12\x05\x12\x03\x08\x7f", "variable counts: truncated protobuf field"),
        (b"\x0b", "variable counts: unsupported protobuf wire type 3"),
        (b"\x08\x01\x18" + b"\xff" * 9 + b"\x01", "variable counts: bad shape (), shard -1"),
    ],
)
def test_malformed_entries(value, message):
    items = [(k, value if k == b"counts" else v) for k, v in _entries(INDEX)]
    with pytest.raises(CheckpointError, match=f"^bad: {re.escape(message)}"):
        read_checkpoint(_table(items, 4096, 16)[0], DATA, "bad")


def test_unknown_compression_and_bad_blocks():
    snappy, _ = _table(_entries(INDEX), 1024, 16, compression=1)
    with pytest.raises(CheckpointError, match=r"^ck: unsupported block compression 1 \(snappy\)"):
        read_checkpoint(snappy, DATA, "ck")
    flipped = bytearray(INDEX)
    flipped[100] ^= 0x01
    with pytest.raises(CheckpointError, match="^ck: block 0..[0-9]+: checksum mismatch"):
        read_checkpoint(bytes(flipped), DATA, "ck")


@pytest.mark.parametrize("cut", [1, 8, 47, len(INDEX) - 20, len(INDEX) - 100])
def test_truncated_index(tmp_path, cut):
    with pytest.raises(CheckpointError, match="^tiny: "):
        read_checkpoint(INDEX[:cut], DATA, "tiny")
    (tmp_path / "ck.index").write_bytes(INDEX[:cut])
    (tmp_path / "ck.data-00000-of-00001").write_bytes(DATA)
    with pytest.raises(CheckpointError, match=re.escape(f"{tmp_path / 'ck'}.index: ")):
        open_checkpoint(tmp_path / "ck")


def test_bad_magic():
    with pytest.raises(CheckpointError, match="^tiny: bad magic number"):
        read_checkpoint(INDEX[:-1] + b"\x00", DATA, "tiny")


def test_truncated_data_file(tmp_path, expected):
    offset = DATA.index(expected["dense/kernel"].tobytes())
    (tmp_path / "ck.index").write_bytes(INDEX)
    (tmp_path / "ck.data-00000-of-00001").write_bytes(DATA[: offset + 10])
    ck = open_checkpoint(tmp_path / "ck")
    message = (
        f"{tmp_path / 'ck'}: truncated data file (variable dense/kernel needs bytes "
        f"{offset}..{offset + 48}, the file has {offset + 10})"
    )
    with pytest.raises(CheckpointError, match=f"^{re.escape(message)}$"):
        ck.tensor("dense/kernel")


def test_corrupted_tensor_byte(expected):
    data = bytearray(DATA)
    data[DATA.index(expected["dense/kernel"].tobytes()) + 5] ^= 0x10
    ck = read_checkpoint(INDEX, bytes(data), "tiny")
    with pytest.raises(CheckpointError, match="^tiny: variable dense/kernel: checksum mismatch$"):
        ck.tensor("dense/kernel")
    failing = set()
    for key in expected:
        try:
            ck.tensor(key)
        except CheckpointError:
            failing.add(key)
    assert failing == {"dense/kernel"}


def test_missing_variable_and_files(tmp_path):
    ck = read_checkpoint(INDEX, DATA, "tiny")
    with pytest.raises(CheckpointError, match="^tiny: no variable 'dense/kernl'"):
        ck.tensor("dense/kernl")
    with pytest.raises(CheckpointError, match=re.escape(f"{tmp_path / 'nope'}.index")):
        open_checkpoint(tmp_path / "nope")
    (tmp_path / "ck.index").write_bytes(INDEX)
    with pytest.raises(CheckpointError, match=re.escape(f"{tmp_path / 'ck'}.data-00000-of-00001")):
        open_checkpoint(tmp_path / "ck")


@pytest.mark.parametrize("n", [0, 1, 9, 4095, 4096, 4097, 12_288, 20_011])
def test_crc32c(n):
    assert tfc.crc32c(b"123456789") == 0xE3069283
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert tfc.crc32c(data) == _crc_reference(data)
