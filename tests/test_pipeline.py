"""The deployment passes end to end on a zoo model: WESS tensors, metadata, and LiteRT == TFLite Micro bytes."""
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from pipeline import deploy
from pipeline.errors import WessError
from pipeline.quant import schemes, wess
from pipeline.tflite import flatbuf, metadata, runtime


def wess_model(deployed):
    return flatbuf.read_model(deployed.model)


def test_weights_and_scales_follow_the_definition(deployed):
    model = wess_model(deployed)
    graph = model.subgraphs[0]
    assert deployed.wess_layers, "no conv/FC layer was processed"
    for wop, layer in deployed.wess_layers:
        expected = wess.quantize_layer(wop.float_weights, wop.float_bias, wop.channel_axis,
                                       graph.tensors[wop.input_tensor].quantization.scale[0],
                                       graph.tensors[wop.output_tensor].quantization.scale[0])
        assert np.array_equal(flatbuf.tensor_array(model, wop.weight_tensor), expected.weights_q)
        q = graph.tensors[wop.weight_tensor].quantization
        assert np.array_equal(np.asarray(q.scale, np.float32), expected.channel_scales)
        assert q.quantizedDimension == wop.channel_axis
        op = graph.operators[wop.operator_index]
        assert np.array_equal(flatbuf.tensor_array(model, op.inputs[2]), expected.bias_q)


def test_float_weights_are_the_folded_keras_weights(deployed):
    """The weights WESS reads from the calibrated model are the BN-folded Keras kernels, transposed, exactly."""
    keras_layers = {layer.name: layer for layer in deployed.folded_layers}
    ops = [wop for wop, _ in deployed.wess_layers]
    assert len(ops) == len(keras_layers)
    for wop, folded in zip(ops, deployed.folded_layers):
        if folded.kind == "Conv2D":
            expected = np.transpose(folded.kernel, (3, 0, 1, 2))  # HWIO -> OHWI
        elif folded.kind == "DepthwiseConv2D":
            kh, kw, c, m = folded.kernel.shape
            expected = folded.kernel.reshape(1, kh, kw, c * m)
        else:
            expected = folded.kernel.T  # IO -> OI
        assert np.array_equal(wop.float_weights, expected), folded.name
        assert np.array_equal(wop.float_bias, folded.bias), folded.name


def test_metadata_reads_back_and_matches(deployed):
    layers = metadata.read_shifts(wess_model(deployed), "deployed")
    assert len(layers) == len(deployed.wess_layers)
    for record, (wop, layer) in zip(layers, deployed.wess_layers):
        assert record.operator_index == wop.operator_index
        assert np.array_equal(record.channel_right_shift, layer.channel_right_shift)
        assert (record.multiplier, record.right_shift) == (layer.multiplier, layer.right_shift)


def test_buffers_are_16_byte_aligned(deployed):
    data = deployed.model
    root = schema.Model.GetRootAs(data, 0)
    for i in range(root.BuffersLength()):
        buffer = root.Buffers(i)
        if buffer.DataLength() > 0:
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            assert start % 16 == 0, f"buffer {i} starts at {start}"


def test_litert_reference_and_tflite_micro_agree_bit_for_bit(deployed, splits):
    q = runtime.io_quant(deployed.model)
    x = np.concatenate([runtime.quantize_input(splits.x_test[:40], q),
                        np.random.default_rng(0).integers(-128, 128, (10, *q.input_shape)).astype(np.int8)])
    a = runtime.run_litert(deployed.model, x)
    b = runtime.run_tflm(deployed.model, x)
    mismatches = np.argwhere(a != b)
    assert mismatches.size == 0, [(tuple(i), int(a[tuple(i)]), int(b[tuple(i)])) for i in mismatches[:20]]


def test_wess_accuracy_close_to_float(deployed, splits):
    q = runtime.io_quant(deployed.model)
    out = runtime.run_litert(deployed.model, runtime.quantize_input(splits.x_test, q))
    float_top1 = np.mean(deployed.keras_model.predict(splits.x_test, verbose=0).argmax(1) == splits.y_test)
    assert np.mean(out.argmax(1) == splits.y_test) >= float_top1 - 0.005


def test_fixed_and_tied_output_quantization(zoo_model, splits):
    """SOFTMAX output is (1/256, -128); RESHAPE / MAX_POOL keep their input's parameters (mobilenet_v2, entropy:
    at batch 1 resnet8's pooled features go straight into its Dense, mobilenet_v2's MEAN through a RESHAPE)."""
    state = deploy.run_passes(zoo_model("mobilenet_v2"), splits.x_calib, deploy.DeployOptions(calibrator="entropy"),
                              passes=deploy.CONVERSION_PASSES)
    model = flatbuf.read_model(state.model)
    graph = model.subgraphs[0]
    seen = set()
    for op in graph.operators:
        name = flatbuf.opcode_name(model, op)
        out_q = graph.tensors[op.outputs[0]].quantization
        in_q = graph.tensors[op.inputs[0]].quantization
        if name == "SOFTMAX":
            assert (float(out_q.scale[0]), int(out_q.zeroPoint[0])) == (1 / 256, -128)
            seen.add(name)
        if name in ("RESHAPE", "MAX_POOL_2D", "PAD"):
            assert (out_q.scale[0], out_q.zeroPoint[0]) == (in_q.scale[0], in_q.zeroPoint[0]), name
            seen.add(name)
    assert {"SOFTMAX", "RESHAPE"} <= seen
    q = runtime.io_quant(state.model)
    x = runtime.quantize_input(splits.x_test[:20], q)
    assert np.array_equal(runtime.run_litert(state.model, x), runtime.run_tflm(state.model, x))


def test_model_without_conv_or_fc_is_rejected(splits):
    import keras

    inp = keras.Input((32, 32, 1))
    model = keras.Model(inp, keras.layers.Softmax()(keras.layers.Flatten()(keras.layers.MaxPooling2D(4)(inp))))
    with pytest.raises(WessError, match="no CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED or TRANSPOSE_CONV layer"):
        deploy.run_passes(model, splits.x_calib[:10], deploy.DeployOptions())


def _rewrite_metadata(deployed, mutate):
    model = wess_model(deployed)
    layers = metadata.read_shifts(model, "x")
    flatbuf.set_metadata(model, metadata.METADATA_NAME, mutate(layers))
    return model


def test_metadata_disagreeing_with_scales_is_rejected(deployed):
    def bump_first_shift(layers):
        layers[0].channel_right_shift[0] = (layers[0].channel_right_shift[0] + 1) % 16
        return metadata.encode(layers)

    with pytest.raises(WessError, match="scales disagree"):
        metadata.read_shifts(_rewrite_metadata(deployed, bump_first_shift), "m.tflite")


def test_metadata_wrong_operator_is_rejected(deployed):
    def point_at_softmax(layers):
        last = len(wess_model(deployed).subgraphs[0].operators) - 1
        layers[0] = metadata.LayerShifts(last, *[getattr(layers[0], f) for f in
                                                 ("weight_tensor", "builtin_code", "layer_scale", "multiplier",
                                                  "right_shift", "channel_right_shift")])
        return metadata.encode(layers)

    with pytest.raises(WessError, match="operator is SOFTMAX"):
        metadata.read_shifts(_rewrite_metadata(deployed, point_at_softmax), "m.tflite")


def test_model_without_metadata_is_rejected(deployed):
    with pytest.raises(WessError, match="not a WESS model"):
        metadata.read_shifts(flatbuf.read_model(deployed.models.get("per_tensor") or schemes.build_scheme(
            deployed.ranged, deployed.calibrated, "per_tensor")[0]), "plain.tflite")


@pytest.mark.parametrize("data,message", [(b"", "too short"), (b"\0" * 64, "file identifier"),
                                          (b"\x10\0\0\0TFL3" + b"\xff" * 40, "corrupt")])
def test_not_a_model(data, message):
    with pytest.raises(WessError, match=message):
        flatbuf.read_model(data, "bad.tflite")


def test_calibrator_auto_keeps_the_best(zoo_model, splits):
    from pipeline.quant.calibrators import CALIBRATOR_NAMES

    state = deploy.run_passes(zoo_model("ds_cnn"), splits.x_calib[:100], deploy.DeployOptions(calibrator="auto"),
                              passes=deploy.CONVERSION_PASSES)
    assert set(state.calibrator_scores) == set(CALIBRATOR_NAMES)
    assert state.calibrator_scores[state.calibrator] == max(state.calibrator_scores.values())
    # ties go to the first in CALIBRATOR_NAMES order
    best = max(state.calibrator_scores.values())
    assert state.calibrator == next(n for n in CALIBRATOR_NAMES if state.calibrator_scores[n] == best)
    q = runtime.io_quant(state.model)
    x = runtime.quantize_input(splits.x_test[:20], q)
    assert np.array_equal(runtime.run_litert(state.model, x), runtime.run_tflm(state.model, x))
