"""BN folding: rebuild a Keras model with each BN merged into its conv/dense, and the layers the converter turns into
TILE v3 (UpSampling1D, UpSampling2D nearest, RepeatVector) as the Resizing nearest that computes the same."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.errors import UnsupportedError

from .graph import consumers

log = logging.getLogger(__name__)

FOLDABLE = ("Conv2D", "DepthwiseConv2D", "Dense")


@dataclass(frozen=True)
class FoldedLayer:
    """One conv/dense layer of the folded model with its float weights in Keras layout."""

    name: str
    kind: str  # Conv2D | DepthwiseConv2D | Dense
    kernel: np.ndarray  # float32, Keras layout (HWIO, HWIM or IO)
    bias: np.ndarray  # float32 [output channels]
    folded_bn: str | None  # name of the BN merged into it


def _bn_scale_offset(bn) -> tuple[np.ndarray, np.ndarray]:
    """y = x * a + c for an inference-mode BatchNormalization, computed in float64."""
    weights = {w.path.split("/")[-1]: np.asarray(w.numpy(), np.float64) for w in bn.weights}
    mean, variance = weights["moving_mean"], weights["moving_variance"]
    gamma = weights.get("gamma", np.ones_like(mean))
    beta = weights.get("beta", np.zeros_like(mean))
    a = gamma / np.sqrt(variance + bn.epsilon)
    return a, beta - mean * a


def fold_kernel(kind: str, kernel: np.ndarray, bias: np.ndarray, a: np.ndarray, c: np.ndarray):
    """Fold y = (conv(x, kernel) + bias) * a + c into one conv: returns float32 (kernel, bias)."""
    kernel = np.asarray(kernel, np.float64)
    if kind == "DepthwiseConv2D":  # kernel [kh, kw, in, multiplier], output channel = in * multiplier + m
        folded = kernel * a.reshape(kernel.shape[2], kernel.shape[3])
    else:  # Conv2D [kh, kw, in, out] and Dense [in, out]: output channel is the last axis
        folded = kernel * a
    return folded.astype(np.float32), (np.asarray(bias, np.float64) * a + c).astype(np.float32)


def _check_functional(model) -> None:
    if not hasattr(model, "_inbound_nodes") or not hasattr(model, "inputs") or model.inputs is None:
        raise UnsupportedError(f"model {model.name!r}: only functional or sequential Keras models are supported")
    for layer in model.layers:
        if len(layer._inbound_nodes) > 1:
            raise UnsupportedError(f"layer {layer.name!r} is called {len(layer._inbound_nodes)} times; shared layers are "
                            "not supported")


def find_bn_pairs(model) -> dict[str, str]:
    """Map conv/dense layer name -> the BN layer that alone consumes its output (BN on the last axis)."""
    readers = consumers(model)
    pairs = {}
    for layer in model.layers:
        if layer.__class__.__name__ not in FOLDABLE:
            continue
        users = readers.get(id(layer.output), [])
        if len(users) == 1 and users[0].__class__.__name__ == "BatchNormalization":
            bn = users[0]
            axis = bn.axis if isinstance(bn.axis, int) else bn.axis[0]
            linear = getattr(getattr(layer, "activation", None), "__name__", "linear") == "linear"
            if linear and axis in (-1, len(layer.output.shape) - 1):
                pairs[layer.name] = bn.name
    return pairs


def _as_folded(layer, weights: list, bn) -> FoldedLayer:
    kind = layer.__class__.__name__
    kernel = weights[0]
    out_channels = kernel.shape[2] * kernel.shape[3] if kind == "DepthwiseConv2D" else kernel.shape[-1]
    bias = weights[1] if len(weights) > 1 else np.zeros(out_channels, np.float32)
    if bn is not None:
        kernel, bias = fold_kernel(kind, kernel, bias, *_bn_scale_offset(bn))
    return FoldedLayer(layer.name, kind, np.asarray(kernel, np.float32), np.asarray(bias, np.float32),
                       bn.name if bn is not None else None)


def fold_batch_norms(model) -> tuple[object, list[FoldedLayer]]:
    """Return (folded functional model, folded conv/dense layers in graph order).

    Every BatchNormalization that directly and solely follows a linear Conv2D, DepthwiseConv2D or Dense is
    merged into it (the conv gains a bias); other layers are cloned from their config with their weights.
    A BN that follows anything else is kept (the converter turns it into MUL/ADD). Every UpSampling2D nearest,
    UpSampling1D and RepeatVector of static size becomes the Resizing nearest that computes the same
    (`_replacement`), logged: the converter turns those into TILE version 3, which the pinned LiteRT cannot load.
    """
    import keras

    _check_functional(model)
    pairs = find_bn_pairs(model)
    resized = {layer.name: type(layer).__name__ for layer in model.layers if _replacement(layer) is not None}
    if not pairs and not resized:  # nothing to fold or rewrite (e.g. a SavedModel wrapper): keep the model
        return model, [_as_folded(layer, layer.get_weights(), None) for layer in model.layers
                       if layer.__class__.__name__ in FOLDABLE]
    folded_bns = set(pairs.values())
    _log_unfolded(model, folded_bns)
    by_name = {layer.name: layer for layer in model.layers}
    folded_layers: list[FoldedLayer] = []
    clones: list[tuple[object, list]] = []  # (clone, the weights it takes once built)

    def rebuilt(operation):
        """What the new graph calls in place of `operation`: raw tensor ops (x + 3.0) are reused as they are."""
        if not isinstance(operation, keras.layers.Layer):
            return operation
        if operation.name in folded_bns:
            return _passthrough  # its conv already produces the folded output
        if operation.name in resized:
            return _replacement(operation)
        config, weights = operation.get_config(), operation.get_weights()
        if operation.__class__.__name__ in FOLDABLE:
            folded_bn = pairs.get(operation.name)
            folded_layer = _as_folded(operation, weights, by_name[folded_bn] if folded_bn else None)
            config["use_bias"] = True
            weights = [folded_layer.kernel, folded_layer.bias]
            folded_layers.append(folded_layer)
        clone = operation.__class__.from_config(config)
        clones.append((clone, weights))
        return clone

    new_inputs = [keras.Input(shape=source.shape[1:], dtype=source.dtype, name=source.name) for source in model.inputs]
    graph_inputs = new_inputs[0] if len(new_inputs) == 1 else new_inputs  # several: in the model's input order
    output = model._run_through_graph(graph_inputs, operation_fn=rebuilt)
    for clone, weights in clones:
        clone.set_weights(weights)
    folded = keras.Model(graph_inputs, output, name=f"{model.name}_folded")
    log.info("folded %d batch norms into %d conv/dense layers", len(folded_bns), len(folded_layers))
    for name, kind in sorted(resized.items()):
        log.info("%s %r rewritten as Resizing(interpolation=\"nearest\"): the converter emits TILE version 3 for "
                 "it, which the pinned LiteRT cannot load, and RESIZE_NEAREST_NEIGHBOR for this", kind, name)
    return folded, folded_layers


def _replacement(layer):
    """What the rebuilt graph calls instead of an UpSampling2D nearest, UpSampling1D or RepeatVector layer of static
    size (the same elements, through Resizing nearest), else None.

    UpSampling1D(s) on [steps, features] and RepeatVector(n) on [features] are the same repetition along one axis:
    seen as an image [steps, 1, features] (RepeatVector: [1, 1, features]), Resizing(steps * s, 1) nearest repeats
    each row s times (n times), then a reshape gives [steps * s, features] ([n, features]).
    """
    import keras

    kind = type(layer).__name__
    if kind == "UpSampling2D":
        config = _resizing_config(layer)
        return None if config is None else keras.layers.Resizing(**config)
    if kind not in ("UpSampling1D", "RepeatVector"):
        return None
    shape = tuple(layer._inbound_nodes[0].input_tensors[0].shape[1:])
    if None in shape or len(shape) != (2 if kind == "UpSampling1D" else 1):
        return None
    steps, features = shape if kind == "UpSampling1D" else (1, shape[0])
    repeated = steps * layer.size if kind == "UpSampling1D" else layer.n
    as_image = keras.layers.Reshape((steps, 1, features), name=f"{layer.name}_as_image")
    resize = keras.layers.Resizing(repeated, 1, interpolation="nearest", name=layer.name)
    back = keras.layers.Reshape((repeated, features), name=f"{layer.name}_back")
    return lambda x, *_args, **_kwargs: back(resize(as_image(x)))


def _resizing_config(layer) -> dict | None:
    """The Resizing config that computes what an UpSampling2D nearest layer computes, else None.

    UpSampling2D nearest repeats every row fy and every column fx times; Resizing nearest (half pixel centres)
    reads source row floor((i + 0.5) / fy) = floor(i / fy) for an integer factor, the same element (tested,
    both data formats, odd sizes). Needs the static height and width.
    """
    config = layer.get_config()
    if layer.__class__.__name__ != "UpSampling2D" or config["interpolation"] != "nearest":
        return None
    shape = layer._inbound_nodes[0].input_tensors[0].shape
    height, width = (shape[1], shape[2]) if config["data_format"] == "channels_last" else (shape[2], shape[3])
    if height is None or width is None:
        return None
    factor_h, factor_w = config["size"]
    return {"height": height * factor_h, "width": width * factor_w, "interpolation": "nearest",
            "data_format": config["data_format"], "name": config["name"], "dtype": config["dtype"]}


def _passthrough(x, *_args, **_kwargs):
    return x


def _log_unfolded(model, folded_bns: set[str]) -> None:
    """Say which BatchNormalization layers stay in the model (the converter turns each into MUL and ADD)."""
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization" and layer.name not in folded_bns:
            log.info("batch norm %r does not solely follow a linear Conv2D/DepthwiseConv2D/Dense on its channel "
                     "axis: left to the converter", layer.name)
