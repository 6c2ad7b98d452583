"""The evaluation harness: float Keras vs every int8 scheme on a test split, through LiteRT's reference kernels."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from . import adaround, biascorr, cle, deploy, metrics, runtime, sensitivity, wess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchemeResult:
    """One int8 model on the test split."""

    top1: float  # against the labels
    agreement: float  # top-1 agreement with the float model
    sqnr_db: float  # output SQNR vs the float model's output
    model_bytes: int
    augmented: metrics.OutputMetrics | None = None  # vs float on the test split + its seeded augmentations


@dataclass(frozen=True)
class EvalResult:
    model: str
    stress: bool
    calibrator: str
    shift_rule: str
    test_samples: int
    augmented_samples: int  # the test split and its augmentations (metrics.augment)
    accuracy: dict  # "float" and every scheme -> top-1
    schemes: dict  # scheme -> SchemeResult
    layers: list  # deploy.weight_sqnr rows
    max_disparity: float
    cle_pairs: int  # conv/dense pairs cross-layer equalization rescaled
    sensitivity: sensitivity.SensitivityResult | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        out["schemes"] = {k: asdict(v) for k, v in self.schemes.items()}
        out["sensitivity"] = self.sensitivity.to_json() if self.sensitivity else None
        return out


def score(model_bytes: bytes, x: np.ndarray, y: np.ndarray | None, float_out: np.ndarray,
          augmented: tuple[np.ndarray, np.ndarray] | None = None) -> SchemeResult:
    """Top-1, agreement and SQNR on the test split (LiteRT reference kernels), and metrics.compare on `augmented`
    (inputs, float outputs), run by the C reference runner (byte-identical to LiteRT's reference, 3x faster), or
    on the test split itself when `augmented` is None."""
    q = runtime.io_quant(model_bytes)
    out = runtime.dequantize_output(runtime.run_litert(model_bytes, runtime.quantize_input(x, q)), q)
    top = out.argmax(axis=1)
    float_top = float_out.argmax(axis=1)
    top1 = float(np.mean(top == y)) if y is not None else float("nan")
    stick = metrics.compare(float_out, out)
    if augmented is not None:
        aug_x, aug_float_out = augmented
        aug_out = runtime.dequantize_output(runtime.run_ref(model_bytes, runtime.quantize_input(aug_x, q)), q)
        stick = metrics.compare(aug_float_out, aug_out.reshape(aug_float_out.shape))
    return SchemeResult(top1, float(np.mean(top == float_top)), wess.sqnr_db(float_out, out), len(model_bytes), stick)


def evaluate(name: str, keras_model, calibration_x: np.ndarray, test_x: np.ndarray, test_y: np.ndarray | None,
             options: deploy.DeployOptions, stress: bool = False, progress: bool = False,
             with_sensitivity: bool = False, augment_copies: int = metrics.AUGMENTED_COPIES,
             with_adaround: bool = False) -> EvalResult:
    """Convert with every scheme of deploy.SCHEMES (and deploy.ADAROUND_SCHEMES with `with_adaround`) and score each
    against float on the test split and on it grown by `augment_copies` seeded augmentations (metrics.augment).

    One calibration serves every scheme without CLE and a second one (of the equalized model) every `cle+` scheme;
    with `with_sensitivity` also the per-layer sweep of options.scheme's base scheme on the test split.
    """
    from tqdm import tqdm

    def passes(scheme: str) -> deploy.DeployState:
        return deploy.run_passes(keras_model, calibration_x,
                                 deploy.DeployOptions(scheme, options.calibrator, options.shift_rule))

    base = passes("wess")
    cle_pairs, _ = cle.find_pairs(base.folded_model)
    # nothing to equalize: the CLE schemes are their base schemes, from the same calibration
    states = {False: base, True: passes("cle+wess") if cle_pairs else base}
    means = {}  # id(state) -> biascorr.layer_input_means, one pass over the calibration split per calibration
    float_out = np.asarray(keras_model.predict(test_x, batch_size=256, verbose=0), np.float64)
    accuracy = {"float": float(np.mean(float_out.argmax(axis=1) == test_y)) if test_y is not None else float("nan")}
    augmented = None
    if augment_copies:
        aug_x = metrics.augment(test_x, augment_copies)
        augmented = (aug_x, np.asarray(keras_model.predict(aug_x, batch_size=256, verbose=0), np.float64))
    schemes, built = {}, {}
    names = deploy.SCHEMES + (deploy.ADAROUND_SCHEMES if with_adaround else ())
    for name_ in tqdm(names, desc="evaluating", disable=not progress, leave=False):
        parsed = deploy.parse_scheme(name_)
        state = states[parsed.cle]
        key = (parsed.cle, parsed.base)
        if key not in built:
            built[key] = deploy.build_scheme(state.ranged, state.calibrated, parsed.base, options.shift_rule)[0]
        model_bytes = built[key]
        if parsed.adaround:
            model_bytes = adaround.round_model(model_bytes, state.calibrated, calibration_x)[0]
        if parsed.bias_correction:
            if id(state) not in means:
                means[id(state)] = biascorr.layer_input_means(state.calibrated, calibration_x)
            model_bytes = biascorr.correct_biases(model_bytes, state.calibrated, means[id(state)])[0]
        schemes[name_] = score(model_bytes, test_x, test_y, float_out, augmented)
        accuracy[name_] = schemes[name_].top1
    layers = deploy.weight_sqnr(base)
    sweep = None
    if with_sensitivity:
        sweep = sensitivity.sweep(base.ranged, base.calibrated, deploy.parse_scheme(options.scheme).base,
                                  options.shift_rule, test_x, test_y, progress)
    return EvalResult(name, stress, base.calibrator, options.shift_rule, int(len(test_x)),
                      int(len(test_x)) * (1 + augment_copies), accuracy, schemes, layers,
                      max((row["disparity"] for row in layers), default=1.0), len(cle_pairs), sweep)
