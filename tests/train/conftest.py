"""Small real-MNIST data for the training tests (prepared once per session)."""

import pytest

from handgrad.train import TrainConfig, prepare


@pytest.fixture(scope="session")
def small_data():
    """600 MNIST images: 540 training, 60 validation, and 600 test images."""
    return prepare(TrainConfig(limit=600).validated())
