"""`wess sweep`: spec checks, cell keys, resume, and the same table sequentially and on local Ray (2 workers)."""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import deploy
from pipeline.cli import main as cli
from pipeline.errors import InputError
from pipeline.keras import modelio
from pipeline.sweep import cells, engine, spec, table

TABLE_FILES = ("sweep.csv", "sweep.json", "sweep.md", table.FLASH_PLOT)


def tiny_spec(tiny_model, directory: Path) -> Path:
    """1 tiny model x 2 schemes x 1 calibrator, the model and data named relative to the spec file."""
    model, calib, test = tiny_model
    text = (f"models:\n  - {{model: {model.name}, data: {calib.name}, test_data: {test.name}}}\n"
            "schemes: [per_tensor, wess]\ncalibrators: [max]\nverify_inputs: 8\n")
    path = model.parent / "sweep.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def sequential(tiny_model, tmp_path_factory):
    """The tiny sweep run sequentially (--workers 1): (spec, out dir, outcome)."""
    path = tiny_spec(tiny_model, tmp_path_factory.mktemp("spec"))
    out = tmp_path_factory.mktemp("sequential")
    outcome = engine.run_sweep(spec.load(path), out, engine.EngineOptions(workers=1))
    return spec.load(path), out, outcome


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("models: [zoo:ds_cnn]\nschemes: [wess]\ncolour: red\n", "s.yaml: unknown key 'colour'"),
    ("models: [zoo:ds_cnn]\n", "s.yaml: 'models' and 'schemes' are required"),
    ("models: [zoo:ds_cnn]\nschemes: [wess, magic]\n", "s.yaml: schemes: unknown scheme 'magic'"),
    ("models: [zoo:ds_cnn]\nschemes: [wess]\ncalibrators: [median]\n", "s.yaml: calibrators: unknown calibrator"),
    ("models: [zoo:ds_cnn]\nschemes: [wess]\ntargets: [cortex-m99]\n", "s.yaml: targets: unknown target 'cortex-m99'"),
    ("models: [zoo:ds_cnn]\nschemes: [wess, wess]\n", "s.yaml: schemes: wess listed twice"),
    ("models: [m.keras]\nschemes: [wess]\n", "s.yaml: model 'm.keras': a model file needs data:"),
    ("models: [{model: m.keras, data: c.npz, labels: y.npz}]\nschemes: [wess]\n", "unknown key 'labels' in 'm.keras'"),
    ("models: [zoo:ds_cnn]\nschemes: []\n", "s.yaml: schemes: expected a non-empty list"),
    ("models: [zoo:ds_cnn]\nschemes: [wess]\nverify_inputs: -1\n", "verify_inputs: expected an integer >= 0"),
    ("models: [zoo:ds_cnn]\nschemes: [wess]\ncells: [{model: zoo:resnet8, scheme: wess}]\n",
     "s.yaml: cells[0]: model 'zoo:resnet8' is not in the spec's models"),
    ("models: [zoo:ds_cnn\nschemes: [wess]\n", "s.yaml: not valid YAML at line 2"),
    ("- just\n- a list\n", "s.yaml: expected a mapping"),
])
def test_bad_specs_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(InputError) as caught:
        spec.load(write(tmp_path, text))
    assert message in str(caught.value)


def test_spec_cells_in_spec_order_and_listed_cells(tmp_path):
    path = write(tmp_path, "models: [zoo:resnet8, {model: sub/m.keras, data: c.npz, test_data: t.npz}]\n"
                           "schemes: [wess, per_tensor]\ncalibrators: [max, entropy]\n")
    parsed = spec.load(path)
    assert parsed.model("sub/m.keras").location == str(tmp_path / "sub/m.keras")
    grid = parsed.cells()
    assert len(grid) == 8
    assert [(c.model, c.scheme, c.calibrator) for c in grid[:4]] == [
        ("zoo:resnet8", "wess", "max"), ("zoo:resnet8", "wess", "entropy"), ("zoo:resnet8", "per_tensor", "max"),
        ("zoo:resnet8", "per_tensor", "entropy")]
    listed = spec.load(write(tmp_path, "models: [zoo:resnet8, zoo:ds_cnn]\nschemes: [wess, per_tensor]\ncells:\n"
                                       "  - {model: zoo:ds_cnn, scheme: wess}\n"
                                       "  - {model: zoo:resnet8, scheme: per_tensor}\n")).cells()
    assert listed == [spec.CellSpec("zoo:resnet8", "per_tensor", "max", "host"),
                      spec.CellSpec("zoo:ds_cnn", "wess", "max", "host")]


def test_cell_keys_follow_every_input(monkeypatch):
    parsed = spec.from_mapping("t", {"models": ["zoo:ds_cnn"], "schemes": ["wess"]})
    cell = parsed.cells()[0]
    key = cells.cell_key(cell, "m" * 64, "d" * 64, parsed)
    assert key == cells.cell_key(cell, "m" * 64, "d" * 64, parsed)
    changed = [cells.cell_key(spec.CellSpec(cell.model, "per_tensor", "max", "host"), "m" * 64, "d" * 64, parsed),
               cells.cell_key(spec.CellSpec(cell.model, "wess", "entropy", "host"), "m" * 64, "d" * 64, parsed),
               cells.cell_key(spec.CellSpec(cell.model, "wess", "max", "cortex-m55"), "m" * 64, "d" * 64, parsed),
               cells.cell_key(cell, "n" * 64, "d" * 64, parsed), cells.cell_key(cell, "m" * 64, "e" * 64, parsed),
               cells.cell_key(cell, "m" * 64, "d" * 64, spec.SweepSpec(**{**parsed.__dict__, "shift_rule": "floor"}))]
    monkeypatch.setattr(cells.versions, "tool_versions", lambda compiler=False: {"tensorflow": "0.0"})
    changed.append(cells.cell_key(cell, "m" * 64, "d" * 64, parsed))
    assert len({key, *changed}) == len(changed) + 1


def test_pareto_front_per_model_and_target():
    def row(model, cost, top1, target="host"):
        return {**dict.fromkeys(table.COLUMNS), "model": model, "target": target, "model_bytes": cost, "top1": top1}

    rows = [row("a", 100, 0.9), row("a", 120, 0.95), row("a", 130, 0.95), row("a", 90, 0.5), row("a", 100, 0.9),
            row("b", 500, 0.1), row("a", 500, 0.99, "cortex-m3")]
    table.mark_pareto(rows)
    assert [r["pareto"] for r in rows] == [True, True, False, True, True, True, True]


def test_sequential_sweep_equals_deploy_and_scoring(sequential, tiny_model):
    parsed, out, outcome = sequential
    assert (outcome.cells, outcome.computed, outcome.reused) == (2, 2, 0)
    assert sorted(p.name for p in (out / "cells").iterdir()) == sorted(f"{r['key']}.json" for r in outcome.rows)
    assert [(r["scheme"], r["error"]) for r in outcome.rows] == [("per_tensor", None), ("wess", None)]
    source = modelio.load_keras(str(tiny_model[0]))
    calib = np.load(tiny_model[1])["x"]
    state = deploy.run_passes(source.model, calib, deploy.DeployOptions("wess", verify_inputs=8))
    assert outcome.rows[1]["model_sha256"] == hashlib.sha256(state.model).hexdigest()
    assert outcome.rows[1]["verified_inputs"] == state.verification["inputs"] >= 8  # 8 calibration + random ones
    assert outcome.rows[1]["mismatched_bytes"] == 0
    csv_lines = (out / "sweep.csv").read_text().splitlines()
    assert csv_lines[0] == ",".join(table.COLUMNS) and len(csv_lines) == 3
    assert json.loads((out / "sweep.json").read_text())["rows"] == json.loads(json.dumps(outcome.rows))


def test_resume_recomputes_nothing(sequential):
    parsed, out, _ = sequential
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "cells").iterdir()}
    tables = {name: (out / name).read_bytes() for name in TABLE_FILES}
    outcome = engine.run_sweep(parsed, out, engine.EngineOptions(workers=1),
                               on_start=lambda job, pid: pytest.fail(f"recomputed {job.cell}"))
    assert (outcome.computed, outcome.reused) == (0, 2)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "cells").iterdir()} == before
    assert {name: (out / name).read_bytes() for name in TABLE_FILES} == tables


def test_resume_after_losing_a_cell_recomputes_only_it(sequential, tmp_path):
    parsed, out, first = sequential
    for name in ("cells", *TABLE_FILES):
        source = out / name
        if source.is_dir():
            (tmp_path / name).mkdir()
            for item in source.iterdir():
                (tmp_path / name / item.name).write_bytes(item.read_bytes())
    (tmp_path / "cells" / f"{first.rows[0]['key']}.json").unlink()
    started = []
    outcome = engine.run_sweep(parsed, tmp_path, engine.EngineOptions(workers=1),
                               on_start=lambda job, pid: started.append(job.key))
    assert started == [first.rows[0]["key"]] and (outcome.computed, outcome.reused) == (1, 1)
    assert (tmp_path / "sweep.csv").read_bytes() == (out / "sweep.csv").read_bytes()


@pytest.mark.slow  # starting a local Ray cluster costs most of a minute; the sequential engine stays in the fast tier
def test_local_ray_two_workers_gives_the_same_table(sequential, tmp_path):
    parsed, out, _ = sequential
    outcome = engine.run_sweep(parsed, tmp_path, engine.EngineOptions(workers=2))
    assert (outcome.engine, outcome.workers, outcome.computed) == ("ray", 2, 2)
    for name in TABLE_FILES:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    timings = json.loads((tmp_path / "timings.json").read_text())
    peaks = timings["worker_peak_rss_bytes"]
    assert len(peaks) == 2 and all(value > 50_000_000 for value in peaks.values())  # TensorFlow alone is larger


def test_missing_ray_names_the_extra(monkeypatch, tmp_path, capfd):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(InputError, match=r"pip install 'wess-deploy\[sweep\]'"):
        engine.import_ray()
    code = cli.main(["sweep", "--models", "zoo:ds_cnn", "--schemes", "wess", "--workers", "2", "--out", str(tmp_path)])
    err = capfd.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "wess-deploy[sweep]" in err
    assert not any(tmp_path.iterdir())


def test_cli_refuses_a_spec_and_grid_flags_together(tmp_path, capfd):
    path = write(tmp_path, "models: [zoo:ds_cnn]\nschemes: [wess]\n")
    code = cli.main(["sweep", str(path), "--schemes", "wess", "--workers", "1", "--out", str(tmp_path / "o")])
    err = capfd.readouterr().err
    assert code == 2 and "give a spec file or --schemes" in err
