"""An int8 model scored against float outputs through LiteRT's reference kernels: top-1, agreement, output SQNR."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tflite import runtime

from . import metrics
from .wess import sqnr_db


@dataclass(frozen=True)
class SchemeResult:
    """One int8 model on a test split."""

    top1: float  # against the labels
    agreement: float  # top-1 agreement with the float model
    sqnr_db: float  # output SQNR vs the float model's output
    model_bytes: int
    augmented: metrics.OutputMetrics | None = None  # vs float on the test split (+ its seeded augmentations)


def score(model_bytes: bytes, x: np.ndarray, y: np.ndarray | None, float_out: np.ndarray) -> SchemeResult:
    q = runtime.io_quant(model_bytes)
    out = runtime.dequantize_output(runtime.run_litert(model_bytes, runtime.quantize_input(x, q)), q)
    top = out.argmax(axis=1)
    float_top = float_out.argmax(axis=1)
    top1 = float(np.mean(top == y)) if y is not None else float("nan")
    return SchemeResult(top1, float(np.mean(top == float_top)), sqnr_db(float_out, out), len(model_bytes),
                        metrics.compare(float_out, out))
