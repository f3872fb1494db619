"""fast == reference for every layer: float64, random configurations, an Engine against the
layer's own textbook code, alone and in random models whose batches run in chunks.
(Conv2d's, MaxPool2d's and Flatten/Linear's own paths in detail: test_conv, test_pooling,
test_dense; each path against PyTorch: tests/nn.)"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import handgrad
from handgrad import nn
from handgrad.engine import Engine, parallel

# Every layer of handgrad.nn, each with a random configuration and an input shape.
LAYERS = {
    "Conv2d": lambda d: (nn.Conv2d(d(st.integers(1, 3)), d(st.integers(1, 9)), d(st.integers(1, 4)),
                                   stride=d(st.integers(1, 2)), padding=d(st.integers(0, 2)), bias=d(st.booleans()),
                                   dtype=np.float64), "image"),
    "MaxPool2d": lambda d: (nn.MaxPool2d(d(st.integers(1, 3)), stride=d(st.sampled_from([None, 1, 2]))), "image"),
    "AvgPool2d": lambda d: (nn.AvgPool2d(d(st.integers(1, 3)), stride=d(st.sampled_from([None, 1, 2])),
                                         count_include_pad=d(st.booleans())), "image"),
    "Linear": lambda d: (nn.Linear(5, d(st.integers(1, 7)), bias=d(st.booleans()), dtype=np.float64), "vector"),
    "Flatten": lambda d: (nn.Flatten(), "image"),
    "ReLU": lambda d: (nn.ReLU(), "image"),
    "LeakyReLU": lambda d: (nn.LeakyReLU(d(st.floats(-1, 1))), "image"),
    "Tanh": lambda d: (nn.Tanh(), "image"),
    "Sigmoid": lambda d: (nn.Sigmoid(), "image"),
    "Dropout": lambda d: (nn.Dropout(d(st.sampled_from([0.0, 0.3, 0.7]))), "image"),
    "BatchNorm1d": lambda d: (nn.BatchNorm1d(5, dtype=np.float64), "vector"),
    "BatchNorm2d": lambda d: (nn.BatchNorm2d(2, dtype=np.float64), "image"),
}


def test_every_layer_of_nn_is_covered():
    exported = {name for name in nn.__all__ if isinstance(getattr(nn, name), type)
                and issubclass(getattr(nn, name), nn.Module)}
    assert exported - {"Module", "Sequential", "CrossEntropyLoss", "SoftmaxCrossEntropy"} == set(LAYERS)


def run(module_or_engine, x, g, seed):
    handgrad.manual_seed(seed)  # the same dropout masks on both paths
    y = module_or_engine(x)
    dx = module_or_engine.backward(g)
    return y, dx


def assert_same(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape and a.dtype == e.dtype
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12 * max(1.0, float(np.abs(e).max(initial=0))))


@pytest.mark.parametrize("name", sorted(LAYERS))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), training=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_fast_equals_reference(name, data, training, seed):
    layer, kind = LAYERS[name](data.draw)
    layer.train(training)
    rng = np.random.default_rng(seed)
    n = data.draw(st.integers(2, 5))
    x = rng.standard_normal((n, 5) if kind == "vector" else (n, getattr(layer, "in_channels", 2), 9, 8))
    state = layer.state_dict()
    g = rng.standard_normal(layer(x).shape)
    layer.load_state_dict(state)  # running statistics as before that forward pass
    layer._cache = None
    expected = run(layer, x, g, seed) + tuple(p.grad.copy() for p in layer.parameters()) + tuple(layer.state_dict().values())
    layer.load_state_dict(state)
    layer.zero_grad()
    actual = run(Engine(layer), x, g, seed) + tuple(p.grad.copy() for p in layer.parameters()) + tuple(layer.state_dict().values())
    assert_same(actual, expected)


@st.composite
def cnns(draw):
    """A random small CNN of samplewise layers (nested Sequentials too) for 2×10×10 images."""
    channels, size, layers = 2, 10, []
    for _ in range(draw(st.integers(1, 3))):
        out, kernel = draw(st.integers(1, 6)), draw(st.sampled_from([1, 3]))  # odd: the size stays
        layers.append(nn.Conv2d(channels, out, kernel, padding=kernel // 2, dtype=np.float64))
        layers.append(draw(st.sampled_from([nn.ReLU, nn.Tanh, nn.LeakyReLU]))())
        if size >= 4 and draw(st.booleans()):
            layers.append(draw(st.sampled_from([nn.MaxPool2d(2), nn.AvgPool2d(2), nn.MaxPool2d(3, 1, 1)])))
            size = size // 2 if layers[-1].stride == (2, 2) else size
        channels = out
    head = nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, 3, dtype=np.float64))
    return nn.Sequential(*layers, head) if draw(st.booleans()) else nn.Sequential(nn.Sequential(*layers), head)


@pytest.fixture(scope="module")
def chunks_of_any_size():
    """Two threads, and chunks cut whatever their size (restored after the test)."""
    before, minimum = parallel.get_num_threads(), parallel.MIN_CHUNK_ELEMENTS
    parallel.set_num_threads(2)
    parallel.MIN_CHUNK_ELEMENTS = 1
    yield
    parallel.set_num_threads(before)
    parallel.MIN_CHUNK_ELEMENTS = minimum


@settings(max_examples=25, deadline=None)
@given(model=cnns(), n=st.integers(2, 9), parameters_only=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_random_models_in_chunks_equal_the_reference(chunks_of_any_size, model, n, parameters_only, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2, 10, 10))
    fast = Engine(model)
    results = []
    for reference in (True, False):
        model.zero_grad()
        with nn.reference_mode(reference):
            y = fast(x)
            assert reference or fast._pending[2] == 2  # the engine's batch ran in two chunks
            g = np.cos(y)
            dx = fast.backward_parameters(g) if parameters_only else fast.backward(g)
        results.append((y,) + (() if parameters_only else (dx,)) + tuple(p.grad.copy() for p in model.parameters()))
    assert_same(results[1], results[0])
