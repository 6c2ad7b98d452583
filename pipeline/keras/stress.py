"""The stress variant: dead channels upstream of depthwise convs make BN folding blow a few kernels up.

This reproduces why ImageNet MobileNets collapse under layer-wise int8. For every DepthwiseConv2D that reads
ReLU(BN(conv)) (through dropout, if any):
  1. kill one upstream channel: that conv's output channel and its BN's gamma and beta are set to 0, so the
     depthwise sees exactly zero on it (a dead ReLU channel, as in trained ImageNet models);
  2. re-estimate the depthwise's BN statistics on the training split: the dead channel gets mean 0 and variance 0,
     and the BN epsilon is set to 1e-5 (PyTorch's default), so folding multiplies that channel's kernel by
     gamma / sqrt(1e-5) ~ 316 gamma while live channels are divided by their standard deviation;
  3. fine-tune every non-BN layer (BNs frozen) for FINE_TUNE_EPOCHS epochs (seeded) to recover the lost channels.
The killed channel is the one whose folded kernel range would be largest (deterministic). The float model's
function is unchanged by folding; only the weight ranges inside a layer now differ by orders of magnitude.
"""
from __future__ import annotations

import logging

import numpy as np

from pipeline.errors import InputError

from .graph import inbound_tensors
from .zoo import Splits

log = logging.getLogger(__name__)
STRESS_EPSILON = 1e-7
FINE_TUNE_EPOCHS = 5
FINE_TUNE_LR = 1e-3
SEED = 7
PASS_THROUGH = ("ReLU", "Activation", "Dropout")


def _producer(tensor, model):
    for layer in model.layers:
        if layer.output is tensor:
            return layer
    return None


def _upstream_bn_conv(dw, model):
    """(BN, Conv2D) feeding the depthwise through ReLU/Dropout layers, or None."""
    layer = _producer(dw.input, model)
    while layer is not None and layer.__class__.__name__ in PASS_THROUGH:
        layer = _producer(layer.input, model)
    if layer is None or layer.__class__.__name__ != "BatchNormalization":
        return None
    conv = _producer(layer.input, model)
    if conv is None or conv.__class__.__name__ != "Conv2D":
        return None
    return layer, conv


def _consumer_bn(layer, model):
    users = [u for u in model.layers if u.__class__.__name__ != "InputLayer"
             and any(t is layer.output for t in inbound_tensors(u))]
    return users[0] if len(users) == 1 and users[0].__class__.__name__ == "BatchNormalization" else None


def _set_weight(layer, name: str, value: np.ndarray) -> None:
    for w in layer.weights:
        if w.path.split("/")[-1] == name:
            w.assign(value.astype(np.float32))
            return
    raise KeyError(f"{layer.name} has no weight {name}")


def _weight(layer, name: str) -> np.ndarray:
    return next(np.asarray(w.numpy()) for w in layer.weights if w.path.split("/")[-1] == name)


def make_stress_variant(model, splits: Splits):
    """Return a stressed copy of a zoo model (the original is untouched)."""
    import keras

    keras.utils.set_random_seed(SEED)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    model = clone
    targets = []
    for dw in [layer for layer in model.layers if layer.__class__.__name__ == "DepthwiseConv2D"]:
        upstream, bn = _upstream_bn_conv(dw, model), _consumer_bn(dw, model)
        if upstream is not None and bn is not None and dw.depth_multiplier == 1:
            targets.append((dw, bn, *upstream))
    if not targets:
        raise InputError(f"model {model.name!r}: --stress needs depthwise convolutions fed by conv -> BN -> ReLU; "
                        "this model has none")
    probes = keras.Model(model.inputs, [dw.output for dw, *_ in targets])
    for (dw, bn, up_bn, up_conv) in targets:
        kernel_range = np.abs(dw.get_weights()[0]).max(axis=(0, 1))[:, 0]
        channel = int(np.argmax(kernel_range * np.abs(_weight(bn, "gamma"))))
        kernel = up_conv.get_weights()
        kernel[0][..., channel] = 0.0
        if len(kernel) > 1:
            kernel[1][channel] = 0.0
        up_conv.set_weights(kernel)
        for name in ("gamma", "beta"):
            values = _weight(up_bn, name).copy()
            values[channel] = 0.0
            _set_weight(up_bn, name, values)
        log.info("stress: %s channel %d killed upstream of %s", up_conv.name, channel, dw.name)
    outputs = probes.predict(splits.x_train, batch_size=128, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    for (dw, bn, *_), out in zip(targets, outputs):
        axes = tuple(range(out.ndim - 1))
        _set_weight(bn, "moving_mean", out.mean(axis=axes, dtype=np.float64))
        _set_weight(bn, "moving_variance", out.var(axis=axes, dtype=np.float64))
        bn.epsilon = STRESS_EPSILON
    _fine_tune(model, splits)
    return model


def _fine_tune(model, splits: Splits) -> None:
    """Train every non-BN layer with the BNs frozen (inference mode).

    Dead channels stay dead: their upstream BN has gamma = 0, which blocks the gradient to the killed conv
    channel, and the depthwise sees zeros on them, so its kernel for that channel gets no gradient either.
    """
    import keras

    for layer in model.layers:
        layer.trainable = layer.__class__.__name__ != "BatchNormalization"
    model.compile(keras.optimizers.Adam(FINE_TUNE_LR), "sparse_categorical_crossentropy")
    model.fit(splits.x_train, splits.y_train, batch_size=32, epochs=FINE_TUNE_EPOCHS, shuffle=True, verbose=0)
