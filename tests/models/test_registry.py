"""The registry: names, option conversion from strings and TOML values, and its errors."""

import pytest

from handgrad import models, nn


def test_names_lists_the_four_models():
    assert models.names() == ["mlp", "convnet", "three-layer-convnet", "lenet5"]


@pytest.mark.parametrize("name", models.names())
def test_every_model_builds_with_defaults_as_a_sequential(name):
    model = models.build(name)
    assert isinstance(model, nn.Sequential)
    assert models.input_shape(name) == (1, 28, 28)


def test_unknown_model_names_it_and_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; valid models: mlp, convnet, three-layer-convnet, lenet5"):
        models.build("resnet")


def test_unknown_option_names_it_and_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"model 'lenet5': unknown option 'depth'; valid options: activation, pool"):
        models.build("lenet5", depth=3)


@pytest.mark.parametrize("text, expected", [("true", True), ("False", False), ("1", True), ("0", False),
                                            ("yes", True), ("off", False)])
def test_bool_options_parse_from_strings(text, expected):
    assert models.resolve_options("lenet5", batch_norm=text)["batch_norm"] is expected


def test_options_convert_by_the_type_of_their_default():
    resolved = models.resolve_options("convnet", channels="8, 16", kernel_size="3", dropout="0.25", hidden=64)
    assert resolved["channels"] == (8, 16)
    assert resolved["kernel_size"] == 3 and resolved["dropout"] == 0.25 and resolved["hidden"] == 64
    assert models.resolve_options("mlp", hidden="100")["hidden"] == (100,)
    assert models.resolve_options("mlp", hidden=[100, 50])["hidden"] == (100, 50)  # a TOML array
    assert models.resolve_options("lenet5", dropout=0)["dropout"] == 0.0  # a TOML integer for a float


@pytest.mark.parametrize("options, message", [
    ({"batch_norm": "maybe"}, r"option 'batch_norm' expects true or false, got 'maybe'"),
    ({"input_size": "28.5"}, r"option 'input_size' expects an integer, got '28.5'"),
    ({"dropout": "lots"}, r"option 'dropout' expects a number, got 'lots'"),
    ({"dropout": True}, r"option 'dropout' expects a number, got True"),
    ({"dropout": 1.0}, r"option dropout=1.0 must lie in \[0, 1\)"),
    ({"dropout": -0.1}, r"option dropout=-0.1 must lie in \[0, 1\)"),
    ({"activation": "sigmoid"}, r"option activation='sigmoid' is not valid; valid values: relu, tanh"),
    ({"pool": "min"}, r"valid values: max, avg"),
    ({"input_size": 30}, r"option input_size=30 is not valid; valid values: 28, 32"),
    ({"init": "orthogonal"}, r"valid values: pytorch, normal, he, xavier, lecun"),
    ({"init_std": 0}, r"option init_std must be positive"),
])
def test_bad_lenet5_values_raise_naming_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        models.build("lenet5", **options)


@pytest.mark.parametrize("name, options, message", [
    ("convnet", {"channels": "8"}, r"channels needs two values"),
    ("convnet", {"dropout_at": "input"}, r"valid values: fc, conv, both"),
    ("mlp", {"hidden": "100,0"}, r"option hidden must be positive"),
    ("three-layer-convnet", {"dropout": 2}, r"dropout=2.0 must lie in \[0, 1\)"),
    ("three-layer-convnet", {"input_size": 1}, r"too small"),
])
def test_bad_values_of_other_models(name, options, message):
    with pytest.raises(ValueError, match=message):
        models.build(name, **options)


def test_parse_assignments():
    assert models.parse_assignments(["dropout=0.5", " pool = avg "]) == {"dropout": "0.5", "pool": "avg"}
    assert models.parse_assignments(None) == {}
    with pytest.raises(ValueError, match=r"expected key=value"):
        models.parse_assignments(["dropout"])
    with pytest.raises(ValueError, match=r"'pool' is given more than once"):
        models.parse_assignments(["pool=max", "pool=avg"])


def test_input_shape_follows_the_options():
    assert models.input_shape("lenet5", input_size="32") == (1, 32, 32)
    assert models.input_shape("mlp", in_channels=3, input_size=20) == (3, 20, 20)
