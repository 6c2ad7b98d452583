"""The deployment driver: Keras -> BN folding -> calibration -> int8 TFLite -> WESS -> metadata, as ordered passes."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from pipeline.cref import gate, support
from pipeline.firmware import targets
from pipeline.keras import bnfold, cle, modelio
from pipeline.quant import (
    adaround,
    biascorr,
    calibration,
    convert,
    schemes,
    mixed_bits,
    sensitivity,
    wess,
)
from pipeline.quant.calibrators import CALIBRATOR_NAMES
from pipeline.tflite import flatbuf, int4_storage, metadata, runtime, versions

from . import report
from .atomic import atomic_write_bytes, signals_deferred
from .errors import InputError, UnsupportedError, VerificationError, about

log = logging.getLogger(__name__)
@dataclass(frozen=True)
class DeployOptions:
    """What the user chose on the command line."""

    scheme: str = schemes.DEFAULT_SCHEME  # schemes.parse_scheme
    calibrator: str = "max"  # a name from calibrators.CALIBRATOR_NAMES, or "auto"
    shift_rule: str = "mse"  # wess.SHIFT_RULES; mse won on the zoo (README)
    target_drop: float | None = None  # percentage points of top-1 below float; None: every conv/FC layer int8
    mixed_bits: float | None = None  # with a 4-bit scheme: percentage points of top-1 below float; None: all 4-bit
    verify_inputs: int = 100  # calibration inputs (then seeded random ones) through the C runner and TFLite Micro; 0 skips
    cost_target: str = "cortex-m55"  # with a target drop: the core on which the float layers' cost is measured
    require_firmware: bool = False  # refuse a model with operators the C reference runner / firmware cannot run
    target: str = "host"  # targets.NAMES: a Cortex-M core (QEMU figures) or an Ethos-U NPU (Vela) adds its figures

    def __post_init__(self) -> None:
        """Options that cannot go together are refused before any work."""
        if self.mixed_bits is None:
            return
        if self.mixed_bits < 0:
            raise InputError(f"--mixed-bits {self.mixed_bits}: must be >= 0 (percentage points of top-1 below float)")
        if schemes.parse_scheme(self.scheme).weight_bits != 4:
            raise InputError(f"--mixed-bits chooses 4 or 8 bits per layer: it needs a 4-bit scheme "
                             f"({', '.join(schemes.BASE_SCHEMES[3:])}), not {self.scheme!r}")
        if self.target_drop is not None:
            raise InputError("--mixed-bits and --target-drop cannot be combined: choose bits per layer or float "
                             "layers")


@dataclass
class DeployState:
    """Everything the passes produce, filled in order."""

    keras_model: object
    calibration_x: np.ndarray
    options: DeployOptions
    calibration_y: np.ndarray | None = None  # labels, needed for a target drop
    name: str = "model"  # the report's name for the model (zoo name or file stem)
    source: str = "model"  # the model as the user named it (file, SavedModel directory or zoo:<name>), for errors
    stress: bool = False  # the model is a zoo model's stress variant
    test_x: np.ndarray | None = None  # a labelled test split: the report's top-1 of float and the deployed model
    test_y: np.ndarray | None = None
    folded_model: object = None
    folded_layers: list = field(default_factory=list)
    cle_result: cle.CleResult | None = None
    calibrated: bytes = b""  # float TFLite with the converter's (max) ranges
    calibrator: str = ""  # the calibrator whose ranges are used
    calibrator_scores: dict = field(default_factory=dict)  # name -> output SQNR (dB) on held-back samples
    ranged: bytes = b""  # float TFLite with the chosen calibrator's ranges
    models: dict = field(default_factory=dict)  # scheme -> int8 TFLite bytes
    all_int8: bytes = b""  # with a target drop: the model before any layer went back to float, to compare costs
    wess_layers: list = field(default_factory=list)  # [(WeightedOp, WessLayer)]
    roundings: list = field(default_factory=list)  # adaround.RoundingResult, for `+ar` schemes
    bias_corrections: list = field(default_factory=list)  # biascorr.BiasCorrection
    layer_means: dict = field(default_factory=dict)  # biascorr.layer_input_means, for `+bc` schemes
    sensitivity: sensitivity.SensitivityResult | None = None
    partial: sensitivity.PartialResult | None = None
    mixed: mixed_bits.MixedBitsResult | None = None
    verification: dict = field(default_factory=dict)  # verify_pass: inputs, mismatched bytes, the pair compared
    on_target: targets.TargetResult | None = None  # target_pass: the target's report section and files
    report: dict = field(default_factory=dict)  # report_pass: what report.json holds

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
    with about(state.source):  # a refused layer (a rolled recurrent one) names the user's file
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
    state.ranged = state.calibrated if choice == "max" else calibration.with_ranges(
        state.calibrated, calibration.calibrate_ranges(state.calibrated, state.calibration_x, [choice])[choice])


def calibrator_scores(state: DeployState, names: list[str]) -> dict[str, float]:
    """Output SQNR (dB) vs float on the held-back samples of the scheme's int8 model with each calibrator's ranges
    from the other samples."""
    fit, held = calibration.held_back_split(len(state.calibration_x))
    all_ranges = calibration.calibrate_ranges(state.calibrated, state.calibration_x[fit], names)
    held_x = state.calibration_x[held]
    float_out = modelio.predict(state.keras_model, held_x)
    scores = {}
    for name in names:
        ranged = calibration.with_ranges(state.calibrated, all_ranges[name])
        candidate = schemes.build_scheme(ranged, state.calibrated, state.scheme.base, state.options.shift_rule)[0]
        q = runtime.io_quant(candidate)
        out = runtime.dequantize_output(runtime.run_litert(candidate, runtime.quantize_input(held_x, q)), q)
        scores[name] = wess.sqnr_db(float_out, out.reshape(float_out.shape))
    return scores


def quantize_pass(state: DeployState) -> None:
    state.models[state.options.scheme], state.wess_layers = schemes.build_scheme(
        state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule)


def adaround_pass(state: DeployState) -> None:
    """Learned rounding of the int8 weights on the scheme's grid when the scheme asks for it (`...+ar`)."""
    if state.scheme.adaround:
        state.models[state.options.scheme], state.roundings = adaround.round_model(
            state.model, state.calibrated, state.calibration_x, weight_bits=state.scheme.weight_bits)


def bias_correction_pass(state: DeployState) -> None:
    """Empirical bias correction of the int8 model when the scheme asks for it (`...+bc`)."""
    if state.scheme.bias_correction:
        state.layer_means = biascorr.layer_input_means(state.calibrated, state.calibration_x)
        state.models[state.options.scheme], state.bias_corrections = biascorr.correct_biases(
            state.model, state.calibrated, state.layer_means)


def _build_with(state: DeployState, float_nodes: tuple[str, ...] = (), eight_bit_nodes: tuple[str, ...] = ()) -> bytes:
    """The scheme's int8 model with these layers in float, or at 8 bits in a 4-bit scheme (re-rounded,
    bias-corrected when the scheme says so)."""
    model = schemes.build_scheme(state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule,
                                 float_nodes, eight_bit_nodes=eight_bit_nodes)[0]
    if state.scheme.adaround:
        model = adaround.round_model(model, state.calibrated, state.calibration_x,
                                     weight_bits=state.scheme.weight_bits, eight_bit_nodes=eight_bit_nodes)[0]
    if state.scheme.bias_correction:
        model = biascorr.correct_biases(model, state.calibrated, state.layer_means)[0]
    return model


def mixed_bits_pass(state: DeployState) -> None:
    """With --mixed-bits and a 4-bit scheme: rank the layers by their sensitivity to 4-bit weights, then keep the
    worst at 8 bits until top-1 is in reach (both measured on the labelled calibration split)."""
    target = state.options.mixed_bits
    if target is None:
        return
    if state.calibration_y is None:
        raise InputError("--mixed-bits needs labels: give --data an .npz with integer labels y beside x")
    ranking = mixed_bits.four_bit_sweep(state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule,
                                        state.calibration_x, state.calibration_y)
    float_top1 = float(np.mean(sensitivity.float_outputs(state.calibrated, state.calibration_x).argmax(axis=1)
                               == state.calibration_y))
    state.mixed = mixed_bits.choose_bits(lambda nodes: _build_with(state, eight_bit_nodes=nodes), ranking,
                                         state.calibrated, state.calibration_x, state.calibration_y, float_top1,
                                         target)
    state.models[state.options.scheme] = state.mixed.model
    state.wess_layers = schemes.build_scheme(state.ranged, state.calibrated, state.scheme.base,
                                             state.options.shift_rule,
                                             eight_bit_nodes=tuple(state.mixed.eight_bit_nodes))[1]
    if not state.mixed.met:
        log.warning("--mixed-bits %.2f not met: top-1 %.4f with %d layer(s) at 8 bits (float %.4f)", target,
                    state.mixed.top1, len(state.mixed.eight_bit_nodes), float_top1)


def partial_pass(state: DeployState) -> None:
    """With a target drop: rank the layers by sensitivity, then leave the worst in float until top-1 is in reach.

    Both the ranking and the top-1 are measured on the labelled calibration split.
    """
    target = state.options.target_drop
    if target is None:
        return
    if target < 0:
        raise InputError(f"--target-drop {target}: must be >= 0 (percentage points of top-1 below float)")
    if state.calibration_y is None:
        raise InputError("--target-drop needs labels: give --data an .npz with integer labels y beside x")
    state.sensitivity = sensitivity.sweep(state.ranged, state.calibrated, state.scheme.base,
                                          state.options.shift_rule, state.calibration_x, state.calibration_y)
    state.partial = sensitivity.partial_quantize(lambda nodes: _build_with(state, nodes), state.sensitivity.layers,
                                                 state.calibration_x, state.calibration_y,
                                                 state.sensitivity.float_top1, target)
    state.all_int8 = state.model
    state.models[state.options.scheme] = state.partial.model
    if state.partial.float_nodes:  # the report's per-layer rows: the layers still in int8
        state.wess_layers = schemes.build_scheme(state.ranged, state.calibrated, state.scheme.base, state.options.shift_rule,
                                         tuple(state.partial.float_nodes))[1]
    if not state.partial.met:
        log.warning("target drop %.2f points not met: top-1 %.4f with %d layer(s) in float (float %.4f)", target,
                    state.partial.top1, len(state.partial.float_nodes), state.partial.float_top1)


UNLOADABLE_OP = re.compile(r"builtin opcode '(\w+)' version '(\d+)'")  # LiteRT's message for an op it lacks


def int4_storage_pass(state: DeployState) -> None:
    """A 4-bit scheme's CONV_2D / DEPTHWISE_CONV_2D filters stored as TFLite INT4 tensors (the same values in half
    the bytes; LiteRT and TFLite Micro run them); FULLY_CONNECTED / TRANSPOSE_CONV filters stay int8 tensors."""
    if state.scheme.weight_bits == 4:
        state.models[state.options.scheme] = int4_storage.with_int4_filters(state.model)


def check_pass(state: DeployState) -> None:
    """Graph health: the output loads in LiteRT with int8 input/output, and WESS metadata reads back consistent."""
    with about(state.source):  # e.g. an op version the pinned LiteRT lacks (ELU, UpSampling2D's TILE v3)
        try:
            runtime.io_quant(state.model)
        except UnsupportedError as error:
            found = UNLOADABLE_OP.search(str(error))
            if found:  # name the user's layers that became that op
                error.args = (f"{error}{_ops_of_version(state, found.group(1), int(found.group(2)))}",)
            raise
    if state.scheme.wess:
        metadata.read_shifts(flatbuf.read_model(state.model), "deployed model")


def fully_int8_pass(state: DeployState) -> None:
    """Only the layers a target drop chose may be float: the converter silently keeps ops it has no int8 kernel for
    in float, which an integer NPU cannot run."""
    chosen = state.partial.float_nodes if state.partial else []
    found = [f for f in flatbuf.float_ops(flatbuf.read_model(state.model)) if f[2] not in chosen]
    if found:
        index, op, tensor = found[0]
        layer = _of_keras_layer(state, tensor)
        more = f" (and {len(found) - 1} more float ops)" if len(found) > 1 else ""
        raise UnsupportedError(f"{state.source}: operator {index} ({op}{layer}, output {tensor!r}) has no int8 kernel, "
                               f"so the converter left it in float{more}; the model would not be fully int8 (replace "
                               "that layer)")


def _ops_of_version(state: DeployState, name: str, version: int) -> str:
    """" (NAME version V: operator I of Keras layer 'L', ...; replace that layer)" for the operators of that builtin
    and version in the deployed model, or ""."""
    model = flatbuf.read_model(state.model)
    graph = model.subgraphs[0]
    outputs = [int(t) for t in graph.outputs]

    def layer(op) -> str:
        """The layer in the op's output name, else the one whose model output it reaches through QUANTIZE ops (ELU,
        kept in float, does: the converter names both tensors after the signature)."""
        tensor = int(op.outputs[0])
        named = _of_keras_layer(state, flatbuf.tensor_name(graph.tensors[tensor]))
        while not named and tensor not in outputs:
            readers = [o for o in graph.operators if tensor in [int(t) for t in o.inputs]]
            if len(readers) != 1 or flatbuf.opcode_name(model, readers[0]) != "QUANTIZE":
                break
            tensor = int(readers[0].outputs[0])
        return named or _of_keras_layer(state, "", outputs.index(tensor) if tensor in outputs else None)

    found = [f"operator {index}{layer(op)}" for index, op in enumerate(graph.operators)
             if flatbuf.opcode_name(model, op) == name and model.operatorCodes[op.opcodeIndex].version == version]
    return f" ({name} version {version}: {', '.join(found)}; replace that layer)" if found else ""


def _of_keras_layer(state: DeployState, tensor_name: str, model_output: int | None = None) -> str:
    """" of Keras layer 'NAME'" for the user's layer whose name the converter put in this tensor's name (or that
    computes this model output, whose tensor the converter names after the signature), or ""."""
    names = list(getattr(state.keras_model, "output_names", None) or [])
    if model_output is not None and model_output < len(names):
        return f" of Keras layer {names[model_output]!r}"
    layers = [layer.name for layer in state.keras_model.layers if f"/{layer.name}" in tensor_name]
    return f" of Keras layer {max(layers, key=len)!r}" if layers else ""


def stamp_pass(state: DeployState) -> None:
    """Record the tool versions in the model's `wess.versions` metadata."""
    state.models[state.options.scheme] = versions.stamp(state.model)


def verify_pass(state: DeployState) -> None:
    """The C reference runner (LiteRT's reference computing alone each operator it lacks) and TFLite Micro give the
    same bytes on the first calibration inputs plus seeded random ones; LiteRT's own differences are only reported."""
    count = state.options.verify_inputs
    if count < 0:
        raise InputError(f"--verify-inputs {count}: must be >= 0")
    if count == 0:
        log.warning("%s: --verify-inputs 0: the deployed model was not checked against TFLite Micro", state.source)
        state.verification.update({"inputs": 0, "mismatched_bytes": 0, "pair": None})
        return
    calibration = runtime.quantize_input(state.calibration_x[:count], runtime.io_quant(state.model))
    with about(state.source):  # a runtime's refusal names the user's file (and the Keras layer where it can)
        try:
            result = gate.run_gate(state.model, gate.probe_inputs(calibration, count), len(calibration), state.source)
        except runtime.TflmRefusal as exc:
            if exc.operator is not None:
                graph = flatbuf.read_model(state.model).subgraphs[0]
                if 0 <= exc.operator < len(graph.operators):
                    output = graph.tensors[graph.operators[exc.operator].outputs[0]]
                    exc.args = (exc.describe(_of_keras_layer(state, flatbuf.tensor_name(output))),)
            raise
    state.verification.update(result.to_json())
    state.verification.update({"mismatched_bytes": result.gate.mismatched_bytes, "pair": result.gate.pair})
    if result.computed_by:
        borrowed = [operator for operator, runtime_name in result.computed_by.items() if runtime_name != "ref"]
        log.warning("LiteRT's reference kernels compute %s in the check, each from the C reference runner's tensors, "
                    "which computes the rest (%s)", ", ".join(borrowed), result.stand_in)
    elif result.stand_in:
        log.warning("LiteRT's reference kernels stand in for the C reference runner in the check: %s", result.stand_in)
    if result.gate.mismatched_bytes:
        where = f", {result.gate.first_operator}" if result.gate.first_operator else ""
        raise VerificationError(f"{state.source}: {result.gate.pair} disagree on {result.gate.mismatched_bytes} output "
                                f"bytes of {result.inputs} inputs (first at input {result.gate.first_input}{where})",
                                state.verification)
    other = result.litert_vs_tflm
    if other.mismatched_bytes and other.pair != result.gate.pair:
        log.warning("%s: LiteRT's reference kernels differ from TFLite Micro (the device runtime) on %d output bytes "
                    "(first at input %d%s); not blocking: the C reference and TFLite Micro agree", state.source,
                    other.mismatched_bytes, other.first_input, f", {other.first_operator}" if other.first_operator else "")


def firmware_support_pass(state: DeployState) -> None:
    """List every operator the C reference runner and the firmware have no kernel for (in the report's
    verification); a warning, or a refusal with --require-firmware."""
    missing = [f"operator {m.operator} ({m.op}{_of_keras_layer(state, m.output_name, m.model_output)})"
               for m in support.missing_kernels(state.model)]
    state.verification["firmware_unsupported"] = missing
    if not missing:
        return
    what = (f"{state.source}: the C reference runner and `wess firmware` have no kernel for {len(missing)} "
            f"operator(s): {'; '.join(missing)}")
    if state.options.require_firmware:
        raise UnsupportedError(f"{what}; replace those layers, or deploy without --require-firmware for TFLite Micro")
    log.warning("%s; the model runs in LiteRT and TFLite Micro only (--require-firmware refuses it)", what)


def target_pass(state: DeployState) -> None:
    """The deployed model's figures on the chosen target (and the files, e.g. Vela's, that go beside it)."""
    state.on_target = targets.deploy_cost(state.options.target, state.model, state.source)


def report_pass(state: DeployState) -> None:
    state.report = report.deploy_report(state)


# Conversion: what `wess eval` runs for every scheme. Deployment adds the gate: fully int8, stamped, verified, reported.
CONVERSION_PASSES: list[Callable[[DeployState], None]] = [
    fold_pass, cle_pass, calibrate_pass, ranges_pass, quantize_pass, adaround_pass, bias_correction_pass,
    mixed_bits_pass, partial_pass, int4_storage_pass, check_pass]
PASSES: list[Callable[[DeployState], None]] = [
    *CONVERSION_PASSES, fully_int8_pass, stamp_pass, firmware_support_pass, verify_pass, target_pass, report_pass]
OUTPUTS = ("model.tflite", "report.json", "report.md", "ranges.png", "sqnr.png", "sensitivity.png")


def run_passes(keras_model, calibration_x: np.ndarray, options: DeployOptions,
               calibration_y: np.ndarray | None = None, passes: list | None = None,
               on_pass: Callable[[int, int, str], None] | None = None, **provenance) -> DeployState:
    """Run `passes` (default: every deployment pass) in order, calling on_pass(index from 1, count, name) as each
    starts; `provenance`: DeployState's name, source, stress, test_x and test_y."""
    schemes.parse_scheme(options.scheme)  # an unknown scheme or a target without its tools fails before any work
    targets.check_available(options.target)
    state = DeployState(keras_model, calibration_x, options, calibration_y, **provenance)
    steps = PASSES if passes is None else passes
    for index, step in enumerate(steps, 1):
        log.debug("pass %s", step.__name__)
        if on_pass is not None:
            on_pass(index, len(steps), step.__name__)
        step(state)
    return state


def write_outputs(state: DeployState, out_dir: Path) -> dict:
    """model.tflite, report.json, report.md and the plots, each written atomically; the model and its report are
    replaced together or not at all. Returns the report."""
    model_path = out_dir / "model.tflite"
    state.report["output"] = str(model_path)
    with signals_deferred():  # the model, the target's files and the report are replaced together or not at all
        atomic_write_bytes(model_path, state.model)
        for name, data in (state.on_target.files if state.on_target else {}).items():
            if data is None:  # a file of another --target does not describe this model
                (out_dir / name).unlink(missing_ok=True)
            else:
                atomic_write_bytes(out_dir / name, data)
        report.write(out_dir, state.report, state.wess_layers)
    return state.report
