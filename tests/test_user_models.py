"""Models users bring: Keras' dynamic-batch chains, BN before raw tensor arithmetic (tiny models, real converter)."""
import logging

import numpy as np
import pytest

from pipeline import deploy
from pipeline.errors import UnsupportedError
from pipeline.keras import bnfold
from pipeline.quant import convert
from pipeline.tflite import flatbuf, runtime

BATCH_CHAIN_OPS = {"SHAPE", "STRIDED_SLICE", "PACK"}


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


def test_conversion_fixes_batch_1_so_no_shape_chain_reaches_the_model(calibration_x):
    """Flatten, Reshape and Conv2DTranspose with Keras' dynamic batch used to emit SHAPE / STRIDED_SLICE / PACK."""
    import keras

    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2DTranspose(2, 3, strides=2, name="up")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    ops = _op_names(convert.calibrated_float_model(model, calibration_x))
    assert "TRANSPOSE_CONV" in ops and not BATCH_CHAIN_OPS & set(ops), ops
    ops = _op_names(convert.calibrated_float_model(_reshaping_model(), calibration_x))
    assert not BATCH_CHAIN_OPS & set(ops), ops


def test_batch_1_model_deploys_and_runs_batched_in_litert_and_tflite_micro(calibration_x):
    """The deployed model has input shape (1, 8, 8, 1); LiteRT and TFLite Micro run a batch of 24 sample by sample
    and agree byte for byte (deploy's own gate), and the batched LiteRT run equals one call per sample."""
    state = deploy.run_passes(_reshaping_model(), calibration_x, deploy.DeployOptions(verify_inputs=24))
    assert not BATCH_CHAIN_OPS & set(_op_names(state.model))
    graph = flatbuf.read_model(state.model).subgraphs[0]
    assert list(graph.tensors[graph.inputs[0]].shape) == [1, 8, 8, 1]
    x = runtime.quantize_input(calibration_x, runtime.io_quant(state.model))
    batched = runtime.run_litert(state.model, x)
    one_by_one = np.concatenate([runtime.run_litert(state.model, x[i:i + 1]) for i in range(len(x))])
    assert batched.shape == (24, 3) and np.array_equal(batched, one_by_one)


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
    """Two ABS operators (an int8 kernel in LiteRT and TFLite Micro, none in the C runner's operator table)."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = keras.layers.Activation(keras.ops.abs, name="magnitude")(x)
    x = keras.layers.Dense(3, name="head")(keras.layers.Flatten(name="flatten")(x))
    return keras.Model(inp, keras.layers.Activation(keras.ops.abs, name="score")(x))


def test_deploy_lists_every_operator_the_firmware_cannot_run(calibration_x, caplog):
    with caplog.at_level(logging.WARNING, logger="pipeline.deploy"):
        state = deploy.run_passes(_model_with_ops_the_c_runner_lacks(), calibration_x,
                                  deploy.DeployOptions(verify_inputs=8), source="user.keras")
    expected = ["operator 1 (ABS of Keras layer 'magnitude')", "operator 4 (ABS of Keras layer 'score')"]
    assert _op_names(state.model) == ["CONV_2D", "ABS", "RESHAPE", "FULLY_CONNECTED", "ABS"]
    assert state.verification["firmware_unsupported"] == expected
    assert state.report["verification"]["firmware_unsupported"] == expected
    assert "user.keras: the C reference runner and `wess firmware` have no kernel for 2 operator(s): " \
           + "; ".join(expected) in caplog.text


def test_require_firmware_refuses_naming_every_operator(calibration_x):
    with pytest.raises(UnsupportedError, match=r"^user.keras: .* for 2 operator\(s\): operator 1 \(ABS of Keras layer "
                                               r"'magnitude'\); operator 4 \(ABS of Keras layer 'score'\); replace "):
        deploy.run_passes(_model_with_ops_the_c_runner_lacks(), calibration_x,
                          deploy.DeployOptions(verify_inputs=8, require_firmware=True), source="user.keras")


def test_zoo_style_model_has_nothing_missing(calibration_x):
    state = deploy.run_passes(_reshaping_model(), calibration_x, deploy.DeployOptions(verify_inputs=0))
    assert state.verification["firmware_unsupported"] == []
