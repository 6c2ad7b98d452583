"""The accuracy measuring stick: a test split grown by seeded augmentations, and an int8 output's error vs float."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pipeline.tflite import runtime

from .wess import sqnr_db

AUGMENTED_COPIES = 9  # 400 zoo test images -> 4,000 inputs: agreement resolves 0.025 points
AUGMENT_SEED = 0
MAX_SHIFT_PIXELS = 2  # rank-4 (image) inputs: each copy shifted by up to this many pixels each way, zero filled
NOISE_FRACTION = 0.03  # Gaussian noise sigma as a fraction of the data's value range
CONTRAST_RANGE = (0.8, 1.2)  # each sample scaled around its own mean by a factor drawn uniformly from this range


@dataclass(frozen=True)
class OutputMetrics:
    """An int8 model's outputs against the float model's on the same inputs."""

    inputs: int
    agreement: float  # fraction of inputs whose top-1 class equals float's
    sqnr_db: float  # 10 log10(|float|^2 / |float - int8|^2) over all outputs
    max_abs_error: float  # largest |float - int8| of any output element
    mean_abs_error: float  # mean |float - int8| over all output elements


def _shift(sample: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """An HWC image moved by (dy, dx) pixels, the uncovered border zero."""
    out = np.zeros_like(sample)
    h, w = sample.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = sample[max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return out


def augment(x: np.ndarray, copies: int = AUGMENTED_COPIES, seed: int = AUGMENT_SEED) -> np.ndarray:
    """x followed by `copies` perturbed copies of it (float32, (1 + copies) * N samples); a pure function of its
    arguments.

    Every sample of every copy gets a contrast change around its own mean (CONTRAST_RANGE), Gaussian noise
    (NOISE_FRACTION of the data's value range) and, for rank-4 (N, H, W, C) inputs, a shift of up to
    MAX_SHIFT_PIXELS each way; values are clipped to the clean data's [min, max].
    """
    x = np.asarray(x, np.float32)
    if copies < 0:
        raise ValueError(f"copies must be >= 0, got {copies}")
    if x.shape[0] == 0 or copies == 0:
        return x.copy()
    rng = np.random.default_rng(seed)
    low, high = float(x.min()), float(x.max())
    sigma = NOISE_FRACTION * (high - low)
    reduce_axes = tuple(range(1, x.ndim))
    parts = [x]
    for _ in range(copies):
        factor = rng.uniform(*CONTRAST_RANGE, size=(len(x),) + (1,) * (x.ndim - 1)).astype(np.float32)
        mean = x.mean(axis=reduce_axes, keepdims=True)
        copy = (x - mean) * factor + mean + rng.normal(0.0, sigma, x.shape).astype(np.float32)
        if x.ndim == 4:
            offsets = rng.integers(-MAX_SHIFT_PIXELS, MAX_SHIFT_PIXELS + 1, size=(len(x), 2))
            copy = np.stack([_shift(sample, int(dy), int(dx)) for sample, (dy, dx) in zip(copy, offsets)])
        parts.append(np.clip(copy, low, high).astype(np.float32))
    return np.concatenate(parts)


BINARY_THRESHOLD = 0.5  # a one-unit (sigmoid) output predicts class 1 above it


def predicted_class(out: np.ndarray, class_elements: int | None = None) -> np.ndarray:
    """Class per sample: argmax over the flattened output (its first `class_elements` elements: the first of
    several joined outputs), or for one unit (a binary classifier) out > 0.5."""
    flat = np.asarray(out).reshape(len(out), -1)[:, :class_elements]
    return (flat[:, 0] > BINARY_THRESHOLD).astype(np.int64) if flat.shape[1] == 1 else flat.argmax(axis=1)


def compare(float_out: np.ndarray, int8_out: np.ndarray, class_elements: int | None = None) -> OutputMetrics:
    """Agreement of the predicted class (`predicted_class`), SQNR and absolute errors of int8 (dequantized) vs float."""
    reference = np.asarray(float_out, np.float64)
    approx = np.asarray(int8_out, np.float64)
    if reference.shape != approx.shape:
        raise ValueError(f"float outputs {reference.shape} and int8 outputs {approx.shape} differ in shape")
    error = np.abs(reference - approx)
    agreement = float(np.mean(predicted_class(reference, class_elements) == predicted_class(approx, class_elements))) \
        if len(reference) else 0.0
    return OutputMetrics(int(len(reference)), agreement, float(sqnr_db(reference, approx)),
                         float(error.max(initial=0.0)), float(error.mean()) if error.size else 0.0)


PROBABILITY_GRID = (1.0 / 256.0, -128)  # TFLite's fixed int8 softmax / logistic output (scale, zero point)


def decision(out: np.ndarray) -> np.ndarray:
    """The decision at every position of an [N, ..., K] output: argmax over its last axis (K > 1: softmax classes,
    e.g. MTCNN's face / not face per window), or > 0.5 for K = 1."""
    out = np.asarray(out)
    return (out[..., 0] > BINARY_THRESHOLD).astype(np.int64) if out.shape[-1] == 1 else out.argmax(axis=-1)


def compare_outputs(float_out: np.ndarray, int8_out: np.ndarray, q: runtime.IoQuant) -> list[OutputMetrics]:
    """compare() for each output of a model with several outputs (joined as runtime.join_outputs joins them); the
    agreement is that of `decision` over all positions for a probability output (quantized on PROBABILITY_GRID),
    NaN for other outputs (box or landmark regressions, whose argmax means nothing)."""
    float_parts = runtime.split_outputs(np.asarray(float_out, np.float64), q)
    int8_parts = runtime.split_outputs(np.asarray(int8_out, np.float64), q)
    results = []
    for output, reference, approx in zip(q.outputs, float_parts, int8_parts):
        probability = np.isclose(output.scale, PROBABILITY_GRID[0], rtol=1e-6) and \
            output.zero_point == PROBABILITY_GRID[1]
        agreement = float(np.mean(decision(reference) == decision(approx))) if probability and len(reference) \
            else float("nan")
        results.append(dataclasses.replace(compare(reference, approx), agreement=agreement))
    return results
