"""read_idx / write_idx: the shipped files, round trips, and every malformed input."""

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from handgrad.data import read_idx, write_idx

DATA = Path(__file__).resolve().parents[2] / "data"
DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def published_checksums() -> dict[str, str]:
    """SHA-256 of each uncompressed IDX file, as listed in data/README.md."""
    text = (DATA / "README.md").read_text()
    return dict(re.findall(r"^(\S+-idx\d-ubyte)\s+([0-9a-f]{64})$", text, flags=re.MULTILINE))


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """An uncompressed IDX file for `array`, written by hand, independent of write_idx."""
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


SHIPPED = {
    "t10k-images-idx3-ubyte": (10000, 28, 28),
    "t10k-labels-idx1-ubyte": (10000,),
    "train-images-idx3-ubyte": (60000, 28, 28),
    "train-labels-idx1-ubyte": (60000,),
}


@pytest.mark.parametrize("folder", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("stem", sorted(SHIPPED))
def test_shipped_files_decode_to_the_published_checksum(folder, stem):
    array = read_idx(DATA / folder / f"{stem}.gz")
    assert array.shape == SHIPPED[stem]
    assert array.dtype == np.uint8
    # Re-encode the decoded array: equal to the published SHA-256 only if every byte
    # of the header and payload was decoded correctly.
    digest = hashlib.sha256(idx_bytes(array)).hexdigest()
    assert digest == published_checksums()[f"{folder}/{stem}"]


def test_readme_lists_all_eight_checksums():
    assert len(published_checksums()) == 8


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_dtype(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True, dtype=dtype)
        array.flat[:2] = info.min, info.max
    else:
        array = rng.standard_normal((3, 4, 5)).astype(dtype)
        array.flat[:3] = np.inf, -np.inf, np.nan
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == dtype and back.dtype.isnative
    assert back.flags.writeable
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("shape", [(1,), (7,), (2, 1, 3, 1, 2), (0, 5)])
def test_round_trip_shapes(tmp_path, shape):
    array = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
    write_idx(tmp_path / "a.idx", array)
    back = read_idx(tmp_path / "a.idx")
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)


def test_big_endian_input_is_written_correctly(tmp_path):
    array = np.arange(10, dtype=">f8")
    write_idx(tmp_path / "a.idx", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), np.arange(10.0))


def test_write_idx_matches_the_format_byte_for_byte(tmp_path):
    array = np.array([[1, -2], [300, 4]], dtype=np.int16)
    write_idx(tmp_path / "a.idx", array)
    assert (tmp_path / "a.idx").read_bytes() == idx_bytes(array, code=0x0B)


def test_gzip_is_detected_by_magic_not_by_name(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    (tmp_path / "compressed.idx").write_bytes(gzip.compress(idx_bytes(array)))
    (tmp_path / "plain.gz").write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(tmp_path / "compressed.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)


def test_missing_file_raises_file_not_found_with_the_path(tmp_path):
    path = tmp_path / "nowhere" / "x.idx.gz"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_idx(path)


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))

MALFORMED = {
    "empty": (b"", "empty"),
    "short magic": (b"\x00\x00", "truncated header"),
    "bad magic": (b"\x01\x00" + GOOD[2:], "bad magic"),
    "bad magic second byte": (b"\x00\x07" + GOOD[2:], "bad magic"),
    "unknown type code": (GOOD[:2] + b"\x0a" + GOOD[3:], "unknown IDX type code 0x0A"),
    "zero dimensions": (b"\x00\x00\x08\x00", "number of dimensions is 0"),
    "truncated header": (GOOD[:10], "truncated header"),
    "truncated payload": (
        GOOD[:-1],
        "payload is 23 bytes, expected 24 for shape (2, 3, 4) of uint8 (truncated)",
    ),
    "header only": (GOOD[:16], "payload is 0 bytes, expected 24"),
    "trailing bytes": (GOOD + b"\x00\x00", "2 trailing bytes"),
    "cut gzip stream": (gzip.compress(GOOD)[:-12], "gzip"),
    "gzip without trailer": (gzip.compress(GOOD)[:-4], "gzip"),
    "gzip header only": (gzip.compress(GOOD)[:10], "gzip"),
    "garbage gzip": (b"\x1f\x8b" + bytes(range(200)), "gzip"),
    "gzip of nothing": (gzip.compress(b""), "empty after gzip"),
    "gzip of a truncated file": (gzip.compress(GOOD[:-3]), "payload is 21 bytes"),
    "gzip with trailing junk": (gzip.compress(GOOD) + b"junk", "gzip"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_raises_value_error_naming_the_file(tmp_path, case):
    content, message = MALFORMED[case]
    path = tmp_path / "broken-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        read_idx(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_payload_error_message_format(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((60000, 28, 28), np.uint8))[: 16 + 1000])
    with pytest.raises(ValueError) as info:
        read_idx(path)
    assert str(info.value) == (
        f"{path}: payload is 1000 bytes, expected 47040000 for shape (60000, 28, 28) "
        "of uint8 (truncated)"
    )


@pytest.mark.parametrize(
    "array", [np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.complex64), np.float32(1.0)]
)
def test_write_idx_refuses_what_idx_cannot_store(tmp_path, array):
    with pytest.raises(ValueError, match="a.idx"):
        write_idx(tmp_path / "a.idx", array)


def header(code: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(shape)]) + np.array(shape, dtype=">u4").tobytes()


@pytest.mark.parametrize("content, message", [
    # empty, yet NumPy cannot index it: a fuzzing find (benchmarks/fuzz/crashes/idx/)
    (header(0x08, (0, 2**32 - 1, 2**32 - 1)), "shape (0, 4294967295, 4294967295) is too large for an array"),
    (header(0x08, (1,) * 65) + b"\x00", "65 dimensions, more than the 64 an array can have"),
    # float64: the sizes fit an index, their bytes (8 each) do not
    (header(0x0E, (0, 2**31, 2**31)), "shape (0, 2147483648, 2147483648) is too large for an array"),
    # one byte past NumPy's index range: 2**63 (see the next test for 2**63 - 1)
    (header(0x08, (0, 2**21, 2**21, 2**21)), "shape (0, 2097152, 2097152, 2097152) is too large for an array"),
])
def test_shapes_numpy_cannot_hold_are_refused_by_name(tmp_path, content, message):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: {message}") + "$"):
        read_idx(path)


def test_the_largest_shapes_numpy_holds_still_read(tmp_path):
    path = tmp_path / "edge-idx3-ubyte"
    path.write_bytes(header(0x08, (1,) * 64) + b"\x07")
    assert read_idx(path).shape == (1,) * 64
    # sizes whose product is exactly NumPy's largest index, 2**63 - 1 bytes, beside a 0
    largest = (0, 7, 7, 73, 127, 337, 92737, 649657)
    path.write_bytes(header(0x08, largest))
    assert read_idx(path).shape == largest
    path.write_bytes(header(0x08, (0, 2**31 - 1, 2**31 - 1)))  # sizes whose product fits an index
    assert read_idx(path).shape == (0, 2**31 - 1, 2**31 - 1)


def test_bad_magic_message_shows_the_four_magic_bytes(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(b"\x01\x00" + GOOD[2:])  # header 01 00 08 03, then sizes 00 00 00 02 ...
    with pytest.raises(ValueError) as info:
        read_idx(path)
    assert str(info.value) == (
        f"{path}: bad magic number 01000803: an IDX file starts with two zero bytes"
    )


def test_unknown_type_code_lists_the_known_ones(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(GOOD[:2] + b"\x0a" + GOOD[3:])
    with pytest.raises(ValueError) as info:
        read_idx(path)
    assert str(info.value) == (
        f"{path}: unknown IDX type code 0x0A (known: 0x08 uint8, 0x09 int8, 0x0B int16, "
        "0x0C int32, 0x0D float32, 0x0E float64)"
    )


def test_unsupported_dtype_message_lists_the_supported_ones(tmp_path):
    path = tmp_path / "a.idx"
    with pytest.raises(ValueError) as info:
        write_idx(path, np.zeros(3, np.int64))
    assert str(info.value) == (
        f"{path}: IDX cannot store dtype int64 "
        "(supported: uint8, int8, int16, int32, float32, float64)"
    )


def test_sizes_must_fit_in_uint32(tmp_path):
    # Empty arrays, so no memory is needed: the largest size a uint32 holds is written
    # and read back; one more is refused with a ValueError (not numpy's OverflowError).
    largest = np.zeros((2**32 - 1, 0), np.uint8)
    write_idx(tmp_path / "ok.idx", largest)
    assert read_idx(tmp_path / "ok.idx").shape == (2**32 - 1, 0)
    path = tmp_path / "a.idx"
    with pytest.raises(ValueError) as info:
        write_idx(path, np.zeros((2**32, 0), np.uint8))
    assert str(info.value) == f"{path}: IDX sizes are uint32, shape (4294967296, 0) is too large"


def test_gzip_output_is_reproducible_and_carries_no_timestamp(tmp_path, monkeypatch):
    import time

    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "a.idx.gz", array)
    later = time.time() + 86400.0
    monkeypatch.setattr(time, "time", lambda: later)  # a write a day later
    write_idx(tmp_path / "b.idx.gz", array)
    assert (tmp_path / "a.idx.gz").read_bytes() == (tmp_path / "b.idx.gz").read_bytes()
    with gzip.open(tmp_path / "a.idx.gz") as f:  # RFC 1952: MTIME 0 = no time stamp
        f.read()
        assert f.mtime == 0
