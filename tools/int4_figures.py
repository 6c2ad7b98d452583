"""The README's 4-bit figures: per zoo model, the 8-bit WESS model and the 4-bit schemes' compact blobs (weight and
blob bytes), C reference / LiteRT reference / TFLite Micro byte agreement on --inputs digit inputs (+16 random), and
the 8-bit vs 4-bit WESS firmware (flash, instructions per inference) on each target, run in QEMU.

Usage: python tools/int4_figures.py [--models M ...] [--inputs 1000] [--targets cortex-m3 cortex-m55]
       [--shift-rule relative] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODELS = ("ds_cnn", "mobilenet_v1", "resnet8", "mobilenet_v2")
SCHEMES = ("wess", "per_tensor4", "per_channel4", "wess4")


def blob_figures(model: bytes, name: str, inputs: int) -> dict:
    import numpy as np

    from pipeline.cref import compact, verify

    compiled = compact.compile_model(model, name)
    filters = {op.inputs[1] for op in compiled.ops if op.op_code & ~compact.OP_INT4_FILTER in compact.WEIGHTED_OPS}
    result = verify.verify(model, name, inputs)
    return {"blob_bytes": len(compiled.blob), "weight_bytes": sum(compiled.tensors[t].data_bytes for t in filters),
            "weights": int(sum(np.prod(compiled.tensors[t].dims) for t in filters)),
            "packed_ops": sum(1 for op in compiled.ops if op.op_code & compact.OP_INT4_FILTER),
            "weighted_ops": len(filters), "inputs": result.inputs, "mismatched_bytes": result.mismatched_bytes}


def firmware_figures(model: bytes, name: str, target: str) -> dict:
    from pipeline.firmware import build as firmware

    with tempfile.TemporaryDirectory(prefix="wess-int4-") as tmp:
        run = firmware.build_firmware(model, f"{name}.tflite", firmware.FirmwareOptions(target, Path(tmp), run=True,
                                                                                         inputs=2))
    return {"matches_host": run["matches_host"], "flash_bytes": run["flash_bytes"],
            "instructions": run["instructions_per_inference"], "stack_bytes": run["stack_used_bytes"]}


def measure(name: str, inputs: int, targets: list[str], shift_rule: str) -> dict:
    import keras

    from pipeline import deploy
    from pipeline.keras import zoo
    from pipeline.quant import schemes

    splits = zoo.load_digits_splits()
    state = deploy.run_passes(keras.models.load_model(zoo.ZOO[name].path, compile=False), splits.x_calib,
                              deploy.DeployOptions("wess"), passes=deploy.CONVERSION_PASSES)
    out = {}
    for scheme in SCHEMES:
        model = schemes.build_scheme(state.ranged, state.calibrated, scheme, shift_rule)[0]
        out[scheme] = blob_figures(model, name, inputs)
        if scheme in ("wess", "wess4"):
            out[scheme]["firmware"] = {target: firmware_figures(model, name, target) for target in targets}
        print(name, scheme, json.dumps(out[scheme]), file=sys.stderr, flush=True)
    return out


def table(results: dict, targets: list[str]) -> str:
    lines = ["| model | weights | 4-bit weight bytes | wess blob | wess4 blob | "
             + " | ".join(f"{t} flash wess → wess4 | {t} instructions wess → wess4" for t in targets) + " |",
             "|---|---|---|---|---|" + "---|---|" * len(targets)]
    for name, r in results.items():
        eight, four = r["wess"], r["wess4"]
        cells = [f"{eight['weights']:,}", f"{four['weight_bytes']:,} ({four['weight_bytes'] / eight['weight_bytes']:.2f}×)",
                 f"{eight['blob_bytes']:,}", f"{four['blob_bytes']:,} ({four['blob_bytes'] / eight['blob_bytes']:.2f}×)"]
        for target in targets:
            a, b = eight["firmware"][target], four["firmware"][target]
            cells += [f"{a['flash_bytes']:,} → {b['flash_bytes']:,}",
                      f"{a['instructions']:,} → {b['instructions']:,} ({b['instructions'] / a['instructions']:.2f}×)"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--targets", nargs="+", default=["cortex-m3", "cortex-m55"])
    parser.add_argument("--shift-rule", default="relative")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    results = {name: measure(name, args.inputs, args.targets, args.shift_rule) for name in args.models}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    print(table(results, args.targets))
    for name, r in results.items():
        print(f"{name}: " + "; ".join(f"{scheme} {v['inputs']} inputs {v['mismatched_bytes']}" for scheme, v in r.items()))


if __name__ == "__main__":
    main()
