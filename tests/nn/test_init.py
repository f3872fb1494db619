"""Initialisers: empirical mean/std/bounds match the formulas, seeding, explicit rng, dtypes,
and each layer's default initialisation is PyTorch's."""

import math

import numpy as np
import pytest
import torch

import handgrad
from handgrad import nn
from handgrad.nn import init

SHAPE = (256, 64, 3, 3)           # conv weight: fan_in = 576, fan_out = 2304, 147,456 values
FAN_IN, FAN_OUT = 64 * 9, 256 * 9
N = int(np.prod(SHAPE))


def param(shape=SHAPE, dtype=np.float32):
    return nn.Parameter(np.zeros(shape, dtype=dtype))


def check_normal(values, mean, std):
    values = np.asarray(values, dtype=np.float64)
    assert abs(values.mean() - mean) < 5 * std / math.sqrt(values.size)
    assert abs(values.std() / std - 1) < 0.01  # 1/√(2N) ≈ 0.2% for the big tensors here


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same global generator state: the statistics are deterministic."""
    handgrad.manual_seed(2024)


def check_uniform(values, a, b):
    values = np.asarray(values, dtype=np.float64)
    assert values.min() >= a and values.max() <= b
    assert values.min() < a + 0.01 * (b - a) and values.max() > b - 0.01 * (b - a)  # fills the range
    check_normal(values, (a + b) / 2, (b - a) / math.sqrt(12))


def test_fans():
    assert init.fans(SHAPE) == (FAN_IN, FAN_OUT)
    assert init.fans((10, 20)) == (20, 10)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.fans((5,))


@pytest.mark.parametrize("shape", [(10, 20), (8, 3, 5), (4, 6, 3, 5), (2, 3, 2, 3, 4), (7, 1, 1, 1)])
def test_fans_are_torchs(shape):
    """Every axis past the first two is receptive field (Conv1d's (out, in, k) weight too), as in torch."""
    assert init.fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_conv1d_weight_kaiming_uniform_bound_uses_the_kernel_width():
    shape = (128, 32, 7)                            # fan_in = 32·7 = 224, not 32
    bound = math.sqrt(2) * math.sqrt(3 / 224)
    check_uniform(init.kaiming_uniform_(param(shape), nonlinearity="relu").data, -bound, bound)
    torch_weight = torch.nn.init.kaiming_uniform_(torch.empty(shape), nonlinearity="relu")
    assert bound * 0.99 < float(torch_weight.abs().max()) <= bound


@pytest.mark.parametrize("nonlinearity, arg", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                               ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                               ("leaky_relu", math.sqrt(5))])
def test_calculate_gain_is_torchs(nonlinearity, arg):
    assert init.calculate_gain(nonlinearity, arg) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, arg))


def test_normal_and_uniform():
    check_normal(init.normal_(param(), mean=0.5, std=2.0).data, 0.5, 2.0)
    check_normal(init.normal_(param()).data, 0.0, 1.0)
    check_uniform(init.uniform_(param(), -0.3, 0.7).data, -0.3, 0.7)
    check_uniform(init.uniform_(param()).data, 0.0, 1.0)


def test_kaiming_normal_std_is_sqrt_2_over_fan_in():
    p = init.kaiming_normal_(param())
    check_normal(p.data, 0.0, math.sqrt(2 / FAN_IN))
    check_normal(init.kaiming_normal_(param(), nonlinearity="relu").data, 0.0, math.sqrt(2 / FAN_IN))
    check_normal(init.kaiming_normal_(param(), mode="fan_out", nonlinearity="relu").data, 0.0, math.sqrt(2 / FAN_OUT))
    check_normal(init.kaiming_normal_(param(), nonlinearity="tanh").data, 0.0, (5 / 3) / math.sqrt(FAN_IN))
    assert init.he_normal_ is init.kaiming_normal_


@pytest.mark.parametrize("a", [1.0, math.sqrt(5), 0.3])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_leaky_relu_slope_sets_the_std(a, mode):
    """std = gain(a) / √fan with gain = √(2 / (1 + a²)), torch's formula; the sample std of 147,456
    values is within 1% (about 5 standard errors), and so is a torch twin's."""
    fan = FAN_IN if mode == "fan_in" else FAN_OUT
    std = torch.nn.init.calculate_gain("leaky_relu", a) / math.sqrt(fan)
    assert std == pytest.approx(math.sqrt(2 / (1 + a * a)) / math.sqrt(fan))
    check_normal(init.kaiming_normal_(param(), a=a, mode=mode).data, 0.0, std)
    torch.manual_seed(0)
    twin = torch.nn.init.kaiming_normal_(torch.empty(SHAPE), a=a, mode=mode)
    check_normal(twin.numpy(), 0.0, std)


def test_kaiming_uniform_bounds():
    bound = math.sqrt(2) * math.sqrt(3 / FAN_IN)
    check_uniform(init.kaiming_uniform_(param()).data, -bound, bound)
    bound = math.sqrt(2 / (1 + 0.1**2)) * math.sqrt(3 / FAN_OUT)
    check_uniform(init.kaiming_uniform_(param(), a=0.1, mode="fan_out").data, -bound, bound)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(param(), mode="fan_avg")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.kaiming_normal_(param(), nonlinearity="swish")


def test_xavier():
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    check_uniform(init.xavier_uniform_(param()).data, -bound, bound)
    check_uniform(init.xavier_uniform_(param(), gain=2.0).data, -2 * bound, 2 * bound)
    check_normal(init.xavier_normal_(param()).data, 0.0, math.sqrt(2 / (FAN_IN + FAN_OUT)))
    check_normal(init.xavier_normal_(param(), gain=0.5).data, 0.0, 0.5 * math.sqrt(2 / (FAN_IN + FAN_OUT)))


def test_lecun_uniform_is_2_4_over_fan_in():
    check_uniform(init.lecun_uniform_(param()).data, -2.4 / FAN_IN, 2.4 / FAN_IN)
    linear_weight = param((300, 250))
    check_uniform(init.lecun_uniform_(linear_weight).data, -2.4 / 250, 2.4 / 250)


def test_zeros_and_ones():
    p = init.normal_(param())
    assert init.zeros_(p) is p and not p.data.any()
    assert (init.ones_(param()).data == 1).all()


@pytest.mark.parametrize("make, fan_in, weight_shape", [
    (lambda: nn.Linear(400, 300), 400, (300, 400)),
    (lambda: nn.Conv2d(16, 120, 5), 400, (120, 16, 5, 5)),
    (lambda: nn.Conv2d(8, 64, (3, 5)), 120, (64, 8, 3, 5)),
])
def test_default_layer_init_is_torchs(make, fan_in, weight_shape):
    """PyTorch's default: weight kaiming_uniform_(a=√5) = U(±1/√fan_in), bias U(±1/√fan_in)."""
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    assert layer.weight.shape == weight_shape and layer.weight.dtype == np.float32
    check_uniform(layer.weight.data, -bound, bound)
    b = layer.bias.data
    assert b.min() >= -bound and b.max() <= bound and b.std() > 0.3 * bound
    # the same formula torch applies, on a torch twin (bounds only: the generators differ)
    torch.manual_seed(0)
    twin = torch.nn.Linear(fan_in, weight_shape[0]) if len(weight_shape) == 2 else \
        torch.nn.Conv2d(weight_shape[1], weight_shape[0], weight_shape[2:])
    twin.requires_grad_(False)
    assert float(twin.weight.abs().max()) <= bound and float(twin.weight.abs().max()) > 0.95 * bound
    assert float(twin.weight.std()) == pytest.approx(float(layer.weight.data.std()), rel=0.05)


def test_batchnorm_default_init():
    bn = nn.BatchNorm2d(3)
    np.testing.assert_array_equal(bn.weight.data, 1)
    np.testing.assert_array_equal(bn.bias.data, 0)
    np.testing.assert_array_equal(bn.running_mean, 0)
    np.testing.assert_array_equal(bn.running_var, 1)


INITIALISERS = [
    lambda p, rng=None: init.normal_(p, rng=rng),
    lambda p, rng=None: init.uniform_(p, -1, 1, rng=rng),
    lambda p, rng=None: init.kaiming_normal_(p, rng=rng),
    lambda p, rng=None: init.kaiming_uniform_(p, rng=rng),
    lambda p, rng=None: init.xavier_uniform_(p, rng=rng),
    lambda p, rng=None: init.xavier_normal_(p, rng=rng),
    lambda p, rng=None: init.lecun_uniform_(p, rng=rng),
    lambda p, rng=None: (init.default_(p, rng=rng), p)[1],  # default_ fills in place, returns nothing
]
INIT_IDS = ["normal", "uniform", "kaiming_normal", "kaiming_uniform", "xavier_uniform", "xavier_normal",
            "lecun_uniform", "default"]


@pytest.mark.parametrize("fill", INITIALISERS, ids=INIT_IDS)
def test_same_seed_same_numbers(fill):
    handgrad.manual_seed(123)
    a = fill(param((6, 5, 3, 3))).data.copy()
    handgrad.manual_seed(123)
    b = fill(param((6, 5, 3, 3))).data.copy()
    handgrad.manual_seed(124)
    c = fill(param((6, 5, 3, 3))).data.copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fill", INITIALISERS, ids=INIT_IDS)
def test_explicit_rng_is_respected(fill):
    handgrad.manual_seed(0)
    state = handgrad.default_generator().bit_generator.state
    a = fill(param((6, 5, 3, 3)), rng=np.random.default_rng(7)).data.copy()
    assert handgrad.default_generator().bit_generator.state == state  # global generator untouched
    b = fill(param((6, 5, 3, 3)), rng=np.random.default_rng(7)).data.copy()
    c = fill(param((6, 5, 3, 3))).data.copy()  # the global generator (seed 0) gives other numbers
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fill", INITIALISERS, ids=INIT_IDS)
def test_dtype_preserved_parameter_and_ndarray(fill, dtype):
    p = param((4, 3, 2, 2), dtype)
    data = p.data
    assert fill(p) is p
    assert p.data is data and p.data.dtype == dtype  # filled in place
    array = np.zeros((4, 3), dtype)
    out = fill(array)
    assert out is array and array.dtype == dtype and array.any()


def test_layers_dtype_and_rng_arguments():
    a = nn.Linear(5, 4, dtype=np.float64, rng=np.random.default_rng(3))
    b = nn.Linear(5, 4, dtype=np.float64, rng=np.random.default_rng(3))
    assert a.weight.dtype == np.float64 and a.bias.dtype == np.float64
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert nn.BatchNorm1d(3, dtype=np.float64).running_var.dtype == np.float64


def test_layers_built_shapes_only_have_the_shapes_and_dtypes_but_no_memory():
    from handgrad.nn.mode import is_shapes_only, shapes_only

    def build():
        return nn.Sequential(nn.Conv2d(3, 5, (3, 2), dtype=np.float64), nn.BatchNorm2d(5), nn.Flatten(),
                             nn.Linear(40, 7), nn.Linear(7, 2, bias=False))

    real = build()
    generator = handgrad.default_generator()
    state = generator.bit_generator.state
    with shapes_only():
        with shapes_only():
            pass
        assert is_shapes_only()  # an inner block gives back the outer one's setting
        placeholders = build()
        huge = nn.Linear(10**6, 10**6)  # 4 TB of float32, if it had memory
    assert not is_shapes_only()
    assert generator.bit_generator.state == state  # nothing was drawn
    assert [(k, p.shape, p.dtype) for k, p in placeholders.named_parameters()] == \
        [(k, p.shape, p.dtype) for k, p in real.named_parameters()]
    for param in [*placeholders.parameters(), *huge.parameters()]:
        assert set(param.data.strides) == {0} and not param.data.flags.writeable
    assert huge.weight.data.nbytes == 4 * 10**12
    assert np.all(build()[0].weight.data != 0)  # after the block: real parameters, drawn
