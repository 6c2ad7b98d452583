"""Where an int8 model's disagreement with float comes from: its rounded weights alone, its int8 activations alone,
both (the fake-quant model of pipeline/quant/finetune.py), and the output's int8 grid alone."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tflite import runtime

from . import finetune, metrics

MARGIN_BINS_LSB = (1, 4, 16)  # disagreements counted by float's top-1 minus top-2 margin in output steps


@dataclass(frozen=True)
class ErrorSplit:
    """One scheme's fake-quant variants against float on the same inputs."""

    weights_only: metrics.OutputMetrics  # the scheme's rounded weights, float activations
    activations_only: metrics.OutputMetrics  # float (folded) weights, int8 activations with the max ranges
    both: metrics.OutputMetrics  # rounded weights and int8 activations: models the deployed int8 model


def split(keras_model, calibration_x: np.ndarray, x: np.ndarray, float_out: np.ndarray, base: str,
          shift_rule: str = "mse") -> ErrorSplit:
    """metrics.compare of each fake-quant variant of `base` (finetune.fake_quant_model) with float_out on x."""
    def scored(weights: bool, activations: bool) -> metrics.OutputMetrics:
        model = finetune.fake_quant_model(keras_model, calibration_x, base, shift_rule, weights, activations)
        out = np.asarray(model.predict(x, batch_size=256, verbose=0), np.float64)
        return metrics.compare(float_out, out.reshape(float_out.shape))

    return ErrorSplit(scored(True, False), scored(False, True), scored(True, True))


def output_grid_only(float_out: np.ndarray, output: runtime.OutputQuant) -> metrics.OutputMetrics:
    """float_out rounded onto the int8 output tensor's grid (a softmax: steps of 1/256) and back: the agreement
    a perfect int8 network would lose to its output's resolution alone (ties resolve to the lower class)."""
    q = runtime.quantize_tensor(float_out, output).astype(np.float32)
    return metrics.compare(float_out, (q - output.zero_point) * np.float32(output.scale))


def disagreements_by_margin(float_out: np.ndarray, int8_out: np.ndarray, step: float,
                            bins: tuple[int, ...] = MARGIN_BINS_LSB) -> dict[str, list[int]]:
    """Inputs and disagreements (top-1 differs from float's) counted by float's top-1 minus top-2 margin in units
    of `step` (the output scale): {"< 1": [inputs, disagreements], "1-4": ..., ">= 16": ...}."""
    flat = np.asarray(float_out, np.float64).reshape(len(float_out), -1)
    top2 = np.sort(flat, axis=1)[:, -2:]
    margin = (top2[:, 1] - top2[:, 0]) / step
    differs = metrics.predicted_class(flat) != metrics.predicted_class(int8_out)
    edges = (0,) + bins + (np.inf,)
    counts = {}
    for low, high in zip(edges[:-1], edges[1:]):
        label = f"< {high}" if low == 0 else f">= {low}" if high == np.inf else f"{low}-{high}"
        inside = (margin >= low) & (margin < high)
        counts[label] = [int(inside.sum()), int((inside & differs).sum())]
    return counts
