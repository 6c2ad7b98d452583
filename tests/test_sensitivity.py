"""Sensitivity sweep (one conv/FC layer int8, the rest float) and partial quantization to a top-1 target."""
import numpy as np
import pytest

from pipeline import deploy
from pipeline.cref import backends
from pipeline.errors import WessError
from pipeline.keras import bnfold
from pipeline.quant import convert, schemes, sensitivity
from pipeline.tflite import flatbuf, runtime


@pytest.fixture(scope="module")
def stress_calibrated(ds_cnn_stress, splits):
    folded, _ = bnfold.fold_batch_norms(ds_cnn_stress)
    return convert.calibrated_float_model(folded, splits.x_calib)


def op_types(model_bytes):
    model = flatbuf.read_model(model_bytes)
    graph = model.subgraphs[0]
    return [(flatbuf.opcode_name(model, op), graph.tensors[op.inputs[1]].type if len(op.inputs) > 1 else None)
            for op in graph.operators]


def test_one_layer_int8_models(stress_calibrated):
    nodes = sensitivity.weighted_nodes(stress_calibrated)
    assert [n.op for n in nodes] == ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4 + ["FULLY_CONNECTED"]
    others = tuple(n.name for n in sensitivity.operator_nodes(stress_calibrated) if n.name != nodes[3].name)
    model = schemes.build_scheme(stress_calibrated, stress_calibrated, "wess", float_nodes=others, float_io=True)[0]
    int8 = [name for name, weight_type in op_types(model) if weight_type == 9]  # TensorType.INT8
    assert int8 == ["DEPTHWISE_CONV_2D"], op_types(model)


def test_sweep_ranks_every_layer(stress_calibrated, splits):
    result = sensitivity.sweep(stress_calibrated, stress_calibrated, "per_tensor", "mse", splits.x_test,
                               splits.y_test)
    assert sorted(r.index for r in result.layers) == [n.index for n in sensitivity.weighted_nodes(stress_calibrated)]
    keys = [(r.top1, r.sqnr_db) for r in result.layers]
    assert keys == sorted(keys)
    # layer-wise int8 of the layers right after a dead channel is what collapses the stress variant
    assert result.layers[0].op == "DEPTHWISE_CONV_2D" and result.layers[0].top1 < result.float_top1 - 0.2
    assert result.layers[-1].top1 >= result.float_top1 - 0.01


@pytest.mark.slow  # a stress-variant sweep plus one deploy per layer left in float; the selection logic is tested
# below on a fixed model, and partial_pass's refusals in the fast tier
def test_partial_quantization_meets_the_target(ds_cnn_stress, splits, reference_library):
    state = deploy.run_passes(ds_cnn_stress, splits.x_calib, deploy.DeployOptions("per_tensor", target_drop=2.0),
                              splits.y_calib)
    partial = state.partial
    assert partial.met and 1 <= len(partial.float_nodes) < 9, partial.to_json()
    assert (partial.float_top1 - partial.top1) * 100 <= 2.0
    types = op_types(state.model)
    assert sum(name == "DEQUANTIZE" for name, _ in types) >= 1 and sum(t == 0 for _, t in types) == len(
        partial.float_nodes), types  # TensorType.FLOAT32 weights: exactly the layers left out
    q = runtime.io_quant(state.model)
    x = runtime.quantize_input(splits.x_test[:100], q)
    a, b, c = runtime.run_litert(state.model, x), runtime.run_tflm(state.model, x), backends.run_ref(state.model, x)
    assert np.array_equal(a, b), f"LiteRT vs TFLite Micro: {np.argwhere(a != b).tolist()} differ"
    assert np.array_equal(a, c), f"LiteRT vs C reference: {np.argwhere(a != c).tolist()} differ"
    assert sensitivity.int8_top1(state.model, splits.x_test, splits.y_test) >= partial.float_top1 - 0.03


def test_partial_quantization_keeps_everything_int8_when_already_in_reach(deployed, splits):
    build_calls = []

    def build(nodes):
        build_calls.append(nodes)
        return deployed.model

    rows = [sensitivity.LayerSensitivity(i, "CONV_2D", name, 0.0, 0.0, 0.0) for i, name in enumerate("ab")]
    result = sensitivity.partial_quantize(build, rows, splits.x_calib, splits.y_calib, 0.0, 100.0)
    assert result.met and result.float_nodes == [] and build_calls == [()]


def test_target_drop_needs_labels(deployed, splits, zoo_model):
    with pytest.raises(WessError, match="--target-drop needs labels"):
        deploy.run_passes(zoo_model("ds_cnn"), splits.x_calib, deploy.DeployOptions(target_drop=1.0))
