"""`wess sweep` (slow tier): a multi-node Ray cluster on this machine with a worker killed mid-cell; a sweep process
killed half way and rerun."""
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from pipeline.sweep import engine, spec

pytestmark = pytest.mark.slow
KILL_AFTER_S = 1.5  # a fresh worker's first cell (model load, deploy passes, TFLM check) takes several seconds


@pytest.fixture
def cluster():
    """A head node with no CPUs (only the cluster's services) and two one-CPU worker nodes, all on this machine (on
    its own address: Ray 2.40's ray.init(address=...) rewrites 127.0.0.1 to the node's address, so a loopback-only
    cluster cannot be joined)."""
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    yield nodes
    nodes.shutdown()


def test_multi_node_with_a_killed_worker_equals_sequential(cluster, tiny_model, tmp_path):
    model, calib, test = tiny_model
    parsed = spec.from_mapping("test", {"models": [{"model": str(model), "data": str(calib), "test_data": str(test)}],
                                        "schemes": ["per_tensor", "per_channel", "wess"], "verify_inputs": 8})
    sequential = engine.run_sweep(parsed, tmp_path / "sequential", engine.EngineOptions(workers=1))
    killed, finished = {}, []

    def kill_first(job, pid):
        if not killed:
            killed.update(key=job.key, pid=pid)
            threading.Timer(KILL_AFTER_S, os.kill, (pid, signal.SIGKILL)).start()

    def finish(record):
        finished.append(record.key)
        if record.key == killed.get("key"):
            killed["finished_on"] = record.run.worker

    out = tmp_path / "cluster"
    # one CPU per worker node and none on the head: the two one-CPU workers can only run on different nodes
    outcome = engine.run_sweep(parsed, out, engine.EngineOptions(workers=2, ray_address=cluster.address),
                               on_start=kill_first, on_finish=finish)
    assert (outcome.engine, outcome.workers, outcome.computed) == ("ray", 2, 3)
    # the killed cell ran again in a new worker process; every cell stored exactly once
    assert killed["finished_on"].rsplit(":", 1)[1] != str(killed["pid"])
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    assert sorted(finished) == sorted(r["key"] for r in sequential.rows)
    assert sorted(p.name for p in (out / "cells").iterdir()) == sorted(f"{k}.json" for k in finished)
    for name in ("sweep.csv", "sweep.json", "sweep.md"):
        assert (out / name).read_bytes() == (tmp_path / "sequential" / name).read_bytes(), name
    timings = json.loads((out / "timings.json").read_text())
    assert len(timings["worker_peak_rss_bytes"]) >= 2


def test_sweep_killed_half_way_resumes_without_recomputing(tiny_model, tmp_path):
    """SIGKILL the CLI once its first cell is stored; the rerun computes only the cells that were not stored."""
    model, calib, test = tiny_model
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "pipeline.cli", "sweep", "--models", str(model), "--data", str(calib),
            "--test-data", str(test), "--schemes", "per_tensor", "per_channel", "wess", "--verify-inputs", "8",
            "--workers", "1", "--out", str(out), "--progress"]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    first = proc.stderr.readline()
    proc.kill()
    proc.wait()
    assert first.startswith("wess sweep: cell "), first
    stored = sorted(p.name for p in (out / "cells").iterdir())
    assert 1 <= len(stored) < 3 and not (out / "sweep.csv").exists()
    before = {name: (out / "cells" / name).stat().st_mtime_ns for name in stored}
    rerun = subprocess.run([*argv[:-1], "--json"], capture_output=True, text=True, check=True)
    result = json.loads(rerun.stdout)
    assert (result["computed"], result["reused"]) == (3 - len(stored), len(stored))
    assert {name: (out / "cells" / name).stat().st_mtime_ns for name in stored} == before
    assert len(list((out / "cells").iterdir())) == 3
