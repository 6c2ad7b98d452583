"""Which operators of an int8 TFLite model the C reference runner (and so the firmware) has no kernel for: all of them."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.tflite import flatbuf

from . import compact


@dataclass(frozen=True)
class MissingKernel:
    """An operator the C runner cannot run."""

    operator: int  # TFLite operator index
    op: str  # TFLite builtin name
    output_name: str  # its output tensor's name (carries the Keras layer's name)
    model_output: int | None  # which model output it computes, or None


def missing_kernels(model_bytes: bytes) -> list[MissingKernel]:
    """Every live operator the C runner cannot run (compact.operator_plan: no entry in the operator table, a form its
    kernel lacks, left in float without a float kernel), in execution order; compact drops the dead SHAPE chains
    Keras' Flatten leaves, unless an operator run elsewhere reads them."""
    model = flatbuf.read_model(model_bytes)
    graph = model.subgraphs[0]
    outputs = [int(t) for t in graph.outputs]
    missing = []
    for index, refusal in compact.operator_plan(model)[0].items():
        if refusal is not None:
            op = graph.operators[index]
            tensor = int(op.outputs[0])
            name = flatbuf.tensor_name(graph.tensors[tensor])
            missing.append(MissingKernel(index, flatbuf.opcode_name(model, op), name,
                                         outputs.index(tensor) if tensor in outputs else None))
    return missing
