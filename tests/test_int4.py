"""4-bit weights (W4A8): the schemes' grids, the metadata's bit width, whole 4-bit models in the C runner, TFLite
Micro and firmware (the packing and kernels: test_int4_kernels.py)."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from pipeline.cref import compact
from pipeline.errors import InputError, UnsupportedError
from pipeline.quant import schemes, wess
from pipeline.tflite import flatbuf, metadata, runtime
from pipeline.tflite.flatbuf import schema

pytestmark = pytest.mark.usefixtures("reference_library")  # conftest.py: build/libwess_ref.so, built when stale


# ---------------------------------------------------------------- schemes and metadata


def test_grid_and_wess_weights_stay_on_the_4_bit_grid():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(6, 3, 3, 4)).astype(np.float32) * np.array([1, 1e-3, 0, 5, 0.3, 2e-5],
                                                                          np.float32)[:, None, None, None]
    for per_channel in (False, True):
        scales = wess.grid_scales(weights, 0, per_channel, 7)
        q = wess.quantize_per_channel(weights, 0, scales, 7)
        assert np.abs(q).max() == 7 and not q[2].any()  # the all-zero channel quantizes to zeros
    for rule in wess.SHIFT_RULES:
        layer = wess.quantize_layer(weights, np.zeros(6, np.float32), 0, 0.05, 0.1, rule, weight_bits=4)
        assert np.abs(layer.weights_q).max() <= 7 and layer.weight_bits == 4
        assert layer.channel_right_shift[2] == 0 and not layer.weights_q[2].any()


def test_relative_rule_never_clips_and_beats_the_floor_rule_on_its_objective():
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(16, 1, 1, 8)) * np.exp2(rng.uniform(-6, 0, 16))[:, None, None, None]
    scale, shifts = wess.relative_scale_and_shifts(weights, 0, q_max=7)
    channel_scales = metadata.wess_scales(scale, shifts).astype(np.float64)
    # no weight beyond the grid's end before rounding: |W| / s_c <= 7 (float32 scale rounding: 1e-6 relative)
    assert (np.abs(weights).max(axis=(1, 2, 3)) / channel_scales <= 7 * (1 + 1e-6)).all()
    floor_scale = wess.floor_scale(float(np.abs(weights).max()), 7)
    floor_error = wess.relative_error(weights, 0, floor_scale, wess.floor_shifts(wess.channel_ranges(weights, 0)), 7)
    assert wess.relative_error(weights, 0, scale, shifts, 7) <= floor_error


def test_a_4_bit_shift_that_would_overflow_the_bias_is_capped():
    # channel 1 is 2^-10 of channel 0, so it wants k = 10; its bias at that scale would need more than int32
    weights = np.array([[1.0, -0.5], [2.0 ** -10, 0.0]], np.float32)
    bias = np.array([0.0, 3e5], np.float32)
    layer = wess.quantize_layer(weights, bias, 0, input_scale=1e-3, output_scale=1.0, rule="floor", weight_bits=4)
    assert layer.capped.tolist() == [False, True] and layer.channel_right_shift[1] < 10
    assert abs(int(layer.bias_q[1])) <= 2**31 - 1


def _layer(bits: int) -> metadata.LayerShifts:
    return metadata.LayerShifts(3, 5, 3, 0.5, 1 << 30, 4, np.array([0, 15, 3], np.uint8), bits)


def test_metadata_records_the_weight_bit_width_and_keeps_8_bit_files_at_version_1():
    eight, four = metadata.encode([_layer(8)]), metadata.encode([_layer(8), _layer(4)])
    assert struct.unpack_from("<H", eight, 4)[0] == 1 and struct.unpack_from("<H", four, 4)[0] == 2
    assert [layer.weight_bits for layer in metadata.decode(four)] == [8, 4]
    assert metadata.decode(eight)[0].weight_bits == 8
    bad = bytearray(four)
    struct.pack_into("<H", bad, metadata.HEADER.size + 22, 5)  # the first record's bit width
    with pytest.raises(InputError, match="weight bit width 5"):
        metadata.decode(bytes(bad))


@pytest.fixture(scope="module")
def ds_cnn_ranged(zoo_model, splits):
    from pipeline import deploy

    return deploy.run_passes(zoo_model("ds_cnn"), splits.x_calib[:100], deploy.DeployOptions("wess"),
                             passes=deploy.CONVERSION_PASSES)


def test_four_bit_schemes_run_bit_exact_in_the_c_runner_and_tflite_micro(ds_cnn_ranged, splits):
    x = runtime.quantize_input(splits.x_test[:40], runtime.io_quant(ds_cnn_ranged.model))
    for base in ("per_channel4", "wess4"):
        model, _ = schemes.build_scheme(ds_cnn_ranged.ranged, ds_cnn_ranged.calibrated, base, "relative")
        parsed = flatbuf.read_model(model)
        graph = parsed.subgraphs[0]
        weights = [flatbuf.tensor_array(parsed, op.inputs[1]) for op in graph.operators
                   if flatbuf.builtin_code(parsed, op) in flatbuf.WEIGHTED_OPS]
        assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) == 7
        if base == "wess4":
            layers = metadata.read_shifts(parsed, "wess4 model")
            assert {layer.weight_bits for layer in layers} == {4}
        packed, unpacked = compact.compile_model(model), compact.compile_model(model, pack_int4=False)
        assert {op.op_code & ~compact.OP_INT4_FILTER for op in packed.ops if op.op_code & compact.OP_INT4_FILTER} \
            == {3, 4, 9}  # every conv, depthwise and FC of ds_cnn runs packed
        filter_bytes = sum(-(-int(np.prod(w.shape)) // 2) for w in weights)
        int8_bytes = sum(int(np.prod(w.shape)) for w in weights)
        # the blob shrinks by the packed weights, give or take the 16-byte alignment of each constant chunk
        assert abs((len(unpacked.blob) - len(packed.blob)) - (int8_bytes - filter_bytes)) <= 16 * len(weights)
        from pipeline.cref import backends

        assert np.array_equal(backends.run_ref(model, x), runtime.run_tflm(model, x))


@pytest.mark.parametrize("target", [pytest.param("cortex-m3", marks=pytest.mark.slow), "cortex-m55"])  # portable, Helium
def test_wess4_firmware_in_qemu_matches_host_and_takes_less_flash(ds_cnn_ranged, target, tmp_path):
    import shutil

    from pipeline.firmware import build as firmware

    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("gcc-arm-none-eabi / qemu-system-arm not installed (make apt)")
    model, _ = schemes.build_scheme(ds_cnn_ranged.ranged, ds_cnn_ranged.calibrated, "wess4", "relative")
    four = firmware.build_firmware(model, "wess4.tflite", firmware.FirmwareOptions(target, tmp_path / "4", run=True,
                                                                                   inputs=2))
    assert four["matches_host"] is True and four["mismatched_inputs"] == 0
    assert four["memory"]["flash_model_bytes"] >= four["blob_bytes"]
    # ds_cnn's 21,888 weights: 10,944 bytes fewer than the 8-bit WESS blob (each constant chunk stays 16-byte aligned)
    saved = len(compact.compile_model(ds_cnn_ranged.model).blob) - four["blob_bytes"]
    assert 21888 // 2 - 16 * 10 <= saved <= 21888 // 2 + 16 * 10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ds_cnn", "mobilenet_v1", "resnet8", "mobilenet_v2"])
@pytest.mark.parametrize("base", ["per_tensor4", "per_channel4", "wess4"])
def test_every_zoo_model_4_bit_c_runner_equals_tflite_micro_on_1000_inputs(name, base, zoo_model, splits):
    from pipeline import deploy
    from pipeline.cref import verify

    state = deploy.run_passes(zoo_model(name), splits.x_calib, deploy.DeployOptions("wess"),
                              passes=deploy.CONVERSION_PASSES)
    model, _ = schemes.build_scheme(state.ranged, state.calibrated, base, "relative")
    compiled = compact.compile_model(model)
    assert any(op.op_code & compact.OP_INT4_FILTER for op in compiled.ops)
    result = verify.verify(model, name, 1000)
    assert result.inputs >= 1000 and result.mismatched_bytes["ref_vs_tflm"] == 0


def test_eval_schemes_option_names_an_unknown_scheme():
    from pipeline.cli import main as cli

    assert cli._eval_schemes("per_channel4, wess4+bc") == ("per_channel4", "wess4+bc")
    assert cli._eval_schemes(None) is None
    with pytest.raises(InputError, match="unknown scheme 'wess5'"):
        cli._eval_schemes("wess4,wess5")
    with pytest.raises(InputError, match="no scheme named"):
        cli._eval_schemes(" , ")


def _as_int4_tensors(model: bytes, op_names: set[str]) -> bytes:
    """The model with the filters of the named ops stored as TFLite INT4 tensors (packed as compact.pack_int4)."""
    from ai_edge_litert import schema_py_generated as schema

    parsed = flatbuf.read_model(model)
    graph = parsed.subgraphs[0]
    for op in graph.operators:
        if flatbuf.opcode_name(parsed, op) in op_names:
            tensor = graph.tensors[op.inputs[1]]
            parsed.buffers[tensor.buffer].data = np.frombuffer(
                compact.pack_int4(flatbuf.tensor_array(parsed, op.inputs[1])), np.uint8)
            tensor.type = schema.TensorType.INT4
    return flatbuf.write_model(parsed)


def test_what_the_pinned_runtimes_do_with_tflite_int4_weight_tensors(ds_cnn_ranged, splits):
    """Why deploy stores only CONV_2D / DEPTHWISE_CONV_2D filters as INT4 (pipeline/tflite/int4_storage.py): LiteRT
    runs INT4 filters of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (same bytes as the int8 tensors holding the
    same values), TFLite Micro runs them for CONV_2D and DEPTHWISE_CONV_2D but refuses an INT4 FULLY_CONNECTED
    filter with int8 input (fully_connected_common.cc). A newer runtime that changes this fails here."""
    model, _ = schemes.build_scheme(ds_cnn_ranged.ranged, ds_cnn_ranged.calibrated, "per_channel4")
    x = runtime.quantize_input(splits.x_test[:8], runtime.io_quant(model))
    expected = runtime.run_litert(model, x)
    every = _as_int4_tensors(model, {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})
    assert np.array_equal(runtime.run_litert(every, x), expected)
    convolutions = _as_int4_tensors(model, {"CONV_2D", "DEPTHWISE_CONV_2D"})
    assert np.array_equal(runtime.run_tflm(convolutions, x), runtime.run_tflm(model, x))
    with pytest.raises(UnsupportedError, match=r"operator \d+ \(FULLY_CONNECTED\): TFLite Micro cannot prepare it "
                                               r"\(fully_connected_common\.cc:\d+ .*kTfLiteInt4"):
        runtime.run_tflm(_as_int4_tensors(model, {"FULLY_CONNECTED"}), x)


def _filter_types(model: bytes) -> dict[str, set[str]]:
    """Op name -> the TFLite types of its filters."""
    parsed = flatbuf.read_model(model)
    graph = parsed.subgraphs[0]
    types: dict[str, set[str]] = {}
    for op in graph.operators:
        code = flatbuf.builtin_code(parsed, op)
        if code in flatbuf.WEIGHTED_OPS:
            tensor = graph.tensors[flatbuf.WEIGHTED_OPS[code].filter_of(op)]
            types.setdefault(flatbuf.opcode_name(parsed, op), set()).add(flatbuf.TENSOR_TYPE_NAMES[tensor.type])
    return types


def test_4_bit_convolution_filters_are_stored_as_tflite_int4_and_run_the_same(ds_cnn_ranged, splits):
    """Deploy's int4_storage pass: CONV_2D / DEPTHWISE_CONV_2D filters become INT4 tensors (half the bytes, the
    same values), FULLY_CONNECTED stays int8 (TFLite Micro refuses INT4 there); LiteRT, TFLite Micro and the C
    runner give the same bytes as before, the compact blob is the same bytes, and Vela's int8 copy the same values."""
    from pipeline import deploy
    from pipeline.cref import backends
    from pipeline.tflite import int4_storage

    state = deploy.run_passes(ds_cnn_ranged.keras_model, splits.x_calib[:100], deploy.DeployOptions(
        "wess4", shift_rule="relative"), passes=deploy.CONVERSION_PASSES)
    stored = state.model
    int8, _ = schemes.build_scheme(ds_cnn_ranged.ranged, ds_cnn_ranged.calibrated, "wess4", "relative")
    assert int4_storage.with_int4_filters(int8) == stored  # the pass is the last change to the scheme's model
    assert _filter_types(int8) == {"CONV_2D": {"INT8"}, "DEPTHWISE_CONV_2D": {"INT8"}, "FULLY_CONNECTED": {"INT8"}}
    assert _filter_types(stored) == {"CONV_2D": {"INT4"}, "DEPTHWISE_CONV_2D": {"INT4"}, "FULLY_CONNECTED": {"INT8"}}
    parsed, before = flatbuf.read_model(stored), flatbuf.read_model(int8)
    versions = {flatbuf.opcode_name(parsed, op): parsed.operatorCodes[op.opcodeIndex].version
                for op in parsed.subgraphs[0].operators}
    assert versions["CONV_2D"] == 7 and versions["DEPTHWISE_CONV_2D"] == 3  # op_version.cc; LiteRT's registered
    filters = [flatbuf.WEIGHTED_OPS[flatbuf.builtin_code(parsed, op)].filter_of(op) for op in parsed.subgraphs[0].operators
               if flatbuf.opcode_name(parsed, op) in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    for index in filters:
        assert np.array_equal(flatbuf.tensor_array(parsed, index), flatbuf.tensor_array(before, index))
    saved = sum(flatbuf.tensor_array(before, t).size - (flatbuf.tensor_array(before, t).size + 1) // 2 for t in filters)
    # the file shrinks by the packed bytes, give or take each buffer's 16-byte alignment and one operator code
    assert abs((len(int8) - len(stored)) - saved) <= 16 * len(filters) + 64
    assert len(metadata.read_shifts(parsed, "stored")) == len(metadata.read_shifts(before, "int8"))
    for pack in (True, False):
        assert compact.compile_model(stored, pack_int4=pack).blob == compact.compile_model(int8, pack_int4=pack).blob
    x = runtime.quantize_input(splits.x_test[:20], runtime.io_quant(int8))
    expected = runtime.run_tflm(int8, x)
    assert np.array_equal(runtime.run_tflm(stored, x), expected)
    assert np.array_equal(runtime.run_litert(stored, x), runtime.run_litert(int8, x))
    assert np.array_equal(backends.run_ref(stored, x), expected)
    back = flatbuf.read_model(int4_storage.with_int8_filters(stored))
    assert _filter_types(int4_storage.with_int8_filters(stored)) == _filter_types(int8)
    assert all(np.array_equal(flatbuf.tensor_array(back, t), flatbuf.tensor_array(before, t)) for t in filters)
    eight_bit, _ = schemes.build_scheme(ds_cnn_ranged.ranged, ds_cnn_ranged.calibrated, "wess", "relative")
    assert int4_storage.with_int4_filters(eight_bit) == eight_bit  # 8-bit weights are left alone


def test_an_int4_tensor_is_read_unpacked_and_a_short_one_is_named(ds_cnn_ranged):
    from pipeline.tflite import int4_storage

    int8, _ = schemes.build_scheme(ds_cnn_ranged.ranged, ds_cnn_ranged.calibrated, "wess4", "relative")
    parsed = flatbuf.read_model(int4_storage.with_int4_filters(int8))
    graph = parsed.subgraphs[0]
    index = next(t for t, tensor in enumerate(graph.tensors) if tensor.type == schema.TensorType.INT4)
    values = flatbuf.tensor_array(parsed, index)
    assert values.dtype == np.int8 and values.shape == tuple(graph.tensors[index].shape)
    assert bytes(parsed.buffers[graph.tensors[index].buffer].data) == compact.pack_int4(values)
    parsed.buffers[graph.tensors[index].buffer].data = parsed.buffers[graph.tensors[index].buffer].data[:-1]
    with pytest.raises(InputError, match=rf"tensor {index} \(.*\): \d+ bytes of constant data do not fill shape "
                                         r"\[.*\] of packed 4-bit elements"):
        flatbuf.tensor_array(parsed, index)


def test_an_int4_weight_tensor_of_an_8_bit_layer_is_refused_by_the_metadata_check(ds_cnn_ranged):
    int8, _ = schemes.build_scheme(ds_cnn_ranged.ranged, ds_cnn_ranged.calibrated, "wess", "relative")
    parsed = flatbuf.read_model(int8)
    layer = metadata.read_shifts(parsed, "m")[0]
    tensor = parsed.subgraphs[0].tensors[layer.weight_tensor]
    values = flatbuf.tensor_array(parsed, layer.weight_tensor)
    tensor.type = schema.TensorType.INT4
    flatbuf.set_tensor_array(parsed, layer.weight_tensor, np.clip(values, -8, 7))
    with pytest.raises(InputError, match=rf"weight tensor {layer.weight_tensor} is INT4, not INT8"):
        metadata.read_shifts(parsed, "m")


def test_a_filter_whose_rows_exceed_the_unpack_buffer_keeps_the_int8_kernel(ds_cnn_ranged, splits, monkeypatch):
    """With a 100-weight buffer ds_cnn's 3x3x64 depthwise filters (576 weights per 64-channel block) stay int8, the
    rest run packed, and the mixed blob still gives TFLite Micro's bytes."""
    from pipeline.cref import backends, op_registry

    model, _ = schemes.build_scheme(ds_cnn_ranged.ranged, ds_cnn_ranged.calibrated, "wess4", "relative")
    monkeypatch.setattr(op_registry, "S4_UNPACK_BYTES", 100)
    compiled = compact.compile_model(model)
    codes = {op.op_name: op.op_code for op in compiled.ops}
    assert codes["DEPTHWISE_CONV_2D"] == 4 and codes["FULLY_CONNECTED"] == compact.OP_INT4_FILTER | 9
    assert {compiled.tensors[op.inputs[1]].type_code for op in compiled.ops if op.op_code == 4} == {compact.TYPE_INT8}
    x = runtime.quantize_input(splits.x_test[:10], runtime.io_quant(model))
    assert np.array_equal(backends.run_ref(model, x), runtime.run_tflm(model, x))  # run_ref compiles as above


# ---------------------------------------------------------------- mixed 4/8 bits per layer


def _weight_bits_by_op(model: bytes) -> dict[int, int]:
    """Operator index -> 8 or 4 by the largest stored weight of each conv/FC (the 4-bit grid ends at 7)."""
    parsed = flatbuf.read_model(model)
    return {i: 4 if int(np.abs(flatbuf.tensor_array(parsed, op.inputs[1]).astype(np.int32)).max()) <= 7 else 8
            for i, op in enumerate(parsed.subgraphs[0].operators)
            if flatbuf.builtin_code(parsed, op) in flatbuf.WEIGHTED_OPS}


@pytest.mark.parametrize("base", ["per_channel4", "wess4"])
def test_mixed_bits_keep_the_named_layers_at_8_bits_and_stay_bit_exact(base, ds_cnn_ranged, splits):
    from pipeline.cref import backends
    from pipeline.quant import sensitivity

    nodes = sensitivity.weighted_nodes(ds_cnn_ranged.calibrated)
    eight = (nodes[0].name, nodes[-1].name)  # the first conv and the FC
    model, results = schemes.build_scheme(ds_cnn_ranged.ranged, ds_cnn_ranged.calibrated, base, "relative",
                                          eight_bit_nodes=eight)
    bits = _weight_bits_by_op(model)
    assert [bits[node.index] for node in nodes] == [8] + [4] * (len(nodes) - 2) + [8], bits
    if base == "wess4":
        assert [layer.weight_bits for layer in metadata.read_shifts(flatbuf.read_model(model), base)] == \
            [bits[node.index] for node in nodes]
        assert [wop.operator_index for wop, _ in results] == [node.index for node in nodes]
    blob = compact.compile_model(model)
    packed = sorted(op.op_code & ~compact.OP_INT4_FILTER for op in blob.ops if op.op_code & compact.OP_INT4_FILTER)
    assert len(packed) == len(nodes) - 2  # the 8-bit layers keep the int8 kernels
    x = runtime.quantize_input(splits.x_test[:40], runtime.io_quant(model))
    c, tflm = backends.run_ref(model, x), runtime.run_tflm(model, x)
    assert np.array_equal(c, tflm), f"C reference vs TFLite Micro: {np.argwhere(c != tflm).tolist()} differ"


def test_choose_bits_walks_the_ranking_until_the_target_and_reports_every_choice(ds_cnn_ranged, splits):
    from pipeline.quant import mixed_bits, sensitivity

    state = ds_cnn_ranged
    ranking = [sensitivity.LayerSensitivity(n.index, n.op, n.name, 0.0, 0.0, 0.0)
               for n in sensitivity.weighted_nodes(state.calibrated)[-3:]]  # the last pointwise conv, pool, FC

    def build(eight_bit_nodes):
        return schemes.build_scheme(state.ranged, state.calibrated, "wess4", "relative",
                                    eight_bit_nodes=eight_bit_nodes)[0]

    x, y = splits.x_calib[:100], splits.y_calib[:100]
    unreachable = mixed_bits.choose_bits(build, ranking, state.calibrated, x, y, float_top1=2.0, target_drop=0.0)
    assert not unreachable.met and [c.eight_bit_layers for c in unreachable.choices] == [0, 1, 2, 3]
    parsed = flatbuf.read_model(unreachable.model)
    elements = {n.index: flatbuf.tensor_array(parsed, parsed.subgraphs[0].operators[n.index].inputs[1]).size
                for n in sensitivity.weighted_nodes(state.calibrated)}
    sizes = [c.weight_bytes for c in unreachable.choices]
    assert sizes[0] == sum((n + 1) // 2 for n in elements.values())  # all 4-bit, packed two per byte
    assert unreachable.all_eight_bit_bytes == sum(elements.values())
    # each layer moved to 8 bits adds its packed half back: n - (n + 1) // 2 more bytes
    assert [b - a for a, b in zip(sizes, sizes[1:])] == [elements[r.index] - (elements[r.index] + 1) // 2
                                                         for r in ranking]
    best = max(unreachable.choices, key=lambda c: c.top1)
    assert unreachable.top1 == best.top1
    in_reach = mixed_bits.choose_bits(build, ranking, state.calibrated, x, y, float_top1=0.0, target_drop=0.0)
    assert in_reach.met and in_reach.eight_bit_nodes == [] and len(in_reach.choices) == 1
    assert _weight_bits_by_op(in_reach.model) == {n.index: 4 for n in sensitivity.weighted_nodes(state.calibrated)}


def test_mixed_bits_options_that_cannot_go_together_are_refused_before_any_work():
    from pipeline import deploy

    with pytest.raises(InputError, match="needs a 4-bit scheme"):
        deploy.DeployOptions("wess", mixed_bits=1.0)
    with pytest.raises(InputError, match="cannot be combined"):
        deploy.DeployOptions("wess4", mixed_bits=1.0, target_drop=1.0)
    with pytest.raises(InputError, match="must be >= 0"):
        deploy.DeployOptions("per_channel4", mixed_bits=-0.5)


@pytest.mark.slow
def test_deploy_mixed_bits_on_the_stress_variant_meets_the_target_and_verifies(ds_cnn_stress, splits):
    from pipeline import deploy, report

    state = deploy.run_passes(ds_cnn_stress, splits.x_calib, deploy.DeployOptions("wess4", mixed_bits=0.5),
                              splits.y_calib)
    mixed = state.mixed
    assert mixed.met and (mixed.float_top1 - mixed.top1) * 100 <= 0.5, mixed.to_json()
    assert [c.eight_bit_layers for c in mixed.choices] == list(range(len(mixed.eight_bit_nodes) + 1))
    bits = [layer.weight_bits for layer in metadata.read_shifts(flatbuf.read_model(state.model), "mixed")]
    assert bits.count(8) == len(mixed.eight_bit_nodes) and bits.count(4) == len(bits) - bits.count(8)
    assert state.verification["mismatched_bytes"] == 0
    assert "## Mixed 4/8-bit weights" in report.markdown(state.report)
