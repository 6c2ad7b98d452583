"""Verify every zoo model (and stress variant) in every scheme: C reference vs LiteRT reference vs TFLite Micro.

Usage: python tools/verify_zoo.py [--inputs 1000] [NAME ...]
Each row deploys with `wess deploy --scheme S [--stress]` and runs `wess verify MODEL --inputs N --json`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.keras import zoo
from pipeline.quant import schemes  # noqa: E402

STRESSABLE = ("mobilenet_v1", "mobilenet_v2", "ds_cnn")


def wess(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *argv, "--json"], capture_output=True, text=True)
    if not proc.stdout.strip():
        raise SystemExit(f"wess {' '.join(argv)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("names", nargs="*", default=list(zoo.ZOO))
    args = parser.parse_args()
    print("| model | scheme | inputs | ref vs LiteRT | ref vs TFLM | LiteRT vs TFLM | C ref top-1 | arena bytes | blob bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="wess-verify-") as tmp:
        for name in args.names:
            for stress in (False, True):
                if stress and name not in STRESSABLE:
                    continue
                # the 8-bit schemes (the 4-bit ones: tools/int4_figures.py, whose models skip deploy's LiteRT gate)
                for scheme in (s for s in schemes.BASE_SCHEMES if schemes.weight_bits(s) == 8):
                    out = Path(tmp) / f"{name}_{stress}_{scheme}"
                    wess("deploy", f"zoo:{name}", "--scheme", scheme, "--out", str(out), *(["--stress"] if stress else []))
                    r = wess("verify", str(out / "model.tflite"), "--inputs", str(args.inputs))
                    m = r["mismatched_bytes"]
                    top1 = r.get("ref_top1")
                    print(f"| {name}{' --stress' if stress else ''} | {scheme} | {r['inputs']} | {m['ref_vs_litert']} | "
                          f"{m['ref_vs_tflm']} | {m['litert_vs_tflm']} | "
                          f"{'n/a' if top1 is None else f'{100 * top1:.2f}'} | {r['peak_arena_bytes']} | {r['blob_bytes']} |",
                          flush=True)


if __name__ == "__main__":
    main()
