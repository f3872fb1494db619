"""summary(): output shapes and parameter counts of every layer, totals, for any model."""

import numpy as np
import pytest
import torch

import handgrad
from handgrad import models, nn


def test_lenet5_summary():
    model = models.build("lenet5")
    table = models.summary(model, (1, 28, 28))
    assert [row.name for row in table.rows] == [str(i) for i in range(12)]
    assert table.rows[0].output_shape == (6, 28, 28) and table.rows[0].parameters == 156
    assert table.rows[5].output_shape == (16, 5, 5)
    assert table.rows[6].output_shape == (120, 1, 1) and table.rows[6].parameters == 48_120
    assert table.rows[8].output_shape == (120,)
    assert table.total_parameters == 61_706 == sum(row.parameters for row in table.rows)
    assert table.output_shape == (10,)
    text = str(table)
    assert "Total parameters: 61,706" in text and "(16, 10, 10)" in text and "MaxPool2d" in text


def test_summary_of_strided_same_convolutions_on_a_200x300_rgb_image():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(32, 64, 3, stride=2, padding=1))
    table = models.summary(model, (3, 200, 300))
    shapes = [row.output_shape for row in table.rows if row.type == "Conv2d"]
    assert shapes == [(16, 100, 150), (32, 50, 75), (64, 25, 38)]
    assert [row.parameters for row in table.rows if row.type == "Conv2d"] == [448, 4640, 18496]
    assert table.total_parameters == 23_584


class Block(nn.Module):
    """A non-Sequential module with nested children."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 6 * 6, 3))

    def forward(self, x):
        return self.head(self.features(x))


def test_summary_walks_nested_modules_in_eval_mode_and_restores_the_mode():
    model = Block()
    assert model.training
    table = models.summary(model, (1, 8, 8))
    assert [row.name for row in table.rows] == ["features.0", "features.1", "features.2", "head.0", "head.1",
                                                "head.2"]
    assert table.rows[1].parameters == 8 and table.rows[-1].output_shape == (3,)
    assert int(model.features[1].num_batches_tracked) == 0  # eval mode: running statistics untouched
    assert model.training and "forward" not in vars(model.features[0])
    model(np.zeros((2, 1, 8, 8), np.float32))  # still an ordinary model afterwards


@pytest.mark.parametrize("name, options", [
    ("lenet5", {}), ("lenet5", {"batch_norm": True, "dropout": 0.3, "activation": "tanh", "pool": "avg"}),
    ("lenet5", {"input_size": 32}), ("mlp", {}), ("convnet", {"dropout": 0.2}),
    ("three-layer-convnet", {}),
])
def test_torch_code_builds_the_model_that_loads_its_weights_and_computes_the_same(name, options):
    handgrad.manual_seed(3)
    model = models.build(name, **options).eval()
    namespace = {}
    exec(models.torch_code(model), namespace)
    twin = namespace["model"].eval()
    twin.load_state_dict({key: torch.from_numpy(value) for key, value in model.state_dict().items()})  # strict
    x = np.random.default_rng(0).standard_normal((4, *models.input_shape(name, **options))).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-5)
