"""Empirical bias correction: the expectation algebra, the requantized biases, and the mean error it removes."""
import numpy as np
import pytest

from pipeline.errors import WessError
from pipeline.quant import biascorr, rewrite, schemes
from pipeline.tflite import flatbuf


def test_expected_error_is_the_batch_mean_of_the_error_convolution():
    """conv is linear in x, so E[conv(x, dW)] = conv(E[x], dW): checked against the per-sample mean in float64."""
    import tensorflow as tf
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 6, 5, 3))  # N, H, W, C_in
    delta_w = rng.normal(size=(4, 3, 3, 3)) * 1e-2  # TFLite CONV_2D layout [O, kh, kw, I]
    op = schema.OperatorT()
    op.builtinOptions = schema.Conv2DOptionsT()
    op.builtinOptions.padding, op.builtinOptions.strideH, op.builtinOptions.strideW = schema.Padding.SAME, 2, 1
    got = biascorr.expected_error(op, flatbuf.BUILTIN.CONV_2D, delta_w, x.mean(axis=0))
    per_sample = tf.nn.conv2d(x, np.transpose(delta_w, (1, 2, 3, 0)), (1, 2, 1, 1), "SAME").numpy()
    np.testing.assert_allclose(got, per_sample.mean(axis=(0, 1, 2)), rtol=0, atol=1e-15)


def test_expected_error_transpose_conv():
    """TRANSPOSE_CONV (TFLite [O, kh, kw, I], output 11 x 9 of a 5 x 4 input at stride 2: uneven SAME padding):
    conv2d_transpose is linear in x too; checked against the per-sample mean in float64."""
    import tensorflow as tf
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(2)
    x = rng.normal(size=(7, 5, 4, 3))
    delta_w = rng.normal(size=(4, 3, 2, 3)) * 1e-2
    op = schema.OperatorT()
    op.builtinOptions = schema.TransposeConvOptionsT()
    op.builtinOptions.padding, op.builtinOptions.strideH, op.builtinOptions.strideW = schema.Padding.SAME, 2, 2
    got = biascorr.expected_error(op, flatbuf.BUILTIN.TRANSPOSE_CONV, delta_w, x.mean(axis=0), (9, 7))
    per_sample = tf.nn.conv2d_transpose(x, np.transpose(delta_w, (1, 2, 0, 3)), (7, 9, 7, 4), 2, "SAME").numpy()
    np.testing.assert_allclose(got, per_sample.mean(axis=(0, 1, 2)), rtol=0, atol=1e-15)


def test_expected_error_fully_connected():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(9, 5))
    delta_w = rng.normal(size=(3, 5))  # [O, I]
    got = biascorr.expected_error(None, flatbuf.BUILTIN.FULLY_CONNECTED, delta_w, x.mean(axis=0))
    np.testing.assert_allclose(got, (x @ delta_w.T).mean(axis=0), rtol=0, atol=1e-14)


@pytest.fixture(scope="module")
def corrected(deployed, splits):
    means = biascorr.layer_input_means(deployed.calibrated, splits.x_calib)
    return biascorr.correct_biases(deployed.model, deployed.calibrated, means)


def test_corrected_bias_is_the_rounded_float_bias_minus_the_correction(deployed, corrected):
    model_bytes, results = corrected
    model = flatbuf.read_model(model_bytes)
    ops = rewrite.weighted_ops(model, flatbuf.read_model(deployed.calibrated))
    assert [r.operator for r in results] == [w.operator_index for w in ops]
    for wop, result in zip(ops, results):
        scales = np.asarray(model.subgraphs[0].tensors[wop.bias_tensor].quantization.scale, np.float64)
        expected = np.round((wop.float_bias.astype(np.float64) - result.correction.astype(np.float64)) / scales)
        got = flatbuf.tensor_array(model, wop.bias_tensor)
        # the correction is stored as float32 in the result; one LSB of slack for that rounding only
        assert np.max(np.abs(got - expected)) <= 1, f"operator {wop.operator_index}"
        assert result.clipped_channels == 0


def test_weights_and_everything_else_unchanged(deployed, corrected):
    before, after = flatbuf.read_model(deployed.model), flatbuf.read_model(corrected[0])
    ops = rewrite.weighted_ops(before, flatbuf.read_model(deployed.calibrated))
    biases = {w.bias_tensor for w in ops}
    for index, tensor in enumerate(before.subgraphs[0].tensors):
        if index in biases or tensor.buffer == 0 or before.buffers[tensor.buffer].data is None:
            continue
        assert np.array_equal(flatbuf.tensor_array(before, index), flatbuf.tensor_array(after, index)), index


def test_first_layer_mean_error_is_removed(deployed, corrected, splits):
    """The first conv reads the model input exactly, so after correction its mean pre-activation error per channel
    is only the bias rounding: |E[y_q - y]| <= bias_scale / 2 (+ float64 slack), far below the uncorrected error."""
    import tensorflow as tf

    model = flatbuf.read_model(corrected[0])
    wop = rewrite.weighted_ops(model, flatbuf.read_model(deployed.calibrated))[0]
    assert wop.op_name == "CONV_2D"
    q = model.subgraphs[0].tensors[wop.weight_tensor].quantization
    w_q = flatbuf.tensor_array(model, wop.weight_tensor) * np.asarray(q.scale, np.float64).reshape(-1, 1, 1, 1)
    bias_scale = np.asarray(model.subgraphs[0].tensors[wop.bias_tensor].quantization.scale, np.float64)
    b_q = flatbuf.tensor_array(model, wop.bias_tensor) * bias_scale
    opts = model.subgraphs[0].operators[wop.operator_index].builtinOptions
    x = splits.x_calib.astype(np.float64)

    def conv(kernel):
        return tf.nn.conv2d(x, np.transpose(kernel, (1, 2, 3, 0)), (1, opts.strideH, opts.strideW, 1),
                            "SAME" if opts.padding == 0 else "VALID").numpy().mean(axis=(0, 1, 2))

    error_after = conv(w_q) + b_q - conv(wop.float_weights.astype(np.float64)) - wop.float_bias
    error_before = error_after + corrected[1][0].correction
    assert np.all(np.abs(error_after) <= bias_scale / 2 + 1e-9), (error_after, bias_scale)
    assert np.max(np.abs(error_before)) > 10 * np.max(np.abs(error_after))


def test_scheme_names():
    assert schemes.parse_scheme("wess+bc") == schemes.Scheme(False, "wess", True)
    assert schemes.parse_scheme("cle") == schemes.Scheme(True, "per_tensor", False)
    assert schemes.parse_scheme("cle+wess+bc") == schemes.Scheme(True, "wess", True)
    assert set(schemes.SCHEMES) <= set(schemes.scheme_names())
    for bad in ("bc", "wess+cle", "cle+bc", "per_tensor+bc+bc", "WESS"):
        with pytest.raises(WessError, match="unknown scheme"):
            schemes.parse_scheme(bad)


@pytest.mark.parametrize("scheme", ["per_tensor+bc", "per_channel+bc"])
def test_an_op_without_bias_gets_one(scheme):
    # A Dense with all-zero biases reaches the int8 model without a bias tensor (the converter drops it): bias
    # correction adds an int32 bias with TFLite's scale input_scale * weight_scale, and the C runner and TFLite Micro
    # agree on the corrected model.
    import keras

    from pipeline import deploy
    from pipeline.cref import verify

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Flatten()(keras.layers.Conv2D(3, 3, activation="relu")(inp))
    model = keras.Model(inp, keras.layers.Dense(4, use_bias=False, name="head")(x))
    x_calib = np.random.default_rng(0).normal(size=(16, 6, 6, 2)).astype(np.float32)
    plain = deploy.run_passes(model, x_calib, deploy.DeployOptions(scheme.removesuffix("+bc"), verify_inputs=0))
    fc = [op for op in flatbuf.read_model(plain.model).subgraphs[0].operators if len(op.inputs) == 3][-1]
    assert fc.inputs[2] == -1  # no bias in the uncorrected model
    state = deploy.run_passes(model, x_calib, deploy.DeployOptions(scheme, verify_inputs=16))
    corrected = flatbuf.read_model(state.model)
    graph = corrected.subgraphs[0]
    fc = [op for op in graph.operators if len(op.inputs) == 3][-1]
    weight_scales = np.asarray(graph.tensors[fc.inputs[1]].quantization.scale, np.float64)
    bias_scales = np.asarray(graph.tensors[fc.inputs[2]].quantization.scale, np.float64)
    input_scale = np.float64(graph.tensors[fc.inputs[0]].quantization.scale[0])
    np.testing.assert_array_equal(bias_scales, (input_scale * weight_scales).astype(np.float32))
    assert np.any(flatbuf.tensor_array(corrected, fc.inputs[2]) != 0)
    assert verify.verify(state.model, "head", 4).mismatched_bytes["ref_vs_tflm"] == 0
