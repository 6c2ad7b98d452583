"""Split a zoo model's int8 disagreement with float into weights alone, activations alone and the output grid.

Usage: python tools/error_split.py NAME [--stress] [--schemes wess,per_channel,per_tensor] [--augment 9]
On the zoo test split and its seeded augmentations (as `wess eval`), per scheme: the deployed int8 model (C
reference runner), the fake-quant model (weights and activations), the rounded weights with float activations,
and once: float weights with int8 activations, and float outputs on the int8 output grid; then the deployed
model's disagreements counted by float's top-1 margin in output steps. Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import deploy  # noqa: E402
from pipeline.cref import backends  # noqa: E402
from pipeline.keras import modelio, zoo  # noqa: E402
from pipeline.keras.stress import make_stress_variant  # noqa: E402
from pipeline.quant import error_split, metrics  # noqa: E402
from pipeline.tflite import runtime  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--stress", action="store_true")
    parser.add_argument("--schemes", default="wess,per_channel,per_tensor")
    parser.add_argument("--augment", type=int, default=metrics.AUGMENTED_COPIES)
    args = parser.parse_args()
    splits = zoo.load_digits_splits()
    model = modelio.load_keras(f"zoo:{args.name}", ()).model
    if args.stress:
        model = make_stress_variant(model, splits)
    x = metrics.augment(splits.x_test, args.augment)
    float_out = modelio.predict(model, x)
    out = {"model": args.name + ("_stress" if args.stress else ""), "inputs": int(len(x)), "schemes": {}}
    for base in args.schemes.split(","):
        state = deploy.run_passes(model, splits.x_calib, deploy.DeployOptions(base),
                                  passes=deploy.CONVERSION_PASSES)
        q = runtime.io_quant(state.model)
        int8_out = runtime.dequantize_output(backends.run_ref(state.model, runtime.quantize_input(x, q)), q)
        int8_out = int8_out.reshape(float_out.shape)
        parts = error_split.split(model, splits.x_calib, x, float_out, base)
        out["schemes"][base] = {"int8": asdict(metrics.compare(float_out, int8_out)),
                                "fake_quant": asdict(parts.both), "weights_only": asdict(parts.weights_only),
                                "by_margin": error_split.disagreements_by_margin(float_out, int8_out,
                                                                                 q.outputs[0].scale)}
        out["activations_only"] = asdict(parts.activations_only)
        out["output_grid_only"] = asdict(error_split.output_grid_only(float_out, q.outputs[0]))
        print(f"{base}: done", file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
