"""Learned rounding (AdaRound, Nagel et al. 2020) of an int8 model's conv/FC weights on the scheme's own grid.

Each layer's scales stay what the scheme chose (per-tensor, per-channel, or WESS's s * 2^-k_c), so the int8
weights change but no scale, bias or multiplier does: TFLite's per-channel multipliers stay (M0, n + k_c) and the
WESS metadata stays consistent. Only the rounding of each weight (down or up) is learned, minimising the layer's
output error || X_f W - X_q W_q ||^2 on the calibration data, where X_f is the layer's input in the float model and
X_q its input in the int8 model whose earlier layers are already rounded (layers are done in operator order).

The error is a quadratic form in the weights, so the calibration data is streamed once per layer into the Gram
matrix of [X_q, X_f] (rows: output positions, columns: the kernel's receptive field); the optimisation then never
touches the data again and costs a fixed ITERATIONS Adam steps per layer.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.tflite import flatbuf, runtime

from . import biascorr, rewrite, wess
from .calibration import CALIBRATION_BATCH, run_batch

log = logging.getLogger(__name__)
ITERATIONS = 400  # Adam steps per layer: the fixed budget
LEARNING_RATE = 0.02
REG_WEIGHT = 4.0  # lambda on the mean regulariser, against the output error relative to nearest rounding's
WARMUP = 0.2  # fraction of the steps before the rounding regulariser starts
BETA_START, BETA_END = 20.0, 2.0  # annealed over the steps after the warm-up
ZETA, GAMMA = 1.1, -0.1  # the rectified sigmoid's stretch
ROWS_PER_BATCH = 4096  # output positions sampled per calibration batch (seeded), bounding the Gram's cost
SEED = 0


@dataclass(frozen=True)
class RoundingResult:
    """What learned rounding did to one conv/FC layer (errors: summed squared output error per output position)."""

    operator: int
    op: str
    nearest_error: float  # the scheme's own (nearest) rounding
    learned_error: float  # the weights written (nearest's when learning did not beat it)
    flipped: int  # weights rounded the other way than nearest
    kept_nearest: bool


@dataclass(frozen=True)
class LayerGram:
    """Second moments of one layer's inputs: [G, 2K, 2K] over rows [x_q, x_f] of each of G independent groups."""

    gram: np.ndarray  # float64
    rows: int

    def blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X_q'X_q, X_f'X_q, X_f'X_f) / rows."""
        k = self.gram.shape[-1] // 2
        g = self.gram / max(self.rows, 1)
        return g[:, :k, :k], g[:, k:, :k], g[:, k:, k:]


# ---- layout: TFLite weights <-> [G groups, R rows, K receptive field] ----------------------------------------------

def to_groups(weights: np.ndarray, code: int, input_channels: int) -> np.ndarray:
    """CONV_2D and TRANSPOSE_CONV [O,kh,kw,I] -> [1,O,kh*kw*I]; FULLY_CONNECTED [O,I] -> [1,O,I];
    DEPTHWISE_CONV_2D [1,kh,kw,C*M] -> [C,M,kh*kw] (output channel c*M + m reads input channel c only)."""
    if code == flatbuf.BUILTIN.DEPTHWISE_CONV_2D:
        _, kh, kw, outputs = weights.shape
        return np.transpose(weights[0].reshape(kh * kw, input_channels, outputs // input_channels), (1, 2, 0))
    return weights.reshape(1, weights.shape[0], -1)


def from_groups(groups: np.ndarray, shape: tuple[int, ...], code: int) -> np.ndarray:
    """The inverse of to_groups."""
    if code == flatbuf.BUILTIN.DEPTHWISE_CONV_2D:
        return np.transpose(groups, (2, 0, 1)).reshape(shape)
    return groups.reshape(shape)


def channel_scales(model, wop: rewrite.WeightedOp) -> np.ndarray:
    """The weight tensor's scale per output channel (a per-tensor scale repeated), float64."""
    q = model.subgraphs[0].tensors[wop.weight_tensor].quantization
    scales = np.asarray(q.scale, np.float64)
    channels = wop.float_weights.shape[wop.channel_axis]
    return np.broadcast_to(scales, (channels,)).copy() if scales.size == 1 else scales


# ---- the layer's inputs, as Gram matrices ------------------------------------------------------------------------

def patches(x: np.ndarray, op, code: int, weight_shape: tuple[int, ...],
            output_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The layer's receptive fields as rows: [1, P, K] (conv, FC, transpose conv) or [C, P, kh*kw] (depthwise),
    zero padded as TFLite pads (with the zero point, i.e. real 0); the column order matches to_groups. output_hw:
    a TRANSPOSE_CONV's output height and width."""
    import tensorflow as tf
    from ai_edge_litert import schema_py_generated as schema

    if code == flatbuf.BUILTIN.FULLY_CONNECTED:
        return x.reshape(1, -1, weight_shape[1])
    kernel_hw = tuple(weight_shape[1:3])
    if code == flatbuf.BUILTIN.TRANSPOSE_CONV:
        return transposed_fields(x, (op.builtinOptions.strideH, op.builtinOptions.strideW),
                                 op.builtinOptions.padding == schema.Padding.SAME, kernel_hw, output_hw)[None]
    opts = op.builtinOptions
    padding = "SAME" if opts.padding == schema.Padding.SAME else "VALID"
    fields = tf.image.extract_patches(
        tf.constant(x, tf.float32), sizes=[1, *kernel_hw, 1], strides=[1, opts.strideH, opts.strideW, 1],
        rates=[1, opts.dilationHFactor or 1, opts.dilationWFactor or 1, 1], padding=padding).numpy()
    rows = fields.reshape(-1, fields.shape[-1])  # columns ordered (kh, kw, channel), as TFLite's kernels
    if code == flatbuf.BUILTIN.DEPTHWISE_CONV_2D:
        return np.transpose(rows.reshape(len(rows), kernel_hw[0] * kernel_hw[1], x.shape[-1]), (2, 0, 1))
    return rows[None]


def transposed_fields(x: np.ndarray, stride_hw: tuple[int, int], same: bool, kernel_hw: tuple[int, int],
                      output_hw: tuple[int, int]) -> np.ndarray:
    """TRANSPOSE_CONV's receptive fields: [N * OH * OW, kh * kw * I], columns (kh, kw, channel) as its filter's.

    TFLite scatters input pixel i through tap t onto output o = i * stride - pad + t (pad: ComputePaddingHeightWidth
    for the output size, half of max((ceil(out / stride) - 1) * stride + k - out, 0) under SAME, else 0). Gathered
    per output: the input spread onto a zero grid at j = i * stride + k - 1 - pad, so output o reads z[o + u]
    through tap k - 1 - u (an input whose j falls off the grid reaches no output: TFLite drops what lands outside).
    """
    grid_shape, index, placed = [x.shape[0]], [slice(None)], []
    for size, stride, kernel, out in zip(x.shape[1:3], stride_hw, kernel_hw, output_hw):
        pad = max((-(-out // stride) - 1) * stride + kernel - out, 0) // 2 if same else 0  # cref's compute_padding
        positions = np.arange(size) * stride + kernel - 1 - pad
        grid_shape.append(out + kernel - 1)
        index.append(np.flatnonzero((positions >= 0) & (positions < grid_shape[-1])))  # the rest land outside
        placed.append(positions[index[-1]])
    grid = np.zeros((*grid_shape, x.shape[3]), np.float32)
    grid[:, placed[0][:, None], placed[1][None, :]] = x[:, index[1][:, None], index[2][None, :]]
    windows = np.lib.stride_tricks.sliding_window_view(grid, kernel_hw, axis=(1, 2))  # [N, OH, OW, I, kh, kw]
    fields = np.transpose(windows[..., ::-1, ::-1], (0, 1, 2, 4, 5, 3))  # taps reversed: u -> k - 1 - u
    return fields.reshape(-1, kernel_hw[0] * kernel_hw[1] * x.shape[3])


def accumulate(gram: np.ndarray | None, rows_q: np.ndarray, rows_f: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """gram + [X_q, X_f]'[X_q, X_f] over at most ROWS_PER_BATCH rows (a seeded sample); returns (gram, rows used)."""
    count = rows_q.shape[1]
    if count > ROWS_PER_BATCH:
        keep = np.sort(rng.choice(count, ROWS_PER_BATCH, replace=False))
        rows_q, rows_f, count = rows_q[:, keep], rows_f[:, keep], ROWS_PER_BATCH
    both = np.concatenate([rows_q, rows_f], axis=2).astype(np.float32)
    update = np.matmul(np.transpose(both, (0, 2, 1)), both).astype(np.float64)
    return (update if gram is None else gram + update), count


class _Activations:
    """Batches of the calibration data through a TFLite model, every tensor kept (tensor values in real units)."""

    def __init__(self, model: bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.interpreter = Interpreter(model_content=model, experimental_preserve_all_tensors=True, num_threads=2,
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.input = self.interpreter.get_input_details()[0]
        self.quantization = {d["index"]: d["quantization"] for d in self.interpreter.get_tensor_details()}
        self.io = runtime.io_quant(model) if self.input["dtype"] == np.int8 else None
        self.batched = True  # False once the model has not run batched (a batch-1 model with constant shapes)

    def values(self, batch: np.ndarray, tensor: int) -> np.ndarray:
        """The tensor's real values for the batch: the whole batch in one run, or one sample at a time where the
        model does not run batched (a batch-1 model whose TRANSPOSE_CONV output shape or RESHAPE shape is a
        constant: the run fails, or the tensor loses its batch axis)."""
        if self.io is not None:
            batch = runtime.quantize_input(batch, self.io)
        batch = batch.astype(self.input["dtype"])
        if self.batched:
            tensors = run_batch(self.interpreter, batch, [tensor], [tensor])
            if tensors is not None:
                return self.real(tensor, tensors[tensor])
            self.batched = False
        samples = [run_batch(self.interpreter, batch[sample:sample + 1], [tensor], [tensor])[tensor]
                   for sample in range(len(batch))]
        return self.real(tensor, np.concatenate(samples))

    def real(self, tensor: int, values: np.ndarray) -> np.ndarray:
        """The tensor's values in real units (int8 dequantized with its scale and zero point)."""
        if values.dtype == np.int8:
            scale, zero_point = self.quantization[tensor]
            return (values.astype(np.float32) - zero_point) * np.float32(scale)
        return values.astype(np.float32)


def layer_gram(quantized: bytes, float_model: _Activations, float_input: int, op, wop: rewrite.WeightedOp,
               calibration_x: np.ndarray, output_hw: tuple[int, int] | None = None) -> LayerGram:
    """Stream the calibration data through both models into the layer's input Gram matrix (output_hw: a
    TRANSPOSE_CONV's output height and width)."""
    int8_model = _Activations(quantized)
    rng = np.random.default_rng(SEED + wop.operator_index)
    gram, rows = None, 0
    for start in range(0, len(calibration_x), CALIBRATION_BATCH):
        batch = calibration_x[start:start + CALIBRATION_BATCH]
        rows_q = patches(int8_model.values(batch, wop.input_tensor), op, wop.builtin_code, wop.float_weights.shape,
                         output_hw)
        rows_f = patches(float_model.values(batch, float_input), op, wop.builtin_code, wop.float_weights.shape,
                         output_hw)
        gram, used = accumulate(gram, rows_q, rows_f, rng)
        rows += used
    return LayerGram(gram, rows)


# ---- the optimisation -----------------------------------------------------------------------------------------

def output_error(weights_q: np.ndarray, weights: np.ndarray, stats: LayerGram) -> float:
    """sum over rows of || x_f W - x_q W_q ||^2 / rows, both in the [G, R, K] layout (float values)."""
    qq, fq, ff = stats.blocks()
    a, w = np.asarray(weights_q, np.float64), np.asarray(weights, np.float64)
    return float(np.sum(np.matmul(a, qq) * a) - 2.0 * np.sum(np.matmul(w, fq) * a) + np.sum(np.matmul(w, ff) * w))


def _rectified_sigmoid(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1) and dh/dV."""
    sig = 1.0 / (1.0 + np.exp(-v))
    stretched = sig * (ZETA - GAMMA) + GAMMA
    inside = (stretched > 0.0) & (stretched < 1.0)
    return np.clip(stretched, 0.0, 1.0), np.where(inside, (ZETA - GAMMA) * sig * (1.0 - sig), 0.0)


def _initial_v(fraction: np.ndarray) -> np.ndarray:
    """V with h(V) equal to the fractional part of W / s."""
    p = np.clip((fraction - GAMMA) / (ZETA - GAMMA), 1e-4, 1.0 - 1e-4)
    return np.log(p / (1.0 - p))


def learn_rounding(weights: np.ndarray, scales: np.ndarray, nearest_q: np.ndarray, stats: LayerGram,
                   iterations: int = ITERATIONS, q_max: int = 127) -> tuple[np.ndarray, float, float]:
    """Integer weights on the grid `scales` (broadcastable to weights, [G, R, K] layout): each floor(W / s) or one
    above, clipped to [-q_max, q_max] (127 for 8-bit, 7 for 4-bit weights), chosen by Adam on the output error +
    the annealed rounding regulariser.

    Returns (weights_q, its output error, nearest_q's output error); nearest_q itself when learning did not do
    better on the same data, so the result is never worse than the scheme's own rounding on it.
    """
    weights, scales = np.asarray(weights, np.float64), np.broadcast_to(np.asarray(scales, np.float64), weights.shape)
    qq, fq, _ = stats.blocks()
    nearest_error = output_error(nearest_q * scales, weights, stats)
    base = np.floor(weights / scales)
    target = np.matmul(weights, fq)  # W X_f'X_q: the gradient's constant part
    norm = max(nearest_error, 1e-30)
    v = _initial_v(weights / scales - base)
    moment1, moment2 = np.zeros_like(v), np.zeros_like(v)
    warmup = int(WARMUP * iterations)
    for step in range(iterations):
        h, dh_dv = _rectified_sigmoid(v)
        soft = base + h
        inside = (soft >= -q_max) & (soft <= q_max)
        grad_a = 2.0 * (np.matmul(np.clip(soft, -q_max, q_max) * scales, qq) - target) / norm
        grad_h = grad_a * scales * inside
        if step >= warmup:
            beta = BETA_START + (BETA_END - BETA_START) * (step - warmup) / max(iterations - warmup - 1, 1)
            centred = 2.0 * h - 1.0
            grad_h -= REG_WEIGHT / h.size * beta * np.abs(centred) ** (beta - 1.0) * np.sign(centred) * 2.0
        grad = grad_h * dh_dv
        moment1 = 0.9 * moment1 + 0.1 * grad
        moment2 = 0.999 * moment2 + 0.001 * grad ** 2
        v -= LEARNING_RATE * (moment1 / (1 - 0.9 ** (step + 1))) / (np.sqrt(moment2 / (1 - 0.999 ** (step + 1))) + 1e-8)
    learned = np.clip(base + (_rectified_sigmoid(v)[0] >= 0.5), -q_max, q_max)
    learned_error = output_error(learned * scales, weights, stats)
    if learned_error > nearest_error:
        return np.asarray(nearest_q, np.float64), nearest_error, nearest_error
    return learned, learned_error, nearest_error


# ---- the model ----------------------------------------------------------------------------------------------------

def round_model(quantized: bytes, calibrated: bytes, calibration_x: np.ndarray, iterations: int = ITERATIONS,
                progress: bool = False, weight_bits: int = 8,
                eight_bit_nodes: tuple[str, ...] = ()) -> tuple[bytes, list[RoundingResult]]:
    """The int8 model with every int8 conv/FC's weights re-rounded by learn_rounding onto the weight_bits grid
    (the 8-bit grid for the layers of `eight_bit_nodes`, mixed bits), layer by layer in operator order (each
    layer's X_q comes from the model with the earlier layers already re-rounded)."""
    from tqdm import tqdm

    model = flatbuf.read_model(quantized)
    ops = rewrite.weighted_ops(model, flatbuf.read_model(calibrated))
    float_inputs = biascorr.float_layer_inputs(flatbuf.read_model(calibrated))
    float_model = _Activations(calibrated)
    graph = model.subgraphs[0]
    results = []
    for wop in tqdm(ops, desc="learned rounding", disable=not progress, leave=False):
        op = graph.operators[wop.operator_index]
        float_input = float_inputs[wop.float_name]
        output_hw = tuple(int(extent) for extent in graph.tensors[wop.output_tensor].shape[1:3])
        stats = layer_gram(flatbuf.write_model(model), float_model, float_input, op, wop, calibration_x, output_hw)
        input_channels = int(graph.tensors[wop.input_tensor].shape[-1])
        shape, code = wop.float_weights.shape, wop.builtin_code
        scales = to_groups(_broadcast_scales(channel_scales(model, wop), shape, wop.channel_axis), code,
                           input_channels)
        nearest = to_groups(flatbuf.tensor_array(model, wop.weight_tensor).astype(np.float64), code, input_channels)
        learned, learned_error, nearest_error = learn_rounding(
            to_groups(wop.float_weights, code, input_channels), scales, nearest, stats, iterations,
            wess.Q_MAX[8 if wop.float_name in eight_bit_nodes else weight_bits])
        flatbuf.set_tensor_array(model, wop.weight_tensor, from_groups(learned, shape, code).astype(np.int8))
        results.append(RoundingResult(wop.operator_index, wop.op_name, nearest_error, learned_error,
                                      int(np.sum(learned != nearest)), learned_error == nearest_error))
        log.debug("operator %d (%s): output error %.4g -> %.4g", wop.operator_index, wop.op_name, nearest_error,
                  learned_error)
    return flatbuf.write_model(model), results


def _broadcast_scales(scales: np.ndarray, shape: tuple[int, ...], channel_axis: int) -> np.ndarray:
    view = [1] * len(shape)
    view[channel_axis] = -1
    return np.broadcast_to(scales.reshape(view), shape)
