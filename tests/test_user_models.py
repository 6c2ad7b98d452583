"""Models users bring: BN before raw tensor arithmetic, deploy's gate and firmware list (tiny models, real converter)."""
import logging

import numpy as np
import pytest

from pipeline import deploy
from pipeline.errors import UnsupportedError
from pipeline.keras import bnfold
from pipeline.tflite import flatbuf


def _op_names(model_bytes: bytes) -> list[str]:
    model = flatbuf.read_model(model_bytes)
    return [flatbuf.opcode_name(model, op) for op in model.subgraphs[0].operators]


def _reshaping_model():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.Reshape((36, 4), name="reshape")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inp, keras.layers.Dense(3, name="head")(x))


@pytest.fixture(scope="module")
def calibration_x():
    return np.random.default_rng(0).uniform(0, 1, (24, 8, 8, 1)).astype(np.float32)


BATCH_CHAIN_OPS = {"SHAPE", "STRIDED_SLICE", "PACK", "FILL"}


def test_conversion_fixes_batch_1_so_no_shape_chain_reaches_the_model(calibration_x):
    """Flatten, Reshape and Conv2DTranspose with Keras' dynamic batch emitted SHAPE / STRIDED_SLICE / PACK chains
    computing the batch at run time; exported at batch 1 they convert to constant-shape RESHAPEs."""
    import keras

    from pipeline.quant import convert

    ops = _op_names(convert.calibrated_float_model(_reshaping_model(), calibration_x))
    assert ops.count("RESHAPE") >= 1 and not BATCH_CHAIN_OPS & set(ops), ops
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2DTranspose(2, 3, strides=2, name="up")(inp)
    ops = _op_names(convert.calibrated_float_model(keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(x))),
                                                   calibration_x))
    assert "TRANSPOSE_CONV" in ops and not BATCH_CHAIN_OPS & set(ops), ops


def test_batch_1_model_deploys_and_runs_batched_and_deterministically(calibration_x):
    """The deployed model's input is (1, 8, 8, 1); LiteRT runs a batch of 24 one sample at a time (the batch-1
    RESHAPE does not resize) with the same bytes as one call per sample; deploying again gives the same bytes."""
    from pipeline.tflite import runtime

    model, options = _reshaping_model(), deploy.DeployOptions(verify_inputs=16)
    state = deploy.run_passes(model, calibration_x, options)
    graph = flatbuf.read_model(state.model).subgraphs[0]
    assert list(graph.tensors[graph.inputs[0]].shape) == [1, 8, 8, 1]
    assert state.verification["gate"]["mismatched_bytes"] == 0
    x = runtime.quantize_input(calibration_x, runtime.io_quant(state.model))
    batched = runtime.run_litert(state.model, x)
    one_by_one = np.concatenate([runtime.run_litert(state.model, x[i:i + 1]) for i in range(len(x))])
    assert batched.shape == (24, 3) and np.array_equal(batched, one_by_one)
    assert deploy.run_passes(model, calibration_x, options).model == state.model


def _hard_swish_after_bn_model():
    """The minimal repro of MobileNetV3's block: Conv2D -> BatchNormalization -> relu6(x + 3) * (1/6)."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU(6.0, name="relu6")(x + 3.0) * (1.0 / 6.0)
    x = keras.layers.BatchNormalization(name="late_bn")(x)  # after an activation: not foldable
    model = keras.Model(inp, x)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n), rng.normal(size=n),
                               rng.uniform(0.5, 2, n)])
    return model


def test_bn_followed_by_raw_tensor_arithmetic_folds(caplog):
    model = _hard_swish_after_bn_model()
    with caplog.at_level(logging.INFO, logger="pipeline.keras.bnfold"):
        folded, layers = bnfold.fold_batch_norms(model)
    x = np.random.default_rng(1).normal(size=(8, 8, 8, 2)).astype(np.float32)
    a, b = model.predict(x, verbose=0), folded.predict(x, verbose=0)
    # float32 evaluation of two algebraically equal graphs: a few ulps times the fan-in (18)
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * np.abs(a).max())
    assert [(layer.name, layer.folded_bn) for layer in layers] == [("conv", "conv_bn")]
    kinds = [type(op).__name__ for op in folded.operations]
    assert kinds.count("BatchNormalization") == 1 and "Add" in kinds and "Multiply" in kinds
    assert "batch norm 'late_bn' does not solely follow" in caplog.text and "left to the converter" in caplog.text


def _model_with_ops_the_c_runner_lacks():
    """Two LOG_SOFTMAX operators (an int8 kernel in LiteRT and TFLite Micro, none in the C runner's operator table)."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = keras.layers.Activation("log_softmax", name="magnitude")(x)
    x = keras.layers.Dense(3, name="head")(keras.layers.Flatten(name="flatten")(x))
    return keras.Model(inp, keras.layers.Activation("log_softmax", name="score")(x))


def test_deploy_lists_every_operator_the_firmware_cannot_run(calibration_x, caplog):
    with caplog.at_level(logging.WARNING, logger="pipeline.deploy"):
        state = deploy.run_passes(_model_with_ops_the_c_runner_lacks(), calibration_x,
                                  deploy.DeployOptions(verify_inputs=8), source="user.keras")
    expected = ["operator 1 (LOG_SOFTMAX of Keras layer 'magnitude')", "operator 4 (LOG_SOFTMAX of Keras layer 'score')"]
    # at batch 1 Flatten is a constant-shape RESHAPE (no SHAPE / STRIDED_SLICE / PACK chain)
    assert _op_names(state.model) == ["CONV_2D", "LOG_SOFTMAX", "RESHAPE", "FULLY_CONNECTED", "LOG_SOFTMAX"]
    assert state.verification["firmware_unsupported"] == expected
    assert state.report["verification"]["firmware_unsupported"] == expected
    assert "user.keras: the C reference runner and `wess firmware` have no kernel for 2 operator(s): " \
           + "; ".join(expected) in caplog.text
    # the gate: LiteRT's reference computes the two LOG_SOFTMAX alone, the C runner every other operator, on 8 calibration
    # + 16 seeded random inputs
    assert state.verification["pair"] == "ref+litert_ref vs tflm" and state.verification["mismatched_bytes"] == 0
    assert (state.verification["calibration_inputs"], state.verification["random_inputs"]) == (8, 16)
    assert state.verification["stand_in"] == "user.keras: operator 1 is LOG_SOFTMAX, which the C reference runner does not support"
    assert state.verification["computed_by"] == {
        "operator 0 (CONV_2D)": "ref", "operator 1 (LOG_SOFTMAX)": "litert_ref", "operator 2 (RESHAPE)": "ref",
        "operator 3 (FULLY_CONNECTED)": "ref", "operator 4 (LOG_SOFTMAX)": "litert_ref"}


def test_require_firmware_refuses_naming_every_operator(calibration_x):
    with pytest.raises(UnsupportedError, match=r"^user.keras: .* for 2 operator\(s\): operator 1 \(LOG_SOFTMAX of Keras layer "
                                               r"'magnitude'\); operator 4 \(LOG_SOFTMAX of Keras layer 'score'\); replace "):
        deploy.run_passes(_model_with_ops_the_c_runner_lacks(), calibration_x,
                          deploy.DeployOptions(verify_inputs=8, require_firmware=True), source="user.keras")


def test_verify_inputs_0_skips_the_gate_with_a_warning(calibration_x, caplog):
    with caplog.at_level(logging.WARNING, logger="pipeline.deploy"):
        state = deploy.run_passes(_reshaping_model(), calibration_x, deploy.DeployOptions(verify_inputs=0))
    assert state.verification == {"firmware_unsupported": [], "inputs": 0, "mismatched_bytes": 0, "pair": None}
    assert "--verify-inputs 0: the deployed model was not checked against TFLite Micro" in caplog.text


def test_litert_reference_differing_from_tflite_micro_is_reported_not_refused(caplog):
    """Dense(32, relu) -> Dense(10), which deploy used to refuse: LiteRT's reference FULLY_CONNECTED rounds differently
    from TFLite Micro on some inputs while the C reference and TFLite Micro agree on all 100 (calibration 50 plus 50
    seeded random). Exact counts: the model, data and pinned runtimes are all fixed (seed 2)."""
    import keras

    keras.utils.set_random_seed(2)
    inp = keras.Input((64,), name="features")
    x = keras.layers.Dense(32, activation="relu", name="hidden")(inp)
    model = keras.Model(inp, keras.layers.Dense(10, name="logits")(x))
    calibration = np.random.default_rng(2).normal(size=(50, 64)).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="pipeline.deploy"):
        state = deploy.run_passes(model, calibration, deploy.DeployOptions(verify_inputs=100), source="mlp.keras")
    v = state.verification
    assert (v["pair"], v["mismatched_bytes"], v["inputs"], v["calibration_inputs"]) == ("ref vs tflm", 0, 100, 50)
    assert v["litert_vs_tflm"] == {"pair": "litert_ref vs tflm", "mismatched_bytes": 5, "first_input": 11,
                                   "first_operator": "operator 1 (FULLY_CONNECTED, tensor 'StatefulPartitionedCall_1:0')"}
    assert "mlp.keras: LiteRT's reference kernels differ from TFLite Micro (the device runtime) on 5 output bytes " \
           "(first at input 11, operator 1 (FULLY_CONNECTED" in caplog.text


def test_litert_stands_in_for_the_one_operator_the_c_runner_lacks(caplog):
    """Dense(32) -> log_softmax -> Dense(10): the C runner has no LOG_SOFTMAX. LiteRT's reference computes that
    operator alone, fed the C runner's FULLY_CONNECTED output, and the C runner computes both FULLY_CONNECTEDs from
    the tensors before them: 0 bytes differ from TFLite Micro on 100 inputs, where LiteRT's reference for the whole
    model differs by 1 byte (its FULLY_CONNECTED rounding, docs/operators.md), which a whole-model stand-in would
    have refused. Exact counts: the model, data and pinned runtimes are all fixed (seed 2)."""
    import keras

    keras.utils.set_random_seed(2)
    inp = keras.Input((64,), name="features")
    x = keras.layers.Activation("log_softmax", name="log_probs")(keras.layers.Dense(32, name="hidden")(inp))
    model = keras.Model(inp, keras.layers.Dense(10, name="logits")(x))
    calibration = np.random.default_rng(2).normal(size=(50, 64)).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="pipeline.deploy"):
        state = deploy.run_passes(model, calibration, deploy.DeployOptions(verify_inputs=100), source="mlp.keras")
    v = state.verification
    assert v["firmware_unsupported"] == ["operator 1 (LOG_SOFTMAX of Keras layer 'log_probs')"]
    assert v["gate"] == {"pair": "ref+litert_ref vs tflm", "mismatched_bytes": 0, "first_input": None,
                         "first_operator": None}
    assert v["computed_by"] == {"operator 0 (FULLY_CONNECTED)": "ref", "operator 1 (LOG_SOFTMAX)": "litert_ref",
                                "operator 2 (FULLY_CONNECTED)": "ref"}
    assert v["litert_vs_tflm"] == {"pair": "litert_ref vs tflm", "mismatched_bytes": 1, "first_input": 27,
                                   "first_operator": "operator 2 (FULLY_CONNECTED, tensor 'StatefulPartitionedCall_1:0')"}
    assert "LiteRT's reference kernels compute operator 1 (LOG_SOFTMAX) in the check" in caplog.text


def test_a_dilated_conv_at_batch_1_needs_no_stand_in():
    """At Keras' dynamic batch a dilated Conv2D converted to SPACE_TO_BATCH_ND -> CONV_2D -> BATCH_TO_SPACE_ND, whose
    middle tensors hold 4 samples' worth along the first axis (LiteRT then had to run the whole model). Converted at a
    fixed batch of 1 it is one dilated CONV_2D, which the C runner runs: the gate needs no stand-in."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 2))
    model = keras.Model(inp, keras.layers.Conv2D(3, 3, dilation_rate=2, name="dilated")(inp))
    x_calib = np.random.default_rng(0).normal(size=(8, 8, 8, 2)).astype(np.float32)
    state = deploy.run_passes(model, x_calib, deploy.DeployOptions(verify_inputs=8), source="dilated.keras")
    assert _op_names(state.model) == ["CONV_2D"]
    assert state.verification["stand_in"] is None and state.verification["pair"] == "ref vs tflm"
    assert state.verification["mismatched_bytes"] == 0


def test_stand_in_segments_chain_the_tensors(calibration_x):
    """The LOG_SOFTMAX model's operators in four segments: each reads what the one before wrote; every tensor of the mixed run equals LiteRT's reference with all tensors kept (which agrees
    with the C kernels on this model), and its output equals TFLite Micro's."""
    from pipeline.cref import stand_in, verify
    from pipeline.tflite import flatbuf, runtime

    state = deploy.run_passes(_model_with_ops_the_c_runner_lacks(), calibration_x,
                              deploy.DeployOptions(verify_inputs=0), source="user.keras")
    segments, refusal = stand_in.split(state.model, "user.keras")
    assert refusal == "user.keras: operator 1 is LOG_SOFTMAX, which the C reference runner does not support"
    assert [(s.runtime, s.operators) for s in segments] == [("ref", (0,)), ("litert_ref", (1,)), ("ref", (2, 3)),
                                                            ("litert_ref", (4,))]
    graph = flatbuf.read_model(state.model).subgraphs[0]
    assert segments[0].inputs == tuple(graph.inputs) and segments[-1].outputs == tuple(graph.outputs)
    for before, after in zip(segments, segments[1:]):
        assert after.inputs == before.outputs
    x = runtime.quantize_input(calibration_x[:4], runtime.io_quant(state.model))
    mixed = stand_in.run(state.model, segments, x)
    operators = stand_in.operator_outputs(state.model, segments)
    for sample in range(len(x)):
        assert verify.divergence_from(state.model, x, sample, {t: v[sample] for t, v in mixed.tensors.items()},
                                      operators) is None
    np.testing.assert_array_equal(mixed.outputs, runtime.run_tflm(state.model, x))


@pytest.mark.parametrize("activation,why", [
    ("gelu", r"TFLite Micro has no kernel for it"),  # LiteRT runs GELU; TFLite Micro has no GELU kernel
    ("softplus", r"TFLite Micro cannot prepare it \(exp\.cc:\d+ input->type != kTfLiteFloat32 \(INT8 != FLOAT32\)\)"),
])
def test_an_op_tflite_micro_cannot_run_is_named_with_its_keras_layer(activation, why):
    """The gate's TFLite Micro run fails; the refusal names the file, operator, op, the user's layer and the reason
    from TFLite Micro's log (not 'TFLM failed to allocate tensors')."""
    import keras

    inp = keras.Input((16,))
    model = keras.Model(inp, keras.layers.Dense(4)(keras.layers.Activation(activation, name="my_act")(inp)))
    x = np.random.default_rng(0).normal(size=(16, 16)).astype(np.float32)
    op = {"gelu": "GELU", "softplus": "EXP"}[activation]
    with pytest.raises(UnsupportedError, match=rf"^user\.keras: operator 0 \({op} of Keras layer 'my_act'\): {why}, so "
                                               r"the device runtime cannot run the model; replace that layer$"):
        deploy.run_passes(model, x, deploy.DeployOptions(verify_inputs=8), source="user.keras")


def test_a_grouped_convolution_runs_in_the_c_runner():
    """Conv2D(groups=2): the grouped CONV_2D runs in the C runner (CONV_2D_GROUPED), not through LiteRT standing in;
    0 bytes against TFLite Micro in the gate."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 4))
    x = keras.layers.Conv2D(4, 3, groups=2, name="grouped")(inp)
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    x_calib = np.random.default_rng(0).normal(size=(16, 6, 6, 4)).astype(np.float32)
    state = deploy.run_passes(model, x_calib, deploy.DeployOptions(verify_inputs=8), source="user.keras")
    assert state.verification["firmware_unsupported"] == [] and state.verification["stand_in"] is None
    assert state.verification["pair"] == "ref vs tflm" and state.verification["mismatched_bytes"] == 0


def _tiny_logits_model():
    """Random-weights-like logits: a Dense with weights ~1e-9 before softmax, so the logits' calibrated range is
    ~1e-8, under the 255 * 2^-26 that TFLite Micro's softmax needs (it aborted: QuantizeMultiplierGreaterThanOne), and
    a conv whose bias dwarfs its weights (WESS's int32 bias overflowed at shift 0)."""
    import keras

    inp = keras.Input((6, 6, 2), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv", kernel_initializer=keras.initializers.Constant(1e-9),
                            bias_initializer=keras.initializers.Constant(0.5))(inp)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(5, name="logits", kernel_initializer=keras.initializers.RandomUniform(-1e-9, 1e-9, seed=0))(x)
    return keras.Model(inp, keras.layers.Softmax(name="probabilities")(x))


def test_tiny_logits_and_a_bias_dwarfing_its_weights_deploy(caplog):
    from pipeline.quant import convert

    x = np.random.default_rng(0).uniform(0, 1, (16, 6, 6, 2)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        state = deploy.run_passes(_tiny_logits_model(), x, deploy.DeployOptions(verify_inputs=16))
    assert "softmax input range widened" in caplog.text and "so that the int32 bias fits" in caplog.text
    model = flatbuf.read_model(state.model)
    graph = model.subgraphs[0]
    softmax = next(op for op in graph.operators if flatbuf.opcode_name(model, op) == "SOFTMAX")
    scale = float(graph.tensors[softmax.inputs[0]].quantization.scale[0])
    # the widened range (255 * 2^-24) over 255 levels: within float32 rounding of 2^-24, 4x TFLite Micro's bound
    assert scale == pytest.approx(convert.SOFTMAX_MIN_INPUT_RANGE / 255, rel=1e-5) and scale > 2.0 ** -26
    gate = state.report["verification"]["gate"]
    assert (gate["pair"], gate["mismatched_bytes"], state.report["verification"]["stand_in"]) == ("ref vs tflm", 0, None)
