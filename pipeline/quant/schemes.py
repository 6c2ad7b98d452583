"""Quantization schemes: their names (`[cle+]BASE[+bc]`) and how one int8 model is built for a base scheme."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import InputError, UnsupportedError
from pipeline.tflite import flatbuf, metadata

from . import convert, rewrite

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
        raise InputError(f"unknown scheme {name!r}: expected [cle+]{'|'.join(BASE_SCHEMES)}[+ar][+bc], e.g. "
                         f"{', '.join(SCHEMES[3:7])}, wess+ar")
    return Scheme(equalize, parts[0], corrected, rounded)


def scheme_names() -> list[str]:
    """Every name parse_scheme accepts."""
    return ["cle"] + [f"{cle_}{base}{ar}{bc}" for cle_ in ("", "cle+") for base in BASE_SCHEMES
                      for ar in ("", "+ar") for bc in ("", "+bc")]


def build_scheme(ranged: bytes, calibrated: bytes, base_scheme: str, shift_rule: str = "mse",
                 float_nodes: tuple[str, ...] = (), float_io: bool = False) -> tuple[bytes, list]:
    """One int8 model of a base scheme (BASE_SCHEMES) from a ranged float model; for WESS also the per-layer results.

    `float_nodes` (operator output tensor names) stay float between DEQUANTIZE/QUANTIZE (partial quantization).
    """
    if base_scheme not in BASE_SCHEMES:
        raise InputError(f"unknown base scheme {base_scheme!r}; choose one of {', '.join(BASE_SCHEMES)}")
    if base_scheme == "per_channel":
        return convert.quantize(ranged, True, float_nodes, float_io), []
    per_tensor = convert.quantize(ranged, False, float_nodes, float_io)
    if base_scheme == "per_tensor":
        return per_tensor, []
    model = flatbuf.read_model(per_tensor)
    ops = rewrite.weighted_ops(model, flatbuf.read_model(calibrated))
    if not ops:
        raise UnsupportedError("the model has no CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED layer: nothing for WESS to do")
    results = rewrite.apply_wess(model, ops, shift_rule)
    flatbuf.set_metadata(model, metadata.METADATA_NAME, metadata.encode(rewrite.layer_records(results)))
    return flatbuf.write_model(model), results
