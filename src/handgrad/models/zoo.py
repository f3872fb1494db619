"""The registered models, each a `Sequential` built from `handgrad.nn` layers.

Because every model is a `Sequential` of standard layers, its state-dict keys are those
of the `torch.nn.Sequential` built from the same list ("0.weight", "3.bias", ...), so
its `model.safetensors` loads into that PyTorch model unchanged. Optional layers
(dropout, batch norm) are left out entirely when off, which keeps the default keys.

Every builder takes `in_channels`, `input_size` (square images) and `num_classes`;
their other options are documented on each builder.
"""

from __future__ import annotations

from handgrad import nn
from handgrad.errors import UserError
from handgrad.models.registry import register

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
INITS = ("pytorch", "normal", "he", "xavier", "lecun")
DROPOUT_PLACES = ("fc", "conv", "both")


def _choice(model: str, key: str, value, valid) -> None:
    if value not in valid:
        raise UserError(f"model {model!r}: option {key}={value!r} is not valid; "
                         f"valid values: {', '.join(map(str, valid))}")


def _rate(model: str, key: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise UserError(f"model {model!r}: option {key}={value} must lie in [0, 1)")


def _positive(model: str, key: str, *values) -> None:
    for value in values:
        if not value > 0:
            raise UserError(f"model {model!r}: option {key} must be positive, got {value}")


def _common(model: str, in_channels: int, input_size: int, num_classes: int) -> None:
    _positive(model, "in_channels", in_channels)
    _positive(model, "input_size", input_size)
    _positive(model, "num_classes", num_classes)


def _dropout(rate: float) -> list[nn.Module]:
    """A Dropout layer, or nothing at rate 0 (so the keys stay those of the plain model)."""
    return [nn.Dropout(rate)] if rate > 0 else []


@register("mlp")
def mlp(hidden: tuple = (256, 128), in_channels: int = 1, input_size: int = 28, num_classes: int = 10) -> nn.Sequential:
    """Multi-layer perceptron: Flatten → (Linear → ReLU) per hidden size → Linear.

    hidden: the hidden layer widths, e.g. "256,128" (the default, FC→ReLU→FC→ReLU→FC).
    """
    _common("mlp", in_channels, input_size, num_classes)
    _positive("mlp", "hidden", *hidden)
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_channels * input_size * input_size
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


@register("convnet")
def convnet(channels: tuple = (32, 64), kernel_size: int = 5, hidden: int = 128, dropout: float = 0.0,
            dropout_at: str = "fc", in_channels: int = 1, input_size: int = 28,
            num_classes: int = 10) -> nn.Sequential:
    """Two conv blocks and two affine layers:
    Conv → ReLU → MaxPool(2) → Conv → ReLU → MaxPool(2) → Flatten → Linear → ReLU → [Dropout] → Linear.

    channels: output channels of the two convolutions ("32,64"); kernel_size: odd
    sizes keep the spatial size (padding kernel_size // 2); hidden: width of the
    hidden affine layer; dropout: rate (0 = none); dropout_at: "fc" (after the hidden
    affine-ReLU), "conv" (after each conv block's pooling) or "both".
    """
    _common("convnet", in_channels, input_size, num_classes)
    if len(channels) != 2:
        raise UserError(f"model 'convnet': option channels needs two values, e.g. 32,64; got {channels}")
    _positive("convnet", "channels", *channels)
    _positive("convnet", "kernel_size", kernel_size)
    _positive("convnet", "hidden", hidden)
    _rate("convnet", "dropout", dropout)
    _choice("convnet", "dropout_at", dropout_at, DROPOUT_PLACES)
    conv_drop = dropout if dropout_at in ("conv", "both") else 0.0
    fc_drop = dropout if dropout_at in ("fc", "both") else 0.0
    padding = kernel_size // 2
    layers: list[nn.Module] = []
    width, size = in_channels, input_size
    for out in channels:
        layers += [nn.Conv2d(width, out, kernel_size, padding=padding), nn.ReLU(), nn.MaxPool2d(2), *_dropout(conv_drop)]
        width, size = out, (size + 2 * padding - kernel_size + 1) // 2
    if size < 1:
        raise UserError(f"model 'convnet': input_size {input_size} is too small for two conv blocks")
    layers += [nn.Flatten(), nn.Linear(width * size * size, hidden), nn.ReLU(), *_dropout(fc_drop),
               nn.Linear(hidden, num_classes)]
    return nn.Sequential(*layers)


@register("three-layer-convnet")
def three_layer_convnet(num_filters: int = 32, filter_size: int = 7, hidden_dim: int = 100, dropout: float = 0.0,
                        in_channels: int = 1, input_size: int = 28, num_classes: int = 10) -> nn.Sequential:
    """CS231n's three-layer convnet: conv → relu → 2×2 max pool → affine → relu → affine.

    The convolution has stride 1 and padding (filter_size - 1) // 2, which keeps the
    spatial size for odd filter sizes. dropout (rate, 0 = none) goes after the
    conv-relu-pool block and after the hidden affine-relu.
    """
    _common("three-layer-convnet", in_channels, input_size, num_classes)
    _positive("three-layer-convnet", "num_filters", num_filters)
    _positive("three-layer-convnet", "filter_size", filter_size)
    _positive("three-layer-convnet", "hidden_dim", hidden_dim)
    _rate("three-layer-convnet", "dropout", dropout)
    padding = (filter_size - 1) // 2
    size = (input_size + 2 * padding - filter_size + 1) // 2
    if size < 1:
        raise UserError(f"model 'three-layer-convnet': input_size {input_size} is too small for filter_size {filter_size}")
    return nn.Sequential(
        nn.Conv2d(in_channels, num_filters, filter_size, padding=padding), nn.ReLU(), nn.MaxPool2d(2),
        *_dropout(dropout),
        nn.Flatten(), nn.Linear(num_filters * size * size, hidden_dim), nn.ReLU(), *_dropout(dropout),
        nn.Linear(hidden_dim, num_classes),
    )


@register("lenet5")
def lenet5(activation: str = "relu", pool: str = "max", input_size: int = 28, dropout: float = 0.0,
           batch_norm: bool = False, init: str = "pytorch", init_std: float = 0.01, in_channels: int = 1,
           num_classes: int = 10) -> nn.Sequential:
    """LeNet-5: C1 conv 6@5×5 → S2 pool → C3 conv 16@5×5 → S4 pool → C5 conv 120@5×5 → F6 84 → output.

    activation: "relu" or "tanh"; pool: "max" or "avg" (2×2, stride 2);
    input_size: 28 (C1 pads by 2) or 32 (no padding; the data is padded instead);
    dropout: rate (0 = none) before each of the two Linear layers (F6 and the output);
    batch_norm: BatchNorm2d after the convolutions C1 and C3 (before the activation);
    init: weights by "pytorch" (the layers' default), "normal" (N(0, init_std²)),
    "he" (Kaiming normal), "xavier" (Glorot uniform) or "lecun" (U(±2.4/fan_in));
    all but "pytorch" zero the biases.
    """
    _common("lenet5", in_channels, input_size, num_classes)
    _choice("lenet5", "activation", activation, tuple(ACTIVATIONS))
    _choice("lenet5", "pool", pool, tuple(POOLS))
    _choice("lenet5", "input_size", input_size, (28, 32))
    _rate("lenet5", "dropout", dropout)
    _choice("lenet5", "init", init, INITS)
    _positive("lenet5", "init_std", init_std)
    act, pooling = ACTIVATIONS[activation], POOLS[pool]

    def norm(channels: int) -> list[nn.Module]:
        return [nn.BatchNorm2d(channels)] if batch_norm else []

    model = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2 if input_size == 28 else 0), *norm(6), act(), pooling(2),
        nn.Conv2d(6, 16, 5), *norm(16), act(), pooling(2),
        nn.Conv2d(16, 120, 5), act(), nn.Flatten(),
        *_dropout(dropout), nn.Linear(120, 84), act(),
        *_dropout(dropout), nn.Linear(84, num_classes),
    )
    initialise(model, init, init_std)
    return model


def initialise(model: nn.Module, scheme: str, std: float = 0.01) -> None:
    """Re-initialise the weights of every Conv2d and Linear of `model` by `scheme` (see lenet5)."""
    if scheme == "pytorch":
        return
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if scheme == "normal":
                nn.init.normal_(module.weight, 0.0, std)
            elif scheme == "he":
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            elif scheme == "xavier":
                nn.init.xavier_uniform_(module.weight)
            elif scheme == "lecun":
                nn.init.lecun_uniform_(module.weight)
            else:
                raise UserError(f"unknown init {scheme!r}; valid values: {', '.join(INITS)}")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
