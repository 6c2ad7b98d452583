"""Deployment reports: report.json (machine-readable), report.md and its plots (for people)."""
from __future__ import annotations

import io
import logging
import math
from dataclasses import asdict

import numpy as np

from pipeline.errors import WessError
from pipeline.firmware import build as firmware
from pipeline.firmware import targets
from pipeline.keras import modelio
from pipeline.quant import metrics, scoring, wess
from pipeline.tflite import flatbuf, metadata, versions

from .atomic import atomic_write_bytes, atomic_write_text
from .jsonfmt import dumps

log = logging.getLogger(__name__)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (no timestamped Software tag: the same report gives the same bytes)."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    pyplot().close(fig)
    return buffer.getvalue()


def ranges_plot_png(wess_layers: list) -> bytes | None:
    """Per-channel weight ranges before and after the shifts for the layer with the widest spread."""
    if not wess_layers:
        return None
    plt = pyplot()
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
    return png_bytes(fig)


def sqnr_plot_png(layers: list[dict]) -> bytes | None:
    if not layers:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 3.5))
    x = np.arange(len(layers))
    for offset, scheme in zip((-0.27, 0.0, 0.27), ("per_tensor", "per_channel", "wess")):
        values = [min(row["weight_sqnr_db"][scheme], 80.0) for row in layers]
        ax.bar(x + offset, values, width=0.27, label=scheme)
    ax.set_xticks(x, [f"{row['operator']}" for row in layers], fontsize=7)
    ax.set_xlabel("operator index")
    ax.set_ylabel("weight SQNR (dB)")
    ax.legend()
    return png_bytes(fig)


def sensitivity_plot_png(sweep: dict | None) -> bytes | None:
    """Top-1 and output SQNR of each one-layer-int8 model, most sensitive layer first."""
    if not sweep or not sweep["layers"]:
        return None
    plt = pyplot()
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
    return png_bytes(fig)


def sensitivity_markdown(sweep: dict, limit: int = 10) -> list[str]:
    lines = [f"## Sensitivity: one layer in int8 ({sweep['scheme']}), the rest float", "",
             f"{len(sweep['layers'])} layers in {sweep['seconds']:.1f} s on {sweep['samples']} samples; the "
             f"{min(limit, len(sweep['layers']))} most sensitive:", "",
             "| op index | op | top-1 | agreement with float | output SQNR (dB) |", "|---|---|---|---|---|"]
    for r in sweep["layers"][:limit]:
        top1 = "n/a" if r["top1"] is None or math.isnan(r["top1"]) else f"{100 * r['top1']:.2f}%"
        lines.append(f"| {r['index']} | {r['op']} | {top1} | {100 * r['agreement']:.2f}% | {r['sqnr_db']:.1f} |")
    return lines + ["", "![sensitivity](sensitivity.png)", ""]


PAIR_LABELS = {"ref vs tflm": "C reference vs TFLite Micro",
               "ref+litert_ref vs tflm": "C reference (LiteRT reference for the operators it lacks) vs TFLite Micro"}


def verification_line(verification: dict) -> str:
    """One line on deploy's gate: the pair compared, inputs, mismatched bytes, and LiteRT's (non-blocking) count."""
    if not verification.get("pair"):
        return "not checked against TFLite Micro (--verify-inputs 0)"
    line = (f"{PAIR_LABELS.get(verification['pair'], verification['pair'])}: {verification['mismatched_bytes']} "
            f"mismatched output bytes on {verification['inputs']} inputs")
    other = verification.get("litert_vs_tflm") or {}
    if other and other["pair"] != verification["pair"]:
        line += f"; LiteRT reference vs TFLite Micro: {other['mismatched_bytes']} (reported, not blocking)"
    return line


def mixed_bits_markdown(mixed: dict) -> list[str]:
    """What --mixed-bits kept at 8 bits, and weight bytes against top-1 for every choice it measured."""
    all_eight = mixed["all_eight_bit_bytes"]
    lines = ["## Mixed 4/8-bit weights", "",
             f"Target: top-1 within {mixed['target_drop']} points of float ({100 * mixed['float_top1']:.2f}%) on the "
             f"calibration data; reached {100 * mixed['top1']:.2f}% ({'met' if mixed['met'] else 'NOT met'}) with "
             f"{len(mixed['eight_bit_layers'])} layer(s) at 8 bits:", ""]
    lines += [f"- operator {r['index']} {r['op']} (`{r['name'].split(';')[0]}`)" for r in mixed["eight_bit_layers"]]
    lines += ["", "| layers at 8 bits | conv/FC weight bytes | of all-8-bit | top-1 |", "|---|---|---|---|"]
    lines += [f"| {c['eight_bit_layers']} | {c['weight_bytes']:,} | {c['weight_bytes'] / all_eight:.2f} | "
              f"{100 * c['top1']:.2f}% |" for c in mixed["choices"]]
    return lines + [""]


def markdown(report: dict) -> str:
    acc = report.get("accuracy", {})
    lines = [f"# wess-deploy report: {report['model']}", "",
             f"- scheme: `{report['scheme']}`, calibrator: `{report['calibrator']}`, shift rule: `{report['shift_rule']}`"
             + (", stress variant" if report.get("stress") else ""),
             f"- model: `{report['output']}` ({report['model_bytes']:,} bytes; WESS metadata "
             f"{report.get('metadata_bytes', 0):,} bytes)",
             f"- {verification_line(report['verification'])}", ""]
    if report["verification"].get("firmware_unsupported"):
        lines[-1:] = ["- no kernel in the C reference runner and firmware: "
                      + "; ".join(report["verification"]["firmware_unsupported"]), ""]
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
    if report.get("mixed_bits"):
        lines += mixed_bits_markdown(report["mixed_bits"])
    if report.get("sensitivity"):
        lines += sensitivity_markdown(report["sensitivity"])
    lines += [*targets.markdown(report.get("target")), "", "## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in report["versions"].items()]
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f}%"


def eval_markdown(result: dict) -> str:
    acc, schemes = result["accuracy"], result["schemes"]
    lines = [f"# wess eval: {result['model']}", "",
             f"- calibrator `{result['calibrator']}`, shift rule `{result['shift_rule']}`, {result['test_samples']} "
             f"test samples, max R/r_c {result['max_disparity']:.1f}, CLE pairs {result['cle_pairs']}", "",
             "| scheme | top-1 | agreement with float | output SQNR (dB) | max / mean abs error | augmented inputs: "
             "agreement | SQNR (dB) | max / mean abs error |", "|---|---|---|---|---|---|---|---|",
             f"| float | {_percent(acc['float'])} | | | | | | |"]
    lines += [f"| {name} | {_percent(acc[name])} | {100 * row['agreement']:.2f}% | {row['sqnr_db']:.1f} | "
              f"{row['max_abs_error']:.3g} / {row['mean_abs_error']:.3g} | "
              + (f"{100 * aug['agreement']:.2f}% of {aug['inputs']} | {aug['sqnr_db']:.1f} | "
                 f"{aug['max_abs_error']:.3g} / {aug['mean_abs_error']:.3g} |" if (aug := row.get("augmented")) else
                 "| | |") for name, row in schemes.items()]
    lines.append("")
    lines += targets.eval_markdown(result.get("target"), acc)
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


def weight_sqnr(wess_layers: list) -> list[dict]:
    """Per conv/FC layer: op, channels, disparity and the weight SQNR (dB) of per-tensor, per-channel and WESS, all
    on the layer's weight grid (8 or 4 bits)."""
    rows = []
    for wop, layer in wess_layers:
        w, axis, q_max = wop.float_weights, wop.channel_axis, wess.Q_MAX[layer.weight_bits]
        ranges = wess.channel_ranges(w, axis)
        layer_range = float(ranges.max()) or 1.0
        per_tensor = wess.fake_quantize(w, axis, np.full(ranges.shape, layer_range / q_max), q_max)
        per_channel = wess.fake_quantize(w, axis, np.where(ranges > 0, ranges, 1.0) / q_max, q_max)
        wess_deq = wess.fake_quantize(w, axis, layer.channel_scales, q_max)
        rows.append({
            "operator": wop.operator_index, "op": wop.op_name, "output_channels": int(ranges.size),
            "disparity": wess.disparity(w, axis), "weight_bits": layer.weight_bits,
            "weight_sqnr_db": {"per_tensor": wess.sqnr_db(w, per_tensor), "per_channel": wess.sqnr_db(w, per_channel),
                               "wess": wess.sqnr_db(w, wess_deq)},
            "shift_histogram": np.bincount(layer.channel_right_shift, minlength=16).tolist(),
            "saturated_channels": int(layer.saturated.sum()), "capped_channels": int(layer.capped.sum()),
        })
    return rows


def _accuracy(state) -> dict:
    """Top-1 of float and of the deployed model on the labelled test split, when there is one."""
    if state.test_x is None:
        return {}
    float_out = modelio.predict(state.keras_model, state.test_x)
    float_class = metrics.predicted_class(float_out, modelio.class_elements(state.keras_model))
    return {"float": float(np.mean(float_class == state.test_y)),
            state.options.scheme: scoring.score(state.model, state.test_x, state.test_y, float_out).top1}


def _partial(state) -> dict:
    """What --target-drop left in float, with the firmware cost of the mixed model against the all-int8 one."""
    partial = state.partial.to_json()
    if not state.partial.float_nodes:
        return partial
    target = state.options.cost_target
    try:
        costs = {name: asdict(firmware.measure(model, target, inputs=1))
                 for name, model in (("all_int8", state.all_int8), ("mixed", state.model))}
    except WessError as exc:
        log.warning("cost of the float layers not measured: %s", exc)
        return {**partial, "cost": None, "cost_error": str(exc)}
    return {**partial, "cost": costs}


def deploy_report(state) -> dict:
    """report.json of a deployment (a deploy.DeployState after its conversion, check and verification passes)."""
    payload = flatbuf.get_metadata(flatbuf.read_model(state.model), metadata.METADATA_NAME)
    return {
        "model": state.name, "scheme": state.options.scheme, "calibrator": state.calibrator,
        "calibrator_scores": state.calibrator_scores, "shift_rule": state.options.shift_rule,
        "stress": bool(state.stress), "output": None, "model_bytes": len(state.model),
        "metadata_bytes": len(payload) if payload else 0, "accuracy": _accuracy(state),
        "layers": weight_sqnr(state.wess_layers),
        "sensitivity": state.sensitivity.to_json() if state.sensitivity else None,
        "partial": _partial(state) if state.partial else None,
        "mixed_bits": state.mixed.to_json() if state.mixed else None,
        "learned_rounding": [asdict(r) for r in state.roundings] if state.scheme.adaround else None,
        "bias_correction": {"layers": len(state.bias_corrections),
                            "clipped_channels": sum(b.clipped_channels for b in state.bias_corrections)}
        if state.scheme.bias_correction else None,
        "cle": {"pairs": [[p.first, p.second] for p in state.cle_result.pairs], "rounds": state.cle_result.rounds,
                "skipped": state.cle_result.skipped} if state.cle_result else None,
        "verification": state.verification,
        "target": state.on_target.report if state.on_target else None,
        "versions": versions.tool_versions(),
    }
