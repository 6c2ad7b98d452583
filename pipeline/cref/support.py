"""Which operators of an int8 TFLite model the C reference runner (and so the firmware) has no kernel for: all of them."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.tflite import flatbuf

from . import compact
from . import op_registry as registry


@dataclass(frozen=True)
class MissingKernel:
    """An operator the C runner cannot run."""

    operator: int  # TFLite operator index
    op: str  # TFLite builtin name
    output_name: str  # its output tensor's name (carries the Keras layer's name)
    model_output: int | None  # which model output it computes, or None


def missing_kernels(model_bytes: bytes) -> list[MissingKernel]:
    """Every live operator (compact drops the dead SHAPE chains Keras' Flatten leaves), in execution order, whose
    TFLite builtin has no entry in the operator table, or whose form its kernel lacks (registry.missing_form)."""
    model = flatbuf.read_model(model_bytes)
    graph = model.subgraphs[0]
    outputs = [int(t) for t in graph.outputs]
    missing = []
    live = compact.live_operators(model)
    for index, op in enumerate(graph.operators):
        if index in live and (flatbuf.builtin_code(model, op) not in registry.SPECS or registry.missing_form(model, op)):
            name = graph.tensors[op.outputs[0]].name
            tensor = int(op.outputs[0])
            missing.append(MissingKernel(index, flatbuf.opcode_name(model, op),
                                         name.decode() if isinstance(name, bytes) else str(name),
                                         outputs.index(tensor) if tensor in outputs else None))
    return missing
