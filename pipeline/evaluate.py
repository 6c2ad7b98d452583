"""The evaluation harness: float Keras vs every int8 scheme on a test split (and its seeded augmentations)."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.cref import backends
from pipeline.firmware import targets
from pipeline.keras import cle, modelio
from pipeline.quant import adaround, biascorr, metrics, schemes, scoring, sensitivity
from pipeline.tflite import runtime

from . import deploy, report

log = logging.getLogger(__name__)
OUTPUTS = ("eval.json", "eval.md", "sensitivity.png")  # what `wess eval --out DIR` writes (report.write_eval)


@dataclass(frozen=True)
class EvalResult:
    model: str
    stress: bool
    calibrator: str
    shift_rule: str
    test_samples: int
    augmented_samples: int  # the test split and its augmentations (metrics.augment)
    accuracy: dict  # "float" and every scheme -> top-1
    schemes: dict  # scheme -> scoring.SchemeResult
    layers: list  # report.weight_sqnr rows
    max_disparity: float
    cle_pairs: int  # conv/dense pairs cross-layer equalization rescaled
    sensitivity: sensitivity.SensitivityResult | None = None
    target: dict | None = None  # --target other than host: its name and every scheme's figures on it

    def to_json(self) -> dict:
        out = asdict(self)
        out["schemes"] = {k: asdict(v) for k, v in self.schemes.items()}
        out["sensitivity"] = self.sensitivity.to_json() if self.sensitivity else None
        return out


def augmented_metrics(model_bytes: bytes, aug_x: np.ndarray, aug_float_out: np.ndarray) -> metrics.OutputMetrics:
    """metrics.compare on the augmented inputs, run by the C reference runner (byte-identical to LiteRT's
    reference kernels, about 3x faster)."""
    q = runtime.io_quant(model_bytes)
    out = runtime.dequantize_output(backends.run_ref(model_bytes, runtime.quantize_input(aug_x, q)), q)
    return metrics.compare(aug_float_out, out.reshape(aug_float_out.shape), q.class_elements)


def _scheme_model(name: str, states: dict, built: dict, means: dict, calibration_x: np.ndarray,
                  shift_rule: str) -> bytes:
    """One scheme's int8 model; the base model of each (CLE?, base) pair and each calibration's means built once."""
    parsed = schemes.parse_scheme(name)
    state = states[parsed.cle]
    key = (parsed.cle, parsed.base)
    if key not in built:
        built[key] = schemes.build_scheme(state.ranged, state.calibrated, parsed.base, shift_rule)[0]
    model_bytes = built[key]
    if parsed.adaround:
        model_bytes = adaround.round_model(model_bytes, state.calibrated, calibration_x,
                                           weight_bits=parsed.weight_bits)[0]
    if parsed.bias_correction:
        if id(state) not in means:
            means[id(state)] = biascorr.layer_input_means(state.calibrated, calibration_x)
        model_bytes = biascorr.correct_biases(model_bytes, state.calibrated, means[id(state)])[0]
    return model_bytes


def evaluate(name: str, keras_model, calibration_x: np.ndarray, test_x: np.ndarray, test_y: np.ndarray | None,
             options: deploy.DeployOptions, stress: bool = False, progress: bool = False,
             with_sensitivity: bool = False, target: str = "host", augment_copies: int = metrics.AUGMENTED_COPIES,
             with_adaround: bool = False, scheme_names: tuple[str, ...] | None = None) -> EvalResult:
    """Convert with every scheme of schemes.SCHEMES (and schemes.ADAROUND_SCHEMES with `with_adaround`), or exactly
    `scheme_names` when given (e.g. the 4-bit schemes.FOUR_BIT_SCHEMES), and score
    each against float on the test split and on it grown by `augment_copies` seeded augmentations (metrics.augment).

    One calibration serves every scheme without CLE and a second one (of the equalized model) every `cle+` scheme;
    with `with_sensitivity` also the per-layer sweep of options.scheme's base scheme on the test split; with a
    `target` other than the host every scheme's figures on it (targets.scheme_cost).
    """
    from tqdm import tqdm

    def passes(scheme: str) -> deploy.DeployState:
        return deploy.run_passes(keras_model, calibration_x,
                                 deploy.DeployOptions(scheme, options.calibrator, options.shift_rule),
                                 passes=deploy.CONVERSION_PASSES)

    base = passes("wess")
    cle_pairs, _ = cle.find_pairs(base.folded_model)
    # nothing to equalize: the CLE schemes are their base schemes, from the same calibration
    states = {False: base, True: passes("cle+wess") if cle_pairs else base}
    float_out = modelio.predict(keras_model, test_x)
    float_class = metrics.predicted_class(float_out, modelio.class_elements(keras_model))
    accuracy = {"float": float(np.mean(float_class == test_y)) if test_y is not None else float("nan")}
    aug_x = metrics.augment(test_x, augment_copies) if augment_copies else None
    aug_float_out = modelio.predict(keras_model, aug_x) if aug_x is not None else None
    scored, built, means, costs = {}, {}, {}, {}
    names = scheme_names or schemes.SCHEMES + (schemes.ADAROUND_SCHEMES if with_adaround else ())
    for name_ in tqdm(names, desc="evaluating", disable=not progress, leave=False):
        model_bytes = _scheme_model(name_, states, built, means, calibration_x, options.shift_rule)
        result = scoring.score(model_bytes, test_x, test_y, float_out)
        if aug_x is not None:
            result = dataclasses.replace(result, augmented=augmented_metrics(model_bytes, aug_x, aug_float_out))
        scored[name_], accuracy[name_] = result, result.top1
        costs[name_] = targets.scheme_cost(target, model_bytes, name_)
    layers = report.weight_sqnr(base.wess_layers)
    sweep = None
    if with_sensitivity:
        sweep = sensitivity.sweep(base.ranged, base.calibrated, schemes.parse_scheme(options.scheme).base,
                                  options.shift_rule, test_x, test_y, progress)
    return EvalResult(name, stress, base.calibrator, options.shift_rule, int(len(test_x)),
                      int(len(test_x)) * (1 + augment_copies), accuracy, scored, layers,
                      max((row["disparity"] for row in layers), default=1.0), len(cle_pairs), sweep,
                      None if target == targets.HOST else {"name": target, "schemes": costs})
