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

from pipeline.cref import compact  # noqa: E402
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


@dataclass(frozen=True)
class LayerRow:
    """One op of a profiled run: what it computes and the instructions it took (the profile's timer reads add a
    few dozen per op)."""

    position: int
    op: str
    output_shape: tuple[int, ...]
    macs: int  # multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (0 for other ops)
    instructions: int


def op_macs(model: compact.CompactModel, op: compact.CompactOp) -> int:
    """Multiply-accumulates of a weighted op: output elements times the taps each one sums."""
    if len(op.inputs) < 2:
        return 0
    output, weights = model.tensors[op.outputs[0]].dims, model.tensors[op.inputs[1]].dims
    outputs = output[0] * output[1] * output[2] * output[3]
    base_name = op.op_name.removesuffix("_S4")
    taps = {"CONV_2D": weights[1] * weights[2] * weights[3], "DEPTHWISE_CONV_2D": weights[1] * weights[2],
            "FULLY_CONNECTED": weights[3]}.get(base_name, 0)
    return outputs * taps


def profile(model: Path, target: str) -> list[LayerRow]:
    """Instructions per op of one inference of the target kernels (a WESS_PROFILE_OPS build)."""
    compiled = compact.compile_model(model.read_bytes(), str(model))
    with tempfile.TemporaryDirectory(prefix="wess-fwprofile-") as tmp:
        options = FirmwareOptions(target, Path(tmp), run=True, inputs=1, compare_field=False, profile_ops=True)
        counts = build_firmware(model.read_bytes(), str(model), options)["op_instructions"]
    return [LayerRow(position, op.op_name, compiled.tensors[op.outputs[0]].shape, op_macs(compiled, op), count)
            for position, (op, count) in enumerate(zip(compiled.ops, counts, strict=True))]


def profile_table(name: str, target: str, rows: list[LayerRow]) -> str:
    lines = [f"{name} on {target}: instructions per op (one inference, target kernels)", "",
             "| # | op | output shape | MACs | instructions | instructions / MAC |", "|---|---|---|---|---|---|"]
    for row in rows:
        per_mac = f"{row.instructions / row.macs:.2f}" if row.macs else "-"
        lines.append(f"| {row.position} | {row.op} | {'x'.join(map(str, row.output_shape))} | {row.macs:,} | "
                     f"{row.instructions:,} | {per_mac} |")
    layers = sum(row.instructions for row in rows if row.macs)
    anchor = CMSIS_NN_LAYER_INSTRUCTIONS.get((name, target))
    lines += ["", f"conv + depthwise + FC layers: {layers:,} instructions"
              + (f" (CMSIS-NN, issue 13: {anchor:,})" if anchor else "")]
    return "\n".join(lines)


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
    parser.add_argument("--profile", action="store_true",
                        help="instead, the per-layer profile (op, shape, MACs, instructions, instructions per MAC)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.profile:
        tables = [profile_table(name, target, profile(deployed_model(args.model_dir, name), target))
                  for name in args.models for target in args.targets]
        print("\n\n".join(tables))
        return
    rows = [bench(args.model_dir, name, target, args.inputs) for name in args.models for target in args.targets]
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=1) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
