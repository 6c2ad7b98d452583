"""Mixed (partially quantized) models: float32 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED between DEQUANTIZE and
QUANTIZE, run by the C reference, LiteRT BUILTIN_REF and TFLite Micro byte for byte (firmware: test_firmware.py)."""
from __future__ import annotations

import collections
import json
import re
import struct

import numpy as np
import pytest

from pipeline.cli import main as cli
from pipeline.cref import backends, compact, library, memplan, op_registry, verify
from pipeline.errors import WessError
from pipeline.quant import schemes
from pipeline.tflite import runtime

pytestmark = pytest.mark.usefixtures("reference_library")

VERIFY_INPUTS = 300  # digits test inputs, plus verify.RANDOM_INPUTS seeded random ones
# the weighted ops that have a float32 kernel (TRANSPOSE_CONV has none)
FLOAT_CODES = {code for code in (compact.OP_FLOAT32 | c for c in compact.WEIGHTED_OPS) if code in op_registry.SPECS}


def assert_byte_exact(model: bytes, name: str, count: int = VERIFY_INPUTS) -> verify.VerifyResult:
    """wess verify on `count` digits + 16 random inputs; every mismatch and the first divergent op printed."""
    result = verify.verify(model, name, count)
    print(f"{name}: {result.inputs} inputs, mismatched bytes {result.mismatched_bytes}, "
          f"first divergence {result.first_divergence}")
    assert result.mismatched_bytes == {pair: 0 for pair in verify.PAIRS}, result.first_divergence
    return result


def intermediate_mismatches(model: bytes, x: np.ndarray) -> list[str]:
    """Every op output (float32 ones too) of the C reference vs LiteRT BUILTIN_REF, compared as bytes."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    compiled = compact.compile_model(model)
    ours = backends.ref_intermediates(model, x)
    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                              experimental_preserve_all_tensors=True, num_threads=1)
    interpreter.allocate_tensors()
    mismatches = []
    for sample in range(len(x)):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[sample:sample + 1])
        interpreter.invoke()
        for op in compiled.ops:
            theirs = interpreter.get_tensor(op.outputs[0])[0]
            mine = ours[op.outputs[0]][sample].reshape(theirs.shape)
            differing = int(np.count_nonzero(mine.view(np.uint8) != theirs.view(np.uint8)))
            if differing:
                mismatches.append(f"sample {sample} operator {op.operator_index} ({op.op_name}): {differing} bytes")
    return mismatches


def test_mixed_blob_runs_float_kernels_and_plans_4_bytes_per_float_element(mixed):
    compiled = compact.compile_model(mixed)
    codes = [op.op_code for op in compiled.ops]
    assert compiled.wess and FLOAT_CODES <= set(codes)
    assert codes.count(compact.OP.DEQUANTIZE) == codes.count(compact.OP.QUANTIZE) == 3
    float_tensors = [t for t in compiled.tensors if t.type_code == compact.TYPE_FLOAT32]
    assert {t.storage for t in float_tensors} == {compact.STORAGE_ARENA, compact.STORAGE_CONSTANT}
    for tensor in float_tensors:
        assert tensor.data_bytes == 4 * int(np.prod(tensor.shape)) and tensor.data_offset % 4 == 0
    assert memplan.conflicts(compiled.memory_plan) == []
    assert struct.unpack_from("<4sH", compiled.blob) == (compact.MAGIC, compact.VERSION)


def test_mixed_model_is_byte_exact_on_all_backends(mixed):
    result = assert_byte_exact(mixed, "mobilenet_v1 mixed")
    assert result.ref_top1 > 0.9


def test_float_intermediates_are_bit_identical_to_litert(mixed):
    x, _ = verify.verification_inputs(runtime.io_quant(mixed), 6, 2, seed=1)
    mismatches = intermediate_mismatches(mixed, x)
    print("\n".join(mismatches))
    assert mismatches == []


def test_cli_verify_and_run_dump_float_tensors(mixed, tmp_path, capfd):
    path = tmp_path / "mixed.tflite"
    path.write_bytes(mixed)
    assert cli.main(["verify", str(path), "--inputs", "4", "--random-inputs", "2", "--json"]) == 0
    assert json.loads(capfd.readouterr().out)["mismatched_bytes"] == {pair: 0 for pair in verify.PAIRS}
    dump = tmp_path / "dump"
    assert cli.main(["run", str(path), "--random-input", "--count", "2", "--backend", "ref",
                     "--dump-intermediates", str(dump), "--json"]) == 0
    capfd.readouterr()
    compiled = compact.compile_model(mixed)
    float_outputs = [op.outputs[0] for op in compiled.ops if op.op_code in FLOAT_CODES | {compact.OP.DEQUANTIZE}]
    for tensor in float_outputs:
        (dumped,) = dump.glob(f"t{tensor:04d}_*.npy")
        assert np.load(dumped).dtype == np.float32


def test_float_op_without_a_float_kernel_is_named(deployed):
    from pipeline.tflite import flatbuf

    calibrated = flatbuf.read_model(deployed.calibrated)
    graph = calibrated.subgraphs[0]
    mean = next(op for op in graph.operators if flatbuf.opcode_name(calibrated, op) == "MEAN")
    model, _ = schemes.build_scheme(deployed.ranged, deployed.calibrated, "wess",
                                   float_nodes=(flatbuf.tensor_name(graph.tensors[mean.outputs[0]]),))
    index = next(i for i, op in enumerate(flatbuf.read_model(model).subgraphs[0].operators)
                 if flatbuf.opcode_name(flatbuf.read_model(model), op) == "MEAN")
    with pytest.raises(WessError, match=f"operator {index} \\(MEAN\\) was left in float32"):
        compact.compile_model(model)


# ---------------------------------------------------------------- corrupt mixed blobs

def op_record_offset(compiled: compact.CompactModel, position: int) -> int:
    offset = compact.HEADER.size + compact.TENSOR.size * len(compiled.tensors)
    for op in compiled.ops[:position]:
        offset += compact.OP_HEADER.size + 4 * (len(op.inputs) + len(op.outputs) + len(op.params))
    return offset


def patched(blob: bytes, offset: int, fmt: str, *values) -> bytes:
    data = bytearray(blob)
    struct.pack_into(fmt, data, offset, *values)
    return bytes(data)


def first_float_op(compiled: compact.CompactModel, code: int) -> int:
    return next(position for position, op in enumerate(compiled.ops) if op.op_code == compact.OP_FLOAT32 | code)


def int8_tensor(compiled: compact.CompactModel) -> int:
    return next(t.index for t in compiled.tensors if t.type_code == compact.TYPE_INT8 and t.storage)


FLOAT_CORRUPTIONS = {
    # a float op code on an int8 op's record: parameter count no longer matches
    "int8_conv_marked_float": (lambda c: patched(c.blob, op_record_offset(c, next(
        i for i, op in enumerate(c.ops) if op.op_code == compact.OP.CONV_2D)), "<H",
        compact.OP_FLOAT32 | compact.OP.CONV_2D), "WESS_ERR_BAD_OP"),
    "float_conv_marked_int8": (lambda c: patched(c.blob, op_record_offset(c, first_float_op(c, compact.OP.CONV_2D)),
                                                 "<H", compact.OP.CONV_2D), "WESS_ERR_BAD_OP"),
    "float_filter_is_an_int8_tensor": (lambda c: patched(
        c.blob, op_record_offset(c, first_float_op(c, compact.OP.DEPTHWISE_CONV_2D)) + compact.OP_HEADER.size + 4,
        "<i", int8_tensor(c)), "WESS_ERR_BAD_TENSOR"),
    "float_bias_index_out_of_range": (lambda c: patched(
        c.blob, op_record_offset(c, first_float_op(c, compact.OP.FULLY_CONNECTED)) + compact.OP_HEADER.size + 8,
        "<i", len(c.tensors)), "WESS_ERR_BAD_TENSOR"),
    "float_weights_past_the_constants": (lambda c: patched(
        c.blob, compact.HEADER.size + compact.TENSOR.size * c.ops[first_float_op(c, compact.OP.CONV_2D)].inputs[1]
        + 28, "<I", 2**31), "WESS_ERR_BAD_OFFSET"),
    "float_tensor_size_not_4_bytes_per_element": (lambda c: patched(
        c.blob, compact.HEADER.size + compact.TENSOR.size * c.ops[first_float_op(c, compact.OP.CONV_2D)].outputs[0]
        + 32, "<I", c.tensors[c.ops[first_float_op(c, compact.OP.CONV_2D)].outputs[0]].data_bytes // 4),
        "WESS_ERR_BAD_TENSOR"),
}


@pytest.fixture(scope="module")
def mixed_blob(mixed) -> compact.CompactModel:
    return compact.compile_model(mixed)


@pytest.mark.parametrize("corruption", FLOAT_CORRUPTIONS)
def test_corrupt_mixed_blob_returns_its_status(mixed_blob, corruption):
    corrupt, status = FLOAT_CORRUPTIONS[corruption]
    with pytest.raises(WessError, match=status) as error:
        library.validate_model(corrupt(mixed_blob))
    assert "\n" not in str(error.value)
    with pytest.raises(WessError, match=status):
        library.run_model(corrupt(mixed_blob), np.zeros((1, 32, 32, 1), np.int8), np.int8)


def test_nan_activation_bound_fails_the_float_kernel_at_its_op(mixed_blob):
    position = first_float_op(mixed_blob, compact.OP.CONV_2D)
    act_max_word = op_record_offset(mixed_blob, position) + compact.OP_HEADER.size + 4 * (4 + 7)
    blob = patched(mixed_blob.blob, act_max_word, "<f", float("nan"))
    library.validate_model(blob)  # parameter ranges are the kernel's to check
    with pytest.raises(WessError, match=f"WESS_ERR_BAD_ARG .*op {position}"):
        library.run_model(blob, np.zeros((1, 32, 32, 1), np.int8), np.int8)


def _status_of(run) -> str:
    """The status name a runner call ends with: WESS_OK, or the one its one-line WessError names."""
    try:
        run()
    except WessError as error:
        assert "\n" not in str(error)
        return re.match(r"model blob: (WESS_\w+) \(", str(error)).group(1)
    return "WESS_OK"


def test_random_byte_flips_of_a_mixed_blob_never_crash(mixed_blob):
    """Each flipped blob is refused with a status of the header's enum or runs (an input of the size it declares);
    under ASan (tools/run_sanitized_tests.sh) an out-of-bounds read would fail the run."""
    rng = np.random.default_rng(1)
    table_end = op_record_offset(mixed_blob, len(mixed_blob.ops))
    statuses = collections.Counter()
    for _ in range(100):
        data = bytearray(mixed_blob.blob)
        for position in rng.integers(0, table_end, size=rng.integers(1, 4)):
            data[position] = int(rng.integers(0, 256))
        blob = bytes(data)
        status = _status_of(lambda: library.validate_model(blob))
        if status == "WESS_OK":
            input_bytes = library.validate_model(blob).input_bytes
            status = _status_of(lambda: library.run_model(blob, np.zeros((1, input_bytes), np.uint8), np.uint8))
        statuses[status] += 1
    assert set(statuses) <= set(library.STATUS_NAMES.values()) - {"WESS_ERR_CALLBACK"}, statuses
    assert {"WESS_OK", "WESS_ERR_BAD_OP", "WESS_ERR_BAD_TENSOR"} <= set(statuses), statuses


# ---------------------------------------------------------------- more zoo models (slow)

@pytest.mark.slow
@pytest.mark.parametrize("name, picks", [
    ("mobilenet_v2", (1, 2, 3, 8, 52)),  # DW + two CONV in float; a float CONV feeding an int8 ADD; float FC
    ("resnet8", (0, 3, 4, 9)),  # two float CONV into an ADD; a float FC after RESHAPE
    ("ds_cnn", (2, 3, 9)),
])
def test_zoo_mixed_models_are_byte_exact(zoo_model, splits, make_mixed, name, picks):
    from pipeline.keras import bnfold
    from pipeline.quant import convert

    folded, _ = bnfold.fold_batch_norms(zoo_model(name))
    calibrated = convert.calibrated_float_model(folded, splits.x_calib)
    model = make_mixed(calibrated, calibrated, picks)
    assert FLOAT_CODES & {op.op_code for op in compact.compile_model(model).ops}
    assert_byte_exact(model, f"{name} mixed {picks}")
