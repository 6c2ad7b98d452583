"""The C reference runner with LiteRT's reference kernels standing in only for the operators it lacks."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pipeline.errors import UnsupportedError
from pipeline.tflite import flatbuf, metadata, runtime

from . import backends, compact

C_RUNNER, LITERT = "ref", "litert_ref"


@dataclass(frozen=True)
class Segment:
    """Consecutive live operators one runtime computes, as a sub-model of the model (the same tensors, buffers and
    WESS records, those operators only) whose inputs are what they read from earlier segments or the model input."""

    runtime: str  # C_RUNNER, or LITERT for one operator the C runner lacks
    operators: tuple[int, ...]  # the model's operator indices, in execution order
    inputs: tuple[int, ...]  # tensor indices, in the sub-model's input order
    outputs: tuple[int, ...]  # tensor indices the later segments or the model's outputs read
    model: bytes


@dataclass(frozen=True)
class MixedRun:
    """One run of the model split into segments: its joined outputs and every tensor computed, [N, *shape] each
    (a LiteRT operator's outputs, every tensor of a C segment)."""

    outputs: np.ndarray
    tensors: dict[int, np.ndarray]


def split(model_bytes: bytes, source: str = "model") -> tuple[list[Segment], str | None]:
    """The segments of the model (one C segment when the C runner runs every live operator) and the first
    operator's refusal (compile_model's message) when it does not. UnsupportedError when a live tensor's first axis
    is not a batch of 1 in the file or in LiteRT (the segments run the samples stacked along it), or LiteRT cannot
    prepare an operator on its own."""
    model = flatbuf.read_model(model_bytes, source)
    graph = model.subgraphs[0]
    plan, constants = compact.operator_plan(model, source)
    for tensor in [int(t) for t in graph.inputs] + [int(t) for index in plan for t in graph.operators[index].outputs]:
        _check_batch_of_one(graph, tensor, graph.tensors[tensor].shape, source)
    groups: list[tuple[str, list[int]]] = []
    for index, refusal in plan.items():
        if refusal is None and groups and groups[-1][0] == C_RUNNER:
            groups[-1][1].append(index)
        else:
            groups.append((C_RUNNER if refusal is None else LITERT, [index]))
    reads = {index: _reads(model, index, plan[index] is None) for index in plan}
    later_reads = [set() for _ in groups]
    wanted = {int(t) for t in graph.outputs}
    for position in reversed(range(len(groups))):
        later_reads[position] = set(wanted)
        wanted.update(t for index in groups[position][1] for t in reads[index])
    layers = _wess_layers(model, source)
    segments = []
    for (kind, operators), after in zip(groups, later_reads):
        produced = [int(t) for index in operators for t in graph.operators[index].outputs]
        inputs = list(dict.fromkeys(t for index in operators for t in reads[index]
                                    if t not in produced and t not in constants))
        outputs = [t for t in produced if t in after]
        segment = Segment(kind, tuple(operators), tuple(inputs), tuple(outputs),
                          _sub_model(model_bytes, operators, inputs, outputs, layers))
        if kind == LITERT:
            _check_litert_shapes(segment, graph, source)
        segments.append(segment)
    refusals = [refusal for refusal in plan.values() if refusal is not None]
    return segments, refusals[0] if refusals else None


def _check_batch_of_one(graph, tensor: int, shape, source: str) -> None:
    """UnsupportedError unless the tensor's first axis is a batch of 1 (SHAPE's [4] is not)."""
    if shape is None or len(shape) == 0 or int(shape[0]) != 1:
        raise UnsupportedError(f"{source}: tensor {tensor} ({flatbuf.tensor_name(graph.tensors[tensor])}) has "
                               f"shape {[] if shape is None else [int(d) for d in shape]}, not a batch of one "
                               "sample; the per-operator stand-in runs the samples stacked along that axis")


def _check_litert_shapes(segment: Segment, graph, source: str) -> None:
    """The shapes LiteRT gives the segment's outputs are the file's (SPACE_TO_BATCH_ND's [4, ...] is not, though
    the file says [1, ...]: its samples could not be stacked), and LiteRT can prepare the operator on its own."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        interpreter = Interpreter(model_content=segment.model, num_threads=1,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise UnsupportedError(f"{source}: LiteRT cannot run operator {segment.operators[0]} alone: "
                               f"{str(exc).strip().splitlines()[0]}") from None
    for tensor, detail in zip(segment.outputs, interpreter.get_output_details()):
        stored = [int(d) for d in graph.tensors[tensor].shape]
        if [int(d) for d in detail["shape"]] != stored:
            raise UnsupportedError(f"{source}: tensor {tensor} ({flatbuf.tensor_name(graph.tensors[tensor])}) has "
                                   f"shape {[int(d) for d in detail['shape']]} in LiteRT, {stored} in the file; the "
                                   "per-operator stand-in runs the samples stacked along the first axis")


def _reads(model, index: int, in_c_runner: bool) -> list[int]:
    """The tensors an operator reads: the C kernel's data inputs, or every input for LiteRT."""
    op = model.subgraphs[0].operators[index]
    return compact.data_inputs(model, op) if in_c_runner else [int(t) for t in op.inputs if t >= 0]


def _wess_layers(model, source: str) -> dict[int, metadata.LayerShifts]:
    if flatbuf.get_metadata(model, metadata.METADATA_NAME) is None:
        return {}
    return {layer.operator_index: layer for layer in metadata.read_shifts(model, source)}


def _sub_model(model_bytes: bytes, operators: list[int], inputs: list[int], outputs: list[int],
               layers: dict[int, metadata.LayerShifts]) -> bytes:
    """The model cut down to `operators`, with these inputs and outputs; WESS records follow their operators."""
    model = flatbuf.read_model(model_bytes)
    graph = model.subgraphs[0]
    graph.operators = [graph.operators[index] for index in operators]
    graph.inputs, graph.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
    model.signatureDefs = []  # the model's signature names its own inputs and outputs
    records = [dataclasses.replace(layers[index], operator_index=position)
               for position, index in enumerate(operators) if index in layers]
    if layers:
        flatbuf.remove_metadata(model, metadata.METADATA_NAME)
    if records:
        flatbuf.set_metadata(model, metadata.METADATA_NAME, metadata.encode(records))
    return flatbuf.write_model(model)


def run(model_bytes: bytes, segments: list[Segment], x_int8: np.ndarray) -> MixedRun:
    """Run the segments in order on int8 inputs (joined as every runner takes them), each fed the tensors the
    earlier ones computed; the model's outputs joined as runtime.join_outputs does."""
    graph = flatbuf.read_model(model_bytes).subgraphs[0]
    shapes = {index: tuple(int(d) for d in tensor.shape[1:]) for index, tensor in enumerate(graph.tensors)
              if tensor.shape is not None}  # split() checked that every live tensor's first axis is a batch of 1
    inputs = [int(t) for t in graph.inputs]
    tensors = dict(zip(inputs, runtime.split_joined(x_int8, [shapes[t] for t in inputs])))
    for segment in segments:
        x = runtime.join_outputs([tensors[t] for t in segment.inputs])
        if segment.runtime == C_RUNNER:  # every tensor it computes, for the search of a first divergence
            computed = backends.ref_intermediates(segment.model, x)
        else:
            y = runtime.run_litert(segment.model, x, reference=True)
            computed = dict(zip(segment.outputs, runtime.split_joined(y, [shapes[t] for t in segment.outputs])))
        tensors.update((t, values.reshape((len(x_int8),) + shapes[t])) for t, values in computed.items()
                       if t not in segment.inputs)
    return MixedRun(runtime.join_outputs([tensors[int(t)] for t in graph.outputs]), tensors)


def computed_by(model_bytes: bytes, segments: list[Segment]) -> dict[str, str]:
    """"operator N (OP)" -> the runtime that computed it, for every live operator in execution order."""
    names = {index: name for index, name, _ in operator_outputs(model_bytes, segments)}
    return {f"operator {index} ({names[index]})": segment.runtime for segment in segments
            for index in segment.operators}


def operator_outputs(model_bytes: bytes, segments: list[Segment]) -> list[tuple[int, str, tuple[int, ...]]]:
    """(operator index, op name, output tensors) of every live operator, in execution order."""
    model = flatbuf.read_model(model_bytes)
    operators = model.subgraphs[0].operators
    return [(index, flatbuf.opcode_name(model, operators[index]), tuple(int(t) for t in operators[index].outputs))
            for segment in segments for index in segment.operators]
