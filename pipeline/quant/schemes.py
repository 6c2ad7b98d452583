"""Quantization schemes: their names (`[cle+]BASE[+ar][+bc]`) and how one int8 model is built for a base scheme."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import InputError, UnsupportedError
from pipeline.tflite import flatbuf, metadata

from . import convert, rewrite

BASE_SCHEMES = ("per_tensor", "per_channel", "wess", "per_tensor4", "per_channel4", "wess4")
# 4-bit weights (-7..7, stored in int8 tensors; the compact blob packs them two per byte), int8 activations (W4A8):
# opt-in in `wess eval --schemes`, so the default evaluation costs what it did.
FOUR_BIT_SCHEMES = ("per_tensor4", "per_channel4", "wess4", "per_tensor4+bc", "per_channel4+bc", "wess4+bc")
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

    @property
    def weight_bits(self) -> int:
        return weight_bits(self.base)

    @property
    def wess(self) -> bool:
        """WESS shifts and metadata (`wess`, `wess4`)."""
        return self.base.startswith("wess")


def weight_bits(base_scheme: str) -> int:
    """8, or 4 for the base schemes named with a trailing 4."""
    return 4 if base_scheme.endswith("4") else 8


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
        raise InputError(f"unknown scheme {name!r}: expected [cle+]{'|'.join(BASE_SCHEMES)}[+ar][+bc], e.g. "
                         f"{', '.join(SCHEMES[3:7])}, wess+ar")
    return Scheme(equalize, parts[0], corrected, rounded)


def scheme_names() -> list[str]:
    """Every name parse_scheme accepts."""
    return ["cle"] + [f"{cle_}{base}{ar}{bc}" for cle_ in ("", "cle+") for base in BASE_SCHEMES
                      for ar in ("", "+ar") for bc in ("", "+bc")]


def build_scheme(ranged: bytes, calibrated: bytes, base_scheme: str, shift_rule: str = "mse",
                 float_nodes: tuple[str, ...] = (), float_io: bool = False,
                 eight_bit_nodes: tuple[str, ...] = ()) -> tuple[bytes, list]:
    """One int8 model of a base scheme (BASE_SCHEMES) from a ranged float model; for WESS also the per-layer results.

    `float_nodes` (operator output tensor names) stay float between DEQUANTIZE/QUANTIZE (partial quantization);
    with a 4-bit scheme, the conv/FC layers of `eight_bit_nodes` keep 8-bit weights on the same scheme (mixed bits).
    """
    if base_scheme not in BASE_SCHEMES:
        raise InputError(f"unknown base scheme {base_scheme!r}; choose one of {', '.join(BASE_SCHEMES)}")
    if eight_bit_nodes and weight_bits(base_scheme) != 4:
        raise InputError(f"mixed 4/8-bit weights need a 4-bit scheme ({', '.join(BASE_SCHEMES[3:])}), not "
                         f"{base_scheme!r}")
    if weight_bits(base_scheme) == 4 and base_scheme != "wess4":
        return _plain_four_bit(ranged, calibrated, base_scheme == "per_channel4", float_nodes, float_io,
                               eight_bit_nodes), []
    if base_scheme == "per_channel":
        return convert.quantize(ranged, True, float_nodes, float_io), []
    per_tensor = convert.quantize(ranged, False, float_nodes, float_io)
    if base_scheme == "per_tensor":
        return per_tensor, []
    model = flatbuf.read_model(per_tensor)
    ops = rewrite.weighted_ops(model, flatbuf.read_model(calibrated))
    if not ops:
        names = flatbuf.WEIGHTED_OP_NAMES
        raise UnsupportedError(f"the model has no {', '.join(names[:-1])} or {names[-1]} layer: nothing for WESS to do")
    four_bit, eight_bit = split_by_bits(ops, eight_bit_nodes)
    results = sorted(rewrite.apply_wess(model, four_bit, shift_rule, weight_bits(base_scheme)) +
                     rewrite.apply_wess(model, eight_bit, shift_rule, 8), key=lambda pair: pair[0].operator_index)
    flatbuf.set_metadata(model, metadata.METADATA_NAME, metadata.encode(rewrite.layer_records(results)))
    return flatbuf.write_model(model), results


def _plain_four_bit(ranged: bytes, calibrated: bytes, per_channel: bool, float_nodes: tuple[str, ...],
                    float_io: bool, eight_bit_nodes: tuple[str, ...]) -> bytes:
    """per_tensor4 / per_channel4: the converter's int8 model with every int8 conv/FC (but those of
    `eight_bit_nodes`, which keep the converter's 8-bit weights) re-quantized onto the 4-bit grid (R / 7 per layer,
    or r_c / 7 per channel) from the calibrated model's float weights."""
    model = flatbuf.read_model(convert.quantize(ranged, per_channel, float_nodes, float_io))
    ops = rewrite.weighted_ops(model, flatbuf.read_model(calibrated))
    rewrite.apply_grid(model, split_by_bits(ops, eight_bit_nodes)[0], per_channel, 4)
    return flatbuf.write_model(model)


def split_by_bits(ops: list, eight_bit_nodes: tuple[str, ...]) -> tuple[list, list]:
    """(the ops that get 4-bit weights, those of `eight_bit_nodes` that keep 8 bits), by float output tensor name."""
    keep = set(eight_bit_nodes)
    is_eight = [op.float_name in keep for op in ops]
    return [op for op, eight in zip(ops, is_eight) if not eight], [op for op, eight in zip(ops, is_eight) if eight]
