"""An int8 model scored against float outputs through LiteRT's reference kernels: top-1 (classes, or a one-unit
binary classifier at threshold 0.5), agreement, and for every output kind SQNR, max and mean absolute error."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tflite import runtime

from .wess import sqnr_db


BINARY_THRESHOLD = 0.5  # a one-unit (sigmoid) output predicts class 1 above it


@dataclass(frozen=True)
class SchemeResult:
    """One int8 model on a test split."""

    top1: float  # against the labels (NaN without labels)
    agreement: float  # predicted-class agreement with the float model
    sqnr_db: float  # output SQNR vs the float model's output
    model_bytes: int
    max_abs_error: float  # vs the float model's output, in output units (regression, autoencoders, box heads)
    mean_abs_error: float


def predicted_class(out: np.ndarray) -> np.ndarray:
    """Class per sample: argmax over the flattened output, or for one unit (a binary classifier) out > 0.5."""
    flat = np.asarray(out).reshape(len(out), -1)
    return (flat[:, 0] > BINARY_THRESHOLD).astype(np.int64) if flat.shape[1] == 1 else flat.argmax(axis=1)


def score(model_bytes: bytes, x: np.ndarray, y: np.ndarray | None, float_out: np.ndarray) -> SchemeResult:
    q = runtime.io_quant(model_bytes)
    out = runtime.dequantize_output(runtime.run_litert(model_bytes, runtime.quantize_input(x, q)), q)
    top, float_top = predicted_class(out), predicted_class(float_out)
    top1 = float(np.mean(top == y)) if y is not None else float("nan")
    error = np.abs(np.asarray(out, np.float64) - np.asarray(float_out, np.float64).reshape(out.shape))
    return SchemeResult(top1, float(np.mean(top == float_top)), sqnr_db(float_out, out), len(model_bytes),
                        float(error.max()), float(error.mean()))
