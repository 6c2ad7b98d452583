"""Subprocess entry point for TFLite Micro's interpreter, which aborts the whole process on some degenerate models.

Usage: `run MODEL X.npz OUT.npy [OUTPUT_COUNT]` (outputs of every sample in X: arrays arr_0, arr_1, ... one per
model input, in the subgraph's input order) or `allocations MODEL` (its arena report on stdout).
"""
import sys

import numpy as np


def run(model_path: str, in_path: str, out_path: str, output_count: str = "1") -> None:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(model_path)
    outputs = []
    with np.load(in_path) as archive:
        inputs = [archive[f"arr_{position}"] for position in range(len(archive.files))]
    for sample in range(len(inputs[0])):
        for position, part in enumerate(inputs):
            interpreter.set_input(part[sample:sample + 1], position)
        interpreter.invoke()
        parts = [np.array(interpreter.get_output(index))[0] for index in range(int(output_count))]
        # several outputs: flattened and joined in order, as pipeline.tflite.runtime.join_outputs does
        outputs.append(parts[0] if len(parts) == 1 else np.concatenate([part.ravel() for part in parts]))
    np.save(out_path, np.stack(outputs))


def allocations(model_path: str) -> None:
    from tflite_micro.python.tflite_micro import runtime

    runtime.Interpreter.from_file(model_path).print_allocations()


if __name__ == "__main__":
    {"run": run, "allocations": allocations}[sys.argv[1]](*sys.argv[2:])
