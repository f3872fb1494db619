"""Fuzz the image reader (`handgrad.train.read_image`) from small pictures of the formats
and modes Pillow reads most."""

import io

import numpy as np

import common

with common.instrumented(__name__ == "__main__"):
    from PIL import Image

    from handgrad.train import read_image

    Image.init()  # Pillow imports its format plugins on first use: here, inside the instrumentation


def read(data: bytes):
    return common.valid_or_user_error(read_image, common.write_input(data, "picture"))


def TestOneInput(data: bytes) -> None:
    read(data)


def seeds() -> list[bytes]:
    pixels = np.random.default_rng(0).integers(0, 255, (12, 10), dtype=np.uint8)
    out = []
    for mode, kind in [("L", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("RGB", "JPEG"), ("L", "GIF"), ("RGB", "BMP"),
                       ("L", "TIFF"), ("RGB", "WEBP"), ("L", "PPM")]:
        buffer = io.BytesIO()
        Image.fromarray(pixels).convert(mode).save(buffer, format=kind)
        out.append(buffer.getvalue())
    return out


if __name__ == "__main__":
    common.main("image", TestOneInput, seeds)
