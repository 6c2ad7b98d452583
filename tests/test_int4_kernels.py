"""4-bit weights (W4A8) in the C reference: packing, and the packed-weight kernels equal to the int8 ones bit for bit
(odd row lengths, all-zero channels, rows split across unpack blocks, rows too long for the buffer)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.cref import compact, kernel_calls, library
from pipeline.cref import kernel_params as kp

pytestmark = pytest.mark.usefixtures("reference_library")  # conftest.py: build/libwess_ref.so, built when stale

PLAIN_CONV = kp.ConvParams(input_offset=7, output_offset=-3, stride_y=1, stride_x=1, dilation_y=1, dilation_x=1,
                           pad_top=1, pad_left=1, act_min=-128, act_max=127)


def _requant(rng, channels: int, wess_shifts: bool) -> kp.Requant:
    """A WESS-style requantization (one multiplier, 4-bit shifts) or a per-channel one, seeded."""
    if wess_shifts:
        return kp.Requant(np.array([1 << 30], np.int32), np.array([4], np.int32),
                          kp.pack_channel_shift4(rng.integers(0, 6, channels)))
    return kp.Requant(rng.integers(1 << 30, (1 << 31) - 1, channels).astype(np.int32),
                      rng.integers(2, 8, channels).astype(np.int32))


def _four_bit(rng, shape) -> np.ndarray:
    values = rng.integers(-7, 8, shape).astype(np.int8)
    values.reshape(shape[0], -1)[0] = 0  # an all-zero output channel (conv / FC layout)
    return values


# ---------------------------------------------------------------- packing


@pytest.mark.parametrize("count", [0, 1, 2, 7, 8, 1001])
def test_pack_int4_round_trips_every_value_and_odd_counts(count):
    values = np.resize(np.arange(-8, 8, dtype=np.int8), count)
    packed = compact.pack_int4(values)
    assert len(packed) == (count + 1) // 2
    assert compact.unpack_int4(packed, count).tolist() == values.tolist()
    if count % 2:  # the last byte's high nibble is padding, 0
        assert packed[-1] >> 4 == 0


def test_pack_int4_layout_by_hand():
    # element 0 in the low nibble: [1, -1, -8, 7] -> 0xF1, 0x78
    assert compact.pack_int4(np.array([1, -1, -8, 7])) == bytes([0xF1, 0x78])
    with pytest.raises(ValueError, match="-8..7"):
        compact.pack_int4(np.array([8]))


# ---------------------------------------------------------------- kernels: packed == unpacked, bit for bit


@pytest.mark.parametrize("kernel,in_ch,out_ch", [
    ((3, 3), 3, 70),    # odd row length 27 (rows start mid-byte), 64 + 6 channels
    ((1, 1), 37, 9),    # pointwise, odd row
    ((3, 3), 50, 11),   # 450-weight rows: 4 rows per unpack, not a whole channel block
    ((5, 5), 81, 2),    # 2025-weight rows: one row per unpack (the buffer holds 2048)
    ((3, 3), 14, 30),   # even rows of 126 read packed (30 * 126 > 2048): four-row passes and a tail of 2
    ((3, 3), 15, 21),   # odd rows of 135 read packed: rows of one parity four at a time, then 5 one by one
])
def test_conv_2d_s4_equals_the_int8_kernel(kernel, in_ch, out_ch):
    rng = np.random.default_rng(in_ch)
    input = rng.integers(-128, 128, (1, 6, 5, in_ch)).astype(np.int8)
    filter = _four_bit(rng, (out_ch, *kernel, in_ch))
    bias = rng.integers(-5000, 5000, out_ch).astype(np.int32)
    params = replace(PLAIN_CONV, pad_top=kernel[0] // 2, pad_left=kernel[1] // 2)
    for wess_shifts in (True, False):
        requant = _requant(rng, out_ch, wess_shifts)
        expected = kernel_calls.conv_2d(params, requant, input, filter, bias, (1, 6, 5, out_ch))
        packed = np.frombuffer(compact.pack_int4(filter), np.uint8)
        assert np.array_equal(kernel_calls.conv_2d_s4(params, requant, input, packed, filter.shape, bias,
                                                 (1, 6, 5, out_ch)), expected)


@pytest.mark.parametrize("channels,multiplier", [(70, 1), (9, 2), (5, 1)])
def test_depthwise_conv_2d_s4_equals_the_int8_kernel(channels, multiplier):
    rng = np.random.default_rng(channels)
    out_ch = channels * multiplier
    input = rng.integers(-128, 128, (1, 5, 6, channels)).astype(np.int8)
    filter = rng.integers(-7, 8, (1, 3, 3, out_ch)).astype(np.int8)
    filter[..., 1] = 0  # an all-zero channel
    bias = rng.integers(-5000, 5000, out_ch).astype(np.int32)
    params = kp.DepthwiseParams(PLAIN_CONV, multiplier)
    requant = _requant(rng, out_ch, True)
    expected = kernel_calls.depthwise_conv_2d(params, requant, input, filter, bias, (1, 5, 6, out_ch))
    packed = np.frombuffer(compact.pack_int4(filter), np.uint8)  # 9 * out_ch: odd when out_ch is
    assert np.array_equal(kernel_calls.depthwise_conv_2d_s4(params, requant, input, packed, filter.shape, bias,
                                                       (1, 5, 6, out_ch)), expected)


@pytest.mark.parametrize("in_depth,out_depth", [(33, 70), (2048, 3), (1, 1), (70, 37), (37, 9)])
def test_fully_connected_s4_equals_the_int8_kernel(in_depth, out_depth):
    rng = np.random.default_rng(in_depth)
    input = rng.integers(-128, 128, (3, in_depth)).astype(np.int8)
    filter = _four_bit(rng, (out_depth, in_depth))
    bias = rng.integers(-5000, 5000, out_depth).astype(np.int32)
    params = kp.FullyConnectedParams(input_offset=-5, output_offset=2, act_min=-128, act_max=127)
    requant = _requant(rng, out_depth, False)
    expected = kernel_calls.fully_connected(params, requant, input, filter, bias)
    packed = np.frombuffer(compact.pack_int4(filter), np.uint8)
    assert np.array_equal(kernel_calls.fully_connected_s4(params, requant, input, packed, filter.shape, bias), expected)


def test_s4_kernels_refuse_rows_longer_than_their_buffer():
    params = kp.FullyConnectedParams(input_offset=0, output_offset=0, act_min=-128, act_max=127)
    input = np.zeros((1, 2049), np.int8)
    packed = np.zeros(1025, np.uint8)
    requant = kp.Requant(np.array([1 << 30], np.int32), np.array([0], np.int32))
    with pytest.raises(library.KernelError, match="WESS_ERR_UNSUPPORTED"):
        kernel_calls.fully_connected_s4(params, requant, input, packed, (1, 2049), None)
