"""The C model runner: whole-model bit-exactness, corrupt blobs, the static memory plan, and `wess verify`."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from pipeline.cli import main as cli
from pipeline.cref import backends, compact, library, memplan, verify
from pipeline.errors import WessError
from pipeline.tflite import runtime

pytestmark = pytest.mark.usefixtures("reference_library")
SCHEMES = ("wess", "per_tensor", "per_channel")
FAST_MODELS = ("mobilenet_v1", "mobilenet_v2")
DIGIT_INPUTS, RANDOM_INPUTS = 60, 8


@pytest.fixture(scope="module")
def deployed_models(zoo_model, splits):
    """(zoo name, scheme) -> int8 TFLite bytes, deployed on first use."""
    from pipeline import deploy

    cache = {}

    def get(name: str, scheme: str) -> bytes:
        if (name, scheme) not in cache:
            # conversion only: these tests run their own comparisons, deploy's gate is tested elsewhere
            state = deploy.run_passes(zoo_model(name), splits.x_calib, deploy.DeployOptions(scheme=scheme),
                                      passes=deploy.CONVERSION_PASSES)
            cache[name, scheme] = state.model
        return cache[name, scheme]

    return get


def inputs_for(model: bytes, splits) -> np.ndarray:
    q = runtime.io_quant(model)
    noise = np.random.default_rng(0).integers(-128, 128, (RANDOM_INPUTS, *q.input_shape)).astype(np.int8)
    return np.concatenate([runtime.quantize_input(splits.x_test[:DIGIT_INPUTS], q), noise])


# ---------------------------------------------------------------- whole-model bit-exactness

# every scheme's requantization on mobilenet_v1; mobilenet_v2 (residual ADDs) with WESS, its other schemes in test-all
@pytest.mark.parametrize("name,scheme", [("mobilenet_v1", scheme) for scheme in SCHEMES] + [
    ("mobilenet_v2", "wess"), *(pytest.param("mobilenet_v2", scheme, marks=pytest.mark.slow) for scheme in SCHEMES[1:])])
def test_whole_model_matches_litert_reference(deployed_models, splits, name, scheme):
    model = deployed_models(name, scheme)
    x = inputs_for(model, splits)
    ours, theirs = backends.run_ref(model, x), runtime.run_litert(model, x, reference=True)
    mismatched = int(np.count_nonzero(ours != theirs))
    print(f"{name} {scheme}: {mismatched} mismatched bytes on {len(x)} inputs")
    assert mismatched == 0
    compiled = compact.compile_model(model)
    assert compiled.wess == (scheme == "wess")


def _weighted_requant_counts(compiled: compact.CompactModel) -> list[tuple[int, bool, int]]:
    """(multiplier count, has 4-bit shifts, output channels) of every conv/depthwise/FC op."""
    rows = []
    for op in compiled.ops:
        if op.op_code in (compact.OP.CONV_2D, compact.OP.DEPTHWISE_CONV_2D, compact.OP.FULLY_CONNECTED):
            multiplier_count, _, _, shift4_offset = op.params[-4:]
            rows.append((multiplier_count, shift4_offset != compact.NO_OFFSET,
                         compiled.tensors[op.outputs[0]].dims[3]))
    return rows


@pytest.mark.parametrize("scheme", SCHEMES)
def test_blob_stores_one_multiplier_per_wess_layer(deployed_models, scheme):
    rows = _weighted_requant_counts(compact.compile_model(deployed_models("mobilenet_v1", scheme)))
    if scheme == "wess":
        assert all(count == 1 and shifts for count, shifts, _ in rows)
    elif scheme == "per_tensor":
        assert all(count == 1 and not shifts for count, shifts, _ in rows)
    else:  # FULLY_CONNECTED stays per-tensor in the converter's per-channel mode
        assert all(not shifts and count in (1, channels) for count, shifts, channels in rows)
        assert any(count == channels > 1 for count, _, channels in rows)


# ---------------------------------------------------------------- the static memory plan

def live_tensor_conflicts(compiled: compact.CompactModel) -> list[tuple[int, int, int]]:
    """(op position, tensor a, tensor b) whose arena ranges overlap while both are live; RESHAPE aliases allowed."""
    arena = {t.index: t for t in compiled.tensors if t.storage == compact.STORAGE_ARENA}
    first, last = {tensor: 0 for tensor in compiled.input_tensors}, {}
    for position, op in enumerate(compiled.ops):
        for tensor in op.inputs + op.outputs:
            if tensor in arena:
                first.setdefault(tensor, position)
                last[tensor] = position
    last.update({tensor: len(compiled.ops) - 1 for tensor in compiled.output_tensors})
    aliases = {frozenset((op.inputs[0], op.outputs[0])) for op in compiled.ops if op.op_code == compact.OP.RESHAPE}
    conflicts = []
    for position in range(len(compiled.ops)):
        live = sorted(t for t in arena if first[t] <= position <= last[t])
        for i, a in enumerate(live):
            for b in live[i + 1:]:
                ta, tb = arena[a], arena[b]
                overlap = ta.data_offset < tb.data_offset + tb.data_bytes and tb.data_offset < ta.data_offset + ta.data_bytes
                if overlap and frozenset((a, b)) not in aliases:
                    conflicts.append((position, a, b))
    return conflicts


@pytest.mark.parametrize("name", FAST_MODELS)
def test_memory_plan_never_overlaps_live_tensors(deployed_models, name):
    compiled = compact.compile_model(deployed_models(name, "wess"))
    assert live_tensor_conflicts(compiled) == []
    assert memplan.conflicts(compiled.memory_plan) == []
    arena_tensors = [t for t in compiled.tensors if t.storage == compact.STORAGE_ARENA]
    assert compiled.arena_bytes == max(t.data_offset + t.data_bytes for t in arena_tensors)
    assert compiled.arena_bytes < sum(t.data_bytes for t in arena_tensors)  # buffers are reused
    assert all(t.data_offset % memplan.ARENA_ALIGNMENT == 0 for t in arena_tensors)
    print(f"{name}: peak activation arena {compiled.arena_bytes} bytes")


def test_greedy_plan_reuses_dead_buffers_by_hand():
    # A (ops 0-1, 100 B) and C (ops 2-3, 100 B) never live together: C reuses A's offset; B (ops 1-2) sits above.
    buffers = [memplan.Buffer((0,), 100, 0, 1), memplan.Buffer((1,), 50, 1, 2), memplan.Buffer((2,), 100, 2, 3)]
    plan = memplan.plan(buffers)
    assert [(b.tensors, b.offset) for b in plan.buffers] == [((0,), 0), ((1,), 112), ((2,), 0)]
    assert plan.arena_bytes == 162 and memplan.conflicts(plan) == []


# ---------------------------------------------------------------- corrupt blobs

@pytest.fixture(scope="module")
def small_blob(deployed_models) -> compact.CompactModel:
    return compact.compile_model(deployed_models("mobilenet_v1", "wess"))


def patched(blob: bytes, offset: int, fmt: str, *values) -> bytes:
    data = bytearray(blob)
    struct.pack_into(fmt, data, offset, *values)
    return bytes(data)


def header_field(name: str) -> int:
    """Byte offset of a header field (docs/compact_model.md)."""
    fields = ["magic", "version", "header_bytes", "blob_bytes", "flags", "tensor_count", "op_count", "input_tensor",
              "output_tensor", "tensor_table_offset", "op_table_offset", "op_table_bytes", "constant_offset",
              "constant_bytes", "arena_bytes"]
    sizes = {"magic": 4, "version": 2, "header_bytes": 2}
    return sum(sizes.get(f, 4) for f in fields[:fields.index(name)])


def first_constant_tensor(compiled: compact.CompactModel) -> compact.CompactTensor:
    return next(t for t in compiled.tensors if t.storage == compact.STORAGE_CONSTANT)


def op_record_offset(compiled: compact.CompactModel, position: int) -> int:
    offset = compact.HEADER.size + compact.TENSOR.size * len(compiled.tensors)
    for op in compiled.ops[:position]:
        offset += compact.OP_HEADER.size + 4 * (len(op.inputs) + len(op.outputs) + len(op.params))
    return offset


CORRUPTIONS = {
    "truncated_by_one_byte": (lambda c: c.blob[:-1], "WESS_ERR_TRUNCATED"),
    "truncated_inside_header": (lambda c: c.blob[:20], "WESS_ERR_TRUNCATED"),
    "bad_magic": (lambda c: b"TFL3" + c.blob[4:], "WESS_ERR_BAD_MAGIC"),
    "newer_version": (lambda c: patched(c.blob, header_field("version"), "<H", compact.VERSION_INPUT_LIST + 1),
                      "WESS_ERR_BAD_VERSION"),
    "older_version": (lambda c: patched(c.blob, header_field("version"), "<H", compact.VERSION - 1),
                      "WESS_ERR_BAD_VERSION"),
    "constant_section_past_the_end": (lambda c: patched(c.blob, header_field("constant_bytes"), "<I", len(c.blob)),
                                      "WESS_ERR_BAD_OFFSET"),
    "tensor_data_past_the_end": (
        lambda c: patched(c.blob, compact.HEADER.size + compact.TENSOR.size * first_constant_tensor(c).index + 28,
                          "<I", 2**31), "WESS_ERR_BAD_OFFSET"),
    "requant_table_past_the_end": (
        lambda c: patched(c.blob, op_record_offset(c, 0) + compact.OP_HEADER.size + 4 * (4 + 11), "<i", 2**30),
        "WESS_ERR_BAD_OFFSET"),
    "op_tensor_index_out_of_range": (
        lambda c: patched(c.blob, op_record_offset(c, 0) + compact.OP_HEADER.size, "<i", len(c.tensors)),
        "WESS_ERR_BAD_TENSOR"),
    "model_input_index_out_of_range": (lambda c: patched(c.blob, header_field("input_tensor"), "<I", 10**6),
                                       "WESS_ERR_BAD_TENSOR"),
    "unknown_op_code": (lambda c: patched(c.blob, op_record_offset(c, 1), "<H", 999), "WESS_ERR_BAD_OP"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupt_blob_returns_its_status_and_one_line_error(small_blob, corruption):
    corrupt, status = CORRUPTIONS[corruption]
    with pytest.raises(WessError, match=status) as error:
        library.validate_model(corrupt(small_blob))
    assert "\n" not in str(error.value)
    with pytest.raises(WessError, match=status):
        library.run_model(corrupt(small_blob), np.zeros((1, 32, 32, 1), np.int8), np.int8)


def test_arena_too_small_is_refused_before_running(small_blob):
    assert library.validate_model(small_blob.blob, small_blob.arena_bytes).arena_bytes == small_blob.arena_bytes
    with pytest.raises(WessError, match="WESS_ERR_ARENA_TOO_SMALL") as error:
        library.run_model(small_blob.blob, np.zeros((1, 32, 32, 1), np.int8), np.int8,
                       arena_bytes=small_blob.arena_bytes - 1)
    assert "\n" not in str(error.value)


def test_random_byte_flips_never_crash_the_runner(small_blob):
    """Every mutated blob is refused with a status or runs; under ASan (tools/run_sanitized_tests.sh) any
    out-of-bounds read fails the test run."""
    rng = np.random.default_rng(0)
    x = np.zeros((1, 32, 32, 1), np.int8)
    table_end = op_record_offset(small_blob, len(small_blob.ops))  # header, tensor and op tables
    statuses = set()
    for _ in range(150):
        data = bytearray(small_blob.blob)
        for position in rng.integers(0, table_end, size=rng.integers(1, 4)):
            data[position] = int(rng.integers(0, 256))
        try:
            library.run_model(bytes(data), x, np.int8)
            statuses.add("WESS_OK")
        except WessError as error:
            statuses.add(str(error).split(": ")[1].split(" ")[0])
    assert len(statuses) > 2


def test_unsupported_op_names_the_op_and_its_index(deployed_models):
    from ai_edge_litert import schema_py_generated as schema

    from pipeline.tflite import flatbuf

    model = flatbuf.read_model(deployed_models("mobilenet_v1", "per_tensor"))
    mean = next(i for i, op in enumerate(model.subgraphs[0].operators) if flatbuf.opcode_name(model, op) == "MEAN")
    code = model.operatorCodes[model.subgraphs[0].operators[mean].opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.REDUCE_PROD
    with pytest.raises(WessError, match=f"operator {mean} is REDUCE_PROD"):
        compact.compile_model(flatbuf.write_model(model))


# ---------------------------------------------------------------- verify and the CLI

def test_first_divergence_names_the_first_differing_op(deployed_models, splits, monkeypatch):
    model = deployed_models("mobilenet_v1", "wess")
    compiled = compact.compile_model(model)
    x = inputs_for(model, splits)[:2]
    assert verify.first_divergence(model, compiled, x, 1) is None
    target = compiled.ops[5].outputs[0]
    real = backends.ref_intermediates

    def one_byte_off(model_bytes, batch):
        tensors = real(model_bytes, batch)
        tensors[target] = tensors[target].copy()
        tensors[target].flat[0] ^= 1
        return tensors

    monkeypatch.setattr(backends, "ref_intermediates", one_byte_off)
    divergence = verify.first_divergence(model, compiled, x, 0)
    assert (divergence.operator, divergence.tensor, divergence.mismatched_bytes) == (5, target, 1)


def test_cli_verify_json_keys(deployed_models, tmp_path, capfd):
    path = tmp_path / "model.tflite"
    path.write_bytes(deployed_models("mobilenet_v2", "wess"))
    code = cli.main(["verify", str(path), "--inputs", "5", "--random-inputs", "3", "--json"])
    out, err = capfd.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"model", "inputs", "digit_inputs", "random_inputs", "mismatched_bytes",
                           "first_divergence", "peak_arena_bytes", "blob_bytes", "wess", "ref_top1"}
    assert result["mismatched_bytes"] == {"ref_vs_litert": 0, "ref_vs_tflm": 0, "litert_vs_tflm": 0}
    assert (result["inputs"], result["digit_inputs"], result["random_inputs"]) == (8, 5, 3)
    assert result["peak_arena_bytes"] > 0 and result["first_divergence"] is None and result["wess"]


def test_cli_run_ref_dumps_every_tensor(deployed_models, tmp_path, capfd):
    path = tmp_path / "model.tflite"
    path.write_bytes(deployed_models("mobilenet_v1", "wess"))
    dump = tmp_path / "dump"
    code = cli.main(["run", str(path), "--random-input", "--count", "2", "--backend", "ref", "--dump-intermediates",
                     str(dump), "--output", str(tmp_path / "y.npy"), "--json"])
    out, err = capfd.readouterr()
    assert code == 0, err
    compiled = compact.compile_model(path.read_bytes())
    files = sorted(dump.glob("*.npy"))
    assert len(files) == len(compiled.ops) + 1
    final = np.load(next(f for f in files if f.name.startswith(f"t{compiled.output_tensors[0]:04d}_")))
    np.testing.assert_array_equal(final, np.load(tmp_path / "y.npy"))
    code = cli.main(["run", str(path), "--random-input", "--dump-intermediates", str(dump)])
    assert code == 2 and "needs --backend ref" in capfd.readouterr().err


def test_cli_verify_mismatch_exits_2_with_one_line(deployed_models, tmp_path, capfd, monkeypatch):
    path = tmp_path / "model.tflite"
    path.write_bytes(deployed_models("mobilenet_v1", "wess"))
    real = backends.run_ref
    monkeypatch.setattr(backends, "run_ref", lambda model, x: real(model, x) ^ np.int8(1))
    code = cli.main(["verify", str(path), "--inputs", "2", "--random-inputs", "0", "--json"])
    out, err = capfd.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "ref_vs_litert 20" in err
    assert json.loads(out)["mismatched_bytes"]["ref_vs_tflm"] == 20


# ---------------------------------------------------------------- the whole zoo (slow)

@pytest.fixture(scope="module")
def stress_model(zoo_model, splits):
    """The stress variant of a zoo model (fine-tuned once per module)."""
    from pipeline.keras.stress import make_stress_variant

    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = make_stress_variant(zoo_model(name), splits)
        return cache[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name,stress", [(n, False) for n in ("mobilenet_v1", "mobilenet_v2", "ds_cnn", "resnet8")]
                         + [(n, True) for n in ("mobilenet_v1", "mobilenet_v2", "ds_cnn")])  # resnet8: no depthwise
def test_zoo_verifies_byte_exact_on_all_backends(zoo_model, stress_model, splits, name, scheme, stress):
    from pipeline import deploy


    keras_model = stress_model(name) if stress else zoo_model(name)
    model = deploy.run_passes(keras_model, splits.x_calib, deploy.DeployOptions(scheme=scheme)).model
    result = verify.verify(model, f"{name}{'_stress' if stress else ''}_{scheme}", 400)
    print(json.dumps(result.to_json()))
    assert result.mismatched_bytes["ref_vs_tflm"] == 0
    # LiteRT's reference FULLY_CONNECTED can be 1 LSB off both (docs/operators.md): then LiteRT is the odd one out
    assert result.mismatched_bytes["ref_vs_litert"] == result.mismatched_bytes["litert_vs_tflm"]


def test_resnet8_flatten_runs_byte_exact(zoo_model, splits):
    """Keras' Flatten leaves SHAPE / STRIDED_SLICE / PACK to compute RESHAPE's shape: dead code for the runner."""
    from pipeline import deploy

    model = deploy.run_passes(zoo_model("resnet8"), splits.x_calib, deploy.DeployOptions(scheme="wess"),
                              passes=deploy.CONVERSION_PASSES).model
    assert "SHAPE" not in {op.op_name for op in compact.compile_model(model).ops}
    result = verify.verify(model, "resnet8_wess", 24)
    assert result.mismatched_bytes == {pair: 0 for pair in verify.PAIRS}


def test_unsupported_op_is_named(splits):
    import keras

    from pipeline import deploy

    inp = keras.Input((32, 32, 1))
    x = keras.layers.Activation("log_softmax")(keras.layers.Conv2D(2, 3)(inp))  # LOG_SOFTMAX: no C kernel
    x = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    # The runtime gate is skipped (verify_inputs=0): this test is about the C runner naming the operator, and an
    # unseeded model can hit LiteRT's 1-LSB reference differences, which the gate reports separately.
    model = deploy.run_passes(keras.Model(inp, keras.layers.Softmax()(x)), splits.x_calib[:20],
                              deploy.DeployOptions(verify_inputs=0)).model
    with pytest.raises(WessError, match=r"operator \d+ is LOG_SOFTMAX, which the C reference runner does not support"):
        compact.compile_model(model)
