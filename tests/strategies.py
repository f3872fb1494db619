"""Hypothesis strategies for random layer configurations, shared by the textbook tests
(tests/nn) and the engine's (tests/engine). Import as `from strategies import ...`."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def conv_configs(draw, max_size=7):
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), max(1, kh - 2 * ph) + max_size))
    w = draw(st.integers(max(1, kw - 2 * pw), max(1, kw - 2 * pw) + max_size))
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 3)), o=draw(st.integers(1, 4)), h=h, w=w,
                kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), bias=draw(st.booleans()),
                seed=draw(st.integers(0, 2**32 - 1)))


@st.composite
def pool_configs(draw):
    """Kernel 1-7 (non-square), stride 1-3 or None, padding ≤ kernel/2 (PyTorch's limit)."""
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h = draw(st.integers(max(1, kh - 2 * ph), max(1, kh - 2 * ph) + 8))
    w = draw(st.integers(max(1, kw - 2 * pw), max(1, kw - 2 * pw) + 8))
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 3)), h=h, w=w, kernel=(kh, kw), stride=stride,
                padding=(ph, pw), count_include_pad=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


@st.composite
def tiling_pool_configs(draw):
    """Max pooling whose windows tile the input (stride = kernel, no padding), as the engine's
    tiled path needs, with inputs that may leave rows and columns past the last tile."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 3)), h=draw(st.integers(kh, 3 * kh + 2)),
                w=draw(st.integers(kw, 3 * kw + 2)), kernel=(kh, kw), stride=None, padding=(0, 0),
                count_include_pad=True, seed=draw(st.integers(0, 2**32 - 1)))
