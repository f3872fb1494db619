"""The numbers behind handgrad inspect's pictures: saliency against torch autograd, the
penultimate features against PyTorch's, PCA against an eigendecomposition, mistakes and
per-class accuracy on hand-made cases."""

import numpy as np
import pytest
import torch

from handgrad import models
from handgrad.inspect import (
    confident_mistakes,
    penultimate_features,
    per_class_accuracy,
    principal_components,
    saliency,
)
from torch_helpers import assert_close, torch_copy


@pytest.mark.parametrize("name, options", [("lenet5", {}), ("lenet5", {"activation": "tanh", "batch_norm": True,
                                                                      "dropout": 0.3}), ("mlp", {})],
                         ids=["lenet5", "lenet5-tanh-batchnorm-dropout", "mlp"])
def test_saliency_is_the_gradient_of_the_predicted_score_as_torch_autograd_computes_it(name, options, rng):
    model = models.build(name, **options).double()
    model.train()  # saliency switches to eval mode (dropout off, running statistics) and back
    for module in model.modules():  # running statistics that are not the initial 0 and 1
        if hasattr(module, "running_var"):
            module.running_mean[...] = rng.standard_normal(module.running_mean.shape)
            module.running_var[...] = rng.uniform(0.5, 2, module.running_var.shape)
    x = rng.standard_normal((5, 1, 28, 28))
    gradients, predicted = saliency(model, x)
    assert model.training

    twin = torch_copy(model, np.float64).eval()
    inputs = torch.tensor(x, requires_grad=True)
    scores = twin(inputs)
    expected_class = scores.argmax(dim=1)
    scores.gather(1, expected_class[:, None]).sum().backward()
    assert np.array_equal(predicted, expected_class.numpy())
    assert_close(gradients, inputs.grad, what=f"{name} saliency")
    assert np.abs(gradients).max() > 0


@pytest.mark.parametrize("name", ["lenet5", "mlp"])
def test_penultimate_features_are_what_the_last_layer_receives(name, rng):
    model = models.build(name).double()
    x = rng.standard_normal((7, 1, 28, 28))
    features = penultimate_features(model, x, batch_size=3)  # in batches, as for the whole test set
    twin = torch_copy(model, np.float64).eval()
    expected = twin[:-1](torch.tensor(x))
    assert features.shape == (7, 84 if name == "lenet5" else 128)
    assert_close(features, expected, what=f"{name} penultimate features")


def test_pca_projects_onto_the_leading_eigenvectors_of_the_covariance(rng):
    # 3 directions of very different spread, rotated at random into 6 dimensions
    basis, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    features = (rng.standard_normal((400, 6)) * [5.0, 2.0, 0.5, 0.1, 0.1, 0.1]) @ basis.T + 3.0
    points, share = principal_components(features, 2)
    centred = features - features.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    leading = vectors[:, ::-1][:, :2]
    expected = centred @ leading
    for k in range(2):  # the same up to the sign of each direction
        sign = np.sign(expected[:, k] @ points[:, k])
        np.testing.assert_allclose(points[:, k], sign * expected[:, k], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(share, values[::-1][:2] / values.sum(), rtol=1e-9)
    assert share[0] > 0.8
    again, _ = principal_components(features[::-1].copy(), 2)  # the sign convention does not depend on order
    np.testing.assert_allclose(again[::-1], points, rtol=1e-9, atol=1e-9)


def test_confident_mistakes_are_the_wrong_predictions_most_sure_first():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.95, 0.05]])
    labels = np.array([0, 0, 1, 0, 1])  # wrong: 1 (0.8), 2 (0.6), 3 (0.7), 4 (0.95)
    assert confident_mistakes(probs, labels).tolist() == [4, 1, 3, 2]
    assert confident_mistakes(probs, labels, count=2).tolist() == [4, 1]
    assert confident_mistakes(probs, probs.argmax(axis=1)).tolist() == []


def test_per_class_accuracy_counts_each_true_class():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 0, 1, 1, 0])
    accuracy, counts = per_class_accuracy(predicted, labels, 4)
    assert counts.tolist() == [3, 2, 1, 0]
    assert accuracy[:3].tolist() == [2 / 3, 1.0, 0.0] and np.isnan(accuracy[3])
