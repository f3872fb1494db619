"""Means, intervals and paired differences over seeds, against direct computations."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from handgrad.experiments.stats import cell, paired_difference, signed_cell, summarise, verdict, where, wilson


def test_summary_is_the_t_interval_of_the_sample():
    values = [0.9771, 0.9780, 0.9763, 0.9790, 0.9755]
    s = summarise(values)
    half = scipy_stats.t.ppf(0.975, 4) * np.std(values, ddof=1) / math.sqrt(5)
    assert s.n == 5 and s.mean == pytest.approx(np.mean(values), abs=1e-15)
    assert s.std == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert (s.lo, s.hi) == pytest.approx((np.mean(values) - half, np.mean(values) + half), rel=1e-12)
    # Student's t, not the normal approximation: with 3 values the interval is 4.30 standard errors wide
    three = summarise([1.0, 2.0, 3.0])
    assert three.half_width == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3), rel=1e-9)


def test_one_value_has_no_interval_and_no_verdict():
    s = summarise([0.5])
    assert s.n == 1 and s.mean == 0.5 and math.isnan(s.std) and not s.measured
    assert where(0.4, s).startswith("not measurable") and verdict(s).startswith("not measurable")
    assert cell(s, percent=True) == "50.00 % (n = 1)"
    assert summarise([]).n == 0 and cell(summarise([])) == "–"


def test_wilson_interval_matches_the_score_formula():
    # Wilson's interval is the set of rates p with |p̂ − p| ≤ z·sqrt(p(1 − p)/n): the roots of a quadratic
    def roots(successes, n, z=scipy_stats.norm.ppf(0.975)):
        p = successes / n
        a, b, c = 1 + z * z / n, -(2 * p + z * z / n), p * p
        disc = math.sqrt(b * b - 4 * a * c)
        return (-b - disc) / (2 * a), (-b + disc) / (2 * a)

    for successes in (1, 5, 13):
        r = wilson([1] * successes + [0] * (14 - successes))
        assert r.mean == pytest.approx(successes / 14)
        assert (r.lo, r.hi) == pytest.approx(roots(successes, 14), rel=1e-9)
    none = wilson([0] * 14)
    assert none.lo == 0.0 and none.hi == pytest.approx(roots(0, 14)[1], rel=1e-9)
    assert wilson([1] * 6).hi == 1.0
    with pytest.raises(ValueError, match="0 or 1"):
        wilson([0.5, 1])


def test_paired_difference_uses_the_seeds_both_ran():
    a = {0: 0.900, 1: 0.922, 2: 0.911, 3: 0.95, 4: 0.99}
    b = {0: 0.890, 1: 0.910, 2: 0.900, 3: 0.94}
    d = paired_difference(a, b)
    assert d.n == 4 and d.mean == pytest.approx(np.mean([0.010, 0.012, 0.011, 0.010]))
    assert verdict(d, "a", "b") == "a higher"  # every seed: a above b, a tight interval above 0
    assert verdict(paired_difference({0: 1.0, 1: 2.0}, {0: 1.5, 1: 1.5}), "a", "b") == "no measurable difference"
    assert verdict(paired_difference(b, a), "b", "a") == "a higher"


def test_where_a_published_number_lies():
    s = summarise([0.90, 0.91, 0.92])
    assert where(0.91, s) == "inside" and where(0.99, s) == "above" and where(0.80, s) == "below"


def test_cells_read_as_mean_plus_minus_half_width():
    s = summarise([0.9775 - 0.001, 0.9775, 0.9775 + 0.001])
    assert cell(s, percent=True) == f"97.75 ± {100 * s.half_width:.2f} % (n = 3)"
    assert signed_cell(paired_difference({0: 0.5, 1: 0.7}, {0: 0.4, 1: 0.5}), percent=True).startswith("+15.00 [")


@pytest.mark.parametrize("b_values, finding, judged", [
    ([0.80, 0.81, 0.79], "A higher", "agree"),           # a measurably above b, as claimed
    ([0.95, 0.96, 0.94], "B higher", "disagree"),        # measurably the other way
    ([0.91, 0.89, 0.90], "no measurable difference", "not confirmed"),
])
def test_a_claim_reads_the_paired_difference_three_ways(b_values, finding, judged):
    from handgrad.experiments.common import Results, Trial

    a_values = [0.90, 0.91, 0.89]
    results = Results([Trial("a", s, {"acc": v}, 1.0) for s, v in enumerate(a_values)]
                      + [Trial("b", s, {"acc": v}, 1.0) for s, v in enumerate(b_values)])
    claim, difference, percent, verdict_ = results.claim("a beats b", "a", "b", "acc", "A higher", "B higher",
                                                         ("A higher",), percent=True)
    assert difference.mean == pytest.approx(np.mean(np.subtract(a_values, b_values)))
    assert verdict_ == f"{finding}: {judged}"


def test_a_claim_of_no_difference_agrees_with_none_and_one_seed_is_not_measurable():
    from handgrad.experiments.common import Results, Trial

    same = Results([Trial(n, s, {"acc": 0.9 + 0.01 * s + (0.001 if n == "a" else 0)}, 1.0)
                    for n in "ab" for s in range(3)])
    assert same.claim("", "a", "b", "acc", "A higher", "B higher", ("no measurable difference",), True)[3] == \
        "A higher: disagree"  # a constant +0.001 is measurable: the interval has no width
    noisy = Results([Trial("a", s, {"acc": v}, 1.0) for s, v in enumerate([0.90, 0.92, 0.88])]
                    + [Trial("b", s, {"acc": v}, 1.0) for s, v in enumerate([0.91, 0.89, 0.90])])
    assert noisy.claim("", "a", "b", "acc", "A higher", "B higher", ("no measurable difference",), True)[3] == \
        "no measurable difference: agree"
    one = Results([Trial("a", 0, {"acc": 0.9}, 1.0), Trial("b", 0, {"acc": 0.8}, 1.0)])
    assert one.claim("", "a", "b", "acc", "A higher", "B higher", ("A higher",), True)[3] == \
        "not measurable (one seed)"
