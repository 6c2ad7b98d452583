"""The deployment driver: Keras -> BN folding -> calibration -> int8 TFLite -> WESS -> metadata, as ordered passes."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import bnfold, convert, flatbuf, metadata, postprocess, runtime, wess
from .calibrate import CALIBRATOR_NAMES
from .errors import WessError

log = logging.getLogger(__name__)
SCHEMES = ("per_tensor", "per_channel", "wess")


@dataclass(frozen=True)
class DeployOptions:
    """What the user chose on the command line."""

    scheme: str = "wess"
    calibrator: str = "max"  # a name from calibrate.CALIBRATOR_NAMES, or "auto"
    shift_rule: str = "mse"  # wess.SHIFT_RULES; mse won on the zoo (README)


@dataclass
class DeployState:
    """Everything the passes produce, filled in order."""

    keras_model: object
    calibration_x: np.ndarray
    options: DeployOptions
    folded_model: object = None
    folded_layers: list = field(default_factory=list)
    calibrated: bytes = b""  # float TFLite with the converter's (max) ranges
    calibrator: str = ""  # the calibrator whose ranges are used
    calibrator_scores: dict = field(default_factory=dict)  # name -> agreement with float on the calibration split
    ranged: bytes = b""  # float TFLite with the chosen calibrator's ranges
    models: dict = field(default_factory=dict)  # scheme -> int8 TFLite bytes
    wess_layers: list = field(default_factory=list)  # [(WeightedOp, WessLayer)]

    @property
    def model(self) -> bytes:
        return self.models[self.options.scheme]


def fold_pass(state: DeployState) -> None:
    state.folded_model, state.folded_layers = bnfold.fold_batch_norms(state.keras_model)


def calibrate_pass(state: DeployState) -> None:
    state.calibrated = convert.calibrated_float_model(state.folded_model, state.calibration_x)


def ranges_pass(state: DeployState) -> None:
    """Pick activation ranges: the converter's max ranges, another calibrator's, or the best of all ("auto")."""
    choice = state.options.calibrator
    if choice == "max":
        state.calibrator, state.ranged = "max", state.calibrated
        return
    names = list(CALIBRATOR_NAMES) if choice == "auto" else [choice]
    all_ranges = convert.calibrate_ranges(state.calibrated, state.calibration_x, names)
    if choice != "auto":
        state.calibrator, state.ranged = choice, convert.with_ranges(state.calibrated, all_ranges[choice])
        return
    float_top = _float_predictions(state).argmax(axis=1)
    best = None
    for name in names:
        ranged = convert.with_ranges(state.calibrated, all_ranges[name])
        candidate = build_scheme(ranged, state.calibrated, state.options.scheme, state.options.shift_rule)[0]
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


def build_scheme(ranged: bytes, calibrated: bytes, scheme: str, shift_rule: str = "mse") -> tuple[bytes, list]:
    """One int8 model from a ranged float model; for WESS also the per-layer results."""
    if scheme == "per_channel":
        return convert.quantize(ranged, per_channel=True), []
    per_tensor = convert.quantize(ranged, per_channel=False)
    if scheme == "per_tensor":
        return per_tensor, []
    if scheme != "wess":
        raise WessError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    model = flatbuf.read_model(per_tensor)
    ops = postprocess.weighted_ops(model, flatbuf.read_model(calibrated))
    if not ops:
        raise WessError("the model has no CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED layer: nothing for WESS to do")
    results = postprocess.apply_wess(model, ops, shift_rule)
    flatbuf.set_metadata(model, metadata.METADATA_NAME, metadata.encode(postprocess.layer_records(results)))
    return flatbuf.write_model(model), results


def quantize_pass(state: DeployState) -> None:
    state.models[state.options.scheme], state.wess_layers = build_scheme(
        state.ranged, state.calibrated, state.options.scheme, state.options.shift_rule)


def check_pass(state: DeployState) -> None:
    """Graph health: the output loads in LiteRT with int8 input/output, and WESS metadata reads back consistent."""
    runtime.io_quant(state.model)
    if state.options.scheme == "wess":
        postprocess.read_shifts(flatbuf.read_model(state.model), "deployed model")


PASSES: list[Callable[[DeployState], None]] = [fold_pass, calibrate_pass, ranges_pass, quantize_pass, check_pass]


def run_passes(keras_model, calibration_x: np.ndarray, options: DeployOptions) -> DeployState:
    state = DeployState(keras_model, calibration_x, options)
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
