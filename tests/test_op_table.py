"""The Python operator registry and status names agree with the C side: its operator table (wess_op_info), its
parameter structs and status enum as the headers declare them; SQUEEZE, added through the registry, runs exactly."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from pipeline.cref import compact, library, op_records, op_registry, param_words, verify
from pipeline.errors import InputError, UnsupportedError, WessError

pytestmark = pytest.mark.usefixtures("reference_library")
ROOT = Path(__file__).resolve().parent.parent
HEADERS = (ROOT / "firmware_ref" / "include" / "wess_ref.h", ROOT / "firmware_ref" / "src" / "op_table.h")
C_TYPE_ANY = 0xFF


def _header_text() -> str:
    """The headers without comments."""
    return re.sub(r"/\*.*?\*/", "", "\n".join(path.read_text() for path in HEADERS), flags=re.S)


def c_structs() -> dict[str, list[tuple[str, str]]]:
    """Every `typedef struct { TYPE name; ... } NAME;` of the headers: its (field, type) list."""
    structs = {}
    for body, name in re.findall(r"typedef struct\s*\{(.*?)\}\s*(\w+);", _header_text(), flags=re.S):
        structs[name] = re.findall(r"^\s*(?:const\s+)?([\w]+\s*\**)\s*(\w+)\s*(?:\[\d+\])?;", body, flags=re.M)
        structs[name] = [(field, c_type.strip()) for c_type, field in structs[name]]
    return structs


def c_layout(structs: dict, name: str) -> list[tuple[str, str]]:
    """(field path, C type) of every word of a struct, nested structs flattened in place."""
    layout = []
    for field, c_type in structs[name]:
        if c_type in structs:
            layout.extend((f"{field}.{path}", leaf) for path, leaf in c_layout(structs, c_type))
        else:
            layout.append((field, c_type))
    return layout


def c_status_enum() -> dict[int, str]:
    body = re.search(r"typedef enum\s*\{(.*?)\}\s*wess_status_t;", _header_text(), flags=re.S).group(1)
    return {int(value): name for name, value in re.findall(r"(WESS_\w+)\s*=\s*(\d+)", body)}


def _c_type(python_type) -> int:
    return C_TYPE_ANY if python_type is op_registry.TYPE_ANY else python_type


def test_the_registry_has_the_c_tables_rows():
    rows = {row.op_code: row for row in library.op_table()}
    assert sorted(rows) == sorted(op_registry.SPECS)
    for code, spec in op_registry.SPECS.items():
        row = rows[code]
        assert row.name.decode() == spec.name
        assert (row.min_inputs, row.max_inputs, row.min_outputs, row.max_outputs) == (*spec.input_count,
                                                                               *spec.output_count)
        assert list(row.input_types) == [_c_type(t) for t in spec.input_types], spec.name
        assert (row.output_type, row.optional_input) == (_c_type(spec.output_type), spec.optional_input)
        assert (row.param_words, row.requant_words) == (spec.param_word_count, 4 if spec.requant else 0)


def test_each_params_dataclass_is_laid_out_as_its_c_struct():
    """Field names, types and order: the parameter words Python packs are the words the C run decodes."""
    structs = c_structs()
    for row in library.op_table():
        spec = op_registry.SPECS[row.op_code]
        if row.params_struct is None:
            assert spec.params_type is None, spec.name
            continue
        assert list(param_words.param_layout(spec.params_type)) == c_layout(structs, row.params_struct.decode())
    assert list(param_words.param_layout(op_records.RequantWords)) == c_layout(structs, "model_requant_words_t")


def test_header_parser_sees_a_nested_struct():
    """The layout test above can fail: the parser reads fields and nesting as the header writes them."""
    layout = c_layout(c_structs(), "wess_depthwise_f32_params_t")
    assert layout[0] == ("conv.stride_y", "int32_t") and layout[6] == ("conv.act_min", "float")
    assert layout[-1] == ("depth_multiplier", "int32_t") and len(layout) == 9


def test_param_words_pack_floats_as_their_bits():
    params = op_registry.kp.QuantizeParams(0.5, -3)
    assert param_words.param_words(params) == (0x3F000000, -3)


def test_status_names_are_the_headers_enum():
    assert library.STATUS_NAMES == c_status_enum()
    assert set(library.STATUS_MEANINGS) == set(c_status_enum()) - {0}


def test_an_op_code_missing_from_the_table_is_bad_op(squeeze_model):
    """Validator and runner refuse an op code the table lacks, at its op position."""
    compiled = compact.compile_model(squeeze_model)
    position = next(i for i, op in enumerate(compiled.ops) if op.op_name == "SQUEEZE")
    offset = compact.HEADER.size + compact.TENSOR.size * len(compiled.tensors) + sum(
        compact.OP_HEADER.size + 4 * (len(op.inputs) + len(op.outputs) + len(op.params))
        for op in compiled.ops[:position])
    blob = bytearray(compiled.blob)
    blob[offset:offset + 2] = op_registry.OP.CUMSUM.to_bytes(2, "little")  # shaped like SQUEEZE, not in the table
    with pytest.raises(WessError, match=f"WESS_ERR_BAD_OP .*op {position}"):
        library.validate_model(bytes(blob))
    with pytest.raises(WessError, match="WESS_ERR_BAD_OP"):
        library.run_model(bytes(blob), np.zeros((1, 32, 32, 1), np.int8), np.int8)


# ---------------------------------------------------------------- SQUEEZE, the op docs/adding_an_op.md adds

@pytest.fixture(scope="module")
def squeeze_model(splits) -> bytes:
    return build_squeeze_model(splits.x_calib[:20], seed=0)


def build_squeeze_model(x_calib: np.ndarray, seed: int) -> bytes:
    """A deployed int8 model whose [1, 1, 1, 10] -> [1, 10] RESHAPE is rewritten into the SQUEEZE it stands for (the
    converter itself turns a static SQUEEZE into RESHAPE); weights initialized from `seed`."""
    import keras
    from ai_edge_litert import schema_py_generated as schema

    from pipeline import deploy
    from pipeline.tflite import flatbuf

    keras.utils.set_random_seed(seed)

    inp = keras.Input((32, 32, 1))
    x = keras.layers.AveragePooling2D(15)(keras.layers.Conv2D(10, 3, strides=2, activation="relu")(inp))
    x = keras.ops.squeeze(x, axis=(1, 2))  # at batch 1 a Dense after it would take the 4-D tensor: no RESHAPE
    deployed = deploy.run_passes(keras.Model(inp, keras.layers.Softmax()(x)), x_calib,
                                 deploy.DeployOptions()).model
    model = flatbuf.read_model(deployed)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.SQUEEZE
    code.version = 1
    model.operatorCodes.append(code)
    reshape = next(op for op in model.subgraphs[0].operators if flatbuf.opcode_name(model, op) == "RESHAPE")
    reshape.opcodeIndex, reshape.inputs = len(model.operatorCodes) - 1, reshape.inputs[:1]
    reshape.builtinOptionsType, reshape.builtinOptions = schema.BuiltinOptions.SqueezeOptions, schema.SqueezeOptionsT()
    reshape.builtinOptions.squeezeDims = [1, 2]
    return flatbuf.write_model(model)


def test_squeeze_runs_byte_exact_on_every_backend(squeeze_model):
    compiled = compact.compile_model(squeeze_model)
    squeeze = next(op for op in compiled.ops if op.op_name == "SQUEEZE")
    assert squeeze.params == () and len(squeeze.inputs) == 1
    offsets = {t.index: t.data_offset for t in compiled.tensors}
    assert offsets[squeeze.inputs[0]] == offsets[squeeze.outputs[0]]  # the memory plan shares the buffer
    result = verify.verify(squeeze_model, "squeeze", 24)
    assert result.mismatched_bytes == {pair: 0 for pair in verify.PAIRS}


# ---------------------------------------------------------------- whose fault: input, unsupported, or a bug

def _with_conv(model: bytes, change) -> bytes:
    """The model with change(conv operator, graph) applied to its CONV_2D."""
    from pipeline.tflite import flatbuf

    parsed = flatbuf.read_model(model)
    graph = parsed.subgraphs[0]
    change(next(op for op in graph.operators if flatbuf.opcode_name(parsed, op) == "CONV_2D"), graph)
    return flatbuf.write_model(parsed)


@pytest.mark.parametrize("change, error, message", [
    (lambda op, graph: setattr(op.builtinOptions, "strideH", 0), InputError, r"strides \[0, 2\] must be >= 1"),
    (lambda op, graph: setattr(op.builtinOptions, "fusedActivationFunction", 7), UnsupportedError,
     "fused activation 7 is not supported"),
    (lambda op, graph: setattr(op.builtinOptions, "padding", 5), InputError, "padding code 5 is neither SAME"),
    (lambda op, graph: setattr(op.builtinOptions, "dilationWFactor", 100), UnsupportedError, "filter larger than"),
    (lambda op, graph: setattr(op, "builtinOptionsType", 0) or setattr(op, "builtinOptions", None), InputError,
     "builtin options missing, expected Conv2DOptionsT"),
])
def test_a_bad_operator_is_an_input_or_unsupported_error_naming_it(squeeze_model, change, error, message):
    with pytest.raises(error, match=rf"^squeeze: operator 0 \(CONV_2D\): {message}"):
        compact.compile_model(_with_conv(squeeze_model, change), "squeeze")


def test_a_bug_in_a_build_function_propagates(squeeze_model, monkeypatch):
    """A Python exception raised by the project's own code stays what it is (the CLI reports a bug, exit 1)."""
    def broken(ctx):
        raise KeyError("a bug")

    conv = op_registry.SPECS[op_registry.OP.CONV_2D]
    monkeypatch.setitem(op_registry.SPECS, conv.code, dataclasses.replace(conv, build=broken))
    with pytest.raises(KeyError, match="a bug"):
        compact.compile_model(squeeze_model)
