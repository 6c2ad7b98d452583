"""The host build's kernels (kernel_util.h: WESS_HOST_KERNELS) against the portable ones, bytes on random shapes."""
from __future__ import annotations

import ctypes
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pipeline.cref import compact, kernel_calls, library
from pipeline.cref import kernel_params as kp

pytestmark = pytest.mark.usefixtures("reference_library")  # conftest.py: the library under test

ROOT = Path(__file__).resolve().parent.parent
CASES = 60  # random cases per kernel: shapes, offsets, requantization and biases drawn per case


@dataclass(frozen=True)
class Variants:
    """The library under test (host kernels; with AVX2 clones on an x86-64 machine that has AVX2), the host kernels
    built without clones (the x86-64 baseline code) and the portable kernels (WESS_PORTABLE_KERNELS)."""

    host: ctypes.CDLL
    baseline: ctypes.CDLL
    portable: ctypes.CDLL


@pytest.fixture(scope="module")
def variants(reference_library) -> Variants:
    subprocess.run(["make", "-C", str(ROOT / "firmware_ref"), "variants", f"BUILD_DIR={ROOT / 'build'}"], check=True,
                   capture_output=True)

    def load(name: str) -> ctypes.CDLL:
        loaded = ctypes.CDLL(str(ROOT / "build" / name))
        for kernel in ("wess_conv_2d_s8", "wess_conv_2d_s4", "wess_depthwise_conv_2d_s8",
                       "wess_depthwise_conv_2d_s4", "wess_fully_connected_s8", "wess_add_s8", "wess_sub_s8"):
            getattr(loaded, kernel).restype = ctypes.c_int
        return loaded

    return Variants(reference_library, load("libwess_ref_baseline.so"), load("libwess_ref_portable.so"))


def outputs_of_each(variants: Variants, monkeypatch, call):
    """call() run against each library in turn: {name: its output}."""
    results = {}
    for name in ("host", "baseline", "portable"):
        monkeypatch.setattr(library, "load_library", lambda name=name: getattr(variants, name))
        results[name] = call()
    monkeypatch.undo()
    return results


def assert_same_bytes(results: dict, case: str) -> None:
    portable = results["portable"]
    for name in ("host", "baseline"):
        differing = int(np.count_nonzero(results[name] != portable))
        assert differing == 0, f"{case}: {name} differs from portable in {differing} of {portable.size} bytes"


def random_requant(rng: np.random.Generator, channels: int) -> kp.Requant:
    """Per-channel (right shifts -4..12, negative = left shift) or per-layer with WESS shifts (right shift 0..20 plus
    k_c 0..15, some totals above 31, flushed): multipliers anywhere in [0, 2^31 - 1]."""
    if rng.random() < 0.5:
        multiplier = rng.integers(0, 2**31, channels, dtype=np.int64).astype(np.int32)
        return kp.Requant(multiplier, rng.integers(-4, 13, channels).astype(np.int32))
    shifts = rng.integers(0, 16, channels)
    return kp.Requant(np.array([rng.integers(2**30, 2**31)], np.int32), np.array([rng.integers(0, 21)], np.int32),
                      kp.pack_channel_shift4(shifts))


def random_bias(rng: np.random.Generator, channels: int) -> np.ndarray | None:
    """None, small biases, or biases near the int32 limits (the saturating bias addition)."""
    pick = rng.integers(0, 3)
    if pick == 0:
        return None
    if pick == 1:
        return rng.integers(-2**16, 2**16, channels).astype(np.int32)
    return rng.choice([-2**31, 2**31 - 1, -2**31 + 5, 2**31 - 7], channels).astype(np.int32)


def random_activation(rng: np.random.Generator) -> tuple[int, int]:
    low = int(rng.integers(-128, 60))
    return low, int(rng.integers(low, 128))


def window(rng: np.random.Generator, extent: int, kernel: int, stride: int, dilation: int) -> tuple[int, int] | None:
    """(output extent, padding before) for SAME or VALID padding as TFLite computes them; None if VALID is empty."""
    effective = dilation * (kernel - 1) + 1
    if rng.random() < 0.5:
        output = -(-extent // stride)
        return output, max((output - 1) * stride + effective - extent, 0) // 2
    output = -(-(extent - effective + 1) // stride)
    return (output, 0) if output >= 1 else None


def conv_case(rng: np.random.Generator, depthwise: bool):
    """Random CONV_2D / DEPTHWISE_CONV_2D operands: odd and even channel counts below, at and past the channel block
    (64) and the host dot product's transposed rows (32 taps), 1x1 (the pointwise paths) and larger filters, one
    pixel to several requantization row groups (8 pixels) and their tails, strides, dilation, SAME and VALID."""
    while True:
        kernel_h, kernel_w = [(1, 1), (1, 1), (3, 3), (1, 3), (2, 5), (10, 4)][rng.integers(0, 6)]
        stride = int(rng.integers(1, 3))
        dilation = 1 if rng.random() < 0.8 else 2
        height, width = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        rows, columns = window(rng, height, kernel_h, stride, dilation), window(rng, width, kernel_w, stride, dilation)
        if rows is not None and columns is not None:
            break
    input_c = int(rng.choice([1, 2, 3, 5, 8, 16, 17, 31, 33, 64]))
    multiplier = int(rng.choice([1, 1, 2])) if depthwise else 1
    output_c = input_c * multiplier if depthwise else int(rng.choice([1, 3, 7, 8, 13, 16, 63, 64, 65, 130]))
    act_min, act_max = random_activation(rng)
    conv = kp.ConvParams(input_offset=int(rng.integers(-127, 129)), output_offset=int(rng.integers(-128, 128)),
                         stride_y=stride, stride_x=stride, dilation_y=dilation, dilation_x=dilation,
                         pad_top=rows[1], pad_left=columns[1], act_min=act_min, act_max=act_max)
    params = kp.DepthwiseParams(conv, multiplier) if depthwise else conv
    filter_shape = (1, kernel_h, kernel_w, output_c) if depthwise else (output_c, kernel_h, kernel_w, input_c)
    filter = rng.integers(-128, 128, filter_shape).astype(np.int8)
    input = rng.integers(-128, 128, (1, height, width, input_c)).astype(np.int8)
    description = (f"{'depthwise' if depthwise else 'conv'} input {input.shape} filter {filter.shape} stride {stride} "
                   f"dilation {dilation} pad {rows[1]},{columns[1]}")
    return (params, random_requant(rng, output_c), input, filter, random_bias(rng, output_c),
            (1, rows[0], columns[0], output_c), description)


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
def test_host_conv_and_depthwise_match_portable(variants, monkeypatch, depthwise):
    rng = np.random.default_rng(13 + depthwise)
    kernel = kernel_calls.depthwise_conv_2d if depthwise else kernel_calls.conv_2d
    for _ in range(CASES):
        params, requant, input, filter, bias, output_shape, description = conv_case(rng, depthwise)
        results = outputs_of_each(variants, monkeypatch,
                                  lambda: kernel(params, requant, input, filter, bias, output_shape))
        assert_same_bytes(results, description)


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
def test_host_4bit_conv_and_depthwise_match_portable(variants, monkeypatch, depthwise):
    rng = np.random.default_rng(130 + depthwise)
    kernel = kernel_calls.depthwise_conv_2d_s4 if depthwise else kernel_calls.conv_2d_s4
    for _ in range(CASES // 3):
        params, requant, input, filter, bias, output_shape, description = conv_case(rng, depthwise)
        values = (filter.astype(np.int16) // 16).astype(np.int8)  # in -8..7
        packed = np.frombuffer(compact.pack_int4(values.ravel()), np.uint8)
        results = outputs_of_each(variants, monkeypatch,
                                  lambda: kernel(params, requant, input, packed, filter.shape, bias, output_shape))
        assert_same_bytes(results, "4-bit " + description)


def test_host_fully_connected_matches_portable(variants, monkeypatch):
    rng = np.random.default_rng(14)
    for _ in range(CASES):
        batch, inputs = int(rng.integers(1, 4)), int(rng.choice([1, 7, 16, 33, 64, 200]))
        outputs = int(rng.choice([1, 5, 10, 64, 65, 129]))
        act_min, act_max = random_activation(rng)
        params = kp.FullyConnectedParams(int(rng.integers(-127, 129)), int(rng.integers(-128, 128)), act_min, act_max)
        input = rng.integers(-128, 128, (batch, inputs)).astype(np.int8)
        filter = rng.integers(-128, 128, (outputs, inputs)).astype(np.int8)
        requant, bias = random_requant(rng, outputs), random_bias(rng, outputs)
        results = outputs_of_each(variants, monkeypatch,
                                  lambda: kernel_calls.fully_connected(params, requant, input, filter, bias))
        assert_same_bytes(results, f"fully connected input {input.shape} filter {filter.shape}")


@pytest.mark.parametrize("operation", ["add", "sub"])
def test_host_add_and_sub_match_portable(variants, monkeypatch, operation):
    """Same-shaped inputs (the host loop, in chunks of 64 with a tail) over random scales, zero points and
    activations, including scales 2^10 apart (right shifts far from the usual ones) and powers of two (exact
    halves, where the rounding of ties decides)."""
    rng = np.random.default_rng(15 if operation == "add" else 16)
    kernel = kernel_calls.add if operation == "add" else kernel_calls.sub
    for _ in range(CASES):
        scales = 2.0 ** (rng.uniform(-10, 0, 3) if rng.random() < 0.5 else rng.integers(-10, 1, 3))
        zero_points = rng.integers(-128, 128, 3)
        activation = str(rng.choice(["NONE", "RELU", "RELU6"]))
        params = kp.add_params(scales[0], int(zero_points[0]), scales[1], int(zero_points[1]), scales[2],
                               int(zero_points[2]), activation)
        shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 8, 16, 63, 65])))
        input1 = rng.integers(-128, 128, shape).astype(np.int8)
        input2 = rng.integers(-128, 128, shape).astype(np.int8)
        results = outputs_of_each(variants, monkeypatch, lambda: kernel(params, input1, input2))
        assert_same_bytes(results, f"{operation} of {shape}, scales {scales.tolist()}")


def test_host_requantization_extremes_match_portable(variants, monkeypatch):
    """Accumulators and biases at the int32 limits (saturating addition), left shifts up to 30 (saturating shift),
    right shifts 0 and 31 and flushed totals, through a 1x1 convolution of 1 input channel whose weight is 1."""
    rng = np.random.default_rng(17)
    channels = 64
    right_shift = np.concatenate([np.arange(-30, 32), [0, 31]]).astype(np.int32)
    multiplier = np.concatenate([[0, 1, 2**30, 2**31 - 1], rng.integers(0, 2**31, channels - 4)]).astype(np.int32)
    requant = kp.Requant(multiplier, right_shift)
    bias = rng.choice([-2**31, -2**31 + 127, -1, 0, 1, 2**31 - 128, 2**31 - 1], channels).astype(np.int32)
    params = kp.ConvParams(input_offset=0, output_offset=5, stride_y=1, stride_x=1, dilation_y=1, dilation_x=1,
                           pad_top=0, pad_left=0, act_min=-128, act_max=127)
    input = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)
    filter = np.ones((channels, 1, 1, 1), np.int8)
    results = outputs_of_each(variants, monkeypatch,
                              lambda: kernel_calls.conv_2d(params, requant, input, filter, bias, (1, 16, 16, channels)))
    assert_same_bytes(results, "requantization extremes")
    # every output is one of the 256 distinct values of its channel; the flushed and saturated ones included
    assert len(np.unique(results["host"])) > 16
