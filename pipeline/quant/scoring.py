"""An int8 model scored against float outputs through LiteRT's reference kernels: top-1 (classes, or a one-unit
binary classifier at threshold 0.5), agreement, and for every output kind SQNR, max and mean absolute error."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tflite import runtime

from . import metrics


@dataclass(frozen=True)
class SchemeResult:
    """One int8 model on a test split."""

    top1: float  # against the labels (NaN without labels)
    agreement: float  # predicted-class agreement with the float model
    sqnr_db: float  # output SQNR vs the float model's output
    model_bytes: int
    max_abs_error: float  # vs the float model's output, in output units (regression, autoencoders, box heads)
    mean_abs_error: float
    augmented: metrics.OutputMetrics | None = None  # vs float on the test split's seeded augmentations (eval fills it)
    outputs: list[metrics.OutputMetrics] | None = None  # a model with several outputs: each one's on the test split


def score(model_bytes: bytes, x: np.ndarray, y: np.ndarray | None, float_out: np.ndarray) -> SchemeResult:
    q = runtime.io_quant(model_bytes)
    out = runtime.dequantize_output(runtime.run_litert(model_bytes, runtime.quantize_input(x, q)), q)
    top1 = float(np.mean(metrics.predicted_class(out, q.class_elements) == y)) if y is not None else float("nan")
    float_out = np.asarray(float_out).reshape(out.shape)
    compared = metrics.compare(float_out, out, q.class_elements)
    outputs = metrics.compare_outputs(float_out, out, q) if len(q.outputs) > 1 else None
    return SchemeResult(top1, compared.agreement, compared.sqnr_db, len(model_bytes), compared.max_abs_error,
                        compared.mean_abs_error, outputs=outputs)
