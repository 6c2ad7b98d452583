"""Learned rounding (`+ar`): the layer maths on tiny layers, and a deployed tiny model still exact and consistent."""
import numpy as np
import pytest

from pipeline import deploy
from pipeline.quant import adaround, rewrite, schemes, wess
from pipeline.tflite import flatbuf, metadata, runtime

BUILTIN = flatbuf.BUILTIN


class _Options:  # the builtin options patches() reads
    def __init__(self, stride, padding_same=True, dilation=1):
        from ai_edge_litert import schema_py_generated as schema

        self.strideH = self.strideW = stride
        self.dilationHFactor = self.dilationWFactor = dilation
        self.padding = schema.Padding.SAME if padding_same else schema.Padding.VALID


class _Op:
    def __init__(self, **kw):
        self.builtinOptions = _Options(**kw)


@pytest.mark.parametrize("stride,same", [(1, True), (2, True), (2, False)])
def test_conv_patches_times_grouped_weights_is_the_convolution(stride, same):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6, 3)).astype(np.float32)
    w = rng.normal(size=(4, 3, 2, 3)).astype(np.float32)  # TFLite [O, kh, kw, I]
    rows = adaround.patches(x, _Op(stride=stride, padding_same=same), BUILTIN.CONV_2D, w.shape)
    groups = adaround.to_groups(w, BUILTIN.CONV_2D, 3)
    expected = tf.nn.conv2d(x, np.transpose(w, (1, 2, 3, 0)), stride, "SAME" if same else "VALID").numpy()
    assert np.allclose(rows[0] @ groups[0].T, expected.reshape(-1, 4), atol=1e-5)
    assert np.array_equal(adaround.from_groups(groups, w.shape, BUILTIN.CONV_2D), w)


def test_depthwise_patches_times_grouped_weights_is_the_depthwise_convolution():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 5, 3)).astype(np.float32)
    w = rng.normal(size=(1, 3, 3, 6)).astype(np.float32)  # multiplier 2: output c * 2 + m reads input c
    rows = adaround.patches(x, _Op(stride=1), BUILTIN.DEPTHWISE_CONV_2D, w.shape)  # [3, P, 9]
    groups = adaround.to_groups(w, BUILTIN.DEPTHWISE_CONV_2D, 3)  # [3, 2, 9]
    got = np.einsum("cpk,cmk->pcm", rows, groups).reshape(rows.shape[1], 6)
    expected = tf.nn.depthwise_conv2d(x, w[0].reshape(3, 3, 3, 2), (1, 1, 1, 1), "SAME").numpy()
    assert np.allclose(got, expected.reshape(-1, 6), atol=1e-5)
    assert np.array_equal(adaround.from_groups(groups, w.shape, BUILTIN.DEPTHWISE_CONV_2D), w)


@pytest.mark.parametrize("stride,same,output_hw", [(2, True, (10, 8)), (1, True, (5, 4)), (2, False, (11, 9)),
                                                   (3, True, (15, 12)), (2, True, (9, 7))])
def test_transpose_conv_patches_times_grouped_weights_is_the_transposed_convolution(stride, same, output_hw):
    """TRANSPOSE_CONV's fields (input spread by the stride, taps reversed) times its filter rows give TensorFlow's
    conv2d_transpose, whose padding for the output size is TFLite's; (9, 7): an odd output of stride 2, so the
    padding is uneven; (3, True): a kernel smaller than the stride (outputs no tap reaches are 0)."""
    import tensorflow as tf

    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
    w = rng.normal(size=(4, 3, 2, 3)).astype(np.float32)  # TFLite [O, kh, kw, I]
    rows = adaround.patches(x, _Op(stride=stride, padding_same=same), BUILTIN.TRANSPOSE_CONV, w.shape, output_hw)
    groups = adaround.to_groups(w, BUILTIN.TRANSPOSE_CONV, 3)
    expected = tf.nn.conv2d_transpose(x, np.transpose(w, (1, 2, 0, 3)), (2, *output_hw, 4), stride,
                                      "SAME" if same else "VALID").numpy()
    # float32 sums of at most 18 products of values of order 1 in two orders
    assert np.allclose(rows[0] @ groups[0].T, expected.reshape(-1, 4), atol=1e-5)
    assert np.array_equal(adaround.from_groups(groups, w.shape, BUILTIN.TRANSPOSE_CONV), w)


def _tiny_layer(seed=2, outputs=6, inputs=12, rows=400):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(1, outputs, inputs)) * rng.uniform(0.2, 2.0, size=(1, outputs, 1))
    x_f = rng.normal(size=(1, rows, inputs)) @ rng.normal(size=(inputs, inputs)) * 0.5  # correlated inputs
    x_q = x_f + rng.normal(scale=0.05, size=x_f.shape)  # the input as earlier int8 layers produce it
    gram, used = adaround.accumulate(None, x_q, x_f, rng)
    scales = np.abs(w).max(axis=2, keepdims=True) / 127.0 * 8.0  # a coarse grid: rounding matters
    nearest = np.clip(np.sign(w / scales) * np.floor(np.abs(w / scales) + 0.5), -127, 127)
    return w, x_q, x_f, adaround.LayerGram(gram, used), scales, nearest


def test_output_error_equals_the_direct_sum_of_squares():
    w, x_q, x_f, stats, scales, nearest = _tiny_layer()
    direct = np.sum((x_f[0] @ w[0].T - x_q[0] @ (nearest * scales)[0].T) ** 2) / x_f.shape[1]
    # the Gram is summed from float32 products (the activations are float32): the error, a difference of terms
    # about 30x larger, is good to ~1e-4 relative
    assert adaround.output_error(nearest * scales, w, stats) == pytest.approx(direct, rel=1e-3)


def test_learned_rounding_is_on_the_grid_and_beats_nearest():
    w, _, _, stats, scales, nearest = _tiny_layer()
    learned, learned_error, nearest_error = adaround.learn_rounding(w, scales, nearest, stats)
    floor = np.floor(w / scales)
    assert np.all((learned == floor) | (learned == floor + 1))  # each weight rounded down or up, nothing else
    assert learned.min() >= -127 and learned.max() <= 127
    assert nearest_error == pytest.approx(adaround.output_error(nearest * scales, w, stats))
    assert learned_error == pytest.approx(adaround.output_error(learned * scales, w, stats))
    assert learned_error < 0.9 * nearest_error  # correlated inputs: per-weight nearest rounding is far from optimal
    assert np.sum(learned != nearest) > 0


def test_learned_rounding_keeps_nearest_when_nothing_can_be_learned():
    """Weights exactly on the grid: nearest is exact (error 0), learning cannot improve and must not move."""
    w, _, _, stats, scales, _ = _tiny_layer(seed=3)
    on_grid = np.round(w / scales)
    learned, learned_error, nearest_error = adaround.learn_rounding(on_grid * scales, scales, on_grid, stats,
                                                                    iterations=20)
    assert np.array_equal(learned, on_grid) and learned_error == nearest_error


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(5)(x))
    kernel = model.layers[1].get_weights()
    kernel[0] *= np.array([1, 1, 1, 1, 0.01, 0.05, 1, 3], np.float32)  # WESS shifts > 0 on some channels
    model.layers[1].set_weights(kernel)
    x_calib = np.random.default_rng(0).uniform(0, 1, (60, 12, 12, 2)).astype(np.float32)
    return model, x_calib


@pytest.mark.parametrize("base", ("per_tensor", "per_channel", "wess", "wess4"))  # every 8-bit grid, one 4-bit
def test_deployed_ar_model_is_on_the_grid_with_unchanged_scales(tiny_model, base):
    model, x_calib = tiny_model
    # 4 bits: no runtime gate, LiteRT's reference FULLY_CONNECTED (single rounding) differs from TFLite Micro's
    # (double rounding) on some inputs (README, "4-bit weights"); this test is about the weights
    gate = {"verify_inputs": 0} if schemes.weight_bits(base) == 4 else {}
    plain = deploy.run_passes(model, x_calib, deploy.DeployOptions(base, **gate))
    learned = deploy.run_passes(model, x_calib, deploy.DeployOptions(f"{base}+ar", **gate))
    m_plain, m_ar = flatbuf.read_model(plain.model), flatbuf.read_model(learned.model)
    ops = rewrite.weighted_ops(m_ar, flatbuf.read_model(learned.calibrated))
    assert len(learned.roundings) == len(ops) == 3
    moved = 0
    for wop in ops:
        t_plain, t_ar = (m.subgraphs[0].tensors[wop.weight_tensor] for m in (m_plain, m_ar))
        assert np.array_equal(t_plain.quantization.scale, t_ar.quantization.scale)  # the scheme's grid, unchanged
        q = flatbuf.tensor_array(m_ar, wop.weight_tensor).astype(np.float64)
        scales = adaround._broadcast_scales(adaround.channel_scales(m_ar, wop), q.shape, wop.channel_axis)
        floor = np.floor(wop.float_weights.astype(np.float64) / scales)
        q_max = wess.Q_MAX[schemes.weight_bits(base)]  # 127, or 7 on the 4-bit grid
        assert np.all((q == floor) | (q == floor + 1) | (np.abs(q) == q_max))
        moved += int(np.sum(q != flatbuf.tensor_array(m_plain, wop.weight_tensor)))
    assert moved > 0
    for r in learned.roundings:
        assert r.learned_error <= r.nearest_error
    if schemes.parse_scheme(base).wess:  # metadata consistent and multipliers still (M0, n + k_c)
        shifts_ar, shifts_plain = metadata.read_shifts(m_ar, "ar"), metadata.read_shifts(m_plain, "plain")
        assert [repr(s) for s in shifts_ar] == [repr(s) for s in shifts_plain]
        for wop, layer in plain.wess_layers:
            rewrite.check_exact_per_channel(layer, float(m_ar.subgraphs[0].tensors[wop.input_tensor]
                                                             .quantization.scale[0]),
                                                float(m_ar.subgraphs[0].tensors[wop.output_tensor]
                                                      .quantization.scale[0]), wop)


def test_deployed_wess_ar_is_byte_identical_in_litert_and_tflm(tiny_model):
    model, x_calib = tiny_model
    state = deploy.run_passes(model, x_calib, deploy.DeployOptions("wess+ar+bc"))
    x = runtime.quantize_input(x_calib[:20], runtime.io_quant(state.model))
    assert np.array_equal(runtime.run_litert(state.model, x), runtime.run_tflm(state.model, x))


def test_transpose_conv_weights_are_learned_on_the_wess_grid(transpose_conv_model):
    """wess+ar+bc on a model with two TRANSPOSE_CONVs: AdaRound re-rounds them too (their input from operand 2, the
    receptive fields of the transposed convolution), every weight floor or ceil of W / s on the unchanged WESS
    grid, never worse than nearest on the calibration data, and deploy's gate finds 0 differing bytes."""
    x_calib = np.random.default_rng(0).normal(size=(60, 6, 6, 3)).astype(np.float32)
    state = deploy.run_passes(transpose_conv_model, x_calib, deploy.DeployOptions("wess+ar+bc", verify_inputs=16))
    model = flatbuf.read_model(state.model)
    transposed = [wop for wop in rewrite.weighted_ops(model, flatbuf.read_model(state.calibrated))
                  if wop.builtin_code == BUILTIN.TRANSPOSE_CONV]
    assert len(transposed) == 2
    assert {r.operator for r in state.roundings if r.op == "TRANSPOSE_CONV"} == {w.operator_index for w in transposed}
    assert all(r.learned_error <= r.nearest_error for r in state.roundings)
    assert any(r.flipped and r.learned_error < r.nearest_error for r in state.roundings if r.op == "TRANSPOSE_CONV")
    for wop in transposed:
        q = flatbuf.tensor_array(model, wop.weight_tensor).astype(np.float64)  # bias correction leaves weights alone
        scales = adaround._broadcast_scales(adaround.channel_scales(model, wop), q.shape, wop.channel_axis)
        floor = np.floor(wop.float_weights.astype(np.float64) / scales)
        assert np.all((q == floor) | (q == floor + 1) | (np.abs(q) == 127))
    assert state.verification["gate"]["mismatched_bytes"] == 0


def test_scheme_names_with_ar():
    assert schemes.parse_scheme("cle+wess+ar+bc") == schemes.Scheme(True, "wess", True, True)
    assert schemes.parse_scheme("per_channel+ar") == schemes.Scheme(False, "per_channel", False, True)
    assert set(schemes.ADAROUND_SCHEMES) <= set(schemes.scheme_names())
    with pytest.raises(Exception, match="unknown scheme"):
        schemes.parse_scheme("wess+bc+ar")
