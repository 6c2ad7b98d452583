"""A sweep's cells: their inputs, content-hash keys, the runner that deploys and scores one, and the cell store."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipeline import deploy
from pipeline.atomic import atomic_write_text
from pipeline.errors import WessError
from pipeline.firmware import targets
from pipeline.jsonfmt import dumps
from pipeline.keras import modelio, zoo
from pipeline.quant import scoring
from pipeline.tflite import versions

from .spec import CellSpec, ModelSpec, SweepSpec

log = logging.getLogger(__name__)
CELL_FORMAT = 1  # bump when a cell's result changes meaning: every stored cell is then recomputed
CELLS_DIR = "cells"
# every deployment pass except the report: the gate (fully int8, stamped, verified) and the target's figures
GATE_PASSES = [step for step in deploy.PASSES if step is not deploy.report_pass]
SQNR_DECIMALS = 4  # output SQNR (dB) as stored: identical tables from float outputs computed on any worker


@dataclass(frozen=True)
class ModelInput:
    """What a worker needs to load a model: the bytes of a .keras / .h5 file travel with it (any node can load it)."""

    label: str
    location: str  # zoo:<name>, a file, or a SavedModel directory (which must be visible on every node)
    digest: str  # sha256 of the file's bytes (zoo: of the bundled .keras; SavedModel: of every file in it)
    payload: bytes | None = None


@dataclass(frozen=True)
class DataInput:
    """Calibration and labelled test arrays, shared by every cell of the models that use them."""

    digest: str
    calibration_x: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


@dataclass(frozen=True)
class Job:
    """One cell to run and the options shared by the sweep."""

    cell: CellSpec
    key: str
    shift_rule: str
    verify_inputs: int


@dataclass(frozen=True)
class CellResult:
    """A cell's figures: identical wherever and whenever the cell ran (the sweep's table)."""

    calibrator_used: str  # the calibrator `auto` chose, else the one named
    float_top1: float
    top1: float
    agreement: float  # top-1 agreement with float
    sqnr_db: float  # output SQNR vs float, rounded to SQNR_DECIMALS
    model_bytes: int
    model_sha256: str  # of the deployed (stamped) int8 model
    verified_inputs: int
    mismatched_bytes: int  # LiteRT reference vs TFLite Micro on verified_inputs inputs
    target_figures: dict = field(default_factory=dict)  # targets.SCHEME_FIGURES of the target, empty on the host


@dataclass(frozen=True)
class RunInfo:
    """Where and how long a cell ran: kept out of the table's identity."""

    seconds: float
    worker: str  # host:pid
    worker_peak_rss_bytes: int  # the worker process's peak resident memory so far (ru_maxrss)


@dataclass(frozen=True)
class CellRecord:
    cell: CellSpec
    key: str
    result: CellResult | None
    error: str | None  # a WessError's message (bad input, unsupported): stored, not retried
    run: RunInfo

    def to_json(self) -> dict:
        return {"format": CELL_FORMAT, "key": self.key, "cell": asdict(self.cell),
                "result": asdict(self.result) if self.result else None, "error": self.error, "run": asdict(self.run)}

    @classmethod
    def from_json(cls, data: dict) -> CellRecord:
        result = CellResult(**data["result"]) if data["result"] else None
        return cls(CellSpec(**data["cell"]), data["key"], result, data["error"], RunInfo(**data["run"]))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _directory_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(path)).encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()


def model_input(model: ModelSpec) -> ModelInput:
    """The model's digest (and bytes, for a file); a missing file is reported by modelio.load_keras first."""
    if model.is_zoo:
        return ModelInput(model.label, model.location, sha256(zoo.ZOO[model.location[4:]].path.read_bytes()))
    path = Path(model.location)
    if path.is_dir():
        return ModelInput(model.label, model.location, _directory_digest(path))
    payload = path.read_bytes()
    return ModelInput(model.label, model.location, sha256(payload), payload)


def data_input(calibration_x: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> DataInput:
    digest = hashlib.sha256()
    for array in (calibration_x, test_x, test_y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode() + array.tobytes())
    return DataInput(digest.hexdigest(), calibration_x, test_x, test_y)


def cell_key(job_cell: CellSpec, model_digest: str, data_digest: str, spec: SweepSpec) -> str:
    """The content hash of everything a cell's result depends on: model and data bytes, the options and the tool
    versions (with arm-none-eabi-gcc's for a Cortex-M target)."""
    record = {"format": CELL_FORMAT, "model": model_digest, "data": data_digest, "scheme": job_cell.scheme,
              "calibrator": job_cell.calibrator, "target": job_cell.target, "shift_rule": spec.shift_rule,
              "verify_inputs": spec.verify_inputs,
              "versions": versions.tool_versions(compiler=job_cell.target in targets.CORTEX_M)}
    return sha256(json.dumps(record, sort_keys=True).encode())[:32]


class CellRunner:
    """Runs cells in one process, keeping each loaded Keras model and its float test outputs between cells.

    The sequential sweep uses one in the CLI's process; on Ray each worker actor wraps one (engine.py)."""

    def __init__(self):
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # deterministic float outputs, as the CLI sets it
        self._models: dict[str, object] = {}
        self._float_out: dict[tuple[str, str], np.ndarray] = {}

    def keep_model(self, digest: str, keras_model) -> None:
        """Reuse a Keras model the caller already loaded (the sequential sweep loads each while checking inputs)."""
        self._models[digest] = keras_model

    def pid(self) -> int:
        return os.getpid()

    def run(self, job: Job, model: ModelInput, data: DataInput) -> CellRecord:
        start = time.perf_counter()
        result, error = None, None
        try:
            result = self._measure(job, model, data)
        except WessError as exc:
            error = str(exc)
            log.warning("cell %s %s %s %s: %s", *asdict(job.cell).values(), error)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
        run = RunInfo(time.perf_counter() - start, f"{socket.gethostname()}:{os.getpid()}", int(peak))
        return CellRecord(job.cell, job.key, result, error, run)

    def _keras(self, model: ModelInput):
        if model.digest not in self._models:
            if model.payload is None:
                self._models[model.digest] = modelio.load_keras(model.location).model
            else:
                with tempfile.TemporaryDirectory(prefix="wess-sweep-") as tmp:
                    path = Path(tmp) / Path(model.location).name
                    path.write_bytes(model.payload)
                    self._models[model.digest] = modelio.load_keras(str(path)).model
        return self._models[model.digest]

    def _float(self, model: ModelInput, data: DataInput, keras_model) -> np.ndarray:
        key = (model.digest, data.digest)
        if key not in self._float_out:
            self._float_out[key] = np.asarray(keras_model.predict(data.test_x, batch_size=256, verbose=0), np.float64)
        return self._float_out[key]

    def _measure(self, job: Job, model: ModelInput, data: DataInput) -> CellResult:
        """One `wess deploy` (every pass but the report, the target's figures included), then the deployed model
        scored against float on the test split as `wess eval` scores each scheme (quant.scoring)."""
        keras_model = self._keras(model)
        options = deploy.DeployOptions(job.cell.scheme, job.cell.calibrator, job.shift_rule,
                                       verify_inputs=job.verify_inputs, target=job.cell.target)
        state = deploy.run_passes(keras_model, data.calibration_x, options, passes=GATE_PASSES, name=model.label,
                                  source=model.label)
        float_out = self._float(model, data, keras_model)
        scored = scoring.score(state.model, data.test_x, data.test_y, float_out)
        report = state.on_target.report if state.on_target else None
        figures = {} if not report or report["kind"] == "host" else \
            {key: report[key] for key in targets.SCHEME_FIGURES[report["kind"]]}
        return CellResult(state.calibrator, float(np.mean(float_out.argmax(axis=1) == data.test_y)), scored.top1,
                          scored.agreement, round(float(scored.sqnr_db), SQNR_DECIMALS), len(state.model),
                          sha256(state.model), state.verification["inputs"], state.verification["mismatched_bytes"],
                          figures)


def cell_path(out_dir: Path, key: str) -> Path:
    return Path(out_dir) / CELLS_DIR / f"{key}.json"


def write_cell(out_dir: Path, record: CellRecord) -> None:
    """Store a finished cell atomically under its key: a retried or repeated cell replaces, never duplicates."""
    atomic_write_text(cell_path(out_dir, record.key), dumps(record.to_json()) + "\n")


def read_finished(out_dir: Path, keys: list[str]) -> dict[str, CellRecord]:
    """The stored cells among `keys`; an unreadable or older-format file is recomputed (logged)."""
    found = {}
    for key in keys:
        path = cell_path(out_dir, key)
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
            if data.get("format") == CELL_FORMAT and data.get("key") == key:
                found[key] = CellRecord.from_json(data)
                continue
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: unreadable cell (%s); recomputing it", path, exc)
            continue
        log.warning("%s: a cell of another format or key; recomputing it", path)
    return found
