"""Data augmentation for float image batches (N, C, H, W), vectorised over the batch.

Every transform is a callable ``t(x, rng) -> array`` returning a new array of the same
shape and dtype (float32 or float64). Its random parameters are drawn per image from the
``numpy.random.Generator`` passed in (handgrad's global generator when None), so the same
seed gives the same output.

``fill`` is the background value written where a transform uncovers or erases pixels.
The default 0.0 is a black pixel for images scaled to [0, 1] (``to_float`` with
``mean=0, std=1``); for standardised images pass ``background_value(mean, std)``.

Rotation convention: a positive angle turns the image counter-clockwise as displayed
(row 0 at the top) about its centre ((H-1)/2, (W-1)/2), so ``rotate(x, 90)`` equals
``np.rot90(x, 1, axes=(2, 3))`` for square images. Pixels are resampled bilinearly by
inverse mapping: each output pixel reads the input at its rotated-back coordinates.

Transforms work on a whole batch at once, with temporaries a few times its size: apply
them per mini-batch, or through `augment_dataset`, which works in chunks.

`build_augmentation` turns a command-line spec such as ``"rotate=15,translate=2"`` into a
`Compose`; `augment_dataset` enlarges a data set with augmented copies.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from handgrad.errors import UserError

from handgrad._random import resolve

Transform = Callable[[np.ndarray, np.random.Generator | None], np.ndarray]


def _check_batch(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"augmentation expects images of shape (N, C, H, W), got {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"augmentation expects float32 or float64 images, got {x.dtype}")
    return x


def _sampler(x: np.ndarray, fill: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function ``gather(rows, cols) -> out`` with ``out[n, c] = x[n, c, rows[n], cols[n]]``.

    `rows` and `cols` are integer arrays broadcasting to (N, H', W'); the result is
    (N, C, H', W'). Coordinates outside the image read `fill`: the lookup goes into a copy
    of `x` with a one-pixel border of `fill`, onto which they are clipped.
    """
    n, c, h, w = x.shape
    padded = np.full((n, c, h + 2, w + 2), fill, dtype=x.dtype)
    padded[:, :, 1:-1, 1:-1] = x
    flat = padded.ravel()
    planes = np.arange(n * c).reshape(n, c, 1, 1) * ((h + 2) * (w + 2))

    def gather(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        offsets = (np.clip(rows, -1, h) + 1) * (w + 2) + (np.clip(cols, -1, w) + 1)
        return flat.take(planes + offsets[:, None])

    return gather


def rotate(x: np.ndarray, degrees: float | np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Rotate each image counter-clockwise by `degrees` (a scalar or one angle per image).

    Bilinear interpolation; pixels whose source falls outside the image blend with `fill`.
    """
    x = _check_batch(x)
    n, _, h, w = x.shape
    theta = np.deg2rad(np.broadcast_to(np.asarray(degrees, dtype=np.float64), (n,)))
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dy = np.arange(h, dtype=np.float64)[None, :, None] - cy
    dx = np.arange(w, dtype=np.float64)[None, None, :] - cx
    src_y = cy + sin * dx + cos * dy  # inverse map: output (y, x) reads input (src_y, src_x)
    src_x = cx + cos * dx - sin * dy
    y0, x0 = np.floor(src_y), np.floor(src_x)
    wy = (src_y - y0).astype(x.dtype)[:, None]
    wx = (src_x - x0).astype(x.dtype)[:, None]
    y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
    gather = _sampler(x, fill)
    top = gather(y0, x0) * (1 - wx) + gather(y0, x0 + 1) * wx
    bottom = gather(y0 + 1, x0) * (1 - wx) + gather(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def translate(x: np.ndarray, shifts: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Shift each image by integer ``(down, right)`` pixels; `shifts` is (2,) or (N, 2).

    ``out[n, :, i, j] = x[n, :, i - down, j - right]``; uncovered pixels get `fill`.
    """
    x = _check_batch(x)
    n, _, h, w = x.shape
    shifts = np.asarray(shifts)
    if shifts.dtype.kind not in "iu":
        raise TypeError(f"shifts must be integers, got {shifts.dtype}")
    shifts = np.broadcast_to(shifts, (n, 2))
    rows = np.arange(h)[None, :, None] - shifts[:, 0, None, None]
    cols = np.arange(w)[None, None, :] - shifts[:, 1, None, None]
    return _sampler(x, fill)(rows, cols)


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class RandomRotation:
    """Rotate each image by an angle drawn uniformly from [-degrees, degrees].

    `degrees` may also be a pair ``(low, high)``; angles are in degrees,
    counter-clockwise positive (see the module docstring).
    """

    degrees: float | tuple[float, float]
    fill: float = 0.0

    def __post_init__(self):
        low, high = self.range
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(
                f"rotation range must be finite with low <= high, got {self.degrees!r}"
            )

    @property
    def range(self) -> tuple[float, float]:
        """The (low, high) interval the angles are drawn from."""
        if np.ndim(self.degrees) == 0:
            degrees = float(self.degrees)
            if degrees < 0:
                raise ValueError(f"rotation degrees must be >= 0, got {degrees}")
            return -degrees, degrees
        low, high = self.degrees
        return float(low), float(high)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        low, high = self.range
        angles = resolve(rng).uniform(low, high, size=len(x))
        return rotate(x, angles, self.fill)


@dataclass(frozen=True)
class RandomTranslation:
    """Shift each image by whole pixels, each axis drawn uniformly from -pixels..pixels."""

    pixels: int
    fill: float = 0.0

    def __post_init__(self):
        _non_negative_int("translation pixels", self.pixels)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        shifts = resolve(rng).integers(-self.pixels, self.pixels + 1, size=(len(x), 2))
        return translate(x, shifts, self.fill)


@dataclass(frozen=True)
class GaussianNoise:
    """Add independent N(0, std^2) noise to every pixel."""

    std: float

    def __post_init__(self):
        if not (math.isfinite(self.std) and self.std >= 0):
            raise ValueError(f"noise std must be a finite number >= 0, got {self.std!r}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = _check_batch(x)
        noise = resolve(rng).standard_normal(x.shape, dtype=x.dtype)
        return x + x.dtype.type(self.std) * noise


@dataclass(frozen=True)
class Blotches:
    """Set `count` random axis-aligned rectangles per image to `fill` (random erasing).

    Each rectangle's height and width are drawn uniformly from ``size = (min, max)``
    (an int means fixed squares), capped at the image size, and it lies wholly inside
    the image; rectangles may overlap.
    """

    count: int = 3
    size: int | tuple[int, int] = (2, 6)
    fill: float = 0.0

    def __post_init__(self):
        _non_negative_int("blotch count", self.count)
        low, high = self.sides
        if low < 1 or low > high:
            raise ValueError(f"blotch size must be >= 1 with min <= max, got {self.size!r}")

    @property
    def sides(self) -> tuple[int, int]:
        """The (min, max) side length of the rectangles."""
        if np.ndim(self.size) == 0:
            side = _non_negative_int("blotch size", self.size)
            return side, side
        low, high = self.size
        return _non_negative_int("blotch size", low), _non_negative_int("blotch size", high)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = _check_batch(x)
        rng = resolve(rng)
        n, _, h, w = x.shape
        low, high = self.sides
        rows, cols = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
        mask = np.zeros((n, h, w), dtype=bool)
        for _ in range(self.count):
            bh = np.minimum(rng.integers(low, high + 1, size=n), h)
            bw = np.minimum(rng.integers(low, high + 1, size=n), w)
            top = rng.integers(0, h - bh + 1)[:, None, None]
            left = rng.integers(0, w - bw + 1)[:, None, None]
            mask |= (
                (rows >= top) & (rows < top + bh[:, None, None])
                & (cols >= left) & (cols < left + bw[:, None, None])
            )
        return np.where(mask[:, None], x.dtype.type(self.fill), x)


@dataclass(frozen=True)
class Compose:
    """Apply transforms in order, all drawing from the same generator.

    An empty Compose returns its input as is.
    """

    transforms: Sequence[Transform] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "transforms", tuple(self.transforms))  # a list compares equal

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = resolve(rng)
        for transform in self.transforms:
            x = transform(x, rng)
        return x


def augment_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    transform: Transform,
    copies: int = 3,
    rng: np.random.Generator | None = None,
    chunk_size: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """The original set followed by ``copies - 1`` augmented copies of it.

    Returns ``(images', labels')`` with ``copies * N`` samples: the first N are
    `images` unchanged, each further block of N is ``transform`` applied to all of them
    (in chunks of `chunk_size` images, to bound memory), with the labels repeated.
    """
    images = _check_batch(images)
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} != {len(labels)}")
    if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or copies < 1:
        raise ValueError(f"copies must be a positive integer, got {copies!r}")
    rng = resolve(rng)
    n = len(images)
    out = np.empty((copies * n,) + images.shape[1:], dtype=images.dtype)
    out[:n] = images
    for k in range(1, copies):
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            out[k * n + start : k * n + stop] = transform(images[start:stop], rng)
    return out, np.tile(np.asarray(labels), copies)


# Spec name -> (value parser, constructor from (value, fill)). Applied in this order,
# whatever the order of the spec: geometry first, then erasing, then noise.
_SPEC = {
    "rotate": (float, lambda v, fill: RandomRotation(v, fill=fill)),
    "translate": (int, lambda v, fill: RandomTranslation(v, fill=fill)),
    "blotches": (int, lambda v, fill: Blotches(count=v, fill=fill)),
    "noise": (float, lambda v, fill: GaussianNoise(v)),
}


def build_augmentation(spec: str | Sequence[str] | None, fill: float = 0.0) -> Compose:
    """Build a `Compose` from a spec such as ``"rotate=15,translate=2,noise=0.1,blotches=3"``.

    Items are ``name=value``, comma-separated (a list of such strings is joined):
    ``rotate=DEG`` (angles in [-DEG, DEG]), ``translate=PX`` (integer shifts in
    [-PX, PX]), ``blotches=COUNT`` (rectangles of side 2-6 set to `fill`) and
    ``noise=STD`` (Gaussian noise). They are applied in that fixed order. An empty spec,
    None or ``"none"`` gives an empty Compose. Unknown names, repeated names and bad
    values raise ValueError.
    """
    if spec is None:
        spec = ""
    text = spec if isinstance(spec, str) else ",".join(spec)
    items = [item.strip() for item in text.split(",") if item.strip()]
    if [item.lower() for item in items] == ["none"]:
        items = []
    built = {}
    for item in items:
        name, sep, value = (part.strip() for part in item.partition("="))
        name = name.lower()
        if not sep or not value:
            raise UserError(f"augmentation {item!r}: expected name=value, e.g. rotate=15")
        if name not in _SPEC:
            raise UserError(f"unknown augmentation {name!r}; valid names: {', '.join(_SPEC)}")
        if name in built:
            raise UserError(f"augmentation {name!r} is given more than once")
        parse, make = _SPEC[name]
        try:
            built[name] = make(parse(value), fill)
        except ValueError as exc:
            raise UserError(f"augmentation {item!r}: bad value {value!r} ({exc})") from exc
    return Compose(tuple(built[name] for name in _SPEC if name in built))
