"""The deployment driver: Keras -> BN folding -> calibration -> int8 TFLite -> WESS -> metadata, as ordered passes."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from pipeline.keras import bnfold, cle
from pipeline.quant import biascorr, calibration, convert, schemes, sensitivity, wess
from pipeline.quant.calibrators import CALIBRATOR_NAMES
from pipeline.tflite import flatbuf, metadata, runtime

from .errors import WessError

log = logging.getLogger(__name__)
@dataclass(frozen=True)
class DeployOptions:
    """What the user chose on the command line."""

    scheme: str = schemes.DEFAULT_SCHEME  # schemes.parse_scheme
    calibrator: str = "max"  # a name from calibrators.CALIBRATOR_NAMES, or "auto"
    shift_rule: str = "mse"  # wess.SHIFT_RULES; mse won on the zoo (README)
    target_drop: float | None = None  # percentage points of top-1 below float; None: every conv/FC layer int8


@dataclass
class DeployState:
    """Everything the passes produce, filled in order."""

    keras_model: object
    calibration_x: np.ndarray
    options: DeployOptions
    calibration_y: np.ndarray | None = None  # labels, needed for a target drop
    folded_model: object = None
    folded_layers: list = field(default_factory=list)
    cle_result: cle.CleResult | None = None
    calibrated: bytes = b""  # float TFLite with the converter's (max) ranges
    calibrator: str = ""  # the calibrator whose ranges are used
    calibrator_scores: dict = field(default_factory=dict)  # name -> agreement with float on the calibration split
    ranged: bytes = b""  # float TFLite with the chosen calibrator's ranges
    models: dict = field(default_factory=dict)  # scheme -> int8 TFLite bytes
    wess_layers: list = field(default_factory=list)  # [(WeightedOp, WessLayer)]
    bias_corrections: list = field(default_factory=list)  # biascorr.BiasCorrection
    layer_means: dict = field(default_factory=dict)  # biascorr.layer_input_means, for `+bc` schemes
    sensitivity: sensitivity.SensitivityResult | None = None
    partial: sensitivity.PartialResult | None = None

    @property
    def scheme(self) -> schemes.Scheme:
        return schemes.parse_scheme(self.options.scheme)

    @property
    def model(self) -> bytes:
        return self.models[self.options.scheme]


def fold_pass(state: DeployState) -> None:
    state.folded_model, state.folded_layers = bnfold.fold_batch_norms(state.keras_model)


def cle_pass(state: DeployState) -> None:
    """Cross-layer equalization of the folded model when the scheme asks for it (`cle+...`)."""
    if state.scheme.cle:
        state.folded_model, state.cle_result = cle.equalize(state.folded_model)


def calibrate_pass(state: DeployState) -> None:
    state.calibrated = convert.calibrated_float_model(state.folded_model, state.calibration_x)


def ranges_pass(state: DeployState) -> None:
    """Pick activation ranges: the converter's max ranges, another calibrator's, or the best of all ("auto")."""
    choice = state.options.calibrator
    if choice == "max":
        state.calibrator, state.ranged = "max", state.calibrated
        return
    names = list(CALIBRATOR_NAMES) if choice == "auto" else [choice]
    all_ranges = calibration.calibrate_ranges(state.calibrated, state.calibration_x, names)
    if choice != "auto":
        state.calibrator, state.ranged = choice, calibration.with_ranges(state.calibrated, all_ranges[choice])
        return
    float_top = _float_predictions(state).argmax(axis=1)
    best = None
    for name in names:
        ranged = calibration.with_ranges(state.calibrated, all_ranges[name])
        candidate = schemes.build_scheme(ranged, state.calibrated, state.scheme.base, state.options.shift_rule)[0]
        q = runtime.io_quant(candidate)
        out = runtime.run_litert(candidate, runtime.quantize_input(state.calibration_x, q))
        score = float(np.mean(out.argmax(axis=1) == float_top))
        state.calibrator_scores[name] = score
        if best is None or score > best[0]:
            best = (score, name, ranged)
    _, state.calibrator, state.ranged = best
    log.info("calibrator auto: %s (agreement with float on the calibration split %.4f)", state.calibrator, best[0])


def _float_predictions(state: DeployState) -> np.ndarray:
    return np.asarray(state.keras_model.predict(state.calibration_x, batch_size=256, verbose=0))


def quantize_pass(state: DeployState) -> None:
    state.models[state.options.scheme], state.wess_layers = schemes.build_scheme(
        state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule)


def bias_correction_pass(state: DeployState) -> None:
    """Empirical bias correction of the int8 model when the scheme asks for it (`...+bc`)."""
    if state.scheme.bias_correction:
        state.layer_means = biascorr.layer_input_means(state.calibrated, state.calibration_x)
        state.models[state.options.scheme], state.bias_corrections = biascorr.correct_biases(
            state.model, state.calibrated, state.layer_means)


def _build_with(state: DeployState, float_nodes: tuple[str, ...]) -> bytes:
    """The scheme's int8 model with these layers in float (bias-corrected when the scheme says so)."""
    model = schemes.build_scheme(state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule, float_nodes)[0]
    if state.scheme.bias_correction:
        model = biascorr.correct_biases(model, state.calibrated, state.layer_means)[0]
    return model


def partial_pass(state: DeployState) -> None:
    """With a target drop: rank the layers by sensitivity, then leave the worst in float until top-1 is in reach.

    Both the ranking and the top-1 are measured on the labelled calibration split.
    """
    target = state.options.target_drop
    if target is None:
        return
    if target < 0:
        raise WessError(f"--target-drop {target}: must be >= 0 (percentage points of top-1 below float)")
    if state.calibration_y is None:
        raise WessError("--target-drop needs labels: give --data an .npz with integer labels y beside x")
    state.sensitivity = sensitivity.sweep(state.ranged, state.calibrated, state.scheme.base,
                                          state.options.shift_rule, state.calibration_x, state.calibration_y)
    state.partial = sensitivity.partial_quantize(lambda nodes: _build_with(state, nodes), state.sensitivity.layers,
                                                 state.calibration_x, state.calibration_y,
                                                 state.sensitivity.float_top1, target)
    state.models["all_int8"] = state.model  # kept to compare costs with
    state.models[state.options.scheme] = state.partial.model
    if state.partial.float_nodes:  # the report's per-layer rows: the layers still in int8
        state.wess_layers = schemes.build_scheme(state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule,
                                         tuple(state.partial.float_nodes))[1]
    if not state.partial.met:
        log.warning("target drop %.2f points not met: top-1 %.4f with %d layer(s) in float (float %.4f)", target,
                    state.partial.top1, len(state.partial.float_nodes), state.partial.float_top1)


def check_pass(state: DeployState) -> None:
    """Graph health: the output loads in LiteRT with int8 input/output, and WESS metadata reads back consistent."""
    runtime.io_quant(state.model)
    if state.scheme.base == "wess":
        metadata.read_shifts(flatbuf.read_model(state.model), "deployed model")


PASSES: list[Callable[[DeployState], None]] = [fold_pass, cle_pass, calibrate_pass, ranges_pass, quantize_pass,
                                               bias_correction_pass, partial_pass, check_pass]


def run_passes(keras_model, calibration_x: np.ndarray, options: DeployOptions,
               calibration_y: np.ndarray | None = None) -> DeployState:
    schemes.parse_scheme(options.scheme)  # an unknown scheme fails before any work
    state = DeployState(keras_model, calibration_x, options, calibration_y)
    for step in PASSES:
        log.debug("pass %s", step.__name__)
        step(state)
    return state


def weight_sqnr(state: DeployState) -> list[dict]:
    """Per conv/FC layer: op, channels, disparity and the weight SQNR (dB) of per-tensor, per-channel and WESS."""
    rows = []
    for wop, layer in state.wess_layers:
        w, axis = wop.float_weights, wop.channel_axis
        ranges = wess.channel_ranges(w, axis)
        layer_range = float(ranges.max()) or 1.0
        per_tensor = wess.fake_quantize(w, axis, np.full(ranges.shape, layer_range / 127.0))
        per_channel = wess.fake_quantize(w, axis, np.where(ranges > 0, ranges, 1.0) / 127.0)
        wess_deq = wess.fake_quantize(w, axis, layer.channel_scales)
        rows.append({
            "operator": wop.operator_index, "op": wop.op_name, "output_channels": int(ranges.size),
            "disparity": wess.disparity(w, axis),
            "weight_sqnr_db": {"per_tensor": wess.sqnr_db(w, per_tensor), "per_channel": wess.sqnr_db(w, per_channel),
                               "wess": wess.sqnr_db(w, wess_deq)},
            "shift_histogram": np.bincount(layer.channel_right_shift, minlength=16).tolist(),
            "saturated_channels": int(layer.saturated.sum()), "capped_channels": int(layer.capped.sum()),
        })
    return rows
