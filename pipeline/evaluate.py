"""The evaluation harness: float Keras vs every int8 scheme on a test split, through LiteRT's reference kernels."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.firmware import targets
from pipeline.keras import cle
from pipeline.quant import biascorr, schemes, scoring, sensitivity

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


def evaluate(name: str, keras_model, calibration_x: np.ndarray, test_x: np.ndarray, test_y: np.ndarray | None,
             options: deploy.DeployOptions, stress: bool = False, progress: bool = False,
             with_sensitivity: bool = False, target: str = "host") -> EvalResult:
    """Convert with every scheme of schemes.SCHEMES and score each against float on the test split.

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
    means = {}  # id(state) -> biascorr.layer_input_means, one pass over the calibration split per calibration
    float_out = np.asarray(keras_model.predict(test_x, batch_size=256, verbose=0), np.float64)
    accuracy = {"float": float(np.mean(float_out.argmax(axis=1) == test_y)) if test_y is not None else float("nan")}
    scored, built, costs = {}, {}, {}
    for name_ in tqdm(schemes.SCHEMES, desc="evaluating", disable=not progress, leave=False):
        parsed = schemes.parse_scheme(name_)
        state = states[parsed.cle]
        key = (parsed.cle, parsed.base)
        if key not in built:
            built[key] = schemes.build_scheme(state.ranged, state.calibrated, parsed.base, options.shift_rule)[0]
        model_bytes = built[key]
        if parsed.bias_correction:
            if id(state) not in means:
                means[id(state)] = biascorr.layer_input_means(state.calibrated, calibration_x)
            model_bytes = biascorr.correct_biases(model_bytes, state.calibrated, means[id(state)])[0]
        scored[name_] = scoring.score(model_bytes, test_x, test_y, float_out)
        accuracy[name_] = scored[name_].top1
        costs[name_] = targets.scheme_cost(target, model_bytes, name_)
    layers = report.weight_sqnr(base.wess_layers)
    sweep = None
    if with_sensitivity:
        sweep = sensitivity.sweep(base.ranged, base.calibrated, schemes.parse_scheme(options.scheme).base,
                                  options.shift_rule, test_x, test_y, progress)
    return EvalResult(name, stress, base.calibrator, options.shift_rule, int(len(test_x)), accuracy, scored, layers,
                      max((row["disparity"] for row in layers), default=1.0), len(cle_pairs), sweep,
                      None if target == targets.HOST else {"name": target, "schemes": costs})
