"""The deployment driver: Keras -> BN folding -> calibration -> int8 TFLite -> WESS -> metadata, as ordered passes."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import adaround, biascorr, bnfold, cle, convert, flatbuf, metadata, postprocess, runtime, sensitivity, wess
from .calibrate import CALIBRATOR_NAMES
from .errors import WessError

log = logging.getLogger(__name__)
BASE_SCHEMES = ("per_tensor", "per_channel", "wess")
# Every scheme `wess eval` measures: a base scheme, optionally after CLE ("cle+") and/or with bias correction ("+bc").
SCHEMES = ("per_tensor", "per_channel", "wess", "per_tensor+bc", "per_channel+bc", "wess+bc",
           "cle", "cle+per_tensor+bc", "cle+wess", "cle+wess+bc")
# Learned rounding (AdaRound) on each base scheme's grid: opt-in in `wess eval --adaround`, it costs more.
ADAROUND_SCHEMES = ("per_tensor+ar", "per_channel+ar", "wess+ar")
DEFAULT_SCHEME = "wess"


@dataclass(frozen=True)
class Scheme:
    """A scheme name taken apart: cross-layer equalization first?, the weight quantization, learned rounding?, bias
    correction?"""

    cle: bool
    base: str  # one of BASE_SCHEMES
    bias_correction: bool
    adaround: bool = False


def parse_scheme(name: str) -> Scheme:
    """`[cle+]BASE[+ar][+bc]`, BASE one of BASE_SCHEMES; `cle` alone means `cle+per_tensor`."""
    parts = name.split("+")
    equalize = parts[0] == "cle"
    if equalize:
        parts = parts[1:] or ["per_tensor"]
    corrected = len(parts) > 1 and parts[-1] == "bc"
    if corrected:
        parts = parts[:-1]
    rounded = len(parts) > 1 and parts[-1] == "ar"
    if rounded:
        parts = parts[:-1]
    if len(parts) != 1 or parts[0] not in BASE_SCHEMES:
        raise WessError(f"unknown scheme {name!r}: expected [cle+]{'|'.join(BASE_SCHEMES)}[+ar][+bc], e.g. "
                        f"{', '.join(SCHEMES[3:7])}, wess+ar")
    return Scheme(equalize, parts[0], corrected, rounded)


def scheme_names() -> list[str]:
    """Every name parse_scheme accepts."""
    return ["cle"] + [f"{cle_}{base}{ar}{bc}" for cle_ in ("", "cle+") for base in BASE_SCHEMES
                      for ar in ("", "+ar") for bc in ("", "+bc")]


@dataclass(frozen=True)
class DeployOptions:
    """What the user chose on the command line."""

    scheme: str = DEFAULT_SCHEME  # parse_scheme
    calibrator: str = "max"  # a name from calibrate.CALIBRATOR_NAMES, or "auto"
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
    calibrator_scores: dict = field(default_factory=dict)  # name -> output SQNR (dB) on held-back samples
    ranged: bytes = b""  # float TFLite with the chosen calibrator's ranges
    models: dict = field(default_factory=dict)  # scheme -> int8 TFLite bytes
    wess_layers: list = field(default_factory=list)  # [(WeightedOp, WessLayer)]
    bias_corrections: list = field(default_factory=list)  # biascorr.BiasCorrection
    roundings: list = field(default_factory=list)  # adaround.RoundingResult, for `+ar` schemes
    layer_means: dict = field(default_factory=dict)  # biascorr.layer_input_means, for `+bc` schemes
    sensitivity: sensitivity.SensitivityResult | None = None
    partial: sensitivity.PartialResult | None = None

    @property
    def scheme(self) -> Scheme:
        return parse_scheme(self.options.scheme)

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
    """Pick activation ranges: the converter's max ranges, another calibrator's, or the best of all ("auto").

    "auto" calibrates every candidate on the calibration split minus a held-back quarter (seeded), scores each by
    the output SQNR against float of the int8 model on the held-back samples, and uses the winner's ranges
    calibrated on the whole split (ties go to the first in CALIBRATOR_NAMES order).
    """
    choice = state.options.calibrator
    if choice == "max":
        state.calibrator, state.ranged = "max", state.calibrated
        return
    names = list(CALIBRATOR_NAMES) if choice == "auto" else [choice]
    if choice == "auto":
        state.calibrator_scores = calibrator_scores(state, names)
        choice = max(names, key=lambda name: state.calibrator_scores[name])  # max keeps the first of equals
        log.info("calibrator auto: %s (output SQNR on the held-back samples %.2f dB)", choice,
                 state.calibrator_scores[choice])
    state.calibrator = choice
    state.ranged = state.calibrated if choice == "max" else convert.with_ranges(
        state.calibrated, convert.calibrate_ranges(state.calibrated, state.calibration_x, [choice])[choice])


HELD_BACK_FRACTION = 0.25  # of the calibration split, scored but not calibrated on by `--calibrator auto`
HELD_BACK_SEED = 0


def held_back_split(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(calibrate on, score on) sample indices: a seeded permutation, HELD_BACK_FRACTION held back (at least one
    sample each side; with a single sample both are that sample)."""
    order = np.random.default_rng(HELD_BACK_SEED).permutation(samples)
    held = min(max(1, int(round(samples * HELD_BACK_FRACTION))), samples - 1) if samples > 1 else 1
    return (np.sort(order[held:]) if samples > 1 else order), np.sort(order[:held])


def calibrator_scores(state: DeployState, names: list[str]) -> dict[str, float]:
    """Output SQNR (dB) vs float on the held-back samples of the scheme's int8 model with each calibrator's ranges
    from the other samples."""
    fit, held = held_back_split(len(state.calibration_x))
    all_ranges = convert.calibrate_ranges(state.calibrated, state.calibration_x[fit], names)
    held_x = state.calibration_x[held]
    float_out = np.asarray(state.keras_model.predict(held_x, batch_size=256, verbose=0), np.float64)
    scores = {}
    for name in names:
        ranged = convert.with_ranges(state.calibrated, all_ranges[name])
        candidate = build_scheme(ranged, state.calibrated, state.scheme.base, state.options.shift_rule)[0]
        q = runtime.io_quant(candidate)
        out = runtime.dequantize_output(runtime.run_litert(candidate, runtime.quantize_input(held_x, q)), q)
        scores[name] = wess.sqnr_db(float_out, out.reshape(float_out.shape))
    return scores


def build_scheme(ranged: bytes, calibrated: bytes, scheme: str, shift_rule: str = "mse",
                 float_nodes: tuple[str, ...] = (), float_io: bool = False) -> tuple[bytes, list]:
    """One int8 model from a ranged float model; for WESS also the per-layer results.

    `float_nodes` (operator output tensor names) stay float between DEQUANTIZE/QUANTIZE (partial quantization).
    """
    if scheme not in BASE_SCHEMES:
        raise WessError(f"unknown scheme {scheme!r}; choose one of {', '.join(BASE_SCHEMES)}")
    if scheme == "per_channel":
        return convert.quantize(ranged, True, float_nodes, float_io), []
    per_tensor = convert.quantize(ranged, False, float_nodes, float_io)
    if scheme == "per_tensor":
        return per_tensor, []
    model = flatbuf.read_model(per_tensor)
    ops = postprocess.weighted_ops(model, flatbuf.read_model(calibrated))
    if not ops:
        raise WessError("the model has no CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED layer: nothing for WESS to do")
    results = postprocess.apply_wess(model, ops, shift_rule)
    flatbuf.set_metadata(model, metadata.METADATA_NAME, metadata.encode(postprocess.layer_records(results)))
    return flatbuf.write_model(model), results


def quantize_pass(state: DeployState) -> None:
    state.models[state.options.scheme], state.wess_layers = build_scheme(
        state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule)


def adaround_pass(state: DeployState) -> None:
    """Learned rounding of the int8 weights on the scheme's grid when the scheme asks for it (`...+ar`)."""
    if state.scheme.adaround:
        state.models[state.options.scheme], state.roundings = adaround.round_model(
            state.model, state.calibrated, state.calibration_x)


def bias_correction_pass(state: DeployState) -> None:
    """Empirical bias correction of the int8 model when the scheme asks for it (`...+bc`)."""
    if state.scheme.bias_correction:
        state.layer_means = biascorr.layer_input_means(state.calibrated, state.calibration_x)
        state.models[state.options.scheme], state.bias_corrections = biascorr.correct_biases(
            state.model, state.calibrated, state.layer_means)


def _build_with(state: DeployState, float_nodes: tuple[str, ...]) -> bytes:
    """The scheme's int8 model with these layers in float (re-rounded, bias-corrected when the scheme says so)."""
    model = build_scheme(state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule, float_nodes)[0]
    if state.scheme.adaround:
        model = adaround.round_model(model, state.calibrated, state.calibration_x)[0]
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
        state.wess_layers = build_scheme(state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule,
                                         tuple(state.partial.float_nodes))[1]
    if not state.partial.met:
        log.warning("target drop %.2f points not met: top-1 %.4f with %d layer(s) in float (float %.4f)", target,
                    state.partial.top1, len(state.partial.float_nodes), state.partial.float_top1)


def check_pass(state: DeployState) -> None:
    """Graph health: the output loads in LiteRT with int8 input/output, and WESS metadata reads back consistent."""
    runtime.io_quant(state.model)
    if state.scheme.base == "wess":
        postprocess.read_shifts(flatbuf.read_model(state.model), "deployed model")


PASSES: list[Callable[[DeployState], None]] = [fold_pass, cle_pass, calibrate_pass, ranges_pass, quantize_pass,
                                               adaround_pass, bias_correction_pass, partial_pass, check_pass]


def run_passes(keras_model, calibration_x: np.ndarray, options: DeployOptions,
               calibration_y: np.ndarray | None = None) -> DeployState:
    parse_scheme(options.scheme)  # an unknown scheme fails before any work
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
