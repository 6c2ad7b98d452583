"""Deploy's gate: the C reference runner (LiteRT's reference where it has no kernel) against TFLite Micro."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pipeline.errors import UnsupportedError
from pipeline.tflite import runtime

from . import backends, compact, verify


@dataclass(frozen=True)
class PairResult:
    """One comparison: mismatched output bytes over all inputs, and the first input that differs."""

    pair: str  # "ref vs tflm", "litert_ref vs tflm"
    mismatched_bytes: int
    first_input: int | None  # index into the probe (calibration inputs first, then the seeded random ones)
    first_operator: str | None  # "operator N (OP, tensor NAME)": at that input, the first op whose output differs
    # between the C reference and LiteRT's reference (verify.first_divergence); None without the C runner


@dataclass(frozen=True)
class GateResult:
    """What deploy's verify pass found; only `gate` blocks."""

    inputs: int
    calibration_inputs: int
    random_inputs: int
    gate: PairResult  # the C reference (or LiteRT's reference standing in) vs TFLite Micro
    litert_vs_tflm: PairResult  # reported, never blocking
    stand_in: str | None  # why LiteRT's reference stood in for the C runner (its refusal), or None

    def to_json(self) -> dict:
        return asdict(self)


def probe_inputs(calibration_int8: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """The first `count` calibration inputs, then seeded uniform int8 inputs (verify.RANDOM_INPUTS, or as many as
    make up `count` when the calibration split is shorter)."""
    calibration = calibration_int8[:count]
    random_count = max(verify.RANDOM_INPUTS, count - len(calibration))
    noise = np.random.default_rng(seed).integers(-128, 128, size=(random_count, *calibration_int8.shape[1:]))
    return np.concatenate([calibration, noise.astype(calibration_int8.dtype)])


def _first_input(a: np.ndarray, b: np.ndarray) -> int | None:
    differs = np.any((a != b).reshape(len(a), -1), axis=1)
    return int(np.argmax(differs)) if differs.any() else None


def _compare(model: bytes, pair: str, ours: np.ndarray, tflm: np.ndarray, x: np.ndarray,
             compiled: compact.CompactModel | None) -> PairResult:
    first = _first_input(ours, tflm)
    operator = None
    if first is not None and compiled is not None:
        divergence = verify.first_divergence(model, compiled, x, first)
        if divergence is not None:
            operator = f"operator {divergence.operator} ({divergence.op}, tensor {divergence.tensor_name!r})"
    return PairResult(pair, int(np.count_nonzero(ours.view(np.uint8) != tflm.view(np.uint8))), first, operator)


def run_gate(model: bytes, x: np.ndarray, calibration_inputs: int, source: str) -> GateResult:
    """Run the probe through TFLite Micro, LiteRT's reference kernels and (when it can run the model) the C runner."""
    tflm = runtime.run_tflm(model, x)
    litert = runtime.run_litert(model, x, reference=True)
    compiled, stand_in = None, None
    try:
        compiled = compact.compile_model(model, source)
    except UnsupportedError as exc:  # an operator without a C kernel: LiteRT's reference stands in
        stand_in = str(exc)
    if compiled is not None:
        gate = _compare(model, "ref vs tflm", backends.run_ref(model, x).reshape(tflm.shape), tflm, x, compiled)
    else:
        gate = _compare(model, "litert_ref vs tflm", litert, tflm, x, None)
    return GateResult(int(len(x)), calibration_inputs, int(len(x)) - calibration_inputs, gate,
                      _compare(model, "litert_ref vs tflm", litert, tflm, x, compiled), stand_in)
