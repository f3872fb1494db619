"""The benchmark models, built from the same layer list in handgrad and in PyTorch."""

from __future__ import annotations


def lenet5(nn, image_size: int = 28):
    """LeNet-5 (28x28 input, padding 2 on C1); larger images grow the flattened C5 output."""
    side = ((image_size + 4 - 4) // 2 - 4) // 2 - 4
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(120 * side * side, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def wide_cnn(nn, image_size: int = 28):
    """conv 1→32 3x3 pad 1, ReLU, pool, conv 32→64 3x3 pad 1, ReLU, pool, FC 64·(s/4)²→128, ReLU, FC 128→10."""
    side = image_size // 4
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, 10),
    )


MODELS = {"lenet5": lenet5, "wide-cnn": wide_cnn}
