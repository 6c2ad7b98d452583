"""A sweep's outputs: sweep.csv / sweep.json / sweep.md with the Pareto front per model and its plots; timings.json."""
from __future__ import annotations

import csv
import io
from dataclasses import asdict
from pathlib import Path

from pipeline import report
from pipeline.atomic import atomic_write_bytes, atomic_write_text
from pipeline.jsonfmt import dumps

from .cells import CellRecord
from .spec import SweepSpec

COLUMNS = ("model", "target", "scheme", "calibrator", "calibrator_used", "float_top1", "top1", "agreement",
           "sqnr_db", "model_bytes", "flash_bytes", "ram_bytes", "instructions_per_inference",
           "cycles_per_inference", "verified_inputs", "mismatched_bytes", "pareto", "model_sha256", "key", "error")
FLASH_PLOT, INSTRUCTIONS_PLOT = "accuracy_vs_flash.png", "accuracy_vs_instructions.png"
OUTPUTS = ("sweep.csv", "sweep.json", "sweep.md", FLASH_PLOT, INSTRUCTIONS_PLOT, "timings.json")


def _row(record: CellRecord) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(asdict(record.cell), key=record.key, error=record.error)
    if record.result is not None:
        result = asdict(record.result)
        figures = result.pop("target_figures")
        row.update({k: v for k, v in result.items() if k in row})
        row.update({k: v for k, v in figures.items() if k in row})
    return row


def cost(row: dict) -> int:
    """The Pareto front's cost: flash bytes on a Cortex-M target, else the .tflite model's bytes."""
    return row["flash_bytes"] if row["flash_bytes"] is not None else row["model_bytes"]


def on_front(rows: list[dict], cost_of) -> list[bool]:
    """For each row: no other row beats it (cost <= and top-1 >=, one strictly; equal points are all on the front)."""
    return [not any(cost_of(r) <= cost_of(row) and r["top1"] >= row["top1"]
                    and (cost_of(r) < cost_of(row) or r["top1"] > row["top1"]) for r in rows) for row in rows]


def mark_pareto(rows: list[dict]) -> None:
    """`pareto`: on the front of the rows (without error) of the same model and target, by `cost`."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["error"] is None:
            groups.setdefault((row["model"], row["target"]), []).append(row)
    for members in groups.values():
        for row, flag in zip(members, on_front(members, cost)):
            row["pareto"] = flag


def table_rows(spec: SweepSpec, records: list[CellRecord]) -> list[dict]:
    """One row per cell in the spec's order (model, target, scheme, calibrator), with the Pareto flags."""
    rows = [_row(r) for r in sorted(records, key=lambda r: spec.order(r.cell))]
    mark_pareto(rows)
    return rows


def csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def _number(value, pattern: str = "{:,}") -> str:
    return "" if value is None else pattern.format(value)


def markdown(rows: list[dict], plots: list[str]) -> str:
    lines = ["# Sweep", "", f"{len(rows)} cells; top-1 and agreement with float on the test split, output SQNR vs "
             "float; cost = flash bytes on a Cortex-M target (firmware measured in QEMU), else .tflite bytes; "
             "**Pareto**: no cell of the same model and target has lower cost and higher top-1.", "",
             "| model | target | scheme | calibrator | top-1 % | float % | agreement % | SQNR dB | model bytes | "
             "flash bytes | RAM bytes | instructions | Pareto |", "|---" * 13 + "|"]
    for row in rows:
        if row["error"] is not None:
            lines.append(f"| {row['model']} | {row['target']} | {row['scheme']} | {row['calibrator']} | "
                         f"error: {row['error']} |" + " |" * 8)
            continue
        calibrator = row["calibrator"] + (f" ({row['calibrator_used']})" if row["calibrator"] == "auto" else "")
        lines.append(
            f"| {row['model']} | {row['target']} | {row['scheme']} | {calibrator} | {100 * row['top1']:.2f} | "
            f"{100 * row['float_top1']:.2f} | {100 * row['agreement']:.2f} | {row['sqnr_db']:.2f} | "
            f"{row['model_bytes']:,} | {_number(row['flash_bytes'])} | {_number(row['ram_bytes'])} | "
            f"{_number(row['instructions_per_inference'])} | {'yes' if row['pareto'] else ''} |")
    lines += ["", "Per cell, the content-hash key and the deployed model's sha256 are in sweep.csv / sweep.json; "
              "timings and peak memory per worker in timings.json.", ""]
    lines += [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"


def plot_png(rows: list[dict], x_key, x_label: str) -> bytes | None:
    """Top-1 against a cost, one panel per model and target, each cell labelled, the Pareto front by that cost as a
    step line."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["error"] is None and x_key(row) is not None:
            groups.setdefault((row["model"], row["target"]), []).append(row)
    if not groups:
        return None
    plt = report.pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.8), squeeze=False)
    for ax, ((model, target), members) in zip(axes[0], groups.items()):
        ax.scatter([x_key(r) for r in members], [100 * r["top1"] for r in members], color="#4477aa", s=24)
        for index, r in enumerate(members):  # labels staggered upwards: cells of equal top-1 often sit close
            ax.annotate(f"{r['scheme']}/{r['calibrator']}", (x_key(r), 100 * r["top1"]), fontsize=6,
                        xytext=(3, 3 + 7 * (index % 4)), textcoords="offset points")
        front = sorted((x_key(r), 100 * r["top1"]) for r, flag in zip(members, on_front(members, x_key)) if flag)
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="#cc3311", lw=1,
                label="Pareto front")
        ax.margins(x=0.25, y=0.3)
        ax.set_title(f"{model} @ {target}", fontsize=9)
        ax.set_xlabel(x_label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="lower right")
    axes[0][0].set_ylabel("top-1 (%)")
    return report.png_bytes(fig)


def write(out_dir: Path, spec: SweepSpec, records: list[CellRecord], timings: dict) -> list[dict]:
    """Every output, each atomically; stale plots of an earlier sweep into the same directory are removed."""
    rows = table_rows(spec, records)
    plots = {FLASH_PLOT: plot_png(rows, cost, "flash bytes (Cortex-M) / .tflite bytes (host)"),
             INSTRUCTIONS_PLOT: plot_png(rows, lambda r: r["instructions_per_inference"],
                                         "instructions per inference (Cortex-M, QEMU)")}
    for name, data in plots.items():
        if data is None:
            (out_dir / name).unlink(missing_ok=True)
        else:
            atomic_write_bytes(out_dir / name, data)
    atomic_write_text(out_dir / "sweep.csv", csv_text(rows))
    atomic_write_text(out_dir / "sweep.json", dumps({"columns": list(COLUMNS), "rows": rows}) + "\n")
    atomic_write_text(out_dir / "sweep.md", markdown(rows, [n for n, d in plots.items() if d is not None]))
    atomic_write_text(out_dir / "timings.json", dumps(timings) + "\n")
    return rows
