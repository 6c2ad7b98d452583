"""Deployment reports: report.json (machine-readable), report.md and its plots (for people)."""
from __future__ import annotations

import io
import json
import logging
import math
import platform
from importlib import metadata as importlib_metadata

import numpy as np

from . import wess
from .atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)
VERSIONED = ("wess-deploy", "tensorflow-cpu", "ai-edge-litert", "tflite-micro", "numpy", "flatbuffers")


def tool_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


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
              "## Weight SQNR per layer", "", "![sqnr](sqnr.png)", "", "## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in report["versions"].items()]
    return "\n".join(lines) + "\n"


def write(out_dir, report: dict, wess_layers: list) -> None:
    """Write report.json, report.md and the two plots into out_dir, each atomically."""
    for name, png in (("ranges.png", ranges_plot_png(wess_layers)), ("sqnr.png", sqnr_plot_png(report["layers"]))):
        if png is not None:
            atomic_write_bytes(out_dir / name, png)
    atomic_write_text(out_dir / "report.json", dumps(report) + "\n")
    atomic_write_text(out_dir / "report.md", markdown(report))
