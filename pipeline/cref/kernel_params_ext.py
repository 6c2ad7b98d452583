"""Kernel parameters of PRELU, REDUCE_MAX and the RESIZE ops, as TFLite Micro's Prepare computes them."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .kernel_params import ParameterError, divisor_scale, f32, multiplier_and_right_shift


@dataclass(frozen=True)
class PreluParams:
    """PRELU (C: wess_prelu_params_t)."""

    input_offset: int
    alpha_offset: int
    output_offset: int
    identity_multiplier: int
    identity_right_shift: int
    alpha_multiplier: int
    alpha_right_shift: int


@dataclass(frozen=True)
class ReduceParams:
    """REDUCE_MAX (C: wess_reduce_params_t): 1 for each reduced NHWC axis, else 0."""

    reduce_n: int
    reduce_h: int
    reduce_w: int
    reduce_c: int


@dataclass(frozen=True)
class ResizeParams:
    """RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (C: wess_resize_params_t): TFLite's options as 0 / 1."""

    align_corners: int
    half_pixel_centers: int


def prelu_params(input_scale: float, input_zero_point: int, alpha_scale: float, alpha_zero_point: int,
                 output_scale: float, output_zero_point: int) -> PreluParams:
    """TFLite Micro's CalculatePreluParams: input_scale / output_scale and input_scale * alpha_scale / output_scale
    in double, each through QuantizeMultiplier. An all-zero alpha has scale 0 (multiplier 0: every negative input
    gives the output zero point)."""
    output_scale = divisor_scale(output_scale, "output")
    if not 0.0 <= f32(alpha_scale) < math.inf:
        raise ParameterError(f"alpha scale {alpha_scale!r} is not a finite number >= 0")
    identity = multiplier_and_right_shift(f32(input_scale) / output_scale)
    alpha = multiplier_and_right_shift(f32(input_scale) * f32(alpha_scale) / output_scale)
    return PreluParams(-input_zero_point, -alpha_zero_point, output_zero_point, *identity, *alpha)


def reduce_params(input_rank: int, axes, input_quant: tuple[float, int],
                  output_quant: tuple[float, int]) -> ReduceParams:
    """REDUCE_MAX over `axes` of an input of rank 1 to 4 (negative axes count from the end, repeats allowed), as
    the blob's NHWC axes (rank 2 [b, d] is [b, 1, 1, d], lower ranks padded with leading ones). TFLite Micro's int8
    kernel requires the output to keep the input's scale and zero point."""
    if not 1 <= input_rank <= 4:
        raise ParameterError(f"REDUCE_MAX of a rank-{input_rank} input (the kernel takes rank 1 to 4)")
    if (f32(input_quant[0]), input_quant[1]) != (f32(output_quant[0]), output_quant[1]):
        raise ParameterError(f"REDUCE_MAX output quantization {output_quant} differs from the input's {input_quant}")
    positions = (0, 3) if input_rank == 2 else tuple(range(4 - input_rank, 4))
    reduced = [0, 0, 0, 0]
    for axis in axes:
        if not -input_rank <= int(axis) < input_rank:
            raise ParameterError(f"REDUCE_MAX axis {int(axis)} is outside a rank-{input_rank} input")
        reduced[positions[int(axis) % input_rank]] = 1
    return ReduceParams(*reduced)


def resize_params(align_corners: bool, half_pixel_centers: bool, bilinear: bool = True) -> ResizeParams:
    """RESIZE_BILINEAR's or RESIZE_NEAREST_NEIGHBOR's options; TFLite Micro's bilinear Prepare refuses both set."""
    if bilinear and align_corners and half_pixel_centers:
        raise ParameterError("RESIZE_BILINEAR with both align_corners and half_pixel_centers (TFLite refuses it)")
    return ResizeParams(int(bool(align_corners)), int(bool(half_pixel_centers)))
