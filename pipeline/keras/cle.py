"""Cross-layer equalization (Nagel et al. 2019) of conv/dense pairs joined by ReLU, on the BN-folded Keras model."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .graph import consumers

log = logging.getLogger(__name__)

WEIGHTED = ("Conv2D", "DepthwiseConv2D", "Dense")
# Layers between the pair that commute with a positive per-channel scale: f(x / s) = f(x) / s for s > 0.
PASS_THROUGH = ("ZeroPadding2D", "MaxPooling2D", "Dropout", "GlobalAveragePooling2D", "AveragePooling2D")
MAX_ROUNDS = 100
TOLERANCE = 1e-6  # stop when every scale of a round is within this of 1


@dataclass(frozen=True)
class Pair:
    """Two weighted layers whose output/input channels can be rescaled against each other."""

    first: str
    second: str
    through: tuple[str, ...]  # the layers in between (ReLU, padding, pooling)


@dataclass(frozen=True)
class CleResult:
    pairs: list  # Pair
    rounds: int
    skipped: dict  # reason -> count (e.g. ReLU6 between two layers, a fork)


def _is_plain_relu(layer) -> bool:
    kind = layer.__class__.__name__
    if kind == "ReLU":
        config = layer.get_config()
        return config.get("max_value") is None and not config.get("negative_slope") and not config.get("threshold")
    if kind == "Activation":
        return layer.get_config().get("activation") == "relu"
    return False


def _activation(layer) -> str:
    return getattr(getattr(layer, "activation", None), "__name__", "linear")


def find_pairs(model) -> tuple[list[Pair], dict[str, int]]:
    """Pairs first -> (ReLU / pass-through layers) -> second where each link is the sole consumer of the last."""
    readers = consumers(model)
    pairs, skipped = [], {}
    for layer in model.layers:
        if layer.__class__.__name__ not in WEIGHTED or _activation(layer) not in ("linear", "relu"):
            continue
        through, current, reason = [], layer, None
        while True:
            users = readers.get(id(current.output), [])
            if len(users) != 1:
                reason = "output used by several layers" if users else None
                break
            nxt = users[0]
            kind = nxt.__class__.__name__
            if kind in WEIGHTED:  # its input's last axis is still the first layer's output channel
                pairs.append(Pair(layer.name, nxt.name, tuple(through)))
                break
            if _is_plain_relu(nxt) or kind in PASS_THROUGH:
                through.append(nxt.name)
                current = nxt
                continue
            reason = "ReLU6 follows" if kind == "ReLU" else f"{kind} follows"
            break
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
    return pairs, skipped


def output_ranges(kind: str, kernel: np.ndarray) -> np.ndarray:
    """max |w| per output channel (Keras layout; depthwise output channel = in * multiplier + m)."""
    return np.abs(kernel).reshape(-1, kernel.shape[-1] if kind != "DepthwiseConv2D" else
                                  kernel.shape[2] * kernel.shape[3]).max(axis=0)


def input_ranges(kind: str, kernel: np.ndarray) -> np.ndarray:
    """max |w| per input channel (Keras layout: axis 2 of conv/depthwise kernels, axis 0 of dense)."""
    axis = 0 if kind == "Dense" else 2
    return np.moveaxis(np.abs(kernel), axis, 0).reshape(kernel.shape[axis], -1).max(axis=1)


def equalization_scales(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """s_i = sqrt(r1_i / r2_i), after which both layers' channel i has range sqrt(r1_i r2_i); 1 where either is 0."""
    ok = (r1 > 0) & (r2 > 0)
    return np.where(ok, np.sqrt(np.where(ok, r1, 1.0) / np.where(ok, r2, 1.0)), 1.0)


def _scale_input(kind: str, kernel: np.ndarray, s: np.ndarray) -> np.ndarray:
    axis = 0 if kind == "Dense" else 2
    shape = [1] * kernel.ndim
    shape[axis] = s.size
    return kernel * s.reshape(shape)


def _scale_output(kind: str, weights: list[np.ndarray], s: np.ndarray) -> list[np.ndarray]:
    """[kernel, bias] (or [kernel] for a layer without bias) with output channel i divided by s_i."""
    kernel = weights[0] / (s.reshape(weights[0].shape[2], weights[0].shape[3]) if kind == "DepthwiseConv2D" else s)
    return [kernel] + [bias / s for bias in weights[1:]]


def equalize(folded_model) -> tuple[object, CleResult]:
    """A copy of the folded model with every pair equalized (iterated until the scales settle); same function."""
    import keras

    pairs, skipped = find_pairs(folded_model)
    if not pairs:
        log.info("CLE: no conv/dense pair joined by ReLU; skipped %s", skipped or "none")
        return folded_model, CleResult([], 0, skipped)
    model = keras.models.clone_model(folded_model)  # same layer names: the pairs still apply
    model.set_weights(folded_model.get_weights())
    layers = {layer.name: layer for layer in model.layers}
    weights = {name: [np.asarray(w, np.float64) for w in layers[name].get_weights()]
               for pair in pairs for name in (pair.first, pair.second)}
    rounds = 0
    for rounds in range(1, MAX_ROUNDS + 1):
        worst = 0.0
        for pair in pairs:
            kind1, kind2 = layers[pair.first].__class__.__name__, layers[pair.second].__class__.__name__
            w2 = weights[pair.second][0]
            s = equalization_scales(output_ranges(kind1, weights[pair.first][0]), input_ranges(kind2, w2))
            weights[pair.first] = _scale_output(kind1, weights[pair.first], s)
            weights[pair.second][0] = _scale_input(kind2, w2, s)
            worst = max(worst, float(np.max(np.abs(np.log(s)))) if s.size else 0.0)
        if worst < TOLERANCE:
            break
    for name, values in weights.items():
        layers[name].set_weights([v.astype(np.float32) for v in values])
    log.info("CLE: %d pair(s) equalized in %d round(s); skipped %s", len(pairs), rounds, skipped or "none")
    return model, CleResult(pairs, rounds, skipped)
