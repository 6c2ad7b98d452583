"""Deploy's gate: the C reference runner (LiteRT's reference for each operator it lacks) against TFLite Micro."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.errors import UnsupportedError
from pipeline.tflite import runtime

from . import backends, compact, stand_in, verify


@dataclass(frozen=True)
class PairResult:
    """One comparison: mismatched output bytes over all inputs, and the first input that differs."""

    pair: str  # "ref vs tflm", "ref+litert_ref vs tflm" (LiteRT standing in per operator), "litert_ref vs tflm"
    # (LiteRT's reference for the whole model: the non-blocking comparison)
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
    gate: PairResult  # the C reference (LiteRT's reference standing in for the operators it lacks) vs TFLite Micro
    litert_vs_tflm: PairResult  # reported, never blocking
    stand_in: str | None  # why LiteRT's reference stood in for the C runner (its first refusal), or None
    computed_by: dict[str, str] | None  # with a stand-in: "operator N (OP)" -> "ref" or "litert_ref", every live op

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
             divergence_at: Callable[[int], verify.Divergence | None] | None) -> PairResult:
    """`divergence_at(sample)`: the first operator whose output differs from LiteRT's reference there, or None."""
    first = _first_input(ours, tflm)
    operator = None
    if first is not None and divergence_at is not None:
        divergence = divergence_at(first)
        if divergence is not None:
            operator = f"operator {divergence.operator} ({divergence.op}, tensor {divergence.tensor_name!r})"
    return PairResult(pair, int(np.count_nonzero(ours.view(np.uint8) != tflm.view(np.uint8))), first, operator)


@dataclass(frozen=True)
class _Ours:
    """What the gate compares with TFLite Micro: the pair's name, the outputs, where a difference first arises."""

    pair: str
    outputs: np.ndarray
    divergence_at: Callable[[int], verify.Divergence | None] | None
    computed_by: dict[str, str] | None = None
    stand_in: str | None = None


def run_gate(model: bytes, x: np.ndarray, calibration_inputs: int, source: str) -> GateResult:
    """Run the probe through TFLite Micro, LiteRT's reference kernels and the C runner; where the C runner lacks an
    operator, LiteRT's reference computes that operator alone from the C runner's tensors (stand_in)."""
    tflm = runtime.run_tflm(model, x)
    litert = runtime.run_litert(model, x, reference=True)
    try:
        compiled = compact.compile_model(model, source)
        ours = _Ours("ref vs tflm", backends.run_ref(model, x).reshape(tflm.shape),
                     lambda sample: verify.first_divergence(model, compiled, x, sample))
    except UnsupportedError as exc:  # operators without a C kernel: LiteRT's reference computes those alone
        ours = _stand_in(model, x, source, str(exc), litert)
    return GateResult(int(len(x)), calibration_inputs, int(len(x)) - calibration_inputs,
                      _compare(model, ours.pair, ours.outputs.reshape(tflm.shape), tflm, x, ours.divergence_at),
                      _compare(model, "litert_ref vs tflm", litert, tflm, x, ours.divergence_at), ours.stand_in,
                      ours.computed_by)


def _stand_in(model: bytes, x: np.ndarray, source: str, refusal: str, litert: np.ndarray) -> _Ours:
    """The C runner with LiteRT's reference computing each operator it lacks; LiteRT's reference for the whole
    model where the segments cannot run (a live tensor whose first axis is not a batch of 1)."""
    try:
        segments = stand_in.split(model, source)[0]
    except UnsupportedError as why:
        whole = f"{refusal}; LiteRT's reference runs the whole model: {why}"
        return _Ours("litert_ref vs tflm", litert, None, None, whole)
    mixed = stand_in.run(model, segments, x)
    operators = stand_in.operator_outputs(model, segments)

    def divergence_at(sample: int) -> verify.Divergence | None:
        return verify.divergence_from(model, x, sample, {t: v[sample] for t, v in mixed.tensors.items()}, operators)

    return _Ours(f"{stand_in.C_RUNNER}+{stand_in.LITERT} vs tflm", mixed.outputs, divergence_at,
                 stand_in.computed_by(model, segments), refusal)
