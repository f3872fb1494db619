"""Fuzz the IDX reader (`handgrad.data.read_idx`), plain and gzipped.

The first byte picks the path: odd, the rest is gzip-compressed before it is written, so
mutations of the IDX fields also reach the reader through a valid gzip stream; even, the
rest is written as it is (the seeds hold real .gz files too, for corrupt streams).
"""

import numpy as np

import common

with common.instrumented(__name__ == "__main__"):
    import gzip  # Python code the reader runs on .gz files: worth covering too

    from handgrad.data import read_idx, write_idx


def read(data: bytes):
    payload = gzip.compress(data[1:], mtime=0) if data[:1] and data[0] & 1 else data[1:]
    return common.valid_or_user_error(read_idx, common.write_input(payload, "images.idx"))


def TestOneInput(data: bytes) -> None:
    read(data)


def seeds() -> list[bytes]:
    arrays = [np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), np.linspace(-1, 1, 10).astype(np.float32),
              np.arange(12, dtype=np.int16).reshape(3, 4), np.array([-1, 0, 7], dtype=np.int8),
              np.arange(6, dtype=np.int32).reshape(1, 2, 3), np.array([0.5, -2.0])]
    out = []
    for i, array in enumerate(arrays):
        path = common.scratch() / f"seed-{i}.idx{'.gz' if i % 2 else ''}"
        write_idx(path, array)
        raw = path.read_bytes()
        out += [b"\x00" + raw, b"\x01" + (gzip.decompress(raw) if i % 2 else raw)]
    return out


if __name__ == "__main__":
    common.main("idx", TestOneInput, seeds)
