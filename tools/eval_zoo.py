"""Evaluate every zoo model (and its stress variant) with `wess eval` and print the README's accuracy tables.

Usage: python tools/eval_zoo.py [--calibrator NAME] [--shift-rule floor|mse] [--adaround] [--out DIR] [--reuse]
Each row comes from `wess eval zoo:<name> [--stress] [--adaround] --json`, whose JSON is kept in --out.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.keras import zoo
from pipeline.quant import schemes  # noqa: E402

STRESSABLE = ("mobilenet_v1", "mobilenet_v2", "ds_cnn")  # models with depthwise layers


def run_eval(name: str, stress: bool, options: list[str]) -> dict:
    cmd = [sys.executable, "-m", "pipeline.cli", "eval", f"zoo:{name}", "--json", *options]
    if stress:
        cmd.append("--stress")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrator", default="max")
    parser.add_argument("--shift-rule", default="mse")
    parser.add_argument("--out", default="build/figures")
    parser.add_argument("--adaround", action="store_true", help="also the learned-rounding (+ar) schemes")
    parser.add_argument("--reuse", action="store_true", help="take rows whose JSON is already in --out from there")
    parser.add_argument("names", nargs="*", default=list(zoo.ZOO))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    options = ["--calibrator", args.calibrator, "--shift-rule", args.shift_rule] + (["--adaround"] if args.adaround
                                                                                       else [])
    rows = []
    for name in args.names:
        for stress in (False, True):
            if stress and name not in STRESSABLE:
                continue
            path = out / (f"{name}{'_stress' if stress else ''}_{args.calibrator}_{args.shift_rule}"
                          f"{'_ar' if args.adaround else ''}.json")
            if args.reuse and path.is_file():
                rows.append(json.loads(path.read_text()))
                continue
            result = run_eval(name, stress, options)
            path.write_text(json.dumps(result, indent=1))
            rows.append(result)
            print(f"{result['model']}: done", file=sys.stderr, flush=True)
    print("| model | float | per-tensor | per-channel | WESS | WESS - float | max R/r_c |")
    print("|---|---|---|---|---|---|---|")
    for result in rows:
        acc = result["accuracy"]
        print(f"| {result['model']} | {100 * acc['float']:.2f} | {100 * acc['per_tensor']:.2f} | "
              f"{100 * acc['per_channel']:.2f} | {100 * acc['wess']:.2f} | "
              f"{100 * (acc['wess'] - acc['float']):+.2f} | {result['max_disparity']:.0f} |")
    print()
    names = [s for s in schemes.SCHEMES if s in rows[0]["accuracy"]]
    print("Top-1 (%) of every scheme; output SQNR vs float (dB) in brackets; CLE pairs per model.")
    print()
    print("| model | CLE pairs | float | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 3) + "|")
    for result in rows:
        acc, sq = result["accuracy"], result["schemes"]
        print(f"| {result['model']} | {result['cle_pairs']} | {100 * acc['float']:.2f} | "
              + " | ".join(f"{100 * acc[s]:.2f} ({sq[s]['sqnr_db']:.1f})" for s in names) + " |")
    print()
    means = {s: sum(r["accuracy"][s] for r in rows) / len(rows) for s in names}
    mean_sqnr = {s: sum(r["schemes"][s]["sqnr_db"] for r in rows) / len(rows) for s in names}
    print("| mean over the rows | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    print("| top-1 (%) | " + " | ".join(f"{100 * means[s]:.2f}" for s in names) + " |")
    print("| output SQNR (dB) | " + " | ".join(f"{mean_sqnr[s]:.1f}" for s in names) + " |")

    if args.adaround:
        print()
        print_learned_rounding(rows)


def print_learned_rounding(rows: list[dict]) -> None:
    """Agreement with float (%) on the augmented inputs and output SQNR (dB) there, nearest vs learned rounding."""
    bases = ("wess", "per_channel", "per_tensor")
    inputs = rows[0]["augmented_samples"]
    print(f"Agreement with float (%) on {inputs:,} inputs (test split + seeded augmentations), output SQNR (dB) in "
          "brackets; top-1 on the clean test split.")
    print()
    print("| model | float top-1 | " + " | ".join(f"{b} | {b}+ar" for b in bases) + " | top-1 wess / wess+ar |")
    print("|---" * (2 * len(bases) + 3) + "|")
    for result in rows:
        acc, sq = result["accuracy"], result["schemes"]
        cells = [f"{100 * sq[s]['augmented']['agreement']:.2f} ({sq[s]['augmented']['sqnr_db']:.1f})"
                 for b in bases for s in (b, f"{b}+ar")]
        print(f"| {result['model']} | {100 * acc['float']:.2f} | " + " | ".join(cells)
              + f" | {100 * acc['wess']:.2f} / {100 * acc['wess+ar']:.2f} |")


if __name__ == "__main__":
    main()
