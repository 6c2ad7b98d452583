"""C reference kernels ABS and BATCH_MATMUL: hand-computed cases, a fixed-point oracle on seeded random shapes
(every batch broadcast and transpose flag), and their error paths."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline import fixedpoint
from pipeline.cref import kernel_calls, library
from pipeline.cref import kernel_params as kp
from pipeline.cref import kernel_params_ext as kpe

pytestmark = pytest.mark.usefixtures("reference_library")


def _int8(values) -> np.ndarray:
    return np.asarray(values, np.int8)


# ---------------------------------------------------------------- ABS

def test_abs_by_hand():
    # [5] input, scale 0.1, zero point 10 -> output scale 0.2, zero point -128 (|x| >= 0 uses the low half):
    # |x - 10| = 0, 30, 40, 117, 138 -> halved, ties away from zero (15, 58.5 -> 59, 69) -> plus -128
    params = kpe.abs_params(0.1, 10, 0.2, -128)
    output = kernel_calls.elementwise("ABS", params, _int8([10, 40, -30, 127, -128]))
    assert output.tolist() == [-128, -113, -108, -69, -59]


def test_abs_with_equal_scales_keeps_the_magnitude_and_saturates():
    # equal scales: TFLite skips the rescale; |x - (-1)| + 100 = 101, 228 -> 127, 99 + 100 -> 127
    params = kpe.abs_params(0.5, -1, 0.5, 100)
    assert (params.multiplier, params.right_shift) == (1 << 30, -1)
    assert kernel_calls.elementwise("ABS", params, _int8([0, 127, -100])).tolist() == [101, 127, 127]


@pytest.mark.parametrize("params", [replace(kpe.abs_params(0.1, 0, 0.1, 0), input_zero_point=128),
                                    replace(kpe.abs_params(0.1, 0, 0.1, 0), multiplier=-1),
                                    replace(kpe.abs_params(0.1, 0, 0.1, 0), right_shift=32)])
def test_abs_invalid_parameters_return_bad_arg(params):
    with pytest.raises(library.KernelError, match="WESS_ERR_BAD_ARG"):
        kernel_calls.elementwise("ABS", params, _int8([1, 2, 3]))


# ---------------------------------------------------------------- BATCH_MATMUL

def _oracle(params: kpe.BatchMatmulParams, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """The product in int64 per batch position, then the Python twin of the requantization."""
    left = lhs.reshape(params.lhs_batch_outer, params.lhs_batch_inner, *(
        (params.depth, params.rows) if params.lhs_transposed else (params.rows, params.depth))).astype(np.int64)
    right = rhs.reshape(params.rhs_batch_outer, params.rhs_batch_inner, *(
        (params.cols, params.depth) if params.rhs_transposed else (params.depth, params.cols))).astype(np.int64)
    if params.lhs_transposed:
        left = left.swapaxes(-1, -2)
    if params.rhs_transposed:
        right = right.swapaxes(-1, -2)
    acc = np.matmul(left + params.lhs_offset, right + params.rhs_offset)  # broadcasts the batch axes of extent 1
    acc = np.broadcast_to(acc, (params.batch_outer, params.batch_inner, params.rows, params.cols))
    scaled = fixedpoint.requantize(acc, params.multiplier, params.right_shift)
    return np.clip(scaled + params.output_zero_point, -128, 127).astype(np.int8)


def test_batch_matmul_by_hand():
    # lhs [2, 3] (zero point 1), rhs [3, 2] (zero point 0), scales 0.5 * 0.25 / 0.125 = 1 -> the plain product
    # of (lhs - 1) and rhs plus the output zero point 2:
    #   [[0, 1, 2],    [[1, 0],     [[0 + 2 + 6, 0 + 1 + 8],     [[8, 9],   + 2 -> [[10, 11],
    #    [-2, 0, 3]] x  [2, 1],  =   [-2 + 0 + 9, 0 + 0 + 12]] =   [7, 12]]         [9, 14]]
    #                   [3, 4]]
    params = kpe.batch_matmul_params((2, 3), (3, 2), False, False, (0.5, 1), (0.25, 0), (0.125, 2))
    output = kernel_calls.batch_matmul(params, _int8([[1, 2, 3], [-1, 1, 4]]), _int8([[1, 0], [2, 1], [3, 4]]))
    assert output.reshape(2, 2).tolist() == [[10, 11], [9, 14]]
    # the same product with both operands stored transposed (adj_x, adj_y)
    transposed = kpe.batch_matmul_params((3, 2), (2, 3), True, True, (0.5, 1), (0.25, 0), (0.125, 2))
    output = kernel_calls.batch_matmul(transposed, _int8([[1, -1], [2, 1], [3, 4]]), _int8([[1, 2, 3], [0, 1, 4]]))
    assert output.reshape(2, 2).tolist() == [[10, 11], [9, 14]]


@pytest.mark.parametrize("seed", range(24))
def test_batch_matmul_matches_the_oracle_on_random_shapes(seed):
    rng = np.random.default_rng(seed)
    outer, inner = (int(e) for e in rng.integers(1, 4, 2))
    rows, depth, cols = (int(e) for e in rng.integers(1, 9, 3))
    adj_x, adj_y = bool(seed & 1), bool(seed & 2)
    lhs_batch = (outer if seed & 4 else 1, inner if seed & 8 else 1)  # every broadcast pattern
    rhs_batch = (outer if seed & 16 or lhs_batch[0] == 1 else 1, inner)
    lhs_shape = (*lhs_batch, *((depth, rows) if adj_x else (rows, depth)))
    rhs_shape = (*rhs_batch, *((cols, depth) if adj_y else (depth, cols)))
    params = kpe.batch_matmul_params(lhs_shape, rhs_shape, adj_x, adj_y, (0.02, int(rng.integers(-128, 128))),
                                     (0.05, int(rng.integers(-128, 128))), (float(rng.uniform(0.01, 2)), 3))
    lhs = rng.integers(-128, 128, lhs_shape).astype(np.int8)
    rhs = rng.integers(-128, 128, rhs_shape).astype(np.int8)
    ours, expected = kernel_calls.batch_matmul(params, lhs, rhs), _oracle(params, lhs, rhs)
    assert np.array_equal(ours, expected), np.argwhere(ours != expected)[:10]


BMM = kpe.batch_matmul_params((2, 3), (3, 2), False, False, (0.5, 1), (0.25, 0), (0.125, 2))
LHS, RHS = _int8(np.zeros((2, 3))), _int8(np.zeros((3, 2)))


@pytest.mark.parametrize("params, status", [
    (replace(BMM, rows=3), "WESS_ERR_BAD_SHAPE"),  # the lhs holds 6 elements, not 9
    (replace(BMM, lhs_batch_outer=2), "WESS_ERR_BAD_SHAPE"),  # broadcasts from an extent the output lacks
    (replace(BMM, depth=0), "WESS_ERR_BAD_SHAPE"),
    (replace(BMM, lhs_offset=129), "WESS_ERR_BAD_ARG"),
    (replace(BMM, rhs_transposed=2), "WESS_ERR_BAD_ARG"),
    (replace(BMM, right_shift=-31), "WESS_ERR_BAD_ARG"),
])
def test_batch_matmul_inconsistent_parameters_are_refused(params, status):
    with pytest.raises(library.KernelError, match=status):
        kernel_calls.batch_matmul(params, LHS, RHS)


def test_batch_matmul_too_deep_for_int32_is_refused_on_both_sides():
    depth = kpe.MAX_MATMUL_DEPTH + 1
    with pytest.raises(kp.ParameterError, match=rf"depth {depth} > {kpe.MAX_MATMUL_DEPTH}"):
        kpe.batch_matmul_params((1, depth), (depth, 1), False, False, (1.0, 0), (1.0, 0), (1.0, 0))
    deep = replace(BMM, rows=1, depth=depth, cols=1)
    with pytest.raises(library.KernelError, match="WESS_ERR_UNSUPPORTED"):
        kernel_calls.batch_matmul(deep, _int8(np.zeros(depth)), _int8(np.zeros(depth)))
    with pytest.raises(kp.ParameterError, match=r"batch extents \[2\] and \[3\] do not broadcast"):
        kpe.batch_matmul_params((2, 1, 4), (3, 4, 1), False, False, (1.0, 0), (1.0, 0), (1.0, 0))
