"""The models' layer lists, state-dict keys (equal to torch.nn.Sequential's), parameters and logits."""

import numpy as np
import pytest
import torch

import handgrad
from handgrad import models, nn
from torch_helpers import assert_close, torch_copy


def layer_types(model):
    return [type(layer).__name__ for layer in model]


def test_default_lenet5_is_the_classic_layer_list():
    model = models.build("lenet5")
    assert layer_types(model) == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU",
                                  "Flatten", "Linear", "ReLU", "Linear"]
    assert model[0].padding == (2, 2) and model[0].kernel_size == (5, 5)
    assert [model[i].out_channels for i in (0, 3, 6)] == [6, 16, 120]
    assert (model[9].in_features, model[9].out_features, model[11].out_features) == (120, 84, 10)
    assert list(model.state_dict()) == [f"{i}.{p}" for i in (0, 3, 6, 9, 11) for p in ("weight", "bias")]
    assert sum(p.data.size for p in model.parameters()) == 61_706


def test_lenet5_options_change_the_layers():
    model = models.build("lenet5", activation="tanh", pool="avg", input_size=32, dropout=0.5, batch_norm=True)
    assert layer_types(model) == ["Conv2d", "BatchNorm2d", "Tanh", "AvgPool2d", "Conv2d", "BatchNorm2d", "Tanh",
                                  "AvgPool2d", "Conv2d", "Tanh", "Flatten", "Dropout", "Linear", "Tanh", "Dropout",
                                  "Linear"]
    assert model[0].padding == (0, 0)
    assert model(np.zeros((2, 1, 32, 32), np.float32)).shape == (2, 10)


def test_convnet_places_dropout_where_asked():
    assert layer_types(models.build("convnet")) == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d",
                                                    "Flatten", "Linear", "ReLU", "Linear"]
    fc = layer_types(models.build("convnet", dropout=0.5))
    conv = layer_types(models.build("convnet", dropout=0.5, dropout_at="conv"))
    both = layer_types(models.build("convnet", dropout=0.5, dropout_at="both"))
    assert fc.index("Dropout") == fc.index("Linear") + 2 and fc.count("Dropout") == 1
    assert conv.count("Dropout") == 2 and conv.index("Dropout") == 3 and conv.index("Flatten") == 8
    assert both.count("Dropout") == 3


def test_three_layer_convnet_keeps_the_spatial_size_as_in_cs231n():
    model = models.build("three-layer-convnet", num_filters=8, filter_size=5, hidden_dim=20, dropout=0.1)
    assert model[0].padding == (2, 2)
    assert layer_types(model) == ["Conv2d", "ReLU", "MaxPool2d", "Dropout", "Flatten", "Linear", "ReLU", "Dropout",
                                  "Linear"]
    assert model[5].in_features == 8 * 14 * 14


@pytest.mark.parametrize("name, options", [
    ("mlp", {"hidden": (32, 16)}),
    ("convnet", {"channels": (4, 8), "kernel_size": 3, "hidden": 16, "dropout": 0.3, "dropout_at": "both"}),
    ("three-layer-convnet", {"num_filters": 4, "hidden_dim": 16}),
    ("lenet5", {}),
    ("lenet5", {"batch_norm": True, "pool": "avg", "activation": "tanh", "dropout": 0.2, "input_size": 32}),
])
def test_logits_and_keys_equal_torch_sequential_of_the_same_layers(name, options, rng):
    model = models.build(name, **options)
    twin = torch_copy(model.eval(), np.float32)  # loads model.state_dict() with torch's strict key check
    assert list(twin.state_dict()) == list(model.state_dict())
    x = rng.standard_normal((3, *models.input_shape(name, **options))).astype(np.float32)
    with torch.no_grad():
        assert_close(model(x), twin(torch.tensor(x)), what=f"{name} logits")


@pytest.mark.parametrize("scheme", ["normal", "he", "xavier", "lecun"])
def test_lenet5_init_schemes(scheme):
    handgrad.manual_seed(0)
    model = models.build("lenet5", init=scheme, init_std=0.05)
    c3 = model[3].weight.data  # fan_in 150, fan_out 400
    assert all(np.all(m.bias.data == 0) for m in model if isinstance(m, (nn.Conv2d, nn.Linear)))
    if scheme == "normal":
        assert abs(c3.std() - 0.05) < 0.005
    elif scheme == "he":
        assert abs(c3.std() - np.sqrt(2 / 150)) < 0.01
    elif scheme == "xavier":
        assert np.abs(c3).max() <= np.sqrt(6 / 550) and np.abs(c3).max() > 0.9 * np.sqrt(6 / 550)
    else:
        assert np.abs(c3).max() <= 2.4 / 150 and np.abs(c3).max() > 0.9 * 2.4 / 150


def test_the_same_seed_builds_the_same_weights():
    handgrad.manual_seed(7)
    first = models.build("lenet5").state_dict()
    handgrad.manual_seed(7)
    second = models.build("lenet5").state_dict()
    assert all(np.array_equal(first[k], second[k]) for k in first)
