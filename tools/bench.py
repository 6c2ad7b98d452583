"""Benchmarks printed as ratios measured side by side in one run (`make bench`).

deploy-cost: wall time of `wess deploy`'s passes (default options) against the bare TFLiteConverter int8
conversion of the same model with the same representative data; best of REPEATS runs each, interleaved.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPEATS = 3


def best_of(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def deploy_cost(names: list[str]) -> None:
    import keras

    from pipeline import convert, deploy, zoo

    splits = zoo.load_digits_splits()
    print("deploy-cost: wess deploy passes (scheme wess, calibrator max) vs bare TFLiteConverter int8, "
          f"{len(splits.x_calib)} calibration samples, best of {REPEATS}")
    print(f"{'model':<14} {'converter s':>12} {'wess deploy s':>14} {'ratio':>7}")
    for name in names:
        model = keras.models.load_model(zoo.ZOO[name].path, compile=False)
        def converter_only():
            with convert._quiet_native_logs():
                convert.int8_converter(model, splits.x_calib).convert()

        converter_only()  # warm-up: TensorFlow's tracing caches, for both sides alike
        bare = best_of(converter_only)
        ours = best_of(lambda: deploy.run_passes(model, splits.x_calib, deploy.DeployOptions()))
        print(f"{name:<14} {bare:>12.2f} {ours:>14.2f} {ours / bare:>7.2f}", flush=True)


def main() -> None:
    from pipeline import zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(zoo.ZOO))
    args = parser.parse_args()
    deploy_cost(args.names)


if __name__ == "__main__":
    main()
