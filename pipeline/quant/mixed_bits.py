"""Mixed 4/8-bit weights: the layers most sensitive to 4 bits keep 8, until top-1 is within a target of float."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.tflite import flatbuf

from . import rewrite, schemes, sensitivity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BitChoice:
    """One candidate: the k most 4-bit-sensitive layers at 8 bits, its conv/FC weight bytes and top-1."""

    eight_bit_layers: int
    weight_bytes: int  # packed: a 4-bit layer's weights take (n + 1) // 2 bytes, an 8-bit layer's n (biases apart)
    top1: float  # on the labelled calibration data


@dataclass(frozen=True)
class MixedBitsResult:
    """What `--mixed-bits` kept at 8 bits, and every choice it measured on the way (weight bytes vs top-1)."""

    target_drop: float  # percentage points of top-1 below float
    float_top1: float
    top1: float
    eight_bit_layers: list  # sensitivity.LayerSensitivity rows (that layer alone at 4 bits), most sensitive first
    choices: list  # BitChoice, k = 0, 1, ...
    all_eight_bit_bytes: int  # the same layers' weight bytes at 8 bits everywhere
    met: bool
    model: bytes

    @property
    def eight_bit_nodes(self) -> list[str]:
        return [row.name for row in self.eight_bit_layers]

    def to_json(self) -> dict:
        return {"target_drop": self.target_drop, "float_top1": self.float_top1, "top1": self.top1,
                "eight_bit_layers": [{"index": r.index, "op": r.op, "name": r.name} for r in self.eight_bit_layers],
                "choices": [asdict(c) for c in self.choices], "all_eight_bit_bytes": self.all_eight_bit_bytes,
                "met": self.met}


def four_bit_sweep(ranged: bytes, calibrated: bytes, base_scheme: str, shift_rule: str, x: np.ndarray,
                   y: np.ndarray | None) -> list[sensitivity.LayerSensitivity]:
    """Each conv/FC layer alone at 4 bits (every other one at 8 bits on the same scheme, float input and output),
    scored against float: most sensitive first."""
    float_out = sensitivity.float_outputs(calibrated, x)
    nodes = sensitivity.weighted_nodes(calibrated)
    rows = []
    for node in nodes:
        others = tuple(n.name for n in nodes if n.name != node.name)
        model = schemes.build_scheme(ranged, calibrated, base_scheme, shift_rule, float_io=True,
                                     eight_bit_nodes=others)[0]
        rows.append(sensitivity.LayerSensitivity(node.index, node.op, node.name,
                                                 *sensitivity.score(model, x, y, float_out)))
    rows.sort(key=lambda r: (r.agreement if y is None else r.top1, r.sqnr_db))
    return rows


def weight_bytes(model: bytes, eight_bit_nodes: tuple[str, ...], calibrated: bytes) -> int:
    """Bytes of the conv/FC weights of a 4-bit scheme's model with these layers at 8 bits, 4-bit weights packed two
    per byte as the compact blob stores them."""
    quantized = flatbuf.read_model(model)
    ops = rewrite.weighted_ops(quantized, flatbuf.read_model(calibrated))
    four, eight = schemes.split_by_bits(ops, eight_bit_nodes)
    return sum((op.float_weights.size + 1) // 2 for op in four) + sum(op.float_weights.size for op in eight)


def choose_bits(build: Callable[[tuple[str, ...]], bytes], ranking: list[sensitivity.LayerSensitivity],
                calibrated: bytes, x: np.ndarray, y: np.ndarray, float_top1: float,
                target_drop: float) -> MixedBitsResult:
    """Keep the first k layers of `ranking` at 8 bits, k = 0, 1, ..., until top-1 on (x, y) is within the target.

    `build(eight_bit_nodes)` makes the int8 model. Returns the smallest such k's model; when even every layer at
    8 bits misses the target, the best model seen is returned with `met` False.
    """
    choices = []

    def measured(k: int, nodes: tuple[str, ...], model: bytes, top1: float) -> None:
        choices.append(BitChoice(k, weight_bytes(model, nodes, calibrated), top1))
        log.info("mixed bits: %d layer(s) at 8 bits, %d weight bytes, top-1 %.4f (float %.4f)", k,
                 choices[-1].weight_bytes, top1, float_top1)

    reached = sensitivity.first_in_reach(build, ranking, x, y, float_top1, target_drop, measured)
    all_eight = weight_bytes(reached.model, tuple(node.name for node in sensitivity.weighted_nodes(calibrated)),
                             calibrated)
    return MixedBitsResult(target_drop, float_top1, reached.top1, list(ranking[:reached.k]), choices, all_eight,
                           reached.met, reached.model)
