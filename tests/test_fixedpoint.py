"""Fixed-point primitives: Python twins against exact rational oracles, and the C library against the twins."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from pipeline.cref import kernel_calls, library
from pipeline.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requantize,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

C_SAMPLE_SIZE = 1_000_000


pytestmark = pytest.mark.usefixtures("reference_library")  # conftest.py: build/libwess_ref.so, built when stale


def boundary_values() -> list[int]:
    """2**k - 1, 2**k, 2**k + 1 and their negatives for every k in 0..31, clipped to int32, plus the extremes."""
    values = {INT32_MIN, INT32_MAX, 0}
    for k in range(32):
        for value in (2**k - 1, 2**k, 2**k + 1):
            values.update(v for v in (value, -value) if INT32_MIN <= v <= INT32_MAX)
    return sorted(values)


def round_half_up(value: Fraction) -> int:
    return (value + Fraction(1, 2)).__floor__()


def round_half_away(value: Fraction) -> int:
    magnitude = (abs(value) + Fraction(1, 2)).__floor__()
    return magnitude if value >= 0 else -magnitude


def oracle_srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    return round_half_up(Fraction(a * b, 2**31))


def oracle_rdbpot(x: int, exponent: int) -> int:
    return round_half_away(Fraction(x, 2**exponent))


def oracle_mbqm(x: int, q_fixed: int, exponent: int) -> int:
    shifted = min(max(x * 2 ** max(exponent, 0), INT32_MIN), INT32_MAX)
    return oracle_rdbpot(oracle_srdhm(shifted, q_fixed), max(-exponent, 0))


BOUNDARY = boundary_values()
MULTIPLIERS = [0, 1, 2**30, 2**30 + 1, 1518500250, INT32_MAX - 1, INT32_MAX]


def test_boundary_values_cover_every_power_of_two():
    assert len(BOUNDARY) > 180 and 2**31 - 1 in BOUNDARY and -(2**31) in BOUNDARY and -(2**30) - 1 in BOUNDARY


def test_srdhm_matches_oracle_on_every_boundary_pair():
    a, b = (np.array(grid, dtype=np.int64).ravel() for grid in np.meshgrid(BOUNDARY, BOUNDARY))
    got = saturating_rounding_doubling_high_mul(a, b)
    expected = [oracle_srdhm(int(x), int(y)) for x, y in zip(a, b)]
    np.testing.assert_array_equal(got, expected)


def test_srdhm_ties_round_toward_positive_infinity_and_saturates():
    assert saturating_rounding_doubling_high_mul(2**30, 1) == 1  # 0.5 -> 1
    assert saturating_rounding_doubling_high_mul(-(2**30), 1) == 0  # -0.5 -> 0
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == -INT32_MAX


def test_rdbpot_matches_oracle_for_every_exponent():
    x, exponent = (grid.ravel() for grid in np.meshgrid(np.array(BOUNDARY, dtype=np.int64), np.arange(32)))
    got = rounding_divide_by_pot(x, exponent)
    np.testing.assert_array_equal(got, [oracle_rdbpot(int(v), int(e)) for v, e in zip(x, exponent)])


def test_rdbpot_ties_round_away_from_zero():
    assert [rounding_divide_by_pot(v, 1) for v in (-3, -1, 1, 3)] == [-2, -1, 1, 2]


def test_mbqm_matches_oracle_for_every_exponent():
    x, q_fixed, exponent = (grid.ravel() for grid in np.meshgrid(
        np.array(BOUNDARY, dtype=np.int64), np.array(MULTIPLIERS, dtype=np.int64), np.arange(-31, 31)))
    got = multiply_by_quantized_multiplier(x, q_fixed, exponent)
    expected = [oracle_mbqm(int(v), int(q), int(e)) for v, q, e in zip(x, q_fixed, exponent)]
    np.testing.assert_array_equal(got, expected)


def test_mbqm_is_within_one_of_the_real_product_when_unsaturated():
    rng = np.random.default_rng(1)
    x = rng.integers(-(2**20), 2**20, 20_000)
    q_fixed = rng.integers(2**30, 2**31, 20_000)
    exponent = rng.integers(-31, 8, 20_000)
    got = multiply_by_quantized_multiplier(x, q_fixed, exponent)
    real = x.astype(np.float64) * q_fixed.astype(np.float64) * np.exp2(exponent.astype(np.float64) - 31)
    assert np.max(np.abs(got - real)) <= 1.0


def test_random_sample_matches_oracles():
    rng = np.random.default_rng(2)
    a = rng.integers(INT32_MIN, INT32_MAX, 5_000, endpoint=True)
    b = rng.integers(INT32_MIN, INT32_MAX, 5_000, endpoint=True)
    q_fixed = rng.integers(0, INT32_MAX, 5_000, endpoint=True)
    exponent = rng.integers(-31, 31, 5_000)
    np.testing.assert_array_equal(saturating_rounding_doubling_high_mul(a, b),
                                  [oracle_srdhm(int(x), int(y)) for x, y in zip(a, b)])
    pot_exponent = np.abs(exponent)  # 0..31
    np.testing.assert_array_equal(rounding_divide_by_pot(a, pot_exponent),
                                  [oracle_rdbpot(int(x), int(e)) for x, e in zip(a, pot_exponent)])
    np.testing.assert_array_equal(multiply_by_quantized_multiplier(a, q_fixed, exponent),
                                  [oracle_mbqm(int(x), int(q), int(e)) for x, q, e in zip(a, q_fixed, exponent)])


def test_scalars_give_python_ints_and_requantize_negates_the_exponent():
    assert type(saturating_rounding_doubling_high_mul(3, 5)) is int
    q_fixed, exponent = quantize_multiplier(0.3)
    assert requantize(1000, q_fixed, -exponent) == multiply_by_quantized_multiplier(1000, q_fixed, exponent) == 300


@pytest.mark.parametrize("call", [
    lambda: rounding_divide_by_pot(1, 32),
    lambda: multiply_by_quantized_multiplier(1, 2**30, 31),
    lambda: multiply_by_quantized_multiplier(1, -1, 0),
    lambda: saturating_rounding_doubling_high_mul(2**31, 1),
])
def test_contract_violations_raise(call):
    with pytest.raises(ValueError):
        call()


def random_int32(rng, size: int) -> np.ndarray:
    """Uniform int32 values, a quarter of them replaced by values near powers of two."""
    values = rng.integers(INT32_MIN, INT32_MAX, size, endpoint=True)
    near_power = rng.choice(np.array(BOUNDARY, dtype=np.int64), size // 4)
    values[rng.choice(size, size // 4, replace=False)] = near_power
    return values


def test_c_srdhm_and_rdbpot_match_python_on_a_million_values():
    rng = np.random.default_rng(3)
    a, b = random_int32(rng, C_SAMPLE_SIZE), random_int32(rng, C_SAMPLE_SIZE)
    exponent = rng.integers(0, 32, C_SAMPLE_SIZE)
    np.testing.assert_array_equal(kernel_calls.fixedpoint_batch("srdhm", a, b), saturating_rounding_doubling_high_mul(a, b))
    np.testing.assert_array_equal(kernel_calls.fixedpoint_batch("rdbpot", a, exponent), rounding_divide_by_pot(a, exponent))


def test_c_mbqm_and_requantize_match_python_on_a_million_values():
    rng = np.random.default_rng(4)
    x = random_int32(rng, C_SAMPLE_SIZE)
    q_fixed = np.abs(random_int32(rng, C_SAMPLE_SIZE)).clip(0, INT32_MAX)
    exponent = rng.integers(-31, 31, C_SAMPLE_SIZE)
    np.testing.assert_array_equal(kernel_calls.fixedpoint_batch("mbqm", x, q_fixed, exponent),
                                  multiply_by_quantized_multiplier(x, q_fixed, exponent))
    right_shift = rng.integers(-30, 32, C_SAMPLE_SIZE)
    np.testing.assert_array_equal(kernel_calls.fixedpoint_batch("requantize", x, q_fixed, right_shift),
                                  requantize(x, q_fixed, right_shift))


def test_c_batch_rejects_out_of_contract_elements():
    with pytest.raises(library.KernelError, match="WESS_ERR_BAD_ARG"):
        kernel_calls.fixedpoint_batch("rdbpot", np.array([1]), np.array([32]))
    with pytest.raises(library.KernelError, match="WESS_ERR_BAD_ARG"):
        kernel_calls.fixedpoint_batch("mbqm", np.array([1]), np.array([-1]), np.array([0]))
