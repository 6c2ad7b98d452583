"""Subprocess entry point: run a model through TFLite Micro's interpreter. Usage: MODEL X.npy OUT.npy"""
import sys

import numpy as np


def main(model_path: str, in_path: str, out_path: str) -> None:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(model_path)
    outputs = []
    for sample in np.load(in_path):
        interpreter.set_input(sample[None], 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0))[0])
    np.save(out_path, np.stack(outputs))


if __name__ == "__main__":
    main(*sys.argv[1:4])
