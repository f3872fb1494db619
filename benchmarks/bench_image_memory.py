"""Peak memory (RSS) of reading one very large picture as `handgrad predict` does.

A picture is written once per case (a digit drawn across a 12000x12000 page by default),
then read by `handgrad.train.images.load_image` in a fresh process that reports its peak
resident set size before and after the read. The issue's goal: under 300 MB for a
12000x12000 PNG (the previous reader, which turned the whole picture into float32
before cropping it, took 1.88 GB).

    python benchmarks/bench_image_memory.py                 # gray PNG, colour JPEG and PNG
    python benchmarks/bench_image_memory.py --side 8000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (mode, format, side; None: --side). A colour PNG is read up to the memory limit (40 million
# pixels, 6,324 x 6,324) and refused above it: 6300 shows the most memory a read can take.
CASES = (("L", ".png", None), ("RGB", ".jpg", None), ("RGB", ".png", 6300), ("RGB", ".png", None))


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: may include the parent's


def reader(path: str) -> None:
    """In this fresh process: import, read the picture, report peak RSS (MiB) before and after."""
    from handgrad.train.images import load_image

    before = peak_rss_mib()
    started = time.perf_counter()
    try:
        image = load_image(path)
    except ValueError as exc:  # over the limit: refused before decoding
        print(json.dumps({"before_mib": before, "peak_mib": peak_rss_mib(), "seconds": 0, "refused": str(exc)}))
        return
    seconds = time.perf_counter() - started
    after = peak_rss_mib()
    print(json.dumps({"before_mib": before, "peak_mib": after, "seconds": seconds, "ink": int(image.sum())}))


def write_page(path: Path, side: int, mode: str) -> None:
    """A dark digit (MNIST test image 0, inverted) drawn across most of a white side x side page."""
    import numpy as np
    from PIL import Image

    from handgrad.data import load_dataset
    from handgrad.train import default_data_dir

    digit = 255 - load_dataset("mnist", default_data_dir(), "test")[0][0]
    page = Image.new("L", (side, side), 255)
    page.paste(Image.fromarray(np.ascontiguousarray(digit)).resize((side * 3 // 4,) * 2, Image.Resampling.BILINEAR),
               (side // 8, side // 8))
    page.convert(mode).save(path, **({"quality": 90} if path.suffix == ".jpg" else {"compress_level": 1}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=12000, help="width and height of the picture (default 12000)")
    parser.add_argument("--reader", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        reader(args.reader)
        return
    print("| picture | on disk | peak RSS after import | peak RSS after the read | read |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for mode, suffix, side in CASES:
            side = side or args.side
            path = Path(folder) / f"page-{mode}{suffix}"
            write_page(path, side, mode)
            out = subprocess.run([sys.executable, __file__, "--reader", str(path)], capture_output=True, text=True,
                                 check=True).stdout
            result = json.loads(out)
            read = "refused (over the limit)" if "refused" in result else f"{result['seconds']:.2f} s"
            print(f"| {side}x{side} {mode} {suffix[1:].upper()} | {path.stat().st_size / 1e6:.1f} MB "
                  f"| {result['before_mib']:.0f} MiB | {result['peak_mib']:.0f} MiB | {read} |", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
