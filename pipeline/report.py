"""Deployment reports: report.json (machine-readable), report.md and its plots (for people)."""
from __future__ import annotations

import io
import json
import logging
import math

import numpy as np

from . import wess
from .atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def dumps(obj: dict) -> str:
    return json.dumps(_json_safe(obj), indent=2, sort_keys=True)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    """The figure as PNG bytes (no timestamped Software tag: the same report gives the same bytes)."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def ranges_plot_png(wess_layers: list) -> bytes | None:
    """Per-channel weight ranges before and after the shifts for the layer with the widest spread."""
    if not wess_layers:
        return None
    plt = _pyplot()
    wop, layer = max(wess_layers, key=lambda pair: wess.disparity(pair[0].float_weights, pair[0].channel_axis))
    before = wess.channel_ranges(wop.float_weights, wop.channel_axis)
    after = before * np.exp2(layer.channel_right_shift.astype(np.float64))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharey=True)
    channels = np.arange(before.size)
    for ax, values, title in ((axes[0], before, "before: r_c"), (axes[1], after, "after WESS: r_c * 2^k_c")):
        ax.bar(channels, np.where(values > 0, values, np.nan), width=1.0, color="#4477aa")
        ax.axhline(before.max(), color="#cc3311", lw=1, label="layer range R")
        ax.set_yscale("log")
        ax.set_xlabel("output channel")
        ax.set_title(f"operator {wop.operator_index} {wop.op_name}: {title}")
    axes[0].set_ylabel("max |W_c|")
    axes[0].legend(loc="lower right")
    return _png(fig)


def sqnr_plot_png(layers: list[dict]) -> bytes | None:
    if not layers:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 3.5))
    x = np.arange(len(layers))
    for offset, scheme in zip((-0.27, 0.0, 0.27), ("per_tensor", "per_channel", "wess")):
        values = [min(row["weight_sqnr_db"][scheme], 80.0) for row in layers]
        ax.bar(x + offset, values, width=0.27, label=scheme)
    ax.set_xticks(x, [f"{row['operator']}" for row in layers], fontsize=7)
    ax.set_xlabel("operator index")
    ax.set_ylabel("weight SQNR (dB)")
    ax.legend()
    return _png(fig)


def sensitivity_plot_png(sweep: dict | None) -> bytes | None:
    """Top-1 and output SQNR of each one-layer-int8 model, most sensitive layer first."""
    if not sweep or not sweep["layers"]:
        return None
    plt = _pyplot()
    rows = sweep["layers"]
    fig, (ax_top, ax_sqnr) = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
    x = np.arange(len(rows))
    top1 = [100 * (r["top1"] if r["top1"] is not None and not math.isnan(r["top1"]) else r["agreement"]) for r in rows]
    ax_top.bar(x, top1, color="#4477aa")
    if sweep["float_top1"] is not None and not math.isnan(sweep["float_top1"]):
        ax_top.axhline(100 * sweep["float_top1"], color="#cc3311", lw=1, label="float")
        ax_top.legend(loc="lower right")
    ax_top.set_ylim(max(0.0, min(top1) - 5), 100)
    ax_top.set_ylabel("top-1 (%)")
    ax_top.set_title(f"one layer {sweep['scheme']} int8, the rest float ({sweep['samples']} samples)")
    ax_sqnr.bar(x, [min(r["sqnr_db"], 80.0) for r in rows], color="#228833")
    ax_sqnr.set_ylabel("output SQNR (dB)")
    ax_sqnr.set_xticks(x, [f"{r['index']}" for r in rows], fontsize=7)
    ax_sqnr.set_xlabel("operator index of the float model, most sensitive first")
    return _png(fig)


def sensitivity_markdown(sweep: dict, limit: int = 10) -> list[str]:
    lines = [f"## Sensitivity: one layer in int8 ({sweep['scheme']}), the rest float", "",
             f"{len(sweep['layers'])} layers in {sweep['seconds']:.1f} s on {sweep['samples']} samples; the "
             f"{min(limit, len(sweep['layers']))} most sensitive:", "",
             "| op index | op | top-1 | agreement with float | output SQNR (dB) |", "|---|---|---|---|---|"]
    for r in sweep["layers"][:limit]:
        top1 = "n/a" if r["top1"] is None or math.isnan(r["top1"]) else f"{100 * r['top1']:.2f}%"
        lines.append(f"| {r['index']} | {r['op']} | {top1} | {100 * r['agreement']:.2f}% | {r['sqnr_db']:.1f} |")
    return lines + ["", "![sensitivity](sensitivity.png)", ""]


def markdown(report: dict) -> str:
    acc = report.get("accuracy", {})
    lines = [f"# wess-deploy report: {report['model']}", "",
             f"- scheme: `{report['scheme']}`, calibrator: `{report['calibrator']}`, shift rule: `{report['shift_rule']}`"
             + (", stress variant" if report.get("stress") else ""),
             f"- model: `{report['output']}` ({report['model_bytes']:,} bytes; WESS metadata "
             f"{report.get('metadata_bytes', 0):,} bytes)",
             f"- LiteRT reference vs TFLite Micro on {report['verification']['inputs']} inputs: "
             f"{report['verification']['mismatched_bytes']} mismatched output bytes", ""]
    if acc:
        lines += ["| | " + " | ".join(acc) + " |", "|---" * (len(acc) + 1) + "|",
                  "| top-1 | " + " | ".join("n/a" if v is None or (isinstance(v, float) and math.isnan(v))
                                          else f"{100 * v:.2f}%" for v in acc.values()) + " |", ""]
    lines += ["## Layers", "", "| op index | op | channels | max R/r_c | weight SQNR per-tensor / per-channel / WESS (dB) "
              "| shifts 0..15 |", "|---|---|---|---|---|---|"]
    for row in report["layers"]:
        s = row["weight_sqnr_db"]
        lines.append(f"| {row['operator']} | {row['op']} | {row['output_channels']} | {row['disparity']:.1f} | "
                     f"{s['per_tensor']:.1f} / {s['per_channel']:.1f} / {s['wess']:.1f} | "
                     f"{' '.join(map(str, row['shift_histogram']))} |")
    lines += ["", "## Per-channel ranges before and after the shifts", "", "![ranges](ranges.png)", "",
              "## Weight SQNR per layer", "", "![sqnr](sqnr.png)", ""]
    partial = report.get("partial")
    if partial:
        lines += ["## Partial quantization", "",
                  f"Target: top-1 within {partial['target_drop']} points of float ({100 * partial['float_top1']:.2f}%) "
                  f"on the calibration data; reached {100 * partial['top1']:.2f}% "
                  f"({'met' if partial['met'] else 'NOT met'}) with {len(partial['float_layers'])} layer(s) in float:",
                  ""] + [f"- operator {r['index']} {r['op']} (`{r['name'].split(';')[0]}`)"
                         for r in partial["float_layers"]] + [""]
        cost = partial.get("cost")
        if cost:
            a, b = cost["all_int8"], cost["mixed"]
            lines += [f"Cost on {a['target']} (QEMU; outputs equal to the host C reference: "
                      f"{'yes' if a['matches_host'] and b['matches_host'] else 'NO'}):", "",
                      "| | all int8 | with the float layers | ratio |", "|---|---|---|---|"]
            for key, label in (("flash_bytes", "flash bytes"), ("flash_code_bytes", "code bytes"),
                               ("blob_bytes", "model blob bytes"), ("ram_bytes", "RAM bytes"),
                               ("arena_bytes", "arena bytes"), ("instructions_per_inference", "instructions")):
                lines.append(f"| {label} | {a[key]:,} | {b[key]:,} | {b[key] / a[key]:.2f} |")
            lines.append("")
        elif partial.get("cost_error"):
            lines += [f"Cost not measured: {partial['cost_error']}", ""]
    if report.get("sensitivity"):
        lines += sensitivity_markdown(report["sensitivity"])
    lines += ["## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in report["versions"].items()]
    return "\n".join(lines) + "\n"


def eval_markdown(result: dict) -> str:
    acc, schemes = result["accuracy"], result["schemes"]
    lines = [f"# wess eval: {result['model']}", "",
             f"- calibrator `{result['calibrator']}`, shift rule `{result['shift_rule']}`, {result['test_samples']} "
             f"test samples, max R/r_c {result['max_disparity']:.1f}, CLE pairs {result['cle_pairs']}", "",
             "| scheme | top-1 | agreement with float | output SQNR (dB) | augmented inputs: agreement | SQNR (dB) "
             "| max / mean abs error |", "|---|---|---|---|---|---|---|",
             f"| float | {100 * acc['float']:.2f}% | | | | | |"]
    lines += [f"| {name} | {100 * acc[name]:.2f}% | {100 * row['agreement']:.2f}% | {row['sqnr_db']:.1f} | "
              + (f"{100 * aug['agreement']:.2f}% of {aug['inputs']} | {aug['sqnr_db']:.1f} | "
                 f"{aug['max_abs_error']:.3g} / {aug['mean_abs_error']:.3g} |" if (aug := row.get("augmented")) else
                 "| | |") for name, row in schemes.items()]
    lines.append("")
    if result.get("sensitivity"):
        lines += sensitivity_markdown(result["sensitivity"])
    lines += ["## Versions", ""] + [f"- {k}: {v}" for k, v in result.get("versions", {}).items()]
    return "\n".join(lines) + "\n"


def write_eval(out_dir, result: dict) -> None:
    """Write eval.json, eval.md and (with a sensitivity sweep) sensitivity.png into out_dir, each atomically."""
    from pathlib import Path

    out_dir = Path(out_dir)
    png = sensitivity_plot_png(result.get("sensitivity"))
    if png is not None:
        atomic_write_bytes(out_dir / "sensitivity.png", png)
    atomic_write_text(out_dir / "eval.json", dumps(result) + "\n")
    atomic_write_text(out_dir / "eval.md", eval_markdown(result))


def write(out_dir, report: dict, wess_layers: list) -> None:
    """Write report.json, report.md and the two plots into out_dir, each atomically."""
    for name, png in (("ranges.png", ranges_plot_png(wess_layers)), ("sqnr.png", sqnr_plot_png(report["layers"])),
                      ("sensitivity.png", sensitivity_plot_png(report.get("sensitivity")))):
        if png is not None:
            atomic_write_bytes(out_dir / name, png)
    atomic_write_text(out_dir / "report.json", dumps(report) + "\n")
    atomic_write_text(out_dir / "report.md", markdown(report))
