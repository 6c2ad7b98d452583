"""The model zoo: microcontroller-sized architectures and the bundled digits data they train on."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

ZOO_DIR = Path(__file__).resolve().parent / "zoo_models"
INPUT_SIZE = 32
NUM_CLASSES = 10
SPLIT_SEED = 0
N_TRAIN, N_CALIB = 1197, 200  # the remaining 400 images are the test split
BN_MOMENTUM = 0.9  # Keras' MobileNetV2 uses 0.999: too slow for ~1,200 training images


@dataclass(frozen=True)
class Splits:
    """The fixed digits splits, images float32 in [0, 1], shape [N, 32, 32, 1]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_calib: np.ndarray
    y_calib: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_splits() -> Splits:
    """scikit-learn's 1,797 bundled 8x8 digits, upsampled 4x (nearest) to 32x32, split by a seeded permutation.

    The split is fixed: permutation of all images with numpy's default_rng(0), then the first 1,197 are the
    training split, the next 200 the calibration split and the last 400 the test split.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0  # pixel values 0..16
    scale = INPUT_SIZE // images.shape[1]
    images = np.kron(images, np.ones((scale, scale), np.float32))[..., None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    images, labels = images[order], labels[order]
    a, b = N_TRAIN, N_TRAIN + N_CALIB
    return Splits(images[:a], labels[:a], images[a:b], labels[a:b], images[b:], labels[b:])


# ---- architectures -------------------------------------------------------------------------------

def _layers():
    import keras

    return keras.layers


def _conv_bn_relu(x, filters, kernel, strides=1, relu6=False, name=""):
    layers = _layers()
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}bn")(x)
    return layers.ReLU(6.0 if relu6 else None, name=f"{name}relu")(x)


def _dw_bn_relu(x, strides=1, relu6=False, name=""):
    layers = _layers()
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{name}dw")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}dw_bn")(x)
    return layers.ReLU(6.0 if relu6 else None, name=f"{name}dw_relu")(x)


def _classifier(x, pool="global"):
    layers = _layers()
    if pool == "global":
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    else:
        x = layers.AveragePooling2D(pool_size=x.shape[1:3], name="pool")(x)
        x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(NUM_CLASSES, name="logits")(x)
    return layers.Softmax(name="softmax")(x)


def mobilenet_v1(alpha: float = 0.25):
    """MobileNetV1 (width 0.25, MLPerf Tiny's visual-wake-words backbone), 13 depthwise-separable blocks."""
    import keras

    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="image")
    x = _conv_bn_relu(inp, int(32 * alpha), 3, strides=2, relu6=True, name="stem_")
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for i, (filters, strides) in enumerate(plan):
        x = _dw_bn_relu(x, strides, relu6=True, name=f"b{i}_")
        x = _conv_bn_relu(x, int(filters * alpha), 1, relu6=True, name=f"b{i}_pw_")
    return keras.Model(inp, _classifier(x), name="mobilenet_v1")


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def mobilenet_v2(alpha: float = 0.35):
    """MobileNetV2 (width 0.35): 17 inverted residual blocks with ReLU6, linear bottlenecks and ADD skips."""
    import keras

    layers = _layers()
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="image")
    x = _conv_bn_relu(inp, _make_divisible(32 * alpha), 3, strides=2, relu6=True, name="stem_")
    plan = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    block = 0
    for expansion, channels, repeats, first_stride in plan:
        out_channels = _make_divisible(channels * alpha)
        for r in range(repeats):
            name, shortcut = f"b{block}_", x
            strides = first_stride if r == 0 else 1
            y = x
            if expansion != 1:
                y = _conv_bn_relu(y, x.shape[-1] * expansion, 1, relu6=True, name=f"{name}expand_")
            y = _dw_bn_relu(y, strides, relu6=True, name=name)
            y = layers.Conv2D(out_channels, 1, use_bias=False, name=f"{name}project_conv")(y)
            y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}project_bn")(y)
            if strides == 1 and x.shape[-1] == out_channels:
                y = layers.Add(name=f"{name}add")([shortcut, y])
            x, block = y, block + 1
    x = _conv_bn_relu(x, 1280, 1, relu6=True, name="head_")
    return keras.Model(inp, _classifier(x), name="mobilenet_v2")


def resnet8():
    """ResNet-8 (MLPerf Tiny image classification): three residual stacks of 16/32/64 filters."""
    import keras

    layers = _layers()
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="image")
    x = _conv_bn_relu(inp, 16, 3, name="stem_")
    for stack, (filters, strides) in enumerate([(16, 1), (32, 2), (64, 2)]):
        name = f"s{stack}_"
        y = _conv_bn_relu(x, filters, 3, strides=strides, name=f"{name}a_")
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}b_conv")(y)
        y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}b_bn")(y)
        if strides != 1:
            x = layers.Conv2D(filters, 1, strides=strides, name=f"{name}shortcut")(x)
        x = layers.ReLU(name=f"{name}relu")(layers.Add(name=f"{name}add")([x, y]))
    return keras.Model(inp, _classifier(x, pool="average"), name="resnet8")


def ds_cnn():
    """DS-CNN (MLPerf Tiny keyword spotting): a 10x4 stride-2 stem and four depthwise-separable blocks of 64."""
    import keras

    layers = _layers()
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="image")
    x = _conv_bn_relu(inp, 64, (10, 4), strides=2, name="stem_")
    x = layers.Dropout(0.2, name="stem_dropout")(x)
    for i in range(4):
        x = _dw_bn_relu(x, name=f"b{i}_")
        x = _conv_bn_relu(x, 64, 1, name=f"b{i}_pw_")
    x = layers.Dropout(0.4, name="head_dropout")(x)
    return keras.Model(inp, _classifier(x), name="ds_cnn")


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: how to build it and how long to train it."""

    name: str
    build: Callable
    epochs: int
    description: str

    @property
    def path(self) -> Path:
        return ZOO_DIR / f"{self.name}.keras"


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in [
        ZooEntry("mobilenet_v1", mobilenet_v1, 20, "MobileNetV1 alpha 0.25, 32x32x1"),
        ZooEntry("mobilenet_v2", mobilenet_v2, 20, "MobileNetV2 alpha 0.35, 32x32x1"),
        ZooEntry("resnet8", resnet8, 12, "ResNet-8 (MLPerf Tiny IC), 32x32x1"),
        ZooEntry("ds_cnn", ds_cnn, 12, "DS-CNN (MLPerf Tiny KWS), 32x32x1"),
    ]
}
DEFAULT_MODEL = "mobilenet_v1"


def fc_autoencoder(features: int = 640, hidden: int = 128, code: int = 8):
    """MLPerf Tiny's anomaly-detection autoencoder at its real size: 640 -> (Dense 128, BN, ReLU) x4 -> Dense 8,
    BN, ReLU -> (Dense 128, BN, ReLU) x4 -> Dense 640 (log-mel frames in, their reconstruction out). Not in ZOO:
    it is not a digits classifier."""
    import keras

    layers = _layers()
    inp = keras.Input((features,), name="frames")
    x = inp
    for i, units in enumerate([hidden] * 4 + [code] + [hidden] * 4):
        x = layers.Dense(units, name=f"dense{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    return keras.Model(inp, layers.Dense(features, name="reconstruction")(x), name="fc_autoencoder")
