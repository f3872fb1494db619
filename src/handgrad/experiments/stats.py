"""The statistics of a study: a metric over seeds as n, mean, std and a 95 % interval.

    s = summarise([0.9771, 0.9780, 0.9763])      # Summary(n=3, mean=..., std=..., lo=..., hi=...)
    d = paired_difference(a_by_seed, b_by_seed)  # a − b over the seeds both have, as a Summary
    r = wilson([1, 0, 1, 1])                     # a rate of 0/1 outcomes with Wilson's interval
    where(published, s)                          # "inside", "above" or "below" our interval

The interval of a mean is Student's t: mean ± t(0.975, n − 1) · std / √n, with the
sample standard deviation (ddof 1). With one value there is no spread to measure: std
and the interval are NaN and every comparison is "not measurable". A paired difference
takes the seeds both variants ran, so the seed's own luck (split, initialisation,
batch order) cancels; its interval containing 0 means no measurable difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from scipy import stats as _scipy

LEVEL = 0.95


@dataclass(frozen=True)
class Summary:
    """n values: their mean, sample standard deviation and 95 % interval [lo, hi] (NaN when n < 2)."""

    n: int
    mean: float
    std: float
    lo: float
    hi: float

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    @property
    def measured(self) -> bool:
        """True when the interval exists (n ≥ 2 and finite values)."""
        return self.n >= 2 and math.isfinite(self.lo) and math.isfinite(self.hi)

    def contains(self, value: float) -> bool:
        return self.measured and self.lo <= value <= self.hi

    def to_json(self) -> dict:
        """The results.json form: {"n", "mean", "std", "ci95": [lo, hi]} (None for NaN)."""
        clean = [None if not math.isfinite(v) else v for v in (self.mean, self.std, self.lo, self.hi)]
        return {"n": self.n, "mean": clean[0], "std": clean[1], "ci95": clean[2:]}


NAN = float("nan")


def summarise(values: Iterable[float]) -> Summary:
    """n, mean, std (ddof 1) and Student-t 95 % interval of `values` (NaNs count as values: a NaN mean)."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return Summary(0, NAN, NAN, NAN, NAN)
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(1, mean, NAN, NAN, NAN)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(_scipy.t.ppf(0.5 + LEVEL / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def wilson(outcomes: Iterable[float]) -> Summary:
    """A rate of 0/1 outcomes: n, the rate as mean, the binomial std, and Wilson's 95 % score interval."""
    outcomes = [float(v) for v in outcomes]
    n = len(outcomes)
    if n == 0:
        return Summary(0, NAN, NAN, NAN, NAN)
    if any(v not in (0.0, 1.0) for v in outcomes):
        raise ValueError(f"wilson: outcomes must be 0 or 1, got {sorted(set(outcomes))}")
    rate = math.fsum(outcomes) / n
    z = float(_scipy.norm.ppf(0.5 + LEVEL / 2))
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    lo = 0.0 if rate == 0 else max(0.0, centre - half)  # exactly 0 (not a rounding error above it) when none
    hi = 1.0 if rate == 1 else min(1.0, centre + half)
    return Summary(n, rate, math.sqrt(rate * (1 - rate)), lo, hi)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> Summary:
    """The mean difference a − b over the seeds in both (seed -> value maps), with its t interval."""
    seeds = sorted(set(a) & set(b))
    return summarise(a[s] - b[s] for s in seeds)


def verdict(difference: Summary, larger: str = "A", smaller: str = "B") -> str:
    """How a paired difference reads: "`larger` higher", "`smaller` higher" or "no measurable difference"."""
    if not difference.measured:
        return "not measurable (one seed)"
    return finding(difference, f"{larger} higher", f"{smaller} higher")


def finding(difference: Summary, if_above: str, if_below: str) -> str:
    """`if_above` when the interval lies above 0, `if_below` when below, else "no measurable difference"."""
    return if_above if difference.lo > 0 else if_below if difference.hi < 0 else "no measurable difference"


def where(published: float, ours: Summary) -> str:
    """Where a published number lies against our interval: "inside", "above" or "below" (or "not measurable")."""
    if not ours.measured:
        return "not measurable (one seed)"
    if published > ours.hi:
        return "above"
    if published < ours.lo:
        return "below"
    return "inside"


def cell(summary: Summary, percent: bool = False, digits: int | None = None) -> str:
    """A table cell: `97.75 ± 0.12 % (n = 5)`, or `0.0712 ± 0.0040 (n = 5)`; one value shows no ±."""
    if summary.n == 0:
        return "–"
    scale, unit = (100.0, " %") if percent else (1.0, "")
    digits = (2 if percent else 4) if digits is None else digits
    if not math.isfinite(summary.mean):
        return f"{summary.mean} (n = {summary.n})"
    text = f"{summary.mean * scale:.{digits}f}"
    if summary.measured:
        text += f" ± {summary.half_width * scale:.{digits}f}"
    return f"{text}{unit} (n = {summary.n})"


def signed_cell(summary: Summary, percent: bool = False, digits: int | None = None) -> str:
    """A difference's cell with its sign and interval: `+0.35 [+0.10, +0.60] points (n = 5)`."""
    if summary.n == 0:
        return "–"
    scale, unit = (100.0, " points") if percent else (1.0, "")
    digits = (2 if percent else 4) if digits is None else digits

    def s(v: float) -> str:
        return ("+" if v >= 0 else "−") + f"{abs(v) * scale:.{digits}f}"

    text = s(summary.mean)
    if summary.measured:
        text += f" [{s(summary.lo)}, {s(summary.hi)}]"
    return f"{text}{unit} (n = {summary.n})"
