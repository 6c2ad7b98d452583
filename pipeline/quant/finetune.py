"""Quantization-aware fine-tuning for Keras 3: fake quantization of what `wess deploy` will produce, straight through.

The model is BN-folded first (pipeline/bnfold.py), as deploy folds it, and weights reading input channels that
are zero on all training data are zeroed (zero_dead_inputs). Its conv/dense kernels live in float
"shadow" variables; every step the layers compute with the shadows rounded onto the scheme's grid (per-tensor
R/q, per-channel r_c/q with q = 127, or 7 for the 4-bit bases, or WESS's layer scale s with 4-bit shifts k_c from
pipeline/wess.py), the gradient
with respect to the rounded kernel updates the shadow (straight-through estimator, zero where the kernel clips).
Activations are fake-quantized per tensor with ranges calibrated (max) on the calibration data, as the converter
calibrates them; fused activations (conv -> ReLU) are quantized once, after the ReLU. Grids and ranges are
recomputed from the shadows at the start of every epoch, and once more at the end, which is what deploy does.

The written model is the folded model with the shadow kernels: plain Keras layers, which `wess deploy` takes as
is and quantizes onto the same grid.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import UnsupportedError, WessError
from pipeline.keras import bnfold
from pipeline.keras import graph as keras_graph

from . import wess

log = logging.getLogger(__name__)
WEIGHTED = ("Conv2D", "DepthwiseConv2D", "Dense")
FUSED_ACTIVATIONS = ("ReLU",)  # a ReLU/ReLU6 layer right after a conv/dense/add is fused by the converter
SAME_GRID = ("Dropout", "Flatten", "Reshape", "MaxPooling2D", "ZeroPadding2D")  # outputs keep the input's grid
SOFTMAX_RANGE = (0.0, 255.0 / 256.0)  # TFLite's fixed softmax output quantization: scale 1/256, zero point -128
BASES = ("per_tensor", "per_channel", "wess", "per_tensor4", "per_channel4", "wess4")  # 8- and 4-bit weight grids


@dataclass(frozen=True)
class FinetuneOptions:
    """What `wess finetune` was asked to do."""

    base: str = "wess"  # one of BASES: the weight grid to train on
    shift_rule: str = "mse"  # wess.SHIFT_RULES, as deploy's --shift-rule
    epochs: int = 3
    learning_rate: float = 1e-4
    batch_size: int = 32
    seed: int = 0


@dataclass
class FinetuneResult:
    """The fine-tuned plain Keras model and the mean training loss of every epoch."""

    model: object
    dead_input_channels: int = 0  # input channels zero on all training data, whose weights zero_dead_inputs zeroed
    epoch_loss: list = field(default_factory=list)


def kernel_channels(kind: str, kernel: np.ndarray) -> np.ndarray:
    """A Keras kernel as [K, C]: rows the receptive field, columns the TFLite output channels (depthwise output
    channel i * M + m is Keras's [.., i, m], so HWIM flattens to [H*W, I*M] in the right order)."""
    if kind == "DepthwiseConv2D":
        return kernel.reshape(kernel.shape[0] * kernel.shape[1], -1)
    return kernel.reshape(-1, kernel.shape[-1])


def q_max(base: str) -> int:
    """The largest weight magnitude of a base's grid: 127, or 7 for the 4-bit bases."""
    return wess.Q_MAX[4 if base.endswith("4") else 8]


def grid_scales(kind: str, kernel: np.ndarray, base: str, shift_rule: str = "mse") -> np.ndarray:
    """The weight scale of every output channel [C] (float32) as deploy's scheme chooses it from these weights."""
    if base not in BASES:
        raise WessError(f"unknown scheme {base!r} for finetune; choose one of {', '.join(BASES)}")
    w = kernel_channels(kind, np.asarray(kernel, np.float32))
    levels = q_max(base)
    if base.removesuffix("4") in ("per_tensor", "per_channel"):
        return wess.grid_scales(w, 1, base.startswith("per_channel"), levels)
    if shift_rule == "floor":
        return wess.wess_scales(wess.floor_scale(float(wess.channel_ranges(w, 1).max()), levels),
                                wess.floor_shifts(wess.channel_ranges(w, 1)))
    if shift_rule == "relative":
        return wess.wess_scales(*wess.relative_scale_and_shifts(w, 1, q_max=levels))
    scale, shifts = wess.mse_scale_and_shifts(w, 1, q_max=levels)
    return wess.wess_scales(scale, shifts)


def _fake_quantize(kernel, scales, levels: int = 127):
    """TF: the kernel rounded half away from zero onto scales (per output channel), clipped to [-levels, levels]
    (127, or 7 for 4-bit weights)."""
    import tensorflow as tf

    shape = tf.shape(kernel)
    columns = tf.reshape(kernel, (-1, tf.size(scales)))
    scaled = columns / scales
    q = tf.clip_by_value(tf.sign(scaled) * tf.floor(tf.abs(scaled) + 0.5), -float(levels), float(levels))
    inside = tf.cast(tf.abs(scaled) <= levels + 0.5, kernel.dtype)
    return tf.reshape(q * scales, shape), tf.reshape(inside, shape)


def _fake_quant_layer_class():
    import keras
    import tensorflow as tf

    class ActivationFakeQuant(keras.layers.Layer):
        """Per-tensor int8 fake quantization with a calibrated [low, high] (TensorFlow nudges zero onto the grid,
        as TFLite's zero point does); the gradient passes inside the range (straight through)."""

        def build(self, input_shape):
            self.low = self.add_weight(shape=(), initializer="zeros", trainable=False, name="low")
            self.high = self.add_weight(shape=(), initializer="ones", trainable=False, name="high")

        def call(self, x):
            return tf.quantization.fake_quant_with_min_max_vars(x, self.low, self.high, num_bits=8)

    return ActivationFakeQuant


@dataclass
class QatGraph:
    """The folded model, the same layers rewired with activation fake quantization, and what to refresh."""

    folded: object
    model: object  # the fake-quant model (shares its conv/dense layers with `folded`)
    weighted: list  # conv/dense layers of `folded`
    quantizers: list  # (ActivationFakeQuant layer, folded tensor it follows or None for the softmax)
    probe: object  # folded.input -> every tensor a quantizer follows


def _quantized_here(layer, users: list) -> bool:
    """Does the converter give this layer's output its own int8 tensor? Not when a ReLU after it is fused, nor for
    layers whose output keeps the input's grid."""
    kind = layer.__class__.__name__
    if kind in SAME_GRID:
        return False
    fused = len(users) == 1 and users[0].__class__.__name__ in FUSED_ACTIVATIONS
    return not (fused and kind in WEIGHTED + ("Add",))


def _is_softmax(layer) -> bool:
    """A Softmax layer, or a layer with a softmax activation: TFLite gives its output a fixed quantization."""
    return (layer.__class__.__name__ == "Softmax"
            or getattr(getattr(layer, "activation", None), "__name__", "") == "softmax")


def build_qat_graph(folded) -> QatGraph:
    """Rewire the folded model's own layers with an ActivationFakeQuant after the input and every int8 tensor."""
    import keras

    fake_quant = _fake_quant_layer_class()
    users = keras_graph.consumers(folded)
    new_input = keras.Input(shape=folded.inputs[0].shape[1:], name="qat_input")
    quantizers = [(fake_quant(name="fq_input"), folded.inputs[0])]
    tensors = {id(folded.inputs[0]): quantizers[0][0](new_input)}
    for layer in folded.layers:
        kind = layer.__class__.__name__
        if kind == "InputLayer":
            continue
        inputs = [tensors[id(t)] for t in keras_graph.inbound_tensors(layer)]
        out = layer(inputs[0] if len(inputs) == 1 else inputs)
        if _is_softmax(layer):
            quantizer = fake_quant(name=f"fq_{layer.name}")
            quantizers.append((quantizer, None))
            out = quantizer(out)
        elif _quantized_here(layer, users.get(id(layer.output), [])):
            quantizer = fake_quant(name=f"fq_{layer.name}")
            quantizers.append((quantizer, layer.output))
            out = quantizer(out)
        tensors[id(layer.output)] = out
    model = keras.Model(new_input, tensors[id(folded.outputs[0])], name=f"{folded.name}_qat")
    probe = keras.Model(folded.inputs[0], [t for _, t in quantizers if t is not None])
    weighted = [layer for layer in folded.layers if layer.__class__.__name__ in WEIGHTED]
    return QatGraph(folded, model, weighted, quantizers, probe)


def calibrate(graph: QatGraph, calibration_x: np.ndarray) -> None:
    """Set every quantizer's range to [min(0, min), max(0, max)] of its float tensor over the calibration data
    (the folded model with its float kernels, as the converter's max calibration sees it)."""
    outputs = graph.probe.predict(calibration_x, batch_size=50, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    values = iter(outputs)
    for quantizer, tensor in graph.quantizers:
        if tensor is None:
            low, high = SOFTMAX_RANGE
        else:
            data = next(values)
            low, high = min(0.0, float(data.min())), max(0.0, float(data.max()))
        quantizer.low.assign(low)
        quantizer.high.assign(max(high, low + 1e-8))


class _Shadows:
    """The float kernels being trained, their grids, and the step that trains them through the rounded ones."""

    def __init__(self, graph: QatGraph, options: FinetuneOptions) -> None:
        import keras

        self.graph, self.options = graph, options
        self.kernels = [keras.Variable(np.asarray(layer.kernel), name=f"shadow_{layer.name}")
                        for layer in graph.weighted]
        self.scales = [keras.Variable(np.ones(self._channels(layer), np.float32), trainable=False,
                                      name=f"scales_{layer.name}") for layer in graph.weighted]

    @staticmethod
    def _channels(layer) -> int:
        return kernel_channels(layer.__class__.__name__, np.asarray(layer.kernel)).shape[1]

    def refresh(self, calibration_x: np.ndarray) -> None:
        """Grids and ranges from the current shadows (what deploy would choose now); kernels := rounded shadows."""
        for layer, shadow, scales in zip(self.graph.weighted, self.kernels, self.scales):
            layer.kernel.assign(shadow)
            scales.assign(grid_scales(layer.__class__.__name__, np.asarray(shadow), self.options.base,
                                      self.options.shift_rule))
        calibrate(self.graph, calibration_x)
        for layer, shadow, scales in zip(self.graph.weighted, self.kernels, self.scales):
            layer.kernel.assign(_fake_quantize(shadow, scales, q_max(self.options.base))[0])

    def step_function(self, loss_fn, optimizer):
        import tensorflow as tf

        kernels = [layer.kernel for layer in self.graph.weighted]
        biases = [layer.bias for layer in self.graph.weighted if layer.bias is not None]

        @tf.function(autograph=False)  # plain Python loops over the layers: nothing to convert
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, self.graph.model(x, training=True))
            grads = tape.gradient(loss, kernels + biases)
            levels = q_max(self.options.base)
            masked = [g * _fake_quantize(s, sc, levels)[1] for g, s, sc in zip(grads, self.kernels, self.scales)]
            optimizer.apply_gradients(zip(masked + grads[len(kernels):], self.kernels + biases))
            for kernel, shadow, scales in zip(kernels, self.kernels, self.scales):
                kernel.assign(_fake_quantize(shadow, scales, levels)[0])
            return loss

        return step


def finetune(keras_model, train_x: np.ndarray, train_y: np.ndarray, calibration_x: np.ndarray,
             options: FinetuneOptions, progress: bool = False) -> FinetuneResult:
    """Fine-tune the BN-folded model with fake quantization for options.epochs epochs (seeded, deterministic on
    CPU); returns the folded plain Keras model with the trained float kernels."""
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    if len(keras_model.inputs) != 1:
        raise UnsupportedError(f"model {keras_model.name!r} has {len(keras_model.inputs)} inputs; wess finetune takes "
                               "a one-input model (deploy and eval take several)")
    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()
    folded, _ = bnfold.fold_batch_norms(keras_model)
    folded = _fresh_copy(folded)
    result = FinetuneResult(None, dead_input_channels=zero_dead_inputs(folded, train_x))
    graph = build_qat_graph(folded)
    shadows = _Shadows(graph, options)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=not _is_softmax(folded.layers[-1]))
    step = shadows.step_function(loss_fn, keras.optimizers.Adam(options.learning_rate))
    rng = np.random.default_rng(options.seed)
    for epoch in range(options.epochs):
        shadows.refresh(calibration_x)
        order = rng.permutation(len(train_x))
        batches = range(0, len(order), options.batch_size)
        losses = []
        for start in tqdm(batches, desc=f"finetune epoch {epoch + 1}/{options.epochs}", disable=not progress,
                          leave=False):
            index = order[start:start + options.batch_size]
            losses.append(float(step(tf.constant(train_x[index], tf.float32), tf.constant(train_y[index]))))
        result.epoch_loss.append(float(np.mean(losses)) if losses else float("nan"))
        log.info("finetune epoch %d: mean loss %.4f", epoch + 1, result.epoch_loss[-1])
    for layer, shadow in zip(graph.weighted, shadows.kernels):
        layer.kernel.assign(shadow)
    result.model = _fresh_copy(folded)
    return result


def zero_dead_inputs(folded, x: np.ndarray, batch_size: int = 100) -> int:
    """Zero the kernel weights that read an input channel which is exactly zero on every sample of x (a dead ReLU
    upstream); returns how many input channels were dead. The model's function on x is unchanged, and the grid no
    longer spans weights that never contribute: the stress variants' blown-up depthwise kernels sit on dead
    channels and set a per-tensor scale so coarse that every live weight rounds to zero, and a weight that only
    multiplies zero gets no gradient, so training alone would never shrink it."""
    import keras

    layers = [layer for layer in folded.layers if layer.__class__.__name__ in WEIGHTED]
    probe = keras.Model(folded.inputs[0], [layer.input for layer in layers])
    peaks = [None] * len(layers)
    for start in range(0, len(x), batch_size):
        outputs = probe(x[start:start + batch_size], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for i, out in enumerate(outputs):
            peak = np.abs(np.asarray(out)).reshape(-1, out.shape[-1]).max(axis=0)
            peaks[i] = peak if peaks[i] is None else np.maximum(peaks[i], peak)
    dead_total = 0
    for layer, peak in zip(layers, peaks):
        dead = peak == 0
        kernel = np.asarray(layer.kernel).copy()
        if not dead.any() or kernel.shape[-2 if layer.__class__.__name__ != "Dense" else 0] != dead.size:
            continue
        if layer.__class__.__name__ == "Dense":
            kernel[dead, :] = 0.0
        else:
            kernel[:, :, dead, :] = 0.0
        layer.kernel.assign(kernel)
        dead_total += int(dead.sum())
        log.info("%s: %d dead input channel(s), their weights zeroed", layer.name, int(dead.sum()))
    return dead_total


def _fresh_copy(model):
    """A clone with the same weights whose layers belong to it alone (each called once)."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def fake_quant_model(keras_model, calibration_x: np.ndarray, base: str = "wess", shift_rule: str = "mse",
                     weights: bool = True, activations: bool = True):
    """The fake-quant Keras model of what `wess deploy --scheme base` makes of keras_model (no training).

    weights=False keeps the folded float kernels (int8 activations alone); activations=False returns the folded
    model without activation quantizers (the scheme's rounded weights alone): the two halves of the error."""
    folded, _ = bnfold.fold_batch_norms(keras_model)
    graph = build_qat_graph(_fresh_copy(folded))
    shadows = _Shadows(graph, FinetuneOptions(base, shift_rule))
    shadows.refresh(calibration_x)
    if not weights:
        for layer, shadow in zip(graph.weighted, shadows.kernels):
            layer.kernel.assign(shadow)
    return graph.model if activations else graph.folded
