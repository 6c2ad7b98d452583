"""Benchmarks printed as ratios measured side by side in one run (`make bench`).

deploy-cost: wall time of `wess deploy`'s passes (default options) against the bare TFLiteConverter int8
conversion of the same model with the same representative data; best of REPEATS runs each.
sensitivity: wall time of the per-layer sensitivity sweep (`wess eval --sensitivity`, 400 test samples) against
`wess deploy`'s passes, as a ratio.
adaround: wall time of `wess deploy --scheme wess+ar` (learned rounding, adaround.ITERATIONS Adam steps per layer)
against `wess deploy --scheme wess`, one run each, as a ratio (the issue's budget: <= 10x).
calibration: time and peak-memory growth of calibration at 3 sample counts (each in a fresh process): time should
grow linearly with the samples (seconds per 1,000 samples constant), the memory above the loaded data flat.
sweep: `wess sweep` of zoo models x schemes x calibrators with 2 Ray workers against the same cells as separate
`wess deploy` processes run one after another (a shell loop) and against `wess sweep --workers 1`, each command a
fresh process; also Ray's per-cell overhead (the round trip from submission to result on the driver over the
seconds inside the worker, summed) and the share of the workers' wall time outside cells (start-up included).
inference: per-inference time of the C reference runner vs the TFLite Micro Python interpreter vs LiteRT's
default (XNNPACK) kernels on the same WESS model and inputs, one thread each (all three run on the calling thread),
as that thread's CPU time (time.thread_time: other processes on a loaded machine do not count), best of
INFERENCE_REPEATS with the three runtimes taking turns in each repeat.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

REPEATS = 3
INFERENCE_REPEATS = 5


def best_of(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def best_thread_times(functions: list, repeats: int) -> list[float]:
    """Each function's least CPU time of this thread over `repeats` rounds, the functions taking turns in a round."""
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for index, function in enumerate(functions):
            start = time.thread_time()
            function()
            best[index] = min(best[index], time.thread_time() - start)
    return best


def deploy_cost(names: list[str]) -> None:
    import keras

    from pipeline import deploy
    from pipeline.keras import zoo
    from pipeline.quant import convert

    splits = zoo.load_digits_splits()
    print("deploy-cost: wess deploy passes (scheme wess, calibrator max) vs bare TFLiteConverter int8, "
          f"{len(splits.x_calib)} calibration samples, best of {REPEATS}")
    print(f"{'model':<14} {'converter s':>12} {'wess deploy s':>14} {'ratio':>7}")
    for name in names:
        model = keras.models.load_model(zoo.ZOO[name].path, compile=False)
        def converter_only():
            with convert.int8_converter(model, splits.x_calib) as converter, convert._quiet_native_logs():
                converter.convert()

        converter_only()  # warm-up: TensorFlow's tracing caches, for both sides alike
        bare = best_of(converter_only)
        ours = best_of(lambda: deploy.run_passes(model, splits.x_calib, deploy.DeployOptions()))
        print(f"{name:<14} {bare:>12.2f} {ours:>14.2f} {ours / bare:>7.2f}", flush=True)


def sensitivity_cost(names: list[str]) -> None:
    import keras

    from pipeline import deploy
    from pipeline.keras import zoo
    from pipeline.quant import sensitivity

    splits = zoo.load_digits_splits()
    print(f"\nsensitivity: one-layer-int8 sweep (scheme wess) on {len(splits.x_test)} test samples vs wess deploy's "
          "passes, one run each")
    print(f"{'model':<14} {'layers':>7} {'deploy s':>9} {'sweep s':>8} {'ratio':>7}")
    for name in names:
        model = keras.models.load_model(zoo.ZOO[name].path, compile=False)
        start = time.perf_counter()
        state = deploy.run_passes(model, splits.x_calib, deploy.DeployOptions())
        deploy_s = time.perf_counter() - start
        sweep = sensitivity.sweep(state.ranged, state.calibrated, "wess", "mse", splits.x_test, splits.y_test)
        print(f"{name:<14} {len(sweep.layers):>7} {deploy_s:>9.2f} {sweep.seconds:>8.2f} {sweep.seconds / deploy_s:>7.2f}",
              flush=True)


def adaround_cost(names: list[str]) -> None:
    import keras

    from pipeline import deploy
    from pipeline.keras import zoo
    from pipeline.quant import adaround

    splits = zoo.load_digits_splits()
    print(f"\nadaround: wess deploy --scheme wess+ar ({adaround.ITERATIONS} Adam steps per layer) vs --scheme wess, "
          f"{len(splits.x_calib)} calibration samples, one run each")
    print(f"{'model':<14} {'layers':>7} {'wess s':>8} {'wess+ar s':>10} {'ratio':>7}")
    for name in names:
        model = keras.models.load_model(zoo.ZOO[name].path, compile=False)
        deploy.run_passes(model, splits.x_calib, deploy.DeployOptions())  # warm-up: TensorFlow's tracing caches
        start = time.perf_counter()
        deploy.run_passes(model, splits.x_calib, deploy.DeployOptions())
        plain_s = time.perf_counter() - start
        start = time.perf_counter()
        state = deploy.run_passes(model, splits.x_calib, deploy.DeployOptions("wess+ar"))
        learned_s = time.perf_counter() - start
        print(f"{name:<14} {len(state.roundings):>7} {plain_s:>8.2f} {learned_s:>10.2f} {learned_s / plain_s:>7.2f}",
              flush=True)


def _status_bytes(field: str) -> int:
    """VmRSS (resident now) or VmHWM (peak resident since the last reset) of this process, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so earlier peaks (data set-up) don't count."""
    Path("/proc/self/clear_refs").write_text("5")


def calibration_child(samples: int, calibrator: str, name: str) -> None:
    """One measurement in this (fresh) process: prints a JSON line."""
    import keras

    from pipeline import deploy
    from pipeline.keras import bnfold, zoo
    from pipeline.quant import calibration, convert

    splits = zoo.load_digits_splits()
    rng = np.random.default_rng(0)
    pool = np.concatenate([splits.x_train, splits.x_calib])
    x = np.clip(pool[rng.integers(0, len(pool), samples)] + rng.normal(0, 0.02, (samples, *pool.shape[1:])), 0, 1)
    x = x.astype(np.float32)
    folded, _ = bnfold.fold_batch_norms(keras.models.load_model(zoo.ZOO[name].path, compile=False))
    warm = convert.calibrated_float_model(folded, x[:50])  # TensorFlow's lazy set-up, outside the measurement
    if calibrator != "max":
        calibration.calibrate_ranges(warm, x[:50], [calibrator])
    _reset_peak_rss()
    baseline = _status_bytes("VmRSS")
    start = time.perf_counter()
    state = deploy.DeployState(folded, x, deploy.DeployOptions(calibrator=calibrator))
    state.folded_model = folded
    deploy.calibrate_pass(state)
    deploy.ranges_pass(state)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_growth_bytes": _status_bytes("VmHWM") - baseline,
                      "data_bytes": int(x.nbytes)}))


def calibration_scaling(name: str, sizes: tuple[int, ...] = (1000, 5000, 20000)) -> None:
    print(f"\ncalibration: {name}, calibrate + ranges passes, fresh process per row; peak growth = peak RSS during "
          "the passes minus RSS before them (data already loaded)")
    print("fit: seconds = fixed + per_1k * samples / 1000 (least squares over the 3 rows); 'fit error' is the "
          "largest row's distance from that line")
    print(f"{'calibrator':<11} {'samples':>8} {'seconds':>8} {'data MB':>8} {'peak growth MB':>15}")
    for calibrator in ("max", "entropy"):
        seconds = []
        for samples in sizes:
            proc = subprocess.run([sys.executable, __file__, "--calibration-child", str(samples), calibrator, name],
                                  capture_output=True, text=True, check=True)
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            seconds.append(row["seconds"])
            print(f"{calibrator:<11} {samples:>8} {row['seconds']:>8.2f} {row['data_bytes'] / 1e6:>8.1f} "
                  f"{row['peak_growth_bytes'] / 1e6:>15.1f}", flush=True)
        per_1k, fixed = np.polyfit(np.asarray(sizes) / 1000.0, seconds, 1)
        error = np.max(np.abs(np.polyval([per_1k, fixed], np.asarray(sizes) / 1000.0) - seconds))
        print(f"{calibrator:<11} fit: fixed {fixed:.2f} s + {per_1k:.3f} s per 1,000 samples; fit error "
              f"{error:.2f} s", flush=True)


SWEEP_SCHEMES = ("per_tensor", "per_channel", "wess", "wess+bc")
SWEEP_CALIBRATORS = ("max", "entropy")


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def sweep_cost(names: list[str], schemes: tuple[str, ...], calibrators: tuple[str, ...]) -> None:
    import tempfile

    wess = [sys.executable, "-m", "pipeline.cli"]
    cells = [(m, s, c) for m in names for s in schemes for c in calibrators]
    grid = ["--models", *(f"zoo:{m}" for m in names), "--schemes", *schemes, "--calibrators", *calibrators]
    print(f"\nsweep: {len(names)} models x {len(schemes)} schemes x {len(calibrators)} calibrators = {len(cells)} "
          "cells, one fresh run each")
    with tempfile.TemporaryDirectory(prefix="wess-bench-sweep-") as tmp:
        ray_s = _timed([*wess, "sweep", *grid, "--workers", "2", "--out", f"{tmp}/ray"])
        sequential_s = _timed([*wess, "sweep", *grid, "--workers", "1", "--out", f"{tmp}/sequential"])
        separate_s = sum(_timed([*wess, "deploy", f"zoo:{m}", "--scheme", s, "--calibrator", c, "--out",
                                 f"{tmp}/deploy/{i}"]) for i, (m, s, c) in enumerate(cells))
        same = all(Path(f"{tmp}/ray/{n}").read_bytes() == Path(f"{tmp}/sequential/{n}").read_bytes()
                   for n in ("sweep.csv", "sweep.json", "sweep.md"))
        timings = json.loads(Path(f"{tmp}/ray/timings.json").read_text())
    in_cells = sum(cell["seconds"] for cell in timings["cells"])
    outside = 1 - in_cells / (timings["workers"] * timings["wall_seconds"])
    per_cell = sum(cell["round_trip_seconds"] for cell in timings["cells"]) / in_cells - 1
    print(f"{'2 Ray workers s':>16} {'--workers 1 s':>14} {'separate deploys s':>19} {'separate/Ray':>13} "
          f"{'sequential/Ray':>15} {'per-cell Ray overhead':>22} {'worker time outside cells':>26} "
          f"{'tables identical':>17}")
    print(f"{ray_s:>16.1f} {sequential_s:>14.1f} {separate_s:>19.1f} {separate_s / ray_s:>13.2f} "
          f"{sequential_s / ray_s:>15.2f} {100 * per_cell:>21.1f}% {100 * outside:>25.1f}% {str(same):>17}",
          flush=True)
    print("peak RSS per Ray worker (MB): " + ", ".join(f"{v / 1e6:.0f}" for v in
                                                       timings["worker_peak_rss_bytes"].values()), flush=True)


def model_macs(model_bytes: bytes) -> int:
    """Multiply-accumulates of the conv / depthwise / fully connected layers of one inference."""
    from pipeline.tflite import flatbuf

    model = flatbuf.read_model(model_bytes)
    graph = model.subgraphs[0]
    macs = 0
    for op in graph.operators:
        name = flatbuf.opcode_name(model, op)
        weights = graph.tensors[op.inputs[1]].shape if len(op.inputs) > 1 else None
        out = graph.tensors[op.outputs[0]].shape
        if name == "CONV_2D":
            macs += int(np.prod(out[1:])) * int(np.prod(weights[1:]))
        elif name == "DEPTHWISE_CONV_2D":
            macs += int(np.prod(out[1:])) * int(weights[1] * weights[2])
        elif name == "FULLY_CONNECTED":
            macs += int(np.prod(weights))
    return macs


def inference_speed(names: list[str], count: int) -> None:
    import keras
    from ai_edge_litert.interpreter import Interpreter
    from tflite_micro.python.tflite_micro import runtime as tflm

    from pipeline import deploy
    from pipeline.cref import compact, library
    from pipeline.keras import zoo
    from pipeline.tflite import runtime

    splits = zoo.load_digits_splits()
    print(f"\ninference: WESS models, {count} test inputs, ms of thread CPU time per inference (best of "
          f"{INFERENCE_REPEATS}), one thread each")
    print(f"{'model':<14} {'MMAC':>6} {'C ref':>8} {'TFLM':>8} {'XNNPACK':>8} {'TFLM/ref':>9} {'ref/XNNPACK':>12} "
          f"{'ref MAC/ns':>11}")
    for name in names:
        model = keras.models.load_model(zoo.ZOO[name].path, compile=False)
        tflite = deploy.run_passes(model, splits.x_calib, deploy.DeployOptions()).model
        x = runtime.quantize_input(splits.x_test[:count], runtime.io_quant(tflite))
        compiled = compact.compile_model(tflite)
        out_type = compiled.outputs[0].numpy_type
        micro = tflm.Interpreter.from_bytes(tflite)
        xnn = Interpreter(model_content=tflite, num_threads=1)
        xnn.allocate_tensors()
        xnn_in, xnn_out = xnn.get_input_details()[0]["index"], xnn.get_output_details()[0]["index"]

        def run_micro():
            for sample in x:
                micro.set_input(sample[None], 0)
                micro.invoke()

        def run_xnnpack():
            for sample in x:
                xnn.set_tensor(xnn_in, sample[None])
                xnn.invoke()
                xnn.get_tensor(xnn_out)

        ref_s, micro_s, xnn_s = (seconds / count for seconds in best_thread_times(
            [lambda: library.run_model(compiled.blob, x, out_type), run_micro, run_xnnpack], INFERENCE_REPEATS))
        macs = model_macs(tflite)
        print(f"{name:<14} {macs / 1e6:>6.2f} {1e3 * ref_s:>8.3f} {1e3 * micro_s:>8.3f} {1e3 * xnn_s:>8.3f} "
              f"{micro_s / ref_s:>9.2f} {ref_s / xnn_s:>12.2f} {macs / (ref_s * 1e9):>11.2f}", flush=True)


def main() -> None:
    from pipeline.keras import zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(zoo.ZOO))
    parser.add_argument("--inputs", type=int, default=100, help="inputs per inference benchmark")
    parser.add_argument("--sweep-schemes", nargs="+", default=list(SWEEP_SCHEMES), help="schemes of the sweep bench")
    parser.add_argument("--sweep-calibrators", nargs="+", default=list(SWEEP_CALIBRATORS),
                        help="calibrators of the sweep bench")
    parser.add_argument("--only", choices=["deploy", "sensitivity", "adaround", "calibration", "sweep", "inference"],
                        help="run one benchmark")
    parser.add_argument("--calibration-child", nargs=3, metavar=("SAMPLES", "CALIBRATOR", "MODEL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.calibration_child:
        samples, calibrator, name = args.calibration_child
        calibration_child(int(samples), calibrator, name)
        return
    benchmarks = {"deploy": lambda: deploy_cost(args.names), "sensitivity": lambda: sensitivity_cost(args.names),
                  "adaround": lambda: adaround_cost(args.names),
                  "calibration": lambda: calibration_scaling(zoo.DEFAULT_MODEL),
                  "sweep": lambda: sweep_cost(args.names, tuple(args.sweep_schemes), tuple(args.sweep_calibrators)),
                  "inference": lambda: inference_speed(args.names, args.inputs)}
    for key, run in benchmarks.items():
        if args.only in (None, key):
            run()


if __name__ == "__main__":
    main()
