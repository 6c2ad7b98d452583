"""Running a sweep: inputs checked and hashed once, finished cells reused, the rest run in-process or on Ray actors."""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.errors import InputError
from pipeline.firmware import targets
from pipeline.keras import modelio, zoo

from . import table
from .cells import CellRecord, CellRunner, DataInput, Job, ModelInput, cell_key, data_input, model_input, read_finished
from .cells import write_cell
from .spec import SweepSpec

log = logging.getLogger(__name__)
EXTRA = "wess-deploy[sweep]"
WORKER_ENV = {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
MAX_RETRIES = 3  # a worker that dies (killed, out of memory) is restarted and its cell retried this many times


@dataclass(frozen=True)
class EngineOptions:
    """How to run the cells: workers == 1 without an address is the sequential path (no Ray)."""

    workers: int | None = 1  # None: one per CPU of the Ray cluster (local: of this machine)
    ray_address: str | None = None  # auto or HOST:PORT of a running cluster; None: a local instance
    cpus_per_worker: float = 1.0
    memory_per_worker_mb: int = 2048  # declared to Ray's scheduler for each worker actor

    @property
    def on_ray(self) -> bool:
        return self.ray_address is not None or self.workers != 1


@dataclass
class Prepared:
    """The sweep's jobs in table order, and each model's and data set's inputs (data shared between models)."""

    jobs: list[Job]
    models: dict[str, ModelInput]  # label -> inputs
    data: dict[str, DataInput]  # model label -> its data
    loaded: dict[str, object] = field(default_factory=dict)  # model digest -> the Keras model loaded while checking


@dataclass(frozen=True)
class SweepOutcome:
    cells: int
    computed: int
    reused: int
    engine: str
    workers: int
    wall_seconds: float
    rows: list


def _model_data(model, source, zoo_splits) -> tuple:
    """(calibration x, test x, test y) of a model: its spec's .npz files, else the zoo's digits splits."""
    classes = int(source.model.outputs[0].shape[-1])
    calibration_x = modelio.load_model_data(model.data, source.model, num_classes=classes).x if model.data \
        else zoo_splits().x_calib
    if model.test_data:
        test = modelio.load_model_data(model.test_data, source.model, need_labels=True, num_classes=classes)
        return calibration_x, test.x, test.y
    return calibration_x, zoo_splits().x_test, zoo_splits().y_test


def prepare(spec: SweepSpec) -> Prepared:
    """Load and check every model and data file (bad input fails here, before any cell runs), hash them, key the
    cells; a target's missing tools fail here too."""
    for target in spec.targets:
        targets.check_available(target)
    splits = []

    def zoo_splits():
        if not splits:
            splits.append(zoo.load_digits_splits())
        return splits[0]

    models, data, loaded, by_digest = {}, {}, {}, {}
    for model in spec.models:
        source = modelio.load_keras(model.location)
        models[model.label] = model_input(model)
        loaded[models[model.label].digest] = source.model
        found = data_input(*_model_data(model, source, zoo_splits))
        data[model.label] = by_digest.setdefault(found.digest, found)
    jobs = [Job(cell, cell_key(cell, models[cell.model].digest, data[cell.model].digest, spec), spec.shift_rule,
                spec.verify_inputs) for cell in spec.cells()]
    return Prepared(jobs, models, data, loaded)


def _sequential(prepared: Prepared, pending: list[Job], out_dir: Path, on_start, on_finish) -> None:
    runner = CellRunner()
    for digest, keras_model in prepared.loaded.items():
        runner.keep_model(digest, keras_model)
    for job in pending:
        if on_start:
            on_start(job, os.getpid())
        record = runner.run(job, prepared.models[job.cell.model], prepared.data[job.cell.model])
        _finished(record, out_dir, on_finish)


def _finished(record: CellRecord, out_dir: Path, on_finish) -> None:
    write_cell(out_dir, record)
    if on_finish:
        on_finish(record)


def import_ray():
    """Ray, or a one-line error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise InputError(f"Ray is not installed: running cells on Ray (--workers other than 1, --ray-address) needs "
                         f"the extra: pip install '{EXTRA}' (or pass --workers 1 to run the cells without Ray)") from None
    return ray


def _start_ray(ray, options: EngineOptions) -> bool:
    """Connect to the cluster at the address, or start a local instance; True when this call started Ray."""
    if ray.is_initialized():
        return False
    common = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
              "runtime_env": {"env_vars": WORKER_ENV}}
    if options.ray_address is not None:
        ray.init(address=options.ray_address, **common)
    else:
        cpus = options.workers * options.cpus_per_worker if options.workers else None
        ray.init(num_cpus=cpus, **common)
    return True


def _on_ray(prepared: Prepared, pending: list[Job], out_dir: Path, options: EngineOptions, on_start,
            on_finish, round_trips: dict[str, float]) -> int:
    """Each worker is an actor holding one TensorFlow process for many cells; the data and model files are put in
    the object store once. A worker that dies is restarted and its cell retried (Ray's actor restarts); the cell is
    stored under its key when its result arrives, so a retried cell is never stored twice. round_trips gets each
    cell's seconds from submission to its result on this driver. Returns the workers."""
    ray = import_ray()
    started = _start_ray(ray, options)
    try:
        count = options.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // options.cpus_per_worker))
        count = max(1, min(count, len(pending)))
        actor_class = ray.remote(CellRunner).options(
            num_cpus=options.cpus_per_worker, memory=options.memory_per_worker_mb * 1024 * 1024,
            max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)
        actors = [actor_class.remote() for _ in range(count)]
        pids = ray.get([actor.pid.remote() for actor in actors])
        model_refs = {label: ray.put(model) for label, model in prepared.models.items()}
        data_refs = {digest: ray.put(d) for digest, d in {d.digest: d for d in prepared.data.values()}.items()}
        queue, running = deque(pending), {}

        def submit(index: int) -> None:
            job = queue.popleft()
            if on_start:
                on_start(job, pids[index])
            ref = actors[index].run.remote(job, model_refs[job.cell.model],
                                           data_refs[prepared.data[job.cell.model].digest])
            running[ref] = (index, time.perf_counter())

        for index in range(count):
            if queue:
                submit(index)
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            index, submitted = running.pop(done[0])
            record = ray.get(done[0])
            round_trips[record.key] = time.perf_counter() - submitted
            _finished(record, out_dir, on_finish)
            if queue:
                submit(index)
        return count
    finally:
        if started:
            ray.shutdown()


def _timings(records: list[CellRecord], computed: set[str], engine: str, workers: int, wall: float,
             round_trips: dict[str, float]) -> dict:
    """timings.json: per cell seconds and worker (on Ray also the round trip from submission to result, whose excess
    over the seconds is Ray's per-cell overhead); per worker the peak resident memory it reported."""
    peaks: dict[str, int] = {}
    for record in records:
        if record.key in computed:
            peaks[record.run.worker] = max(peaks.get(record.run.worker, 0), record.run.worker_peak_rss_bytes)
    return {"engine": engine, "workers": workers, "wall_seconds": wall, "computed": len(computed),
            "reused": len(records) - len(computed), "worker_peak_rss_bytes": peaks,
            "cells": [{"key": r.key, **r.cell.__dict__, "seconds": r.run.seconds, "worker": r.run.worker,
                       "computed_now": r.key in computed, "round_trip_seconds": round_trips.get(r.key)}
                      for r in records]}


def run_sweep(spec: SweepSpec, out_dir: Path | str, options: EngineOptions = EngineOptions(),
              on_start: Callable[[Job, int], None] | None = None,
              on_finish: Callable[[CellRecord], None] | None = None) -> SweepOutcome:
    """Run the cells not yet stored under OUT/cells, then write the table of all of them.

    on_start(job, worker pid) as a cell is handed to a worker; on_finish(record) as it is stored."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    if options.on_ray:
        import_ray()  # a missing extra fails before any work
    if options.workers is not None and options.workers < 1:
        raise InputError(f"--workers {options.workers}: must be >= 1")
    prepared = prepare(spec)
    finished = read_finished(out_dir, [job.key for job in prepared.jobs])
    pending = [job for job in prepared.jobs if job.key not in finished]
    records: dict[str, CellRecord] = dict(finished)

    def keep(record: CellRecord) -> None:
        records[record.key] = record
        if on_finish:
            on_finish(record)

    workers, engine = (0, "ray") if options.on_ray else (1, "sequential")
    round_trips: dict[str, float] = {}
    if pending and options.on_ray:
        workers = _on_ray(prepared, pending, out_dir, options, on_start, keep, round_trips)
    elif pending:
        _sequential(prepared, pending, out_dir, on_start, keep)
    ordered = [records[job.key] for job in prepared.jobs]
    wall = time.perf_counter() - start
    rows = table.write(out_dir, spec, ordered, _timings(ordered, {j.key for j in pending}, engine, workers, wall,
                                                            round_trips))
    return SweepOutcome(len(ordered), len(pending), len(ordered) - len(pending), engine, workers, wall, rows)
