"""The CLI's human-readable output: one summary per command from the same dict `--json` prints."""
from __future__ import annotations

import json
import math

from pipeline.report import verification_line


def human(command: str, result: dict) -> str:
    """The summary `wess COMMAND` prints without --json."""
    if command == "inspect" and result.get("vela_output"):
        return _inspect_vela(result)
    show = SUMMARIES.get(command)
    return show(result) if show else json.dumps(result)


def _zoo(result: dict) -> str:
    return "\n".join(f"{m['spec']:<20} {m['description']:<40} float top-1 {m.get('float_top1', 'n/a')}"
                     for m in result["models"])


def _deploy(result: dict) -> str:
    acc = ", ".join(f"{k} {100 * v:.2f}%" for k, v in result["accuracy"].items())
    return (f"wrote {result['output']} ({result['model_bytes']:,} bytes, scheme {result['scheme']}, calibrator "
            f"{result['calibrator']}); report.json and report.md beside it\n"
            + verification_line(result["verification"]) + (f"\ntest top-1: {acc}" if acc else "")
            + _mixed_bits_line(result.get("mixed_bits")) + _target_line(result.get("target")))


def _mixed_bits_line(mixed: dict | None) -> str:
    if not mixed:
        return ""
    chosen = mixed["choices"][len(mixed["eight_bit_layers"])]
    return (f"\nmixed bits: {len(mixed['eight_bit_layers'])} conv/FC layer(s) at 8 bits, the rest 4-bit: "
            f"{chosen['weight_bytes']:,} weight bytes ({chosen['weight_bytes'] / mixed['all_eight_bit_bytes']:.2f} of "
            f"all 8-bit), calibration top-1 {100 * mixed['top1']:.2f}% (float {100 * mixed['float_top1']:.2f}%"
            f"{'' if mixed['met'] else ', target NOT met'})")


def _finetune(result: dict) -> str:
    return (f"wrote {result['output']} (scheme {result['scheme']}, {result['epochs']} epoch(s) on "
            f"{result['train_samples']} samples; mean loss per epoch "
            + ", ".join(f"{loss:.4f}" for loss in result["epoch_loss"]) + "); deploy it with `wess deploy "
            f"{result['output']} --data ... --scheme {result['scheme']}`")


def _number(value) -> bool:
    """A measured figure: not None (JSON's NaN) nor NaN."""
    return value is not None and not math.isnan(value)


def _eval(result: dict) -> str:
    lines = [f"{result['model']}: calibrator {result['calibrator']}, {result['test_samples']} test samples, "
             f"max R/r_c {result['max_disparity']:.1f}"]
    lines += [f"  {k:<18} top-1 {100 * v:6.2f}%" for k, v in result["accuracy"].items() if not math.isnan(v)]
    lines += [f"  {k:<18} agreement {100 * v['agreement']:6.2f}%  output SQNR {v['sqnr_db']:.1f} dB  "
              f"max |error| {v['max_abs_error']:.4g}  mean |error| {v['mean_abs_error']:.4g}"
              + (f"  | {v['augmented']['inputs']} augmented: agreement {100 * v['augmented']['agreement']:6.2f}%"
                 f"  SQNR {v['augmented']['sqnr_db']:.1f} dB" if v.get("augmented") else "")
              for k, v in result["schemes"].items()]
    lines += [f"  {k:<18} output {i}: "
              + (f"decision agreement {100 * o['agreement']:6.2f}%  " if _number(o["agreement"]) else "")
              + f"SQNR {o['sqnr_db']:.1f} dB  max |error| {o['max_abs_error']:.4g}  "
                f"mean |error| {o['mean_abs_error']:.4g}"
              for k, v in result["schemes"].items() for i, o in enumerate(v.get("outputs") or [])]
    target = result.get("target")
    if target:
        keys = list(next(iter(target["schemes"].values())))
        lines += [f"on {target['name']}:", f"  {'scheme':<18} {'top-1':>7}  " + "  ".join(keys)]
        lines += [f"  {k:<18} {100 * result['accuracy'][k]:6.2f}%  "
                  + "  ".join(f"{value:>{len(key)},}" if isinstance(value, int) else f"{value:>{len(key)}.4g}"
                              for key, value in row.items()) for k, row in target["schemes"].items()]
    sweep = result.get("sensitivity")
    if sweep:
        lines.append(f"sensitivity ({sweep['scheme']}, one layer int8, the rest float; {sweep['seconds']:.1f} s), "
                     "most sensitive first:")
        lines += [f"  op {r['index']:>3} {r['op']:<18} top-1 {100 * r['top1']:6.2f}%  SQNR {r['sqnr_db']:5.1f} dB"
                  for r in sweep["layers"][:10]]
    return "\n".join(lines)


def _inspect_vela(result: dict) -> str:
    vela = result["vela"] or {}
    return (f"{result['model']}: an Ethos-U model compiled by Vela {vela.get('vela_version', '?')} for "
            f"{vela.get('target', '?')}: {result['npu_command_streams']} NPU command stream(s), CPU operators: "
            f"{', '.join(result['cpu_operators']) or 'none'}; WESS shifts "
            + ("present (stale: they describe the operators Vela replaced)" if result["wess_shifts_present"]
               else "dropped (" + "; ".join(vela.get("dropped_metadata", {}).values()) + ")"))


def _inspect(result: dict) -> str:
    lines = [f"{result['model']}: {len(result['layers'])} WESS layers, {result['channels']} channels, "
             f"metadata {result['metadata_bytes']} bytes",
             "shift histogram (k = 0..15): " + " ".join(map(str, result["shift_histogram"])),
             "made with: " + (", ".join(f"{k} {v}" for k, v in result["versions"].items())
                              if result["versions"] else f"unknown (no {'wess.versions'!r} metadata)")]
    lines += [f"  op {r['operator']:>3} {r['op']:<18} {r['output_channels']:>4} ch  {r['weight_bits']}-bit weights  "
              f"multiplier {r['multiplier']} right shift {r['right_shift']}  max k {r['max_shift']}"
              for r in result["layers"]]
    return "\n".join(lines)


def _verify(result: dict) -> str:
    top1 = "" if result["ref_top1"] is None else f", C reference top-1 {100 * result['ref_top1']:.2f}%"
    return (f"{result['model']}: {result['inputs']} inputs ({result['digit_inputs']} digits, "
            f"{result['random_inputs']} random): mismatched bytes "
            + ", ".join(f"{k} {v}" for k, v in result["mismatched_bytes"].items())
            + f"; peak activation arena {result['peak_arena_bytes']:,} bytes, blob {result['blob_bytes']:,} bytes"
            + top1)


def _firmware(result: dict) -> str:
    memory, field = result["memory"], result["field"]
    lines = [f"{result['model']} on {result['target']} ({result['machine']}): wrote {result['out']}/firmware.elf"
             f" .bin .hex",
             f"  flash {result['flash_bytes']:,} bytes (code {memory['flash_code_bytes']:,}, model "
             f"{memory['flash_model_bytes']:,}, test data {memory['flash_test_data_bytes']:,}, other "
             f"{memory['flash_other_bytes']:,})",
             f"  RAM {result['ram_bytes']:,} bytes (arena {memory['ram_arena_bytes']:,}, stack "
             f"{memory['ram_stack_bytes']:,}, other {memory['ram_other_bytes']:,})",
             f"  arena {field['arena']['ours_bytes']:,} bytes vs TFLite Micro "
             f"{field['arena']['tflm_total_bytes']:,}"
             f"; requantize parameters {field['requant_parameters']['ours_bytes']:,} bytes vs TFLite Micro "
             f"{field['requant_parameters']['tflm_bytes']:,}"]
    if result["ran"]:
        lines.append(f"  QEMU: {result['inputs']} inputs, outputs identical to the host C reference: "
                     f"{'yes' if result['matches_host'] else 'NO'}; {result['instructions_per_inference']:,} "
                     f"instructions per inference, stack used {result['stack_used_bytes']:,} bytes")
    return "\n".join(lines)


def _run(result: dict) -> str:
    return f"{result['inputs']} inputs on {result['backend']}: top-1 {result['top1'][:20]}"


def _target_line(target: dict | None) -> str:
    if not target or target["kind"] == "host":
        return ""
    if target["kind"] == "cortex-m":
        return (f"\non {target['name']} (QEMU): flash {target['flash_bytes']:,} bytes, RAM {target['ram_bytes']:,} "
                f"bytes, {target['instructions_per_inference']:,} instructions per inference")
    return (f"\non {target['name']} (Vela {target['vela_version']}, estimated): {target['npu_operators']} NPU / "
            f"{target['cpu_operators']} CPU operators, SRAM {target['sram_bytes']:,} bytes, off-chip flash "
            f"{target['off_chip_flash_bytes']:,} bytes, DRAM {target['dram_bytes']:,} bytes, "
            f"{target['cycles_per_inference']:,} cycles ({target['inference_time_s'] * 1e3:.3f} ms), encoded weights "
            f"{target['encoded_weight_bytes']:,} bytes; wrote model_vela.tflite")


def _sweep(result: dict) -> str:
    lines = [f"{result['cells']} cells ({result['computed']} computed on {result['engine']} with "
             f"{result['workers']} worker(s), {result['reused']} reused) in {result['wall_seconds']:.1f} s; wrote "
             f"{', '.join(result['outputs'])} in {result['out']}",
             f"  {'model':<22} {'target':<10} {'scheme':<18} {'calibrator':<16} {'top-1':>7} {'SQNR dB':>8} "
             f"{'cost bytes':>11}  Pareto"]
    for row in result["rows"]:
        head = f"  {row['model']:<22} {row['target']:<10} {row['scheme']:<18} {row['calibrator']:<16}"
        if row["error"] is not None:
            lines.append(f"{head} error: {row['error']}")
            continue
        cost = row["flash_bytes"] if row["flash_bytes"] is not None else row["model_bytes"]
        lines.append(f"{head} {100 * row['top1']:6.2f}% {row['sqnr_db']:8.2f} {cost:>11,}  "
                     f"{'yes' if row['pareto'] else ''}")
    return "\n".join(lines)


SUMMARIES = {"zoo": _zoo, "deploy": _deploy, "finetune": _finetune, "eval": _eval, "inspect": _inspect,
             "verify": _verify, "firmware": _firmware, "run": _run, "sweep": _sweep}  # command -> its summary of the result
