"""Unrolled GRU and LSTM models through deploy's gate (C reference == TFLite Micro), `wess verify` and the
firmware; the rolled form refused naming the layer; the quantizer deterministic on an unused SPLIT result and
with float nodes."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline import deploy
from pipeline.cref import verify
from pipeline.errors import UnsupportedError
from pipeline.quant import convert, sensitivity
from pipeline.tflite import flatbuf, runtime
from pipeline.tflite.flatbuf import schema

pytestmark = pytest.mark.usefixtures("reference_library")

STEPS, FEATURES, UNITS, CLASSES = 49, 10, 16, 12  # a keyword spotter's 49 MFCC frames of 10 coefficients
BATCH_CHAIN_OPS = {"SHAPE", "STRIDED_SLICE", "PACK", "FILL"}


def _recurrent(kind: str, return_sequences: bool, unroll: bool = True):
    """Input(49, 10) -> GRU / LSTM (16 units) -> [Flatten] -> Dense(12), seeded."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((STEPS, FEATURES), name="mfcc")
    x = getattr(keras.layers, kind)(UNITS, return_sequences=return_sequences, unroll=unroll, name=kind.lower())(inp)
    if return_sequences:
        x = keras.layers.Flatten()(x)
    return keras.Model(inp, keras.layers.Dense(CLASSES, name="keyword")(x))


@pytest.fixture(scope="module")
def calibration_x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(32, STEPS, FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def deployed(calibration_x):
    """kind -> the deploy state of GRU (last step only) and LSTM (return_sequences: every step, PACK)."""
    return {kind: deploy.run_passes(_recurrent(kind, sequences), calibration_x, deploy.DeployOptions(verify_inputs=16))
            for kind, sequences in (("GRU", False), ("LSTM", True))}


def _op_names(model: bytes) -> list[str]:
    parsed = flatbuf.read_model(model)
    return [flatbuf.opcode_name(parsed, op) for op in parsed.subgraphs[0].operators]


@pytest.mark.parametrize("kind, step_ops", [
    ("GRU", {"UNPACK", "FULLY_CONNECTED", "SPLIT", "STRIDED_SLICE", "LOGISTIC", "TANH", "MUL", "ADD", "SUB"}),
    ("LSTM", {"UNPACK", "FULLY_CONNECTED", "SPLIT", "LOGISTIC", "TANH", "MUL", "ADD", "PACK"}),
])
def test_unrolled_recurrent_model_deploys_bit_exact(deployed, kind, step_ops):
    """Fully int8, every op run by the C reference, 0 bytes differing from TFLite Micro on 16 calibration and 16
    random inputs (deploy's gate; LiteRT's reference FULLY_CONNECTED is 1 LSB off on some, reported only)."""
    state = deployed[kind]
    ops = _op_names(state.model)
    assert step_ops <= set(ops), sorted(set(ops))
    assert not flatbuf.float_ops(flatbuf.read_model(state.model))
    assert not (BATCH_CHAIN_OPS - {"PACK", "STRIDED_SLICE"}) & set(ops)  # no SHAPE / FILL of a dynamic batch
    assert ops.count("UNPACK") == 1 and ops.count("PACK") == (1 if kind == "LSTM" else 0)  # the steps in, out
    gate = state.verification
    assert gate["stand_in"] is None and gate["firmware_unsupported"] == []
    assert (gate["gate"]["pair"], gate["gate"]["mismatched_bytes"], gate["inputs"]) == ("ref vs tflm", 0, 32)


def test_wess_verify_agrees_with_tflite_micro(deployed):
    result = verify.verify(deployed["GRU"].model, "gru", 8, random_count=8)
    assert result.mismatched_bytes["ref_vs_tflm"] == 0, result.first_divergence


@pytest.mark.parametrize("kind, target", [("GRU", "cortex-m3"),  # ~7 s: build and 2 inputs in QEMU
                                          pytest.param("LSTM", "cortex-m55", marks=pytest.mark.slow)])
def test_unrolled_recurrent_model_runs_in_the_firmware_as_on_the_host(deployed, kind, target):
    from pipeline.firmware import build as firmware

    assert firmware.measure(deployed[kind].model, target, inputs=2).matches_host


def test_quantizer_is_deterministic_on_a_split_with_an_unused_result(deployed):
    """The LSTM's first step splits its gates while the state is zero: the forget gate's piece is never read.
    TensorFlow's quantizer left that SPLIT in float in 3 of 10 runs on the same bytes before the piece was exposed
    as an output while quantizing (convert._expose_dead_results)."""
    calibrated = deployed["LSTM"].calibrated
    graph = flatbuf.read_model(calibrated).subgraphs[0]
    read = {int(t) for op in graph.operators for t in op.inputs} | {int(t) for t in graph.outputs}
    assert any(int(t) not in read for op in graph.operators if len(op.outputs) > 1 for t in op.outputs)
    runs = [convert.quantize(calibrated, per_channel=True) for _ in range(6)]
    assert all(run == runs[0] for run in runs)
    assert not flatbuf.float_ops(flatbuf.read_model(runs[0]))
    assert len(flatbuf.read_model(runs[0]).subgraphs[0].outputs) == len(graph.outputs)  # exposed ones hidden


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_a_rolled_recurrent_layer_is_refused_naming_it(calibration_x, kind):
    with pytest.raises(UnsupportedError, match=rf"Keras layer '{kind.lower()}' \({kind}\) loops over its time "
                                               r"steps \(unroll=False\).*build the layer with unroll=True"):
        convert.calibrated_float_model(_recurrent(kind, False, unroll=False), calibration_x[:4])


def _dequantize_runs(model: schema.ModelT) -> list[range]:
    """Positions of the runs of consecutive DEQUANTIZE operators (two or more)."""
    names = [flatbuf.opcode_name(model, op) for op in model.subgraphs[0].operators] + [""]
    runs, start = [], None
    for position, name in enumerate(names):
        if name == "DEQUANTIZE" and start is None:
            start = position
        elif name != "DEQUANTIZE" and start is not None:
            runs += [range(start, position)] if position - start > 1 else []
            start = None
    return runs


def _reversed_run(data: bytes, run: range) -> bytes:
    """The model with one run of DEQUANTIZEs in reverse order, the first op of the run writing the lowest output
    index as the quantizer numbers them, and the outputs' names rotated: another order the quantizer emits."""
    model = flatbuf.read_model(data)
    graph = model.subgraphs[0]
    ops = graph.operators[run.start:run.stop]
    targets = sorted(int(op.outputs[0]) for op in ops)
    tensors, buffers = list(graph.tensors), [t.buffer for t in graph.tensors]
    names = [tensors[t].name for t in targets]
    moved = {int(op.outputs[0]): target for op, target in zip(ops[::-1], targets)}
    for (source, target), name in zip(moved.items(), names[1:] + names[:1]):
        graph.tensors[target] = tensors[source]
        graph.tensors[target].buffer, graph.tensors[target].name = buffers[target], name
    graph.operators[run.start:run.stop] = ops[::-1]
    for op in graph.operators:
        op.inputs = np.asarray([moved.get(int(t), int(t)) for t in op.inputs], np.int32)
        op.outputs = np.asarray([moved.get(int(t), int(t)) for t in op.outputs], np.int32)
    return flatbuf.write_model(model)


def test_partially_quantized_model_is_the_same_bytes_on_every_run(deployed, calibration_x):
    """With every other FC left in float, the quantizer inserts a run of DEQUANTIZEs (one per UNPACK piece) whose
    order and output names changed from run to run (3 of 4 runs differed); they come out in input order."""
    state = deployed["LSTM"]
    floats = tuple(node.name for node in sensitivity.weighted_nodes(state.calibrated)[::2])
    runs = [convert.quantize(state.ranged, False, floats) for _ in range(6)]
    assert all(run == runs[0] for run in runs)
    model = flatbuf.read_model(runs[0])
    run = _dequantize_runs(model)[0]
    inputs = [int(model.subgraphs[0].operators[k].inputs[0]) for k in run]
    assert inputs == sorted(inputs)
    shuffled = _reversed_run(runs[0], run)
    assert shuffled != runs[0]
    assert flatbuf.independent_runs_in_input_order(shuffled) == runs[0]
    x_int8 = runtime.quantize_input(calibration_x[:4], runtime.io_quant(runs[0]))
    np.testing.assert_array_equal(runtime.run_litert(shuffled, x_int8), runtime.run_litert(runs[0], x_int8))
