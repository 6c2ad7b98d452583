"""Build and run every deployed zoo model as firmware on the given targets; print the docs/firmware.md table."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("mobilenet_v1", "mobilenet_v2", "resnet8", "ds_cnn")


def measure(name: str, target: str, inputs: int) -> dict:
    model = ROOT / "build" / "deploy" / name / "model.tflite"
    if not model.is_file():
        subprocess.run([str(ROOT / ".venv" / "bin" / "wess"), "deploy", f"zoo:{name}"], cwd=ROOT, check=True)
    command = [str(ROOT / ".venv" / "bin" / "wess"), "firmware", str(model), "--target", target, "--run",
               "--inputs", str(inputs), "--out", str(ROOT / "build" / "firmware" / name / target), "--json", "--force"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{name} on {target}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def row(name: str, result: dict) -> str:
    memory, field = result["memory"], result["field"]
    params, arena = field["requant_parameters"], field["arena"]
    return (f"| {name} | {result['target']} | {memory['flash_code_bytes']:,} | {memory['flash_model_bytes']:,} | "
            f"{result['flash_bytes']:,} | {memory['ram_arena_bytes']:,} | {result['stack_used_bytes']:,} | "
            f"{result['ram_bytes']:,} | {result['instructions_per_inference']:,} | "
            f"{'yes' if result['matches_host'] else 'NO'} | {arena['tflm_activation_bytes']:,} / "
            f"{arena['tflm_total_bytes']:,} | {params['ours_bytes']:,} / {params['tflm_bytes']:,} / "
            f"{params['vela_bytes_with_bias']:,} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", nargs="+", default=["cortex-m3", "cortex-m55"])
    parser.add_argument("--inputs", type=int, default=10)
    args = parser.parse_args()
    results = {f"{name}/{target}": measure(name, target, args.inputs) for name in MODELS for target in args.targets}
    out = ROOT / "build" / "figures" / "firmware.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print("| model | target | code | model blob | flash total | arena | stack used | RAM total (8 KiB stack "
          "reserved) | instructions / inference | = host | TFLM arena activations / total | requant bytes ours / "
          "TFLM / Vela |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, result in results.items():
        print(row(key.split("/")[0], result))


if __name__ == "__main__":
    main()
