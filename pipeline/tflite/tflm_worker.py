"""Subprocess entry point for TFLite Micro's interpreter, which aborts the whole process on some degenerate models.

Usage: `run MODEL X.npy OUT.npy [OUTPUT_COUNT]` (outputs of every input in X) or `allocations MODEL` (its arena report on stdout).
"""
import sys

import numpy as np


def run(model_path: str, in_path: str, out_path: str, output_count: str = "1") -> None:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(model_path)
    outputs = []
    for sample in np.load(in_path):
        interpreter.set_input(sample[None], 0)
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
