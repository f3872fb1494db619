"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the
array's elements in C order, big-endian::

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions, d >= 1
    4 .. 4+4d   the d sizes (big-endian uint32)
    4+4d ..     prod(sizes) * itemsize bytes of data, nothing after them

Files may be gzip-compressed; `read_idx` recognises gzip by its magic bytes (1f 8b),
whatever the file is called.
"""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from handgrad.errors import UserError

# Type code -> big-endian dtype of the elements as stored.
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# Native dtype -> type code, for writing.
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DIMS = 64  # NumPy's limit on an array's dimensions


def _decompress(path: Path, raw: bytes) -> bytes:
    """Decompress a gzip file's bytes; a cut or corrupt stream raises ValueError."""
    try:
        return gzip.decompress(raw)
    except (EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
        raise UserError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc


def _parse(path: Path, data: bytes) -> np.ndarray:
    """Decode the uncompressed bytes of an IDX file, checking every field."""
    if len(data) < 4:
        raise UserError(
            f"{path}: truncated header: {len(data)} bytes, an IDX magic number needs 4"
        )
    if data[0] != 0 or data[1] != 0:
        raise UserError(
            f"{path}: bad magic number {data[:4].hex()}: an IDX file starts with two zero bytes"
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X} {d.newbyteorder('=').name}" for c, d in _DTYPES.items())
        raise UserError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise UserError(f"{path}: number of dimensions is 0, an IDX array needs at least 1")
    if ndim > _MAX_DIMS:
        raise UserError(f"{path}: {ndim} dimensions, more than the {_MAX_DIMS} an array can have")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise UserError(
            f"{path}: truncated header: {len(data)} bytes, expected {header_len} "
            f"for {ndim} dimensions"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    # NumPy refuses a shape whose nonzero sizes multiply past its index range, even when
    # another size is 0 and the array would be empty
    if math.prod(size for size in shape if size) * dtype.itemsize > np.iinfo(np.intp).max:
        raise UserError(f"{path}: shape {shape} is too large for an array")
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        fault = "truncated" if actual < expected else f"{actual - expected} trailing bytes"
        raise UserError(
            f"{path}: payload is {actual} bytes, expected {expected} for shape {shape} "
            f"of {dtype.newbyteorder('=').name} ({fault})"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed, into a native-byte-order array.

    A missing file raises FileNotFoundError; an empty, malformed, truncated or
    over-long file, or a corrupt gzip stream, raises ValueError naming the file and
    the fault.
    """
    path = Path(path)
    raw = path.read_bytes()  # FileNotFoundError names the path
    if not raw:
        raise UserError(f"{path}: file is empty")
    data = _decompress(path, raw) if raw[:2] == _GZIP_MAGIC else raw
    if not data:
        raise UserError(f"{path}: file is empty after gzip decompression")
    return _parse(path, data)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as an IDX file, gzip-compressed when the name ends with ``.gz``.

    Supported dtypes are uint8, int8, int16, int32, float32 and float64; the array
    needs at least one dimension. Others raise ValueError.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        names = ", ".join(d.name for d in _CODES)
        raise ValueError(f"{path}: IDX cannot store dtype {array.dtype} (supported: {names})")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"{path}: IDX needs 1 to 255 dimensions, the array has {array.ndim}")
    if any(s >= 2**32 for s in array.shape):
        raise ValueError(f"{path}: IDX sizes are uint32, shape {array.shape} is too large")
    header = bytes([0, 0, _CODES[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=_DTYPES[_CODES[native]]).tobytes()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
