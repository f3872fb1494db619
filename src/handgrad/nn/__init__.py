"""handgrad.nn: layers, losses and initialisers with hand-written backward passes.

The textbook: each layer's file holds its math and a plain forward and backward. The
tuned kernels and the multi-core runtime are in `handgrad.engine`, which nn never imports.
"""

from handgrad.nn import init
from handgrad.nn.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from handgrad.nn.batchnorm import BatchNorm1d, BatchNorm2d
from handgrad.nn.conv import Conv2d
from handgrad.nn.dropout import Dropout
from handgrad.nn.flatten import Flatten
from handgrad.nn.linear import Linear
from handgrad.nn.loss import CrossEntropyLoss, SoftmaxCrossEntropy
from handgrad.nn.mode import is_reference_mode, reference_mode
from handgrad.nn.module import Module, Parameter, Sequential
from handgrad.nn.pooling import AvgPool2d, MaxPool2d

__all__ = [
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten",
    "LeakyReLU", "Linear", "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid",
    "SoftmaxCrossEntropy", "Tanh", "init", "is_reference_mode", "reference_mode",
]
