"""Firmware benchmark: instructions per inference of zoo models on Cortex-M targets (QEMU -icount), target kernels
against the portable ones, with the CMSIS-NN anchor figures of issue 13."""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.firmware.build import FirmwareOptions, build_firmware  # noqa: E402

MODELS = ("mobilenet_v1", "ds_cnn")
TARGETS = ("cortex-m3", "cortex-m4", "cortex-m55")
# Issue 13's measurement of CMSIS-NN (a 2026 commit, -Os, through its *_wrapper_s8 /
# arm_fully_connected_per_channel_s8 entry points, same QEMU -icount shift=0): instructions of the conv, depthwise
# and FC layers only, not the whole model. A fixed fact, not re-measured here.
CMSIS_NN_LAYER_INSTRUCTIONS = {("mobilenet_v1", "cortex-m4"): 3_693_463, ("mobilenet_v1", "cortex-m55"): 967_722,
                               ("ds_cnn", "cortex-m4"): 18_699_897, ("ds_cnn", "cortex-m55"): 4_945_700}


@dataclass(frozen=True)
class BenchRow:
    """One model on one target: the target kernels and the portable kernels, both checked against the host."""

    model: str
    target: str
    instructions: int  # per inference, whole model, target kernels
    portable_instructions: int  # per inference, whole model, WESS_PORTABLE_KERNELS
    flash_code_bytes: int
    portable_flash_code_bytes: int
    flash_model_bytes: int
    ram_bytes: int  # arena + reserved stack + .data/.bss
    stack_used_bytes: int
    cmsis_nn_layer_instructions: int | None  # issue 13's anchor (conv/depthwise/FC layers only)


def deployed_model(directory: Path, name: str) -> Path:
    """The zoo model deployed by `wess deploy zoo:NAME --out DIR` (run here if it is not there yet)."""
    model = directory / name / "model.tflite"
    if not model.is_file():
        code = f"import sys; from pipeline.cli.main import main; sys.argv = {['wess', 'deploy', f'zoo:{name}', '--out', str(model.parent)]!r}; sys.exit(main())"
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return model


def run_one(model: Path, target: str, portable: bool, inputs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="wess-fwbench-") as tmp:
        options = FirmwareOptions(target, Path(tmp), run=True, inputs=inputs, compare_field=False,
                                  portable_kernels=portable)
        return build_firmware(model.read_bytes(), str(model), options)


def bench(model_dir: Path, name: str, target: str, inputs: int) -> BenchRow:
    model = deployed_model(model_dir, name)
    fast = run_one(model, target, False, inputs)
    portable = run_one(model, target, True, inputs) if target != "cortex-m3" else fast
    return BenchRow(name, target, fast["instructions_per_inference"], portable["instructions_per_inference"],
                    fast["memory"]["flash_code_bytes"], portable["memory"]["flash_code_bytes"],
                    fast["memory"]["flash_model_bytes"], fast["ram_bytes"], fast["stack_used_bytes"],
                    CMSIS_NN_LAYER_INSTRUCTIONS.get((name, target)))


def table(rows: list[BenchRow]) -> str:
    lines = ["| model | target | instructions / inference | portable kernels | speed-up | CMSIS-NN conv+dw+FC "
             "layers (issue 13) | code bytes (portable) | model blob | RAM (stack used) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        anchor = f"{row.cmsis_nn_layer_instructions:,}" if row.cmsis_nn_layer_instructions else "-"
        lines.append(f"| {row.model} | {row.target} | {row.instructions:,} | {row.portable_instructions:,} | "
                     f"{row.portable_instructions / row.instructions:.2f}x | {anchor} | {row.flash_code_bytes:,} "
                     f"({row.portable_flash_code_bytes:,}) | {row.flash_model_bytes:,} | {row.ram_bytes:,} "
                     f"({row.stack_used_bytes:,}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--targets", nargs="+", default=list(TARGETS))
    parser.add_argument("--inputs", type=int, default=1, help="inputs per run (all checked against the host)")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "build" / "bench",
                        help="where `wess deploy zoo:NAME --out DIR/NAME` put (or will put) the models")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = [bench(args.model_dir, name, target, args.inputs) for name in args.models for target in args.targets]
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=1) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
