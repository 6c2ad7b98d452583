"""WESS maths on hand-made weights: shifts, scales, bias, caps and the exact per-channel equivalence."""
import numpy as np
import pytest

from pipeline.errors import UnsupportedError
from pipeline.fixedpoint import quantize_multiplier
from pipeline.quant import wess


def conv_weights(ranges, shape=(3, 3, 2)):
    """Conv weights [O, H, W, I] whose channel c has max |W_c| = ranges[c] (one entry carries it)."""
    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, size=(len(ranges), *shape)).astype(np.float32)
    w /= np.abs(w).reshape(len(ranges), -1).max(axis=1).reshape(-1, 1, 1, 1)
    return (w * np.asarray(ranges, np.float32).reshape(-1, 1, 1, 1)).astype(np.float32)


def test_floor_shifts_exact_powers_of_two():
    # R = 8: ratios 1, 2, 4, 8, 3 (floor log2 3 = 1), 8/7 (0)
    ranges = np.array([8.0, 4.0, 2.0, 1.0, 8 / 3, 7.0])
    assert wess.floor_shifts(ranges).tolist() == [0, 1, 2, 3, 1, 0]


def test_floor_shifts_zero_channel_and_zero_layer():
    assert wess.floor_shifts(np.array([2.0, 0.0, 1.0])).tolist() == [0, 0, 1]
    assert wess.floor_shifts(np.zeros(4)).tolist() == [0, 0, 0, 0]


def test_floor_shifts_saturate_at_15():
    ranges = np.array([1.0, 2.0 ** -16, 2.0 ** -15, 2.0 ** -20])
    assert wess.floor_shifts(ranges).tolist() == [0, 15, 15, 15]


def test_shifted_range_lies_in_half_open_band():
    rng = np.random.default_rng(1)
    ranges = np.exp(rng.uniform(-9, 0, size=1000))
    k = wess.floor_shifts(ranges)
    scaled = ranges * np.exp2(k)
    assert np.all(scaled <= ranges.max())
    assert np.all(scaled > ranges.max() / 2)


def test_quantize_layer_matches_definition():
    w = conv_weights([1.0, 0.25, 0.1, 0.0])
    b = np.array([0.5, -0.25, 0.01, 0.0], np.float32)
    layer = wess.quantize_layer(w, b, 0, input_scale=0.02, output_scale=0.05, rule="floor")
    assert layer.channel_right_shift.tolist() == [0, 2, 3, 0]
    assert layer.layer_scale == np.float32(1.0 / 127)
    expected = np.clip(np.round(w.astype(np.float64) * np.exp2([0, 2, 3, 0]).reshape(-1, 1, 1, 1) / (1.0 / 127)),
                       -127, 127)
    # np.round is half-to-even; no weight here sits on a tie, so it equals half-away-from-zero
    assert np.array_equal(layer.weights_q, expected.astype(np.int8))
    assert layer.weights_q[0].__abs__().max() == 127
    assert np.all(layer.weights_q[3] == 0)
    bias_scale = 0.02 * layer.channel_scales.astype(np.float64)
    assert np.array_equal(layer.bias_q, np.round(b / bias_scale).astype(np.int32))


@pytest.mark.parametrize("rule", wess.SHIFT_RULES)
def test_channel_scales_are_exact_powers_of_two_of_layer_scale(rule):
    layer = wess.quantize_layer(conv_weights([3.0, 0.02, 0.7]), np.zeros(3, np.float32), 0, 0.1, 0.1, rule)
    ratio = layer.layer_scale.astype(np.float64) / layer.channel_scales.astype(np.float64)
    assert np.array_equal(ratio, np.exp2(layer.channel_right_shift.astype(np.float64)))


@pytest.mark.parametrize("rule", wess.SHIFT_RULES)
@pytest.mark.parametrize("input_scale,output_scale", [(0.02, 0.05), (1e-3, 0.3), (0.5, 1e-3), (3e-5, 7e-2)])
def test_tflite_per_channel_multiplier_equals_npu_path(input_scale, output_scale, rule):
    w = conv_weights([1.0, 0.3, 2.0 ** -9, 0.01, 2.0 ** -14])
    layer = wess.quantize_layer(w, np.zeros(5, np.float32), 0, input_scale, output_scale, rule)
    for c, k in enumerate(layer.channel_right_shift):
        real = np.float64(np.float32(input_scale)) * np.float64(layer.channel_scales[c]) / np.float64(np.float32(output_scale))
        mantissa, exponent = quantize_multiplier(float(real))
        assert mantissa == layer.multiplier
        assert -exponent == layer.right_shift + int(k)


def test_total_right_shift_capped_at_31():
    # s_in * s / s_out tiny: n is already 25, so k_c is capped at 31 - 25 = 6 instead of 12
    w = conv_weights([1.0, 2.0 ** -12])
    layer = wess.quantize_layer(w, np.zeros(2, np.float32), 0, input_scale=2.0 ** -20, output_scale=1.0, rule="floor")
    assert layer.right_shift + int(layer.channel_right_shift.max()) <= 31
    assert layer.capped.tolist() == [False, True]
    assert layer.channel_right_shift.tolist() == [0, 31 - layer.right_shift]


def test_bias_overflow_lowers_the_shift():
    # channel 1 wants k = 15; its bias 1e3 / (1e-3 * (1/127) * 2^-15) would overflow int32
    w = conv_weights([1.0, 2.0 ** -15])
    b = np.array([0.0, 1e3], np.float32)
    layer = wess.quantize_layer(w, b, 0, input_scale=1e-3, output_scale=1.0, rule="floor")
    assert layer.capped.tolist() == [False, True]
    assert layer.channel_right_shift[1] < 15
    assert abs(int(layer.bias_q[1])) <= 2**31 - 1


def test_bias_overflow_even_without_shift_raises_the_layer_scale():
    # weights tiny against the bias: 1e9 / (1e-3 * 1/127) overflows int32 at k = 0, so s becomes
    # |b| / (s_in * 2^30) rounded up in float32 (TFLite's quantizer widens such a scale too) and the bias fits
    w = conv_weights([1.0, 0.5])
    b = np.array([1e9, -1.0], np.float32)
    layer = wess.quantize_layer(w, b, 0, input_scale=1e-3, output_scale=1.0, rule="floor")
    needed = 1e9 / (float(np.float32(1e-3)) * 2.0 ** 30)
    assert float(layer.layer_scale) >= needed and float(np.nextafter(layer.layer_scale, np.float32(0))) < needed
    assert layer.scale_raised_by == pytest.approx(needed * 127, rel=1e-6)
    assert layer.channel_right_shift.tolist() == [0, 1]  # the rule's shifts (R / r_1 = 2) stand
    assert int(layer.bias_q[0]) == round(1e9 / (float(np.float32(1e-3)) * float(layer.layer_scale)))
    assert abs(int(layer.bias_q[0])) <= 2 ** 30
    assert layer.weights_q.min() == 0 and layer.weights_q.max() == 0  # 1.0 / 931.3 rounds to 0


def test_raise_for_bias_per_channel_and_per_tensor():
    bias = np.array([1e9, 1.0], np.float32)
    scales = np.array([1e-2, 1e-2], np.float32)
    needed = np.float32(1e9 / (float(np.float32(1e-3)) * 2.0 ** 30))
    per_channel = wess.raise_for_bias(scales, bias, 1e-3)
    assert per_channel[1] == np.float32(1e-2) and per_channel[0] >= needed  # only the overflowing channel moves
    per_tensor = wess.raise_for_bias(scales[:1], bias, 1e-3)
    assert per_tensor.shape == (1,) and per_tensor[0] == per_channel[0]  # the layer's scale, for the largest |b|
    assert wess.raise_for_bias(scales, np.array([1.0, -1.0], np.float32), 1e-3).tolist() == scales.tolist()


def test_quantize_bias_still_refuses_what_int32_cannot_hold():
    with pytest.raises(UnsupportedError, match="overflows int32"):
        wess.quantize_bias(np.array([1e9], np.float32), 1e-3, np.array([1e-2], np.float32))


def test_saturation_reported():
    layer = wess.quantize_layer(conv_weights([1.0, 2.0 ** -17]), np.zeros(2, np.float32), 0, 0.01, 0.01, "floor")
    assert layer.saturated.tolist() == [False, True]
    assert layer.channel_right_shift.tolist() == [0, 15]


@pytest.mark.parametrize("rule", wess.SHIFT_RULES)
def test_all_zero_layer(rule):
    layer = wess.quantize_layer(np.zeros((2, 1, 1, 3), np.float32), np.zeros(2, np.float32), 0, 0.1, 0.1, rule)
    assert np.all(layer.weights_q == 0) and np.all(layer.channel_right_shift == 0)
    assert layer.layer_scale > 0


def test_depthwise_channel_axis_is_last():
    w = np.transpose(conv_weights([1.0, 0.25, 0.5], shape=(3, 3, 1)), (3, 1, 2, 0))  # [1, H, W, C]
    assert w.shape == (1, 3, 3, 3)
    layer = wess.quantize_layer(w, np.zeros(3, np.float32), 3, 0.1, 0.1, rule="floor")
    assert layer.channel_right_shift.tolist() == [0, 2, 1]


def test_mse_rule_never_worse_than_floor():
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((16, 3, 3, 8)) * np.exp(rng.uniform(-6, 0, size=(16, 1, 1, 1)))).astype(np.float32)
    floor = wess.quantize_layer(w, np.zeros(16, np.float32), 0, 0.1, 0.1, rule="floor")
    mse = wess.quantize_layer(w, np.zeros(16, np.float32), 0, 0.1, 0.1, rule="mse")
    err = lambda layer: wess.weight_error(w, 0, layer.layer_scale, layer.channel_right_shift).sum()  # noqa: E731
    assert err(mse) <= err(floor)


def test_disparity_and_sqnr():
    assert wess.disparity(conv_weights([4.0, 1.0, 0.0]), 0) == 4.0
    assert wess.sqnr_db(np.ones(4), np.ones(4)) == float("inf")
    assert wess.sqnr_db(np.array([10.0]), np.array([9.0])) == pytest.approx(20.0)


def test_mse_rule_respects_the_caps():
    """The caps (n + k_c <= 31, int32 bias) apply whatever rule chose the shifts."""
    w = conv_weights([1.0, 2.0 ** -12])
    layer = wess.quantize_layer(w, np.zeros(2, np.float32), 0, input_scale=2.0 ** -20, output_scale=1.0, rule="mse")
    assert layer.right_shift + int(layer.channel_right_shift.max()) <= 31
    layer = wess.quantize_layer(conv_weights([1.0, 2.0 ** -15]), np.array([0.0, 1e3], np.float32), 0, 1e-3, 1.0, "mse")
    assert abs(int(layer.bias_q[1])) <= 2**31 - 1 and layer.capped[1]


@pytest.mark.parametrize("scheme", ["wess", "wess+bc"])
def test_transpose_conv_gets_wess(scheme, transpose_conv_model):
    """Both TRANSPOSE_CONVs get WESS as CONV_2D does: listed in `wess.shifts` (op code 67, their filter operand
    1), per-channel filter scales exactly s * 2^-k_c on axis 0 ([O, kh, kw, I]), TFLite's per-channel multiplier
    of each channel exactly (M0, n + k_c) with the data input's scale (operand 2), the bias-less one given an int32
    bias at operand 3, and the C reference equal to TFLite Micro byte for byte in deploy's gate."""
    from pipeline import deploy
    from pipeline.tflite import flatbuf, metadata

    x_calib = np.random.default_rng(0).normal(size=(32, 6, 6, 3)).astype(np.float32)
    state = deploy.run_passes(transpose_conv_model, x_calib, deploy.DeployOptions(scheme, verify_inputs=16))
    model = flatbuf.read_model(state.model)
    graph = model.subgraphs[0]
    layers = {layer.operator_index: layer for layer in metadata.read_shifts(model, "tc.tflite")}
    transposed = [index for index, op in enumerate(graph.operators)
                  if flatbuf.builtin_code(model, op) == flatbuf.BUILTIN.TRANSPOSE_CONV]
    assert len(transposed) == 2 and set(transposed) <= set(layers)
    for index in transposed:
        op, layer = graph.operators[index], layers[index]
        assert layer.builtin_code == 67 and layer.weight_tensor == op.inputs[1]
        filter_quant = graph.tensors[op.inputs[1]].quantization
        expected = (np.float32(layer.layer_scale) / np.exp2(layer.channel_right_shift.astype(np.float32)))
        np.testing.assert_array_equal(np.asarray(filter_quant.scale, np.float32), expected.astype(np.float32))
        assert filter_quant.quantizedDimension == 0
        assert layer.channel_right_shift.tolist() != [layer.channel_right_shift[0]] * 3  # the scaled channels differ
        input_scale, output_scale = (float(graph.tensors[op.inputs[2]].quantization.scale[0]),
                                     float(graph.tensors[op.outputs[0]].quantization.scale[0]))
        for scale, shift in zip(filter_quant.scale, layer.channel_right_shift):
            real = np.float64(input_scale) * np.float64(scale) / np.float64(output_scale)
            mantissa, exponent = quantize_multiplier(real)
            assert (mantissa, -exponent) == (layer.multiplier, layer.right_shift + int(shift))
        assert len(op.inputs) == 4 and op.inputs[3] >= 0  # the bias-less layer has one now (WESS writes b = 0)
        assert graph.tensors[op.inputs[3]].type == flatbuf.schema.TensorType.INT32
    if scheme == "wess+bc":  # corrected as well: the bias-less layer's new bias is no longer all zero
        assert {c.operator for c in state.bias_corrections if c.op == "TRANSPOSE_CONV"} == set(transposed)
        assert np.any(flatbuf.tensor_array(model, graph.operators[transposed[1]].inputs[3]) != 0)
    assert state.verification["gate"]["mismatched_bytes"] == 0 and state.verification["firmware_unsupported"] == []
    assert state.verification["litert_vs_tflm"]["mismatched_bytes"] == 0
