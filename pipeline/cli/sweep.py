"""`wess sweep`: its arguments and the call into the sweep driver (the summary is printed by cli/format.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from pipeline.errors import InputError

GRID_FLAGS = ("models", "schemes", "calibrators", "targets", "data", "test_data")


def add_sweep_parser(sub) -> None:
    p = sub.add_parser("sweep", help="models x schemes x calibrators x targets: one table, resumable, on Ray")
    p.add_argument("spec", nargs="?", help="a YAML spec file (models, schemes, calibrators, targets, cells)")
    p.add_argument("--models", nargs="+", metavar="MODEL", help="zoo:<name>, .keras/.h5 files or SavedModel dirs")
    p.add_argument("--schemes", nargs="+", metavar="SCHEME", help="schemes as wess deploy --scheme takes them")
    p.add_argument("--calibrators", nargs="+", metavar="CALIBRATOR", help="calibrators (default max)")
    p.add_argument("--targets", nargs="+", metavar="TARGET", help="targets as wess deploy --target (default host)")
    p.add_argument("--data", help="calibration .npz for the model files given with --models")
    p.add_argument("--test-data", help="labelled test .npz for the model files given with --models")
    p.add_argument("--shift-rule", default="mse", help="WESS shift rule for every cell (flags only; default mse)")
    p.add_argument("--verify-inputs", type=int, default=20,
                   help="inputs each cell runs through LiteRT and TFLite Micro (flags only; default 20)")
    p.add_argument("--out", default=str(Path("build") / "sweep"),
                   help="output directory: cells/<key>.json as each cell finishes, then sweep.csv, sweep.json, "
                        "sweep.md, plots, timings.json; rerunning into it resumes (default build/sweep)")
    p.add_argument("--workers", type=int,
                   help="worker processes; 1 runs the cells in this process without Ray (default: one per CPU of "
                        "the Ray cluster, or of this machine for a local Ray instance)")
    p.add_argument("--ray-address", help="auto or HOST:PORT of a running Ray cluster (default: a local instance)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs Ray reserves for each worker")
    p.add_argument("--memory-per-worker", type=int, default=2048, metavar="MB",
                   help="memory Ray reserves for each worker (MB, default 2048)")
    p.add_argument("--progress", action="store_true", help="one stderr line as each cell finishes")
    p.add_argument("--json", action="store_true")


def _spec(args):
    from pipeline.sweep import spec

    given = [f"--{name.replace('_', '-')}" for name in GRID_FLAGS if getattr(args, name)]
    if args.spec and given:
        raise InputError(f"{args.spec}: give a spec file or {given[0]} and the other grid options, not both")
    if args.spec:
        return spec.load(args.spec)
    if not args.models or not args.schemes:
        raise InputError("give a spec file, or --models and --schemes (and optionally --calibrators, --targets)")
    models = [{k: v for k, v in (("model", m), ("data", args.data), ("test_data", args.test_data)) if v}
              for m in args.models]
    document = {"models": models, "schemes": args.schemes, "shift_rule": args.shift_rule,
                "verify_inputs": args.verify_inputs}
    document.update({k: getattr(args, k) for k in ("calibrators", "targets") if getattr(args, k)})
    return spec.from_mapping("wess sweep", document)


def _progress(record) -> None:
    cell = record.cell
    status = f"error: {record.error}" if record.error else f"top-1 {100 * record.result.top1:.2f}%"
    print(f"wess sweep: cell {cell.model} {cell.target} {cell.scheme} {cell.calibrator}: {status} "
          f"({record.run.seconds:.1f} s on {record.run.worker})", file=sys.stderr, flush=True)


def cmd_sweep(args) -> dict:
    from pipeline.sweep import engine, table

    options = engine.EngineOptions(args.workers, args.ray_address, args.cpus_per_worker, args.memory_per_worker)
    outcome = engine.run_sweep(_spec(args), args.out, options, on_finish=_progress if args.progress else None)
    written = [name for name in table.OUTPUTS if (Path(args.out) / name).exists()]
    return {"out": args.out, "cells": outcome.cells, "computed": outcome.computed, "reused": outcome.reused,
            "engine": outcome.engine, "workers": outcome.workers, "wall_seconds": outcome.wall_seconds,
            "outputs": written, "rows": outcome.rows}
