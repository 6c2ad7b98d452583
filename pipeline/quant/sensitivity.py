"""Per-layer sensitivity (one conv/FC layer int8, the rest float) and partial quantization to a top-1 target."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.tflite import flatbuf, runtime

from . import schemes, wess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Node:
    """A conv/depthwise/FC operator of the calibrated float model, named by its output tensor."""

    index: int  # operator index in the calibrated float model
    op: str
    name: str  # output tensor name: what the quantizer's denylist takes


@dataclass(frozen=True)
class LayerSensitivity:
    """The model with only this layer in int8 (the rest float, float input and output) against float."""

    index: int
    op: str
    name: str
    top1: float  # against the labels (nan without labels)
    agreement: float  # top-1 agreement with the float model
    sqnr_db: float  # output SQNR vs float


@dataclass(frozen=True)
class SensitivityResult:
    scheme: str
    samples: int
    float_top1: float
    seconds: float
    layers: list  # LayerSensitivity, most sensitive first

    def to_json(self) -> dict:
        out = asdict(self)
        out["layers"] = [asdict(row) for row in self.layers]
        return out


@dataclass(frozen=True)
class PartialResult:
    """What `--target-drop` left in float, and the top-1 it reached on the data it was measured on."""

    target_drop: float  # percentage points
    float_top1: float
    top1: float
    float_layers: list  # LayerSensitivity rows of the layers left in float, most sensitive first
    met: bool
    model: bytes

    @property
    def float_nodes(self) -> list[str]:
        return [row.name for row in self.float_layers]

    def to_json(self) -> dict:
        return {"target_drop": self.target_drop, "float_top1": self.float_top1, "top1": self.top1,
                "float_layers": [{"index": r.index, "op": r.op, "name": r.name} for r in self.float_layers],
                "met": self.met}


def operator_nodes(calibrated: bytes) -> list[Node]:
    model = flatbuf.read_model(calibrated)
    graph = model.subgraphs[0]
    return [Node(i, flatbuf.opcode_name(model, op), flatbuf.tensor_name(graph.tensors[op.outputs[0]]))
            for i, op in enumerate(graph.operators)]


def weighted_nodes(calibrated: bytes) -> list[Node]:
    """The conv/depthwise/FC operators, in graph order: the layers sensitivity and partial quantization act on."""
    names = set(flatbuf.WEIGHTED_OP_NAMES)
    return [node for node in operator_nodes(calibrated) if node.op in names]


def float_outputs(calibrated: bytes, x: np.ndarray) -> np.ndarray:
    """The float model's outputs on x (LiteRT's optimised kernels), float64."""
    return np.asarray(runtime.run_litert(calibrated, x.astype(np.float32), reference=False), np.float64)


def score(model: bytes, x: np.ndarray, y: np.ndarray | None, float_out: np.ndarray) -> tuple[float, float, float]:
    """(top-1, agreement, SQNR dB) of a model with float input and output."""
    out = runtime.run_litert(model, x.astype(np.float32), reference=False)
    top = out.argmax(axis=1)
    top1 = float(np.mean(top == y)) if y is not None else float("nan")
    return top1, float(np.mean(top == float_out.argmax(axis=1))), wess.sqnr_db(float_out, out)


def sweep(ranged: bytes, calibrated: bytes, base_scheme: str, shift_rule: str, x: np.ndarray, y: np.ndarray | None,
          progress: bool = False) -> SensitivityResult:
    """Quantize one conv/FC layer at a time with `base_scheme`, every other operator float; most sensitive first.

    One calibration serves every layer: each variant is the quantizer run on the same ranged float model with all
    other operators denylisted, so a layer costs one quantizer call (milliseconds) and one LiteRT run over `x`.
    """
    from tqdm import tqdm

    start = time.perf_counter()
    all_nodes = operator_nodes(calibrated)
    float_out = float_outputs(calibrated, x)
    float_top1 = float(np.mean(float_out.argmax(axis=1) == y)) if y is not None else float("nan")
    rows = []
    for node in tqdm(weighted_nodes(calibrated), desc="sensitivity", disable=not progress, leave=False):
        others = tuple(n.name for n in all_nodes if n.name != node.name)
        model = schemes.build_scheme(ranged, calibrated, base_scheme, shift_rule, float_nodes=others, float_io=True)[0]
        rows.append(LayerSensitivity(node.index, node.op, node.name, *score(model, x, y, float_out)))
    rows.sort(key=lambda r: (r.agreement if y is None else r.top1, r.sqnr_db))
    return SensitivityResult(base_scheme, int(len(x)), float_top1, time.perf_counter() - start, rows)


def int8_top1(model: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 of an int8-input/output model through LiteRT's reference kernels."""
    q = runtime.io_quant(model)
    return float(np.mean(runtime.run_litert(model, runtime.quantize_input(x, q)).argmax(axis=1) == y))


@dataclass(frozen=True)
class Reached:
    """The walk's answer: the first k rows of the ranking taken, the model built with them and its top-1."""

    k: int
    top1: float
    model: bytes
    met: bool


def first_in_reach(build: Callable[[tuple[str, ...]], bytes], ranking: list[LayerSensitivity], x: np.ndarray,
                   y: np.ndarray, float_top1: float, target_drop: float,
                   measured: Callable[[int, tuple[str, ...], bytes, float], None]) -> Reached:
    """Build with the first k rows of `ranking` taken out, k = 0, 1, ..., until top-1 on (x, y) is within
    `target_drop` points of float: the smallest such k, or the best model seen (`met` False) when none is.
    `measured(k, nodes, model, top1)` sees every model built."""
    best = None
    for k in range(len(ranking) + 1):
        nodes = tuple(row.name for row in ranking[:k])
        model = build(nodes)
        top1 = int8_top1(model, x, y)
        measured(k, nodes, model, top1)
        met = (float_top1 - top1) * 100.0 <= target_drop + 1e-9
        if met or best is None or top1 > best.top1:
            best = Reached(k, top1, model, met)
        if met:
            break
    return best


def partial_quantize(build: Callable[[tuple[str, ...]], bytes], ranking: list[LayerSensitivity], x: np.ndarray,
                     y: np.ndarray, float_top1: float, target_drop: float) -> PartialResult:
    """Leave the first k layers of `ranking` in float, k = 0, 1, ..., until top-1 on (x, y) is within the target.

    `build(float_nodes)` makes the int8 model with those layers in float. Returns the smallest such k's model;
    when even every layer in float misses the target (the other operators stay int8), the best model seen is
    returned with `met` False.
    """
    def measured(k: int, _nodes: tuple[str, ...], _model: bytes, top1: float) -> None:
        log.info("partial quantization: %d layer(s) in float, top-1 %.4f (float %.4f)", k, top1, float_top1)

    reached = first_in_reach(build, ranking, x, y, float_top1, target_drop, measured)
    return PartialResult(target_drop, float_top1, reached.top1, list(ranking[:reached.k]), reached.met, reached.model)
