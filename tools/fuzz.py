"""Fuzz the model readers: the C blob validator/runner (libFuzzer) and the Python readers (atheris).

Usage:
  python tools/fuzz.py corpus [--commit] [NAME ...]
      Seed corpora. Without --commit: build/fuzz/seeds/<harness>/ from every zoo model (or NAMEs) deployed with
      each scheme, plus the tiny models. With --commit: the small committed corpus tests/fuzz_corpus/<harness>/
      (tiny models only; rerun it whenever the blob format or the deploy output changes).
  python tools/fuzz.py run [--seconds 180] [--corpus-only] [HARNESS ...]
      Runs each harness for a bounded time, one after another (never in parallel), and prints one summary table.
      --corpus-only: seeds from tests/fuzz_corpus only (CI); otherwise build/fuzz/seeds too, built first if
      missing. Exits 1 on any crash, sanitizer report, timeout (hang > 10 s) or out-of-memory.
Harnesses: blob (C, firmware_ref/fuzz/fuzz_blob.c), flatbuf, metadata, compact (Python, tools/fuzz_python.py).
Findings are written to build/fuzz/artifacts/<harness>/; see docs/fuzzing.md for the regression-test rule.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HARNESSES = ("blob", "flatbuf", "metadata", "compact")
COMMITTED = ROOT / "tests" / "fuzz_corpus"
WORK = ROOT / "build" / "fuzz"
FUZZ_BLOB = ROOT / "build" / "fuzz_blob"
TIMEOUT_SECONDS = 10  # an input taking longer is a hang
RSS_LIMIT_MB = 2048
MAX_LEN = 65536  # larger zoo seeds are truncated: small inputs keep the (Python) harnesses fast
FAILURE_MARKERS = ("ERROR: libFuzzer", "ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                   "Uncaught Python exception", "ALARM: working on the last Unit", "out-of-memory",
                   "SUMMARY: ", "deadly signal")


# ---------------------------------------------------------------- seed corpora

def tiny_models():
    """Four small Keras models on the digits input that, between them, use every op the C runner supports
    that an int8 model has (conv, depthwise with multiplier 2, FC, ADD, both pools, MEAN, PAD, concatenation,
    RESHAPE, SOFTMAX, SUB, EXPAND_DIMS, LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, LEAKY_RELU, MUL, int8 QUANTIZE,
    PRELU, MAXIMUM, MINIMUM, REDUCE_MAX, RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, STRIDED_SLICE, SLICE,
    TRANSPOSE_CONV, TRANSPOSE, SPLIT, SPLIT_V, PADV2, SUM, SQUARED_DIFFERENCE, UNPACK, PACK, ABS, BATCH_MATMUL,
    grouped CONV_2D): a few KB each, so the fuzzers run fast on them."""
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 1))
    x = layers.AveragePooling2D(4)(inp)  # 8x8x1
    x = layers.Conv2D(4, 3, strides=2, padding="same")(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))  # 4x4x4
    y = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.Add()([x, layers.ReLU(6.0)(layers.BatchNormalization()(y))])
    x = layers.Concatenate()([x, layers.DepthwiseConv2D(1, depth_multiplier=2)(x)])  # 4x4x12
    x = layers.Cropping2D(((0, 1), (1, 0)))(layers.ZeroPadding2D(1)(x))  # STRIDED_SLICE, 5x5x12
    x = keras.ops.slice(layers.MaxPooling2D(2)(x), (0, 0, 0, 2), (1, 2, 2, 8))  # SLICE, 2x2x8
    x = layers.GlobalAveragePooling2D()(x)
    first = keras.Model(inp, layers.Softmax()(layers.Dense(10)(x)), name="tiny_a")
    inp = keras.Input((32, 32, 1))
    x = layers.MaxPooling2D(8)(inp)  # 4x4x1
    x = layers.Conv2D(3, 2, padding="valid")(x)  # 3x3x3
    x = layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 0.5), shared_axes=[1, 2])(x)
    x = layers.Subtract()([x, layers.GlobalAveragePooling2D(keepdims=True)(x)])  # SUB broadcasting [1, 1, 1, 3]
    peak = layers.GlobalMaxPooling2D(keepdims=True)(x)  # REDUCE_MAX
    x = layers.Maximum()([layers.Minimum()([x, peak]), layers.Conv2D(3, 1)(x)])  # MINIMUM broadcasting [1, 1, 1, 3]
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)  # RESIZE_BILINEAR, 6x6x3
    x = layers.Resizing(4, 5, interpolation="nearest")(x)  # RESIZE_NEAREST_NEIGHBOR, 4x5x3
    x = layers.Permute((2, 1, 3))(x)  # TRANSPOSE, 5x4x3
    left, right = keras.ops.split(x, [1], axis=-1)  # SPLIT_V, 5x4x1 and 5x4x2
    x = layers.Add()(keras.ops.split(keras.ops.pad(right, [[0, 0], [0, 0], [0, 0], [0, 1]]), 3, axis=-1))
    x = layers.Concatenate()([left, keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [1, 0]], constant_values=0.5)])
    # above: PAD of C (PADV2's kernel), SPLIT in thirds, PADV2: 5x4x3; below: MEAN of C (SUM's kernel),
    # SQUARED_DIFFERENCE, SUM over H
    x = layers.Add()([x, keras.ops.square(x - keras.ops.mean(x, axis=-1, keepdims=True))])
    x = layers.Concatenate()([layers.Reshape((60,))(x), layers.Flatten()(keras.ops.sum(x, axis=1))])
    second = keras.Model(inp, layers.Softmax()(layers.Dense(10)(x)), name="tiny_b")
    inp = keras.Input((32, 32, 1))
    sequence = layers.Reshape((16, 1))(layers.MaxPooling2D(8)(inp))  # Conv1D below: EXPAND_DIMS
    conv = lambda activation=None: layers.Conv1D(2, 3, padding="same", activation=activation)(sequence)
    x = layers.ReLU()(layers.Concatenate()([conv("sigmoid"), conv("tanh"), conv("hard_swish")]))  # int8 QUANTIZE before the concat
    x = layers.ReLU(6.0)(layers.Concatenate()([layers.LeakyReLU(0.2)(conv()), layers.Activation("swish")(x)]))
    x = layers.Conv1DTranspose(2, 3, strides=2, padding="same")(x)  # TRANSPOSE_CONV, 32x2
    third = keras.Model(inp, layers.Softmax()(layers.Dense(10)(layers.Flatten()(x))), name="tiny_c")
    inp = keras.Input((32, 32, 1))
    x = layers.Conv2D(4, 1)(layers.MaxPooling2D(8)(inp))  # 4x4x4
    x = layers.Conv2D(1, 1)(layers.Conv2D(4, 3, padding="same", groups=2)(x))  # grouped CONV_2D: 2 groups of 2
    steps = layers.Reshape((4, 4))(x)  # 4 steps of 4 features
    x = layers.LSTM(3, unroll=True, return_sequences=True)(steps)  # UNPACK, the gates per step, PACK: 4x3
    x = layers.Attention()([x, keras.ops.abs(x)])  # ABS, BATCH_MATMUL (adj_y), SOFTMAX, BATCH_MATMUL: 4x3
    fourth = keras.Model(inp, layers.Softmax()(layers.Dense(10)(layers.Flatten()(x))), name="tiny_d")
    return [first, second, third, fourth]


def _deployed(named_models, calibration_x):
    """(label, scheme, .tflite bytes) of every model deployed with every scheme, plus a mixed WESS variant with
    every other conv/FC layer left in float (the float kernels and DEQUANTIZE/QUANTIZE pairs)."""
    from pipeline import deploy
    from pipeline.quant import schemes, sensitivity

    for label, model in named_models:
        for scheme in schemes.BASE_SCHEMES:
            # no gate: the seeds feed the readers, and RELU6 differs in LiteRT (docs/operators.md)
            state = deploy.run_passes(model, calibration_x, deploy.DeployOptions(scheme=scheme, verify_inputs=0))
            yield label, scheme, state.model
        floats = tuple(node.name for node in sensitivity.weighted_nodes(state.calibrated)[::2])
        yield label, "wess_mixed", schemes.build_scheme(state.ranged, state.calibrated, "wess", float_nodes=floats)[0]


def write_seeds(out: Path, named_models, calibration_x) -> dict[str, int]:
    """<out>/<harness>/: .tflite files (flatbuf, metadata, compact), raw wess.shifts payloads (metadata) and
    compact blobs (blob). Returns the file count per harness."""
    from pipeline.cref import compact
    from pipeline.tflite import flatbuf, metadata

    for harness in HARNESSES:
        shutil.rmtree(out / harness, ignore_errors=True)
        (out / harness).mkdir(parents=True)
    for label, scheme, model in _deployed(named_models, calibration_x):
        stem = f"{label}_{scheme}"
        for harness in ("flatbuf", "metadata", "compact"):
            (out / harness / f"{stem}.tflite").write_bytes(model)
        payload = flatbuf.get_metadata(flatbuf.read_model(model), metadata.METADATA_NAME)
        if payload is not None:
            (out / "metadata" / f"{stem}.shifts").write_bytes(payload)
        (out / "blob" / f"{stem}.blob").write_bytes(compact.compile_model(model, stem).blob)
    return {harness: len(list((out / harness).iterdir())) for harness in HARNESSES}


def build_corpus(commit: bool, names: list[str]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from pipeline.keras import zoo

    splits = zoo.load_digits_splits()
    models = [(model.name, model) for model in tiny_models()]
    if not commit:
        models += [(name, keras.models.load_model(zoo.ZOO[name].path, compile=False)) for name in names or zoo.ZOO]
    out = COMMITTED if commit else WORK / "seeds"
    counts = write_seeds(out, models, splits.x_calib)
    total = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    print(f"{out.relative_to(ROOT)}: {counts}, {total:,} bytes")


# ---------------------------------------------------------------- running the harnesses

def _command(harness: str) -> list[str]:
    if harness == "blob":
        return [str(FUZZ_BLOB)]
    return [sys.executable, str(ROOT / "tools" / "fuzz_python.py"), harness]


def _stat(pattern: str, text: str) -> int | None:
    found = re.findall(pattern, text)
    return int(found[-1]) if found else None


def run_harness(harness: str, seconds: int, corpus_only: bool) -> dict:
    """One bounded libFuzzer/atheris run; the figures parsed from its output."""
    work, artifacts = WORK / "corpus" / harness, WORK / "artifacts" / harness
    work.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    seeds = [COMMITTED / harness] + ([] if corpus_only else [WORK / "seeds" / harness])
    log = WORK / f"{harness}.log"
    before = set(artifacts.iterdir())
    argv = [*_command(harness), f"-max_total_time={seconds}", f"-timeout={TIMEOUT_SECONDS}",
            f"-rss_limit_mb={RSS_LIMIT_MB}", f"-max_len={MAX_LEN}", "-print_final_stats=1",
            f"-artifact_prefix={artifacts}/",
            str(work), *(str(s) for s in seeds if s.is_dir())]
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1", TF_CPP_MIN_LOG_LEVEL="3")
    start = time.monotonic()
    with open(log, "wb") as output:
        code = subprocess.run(argv, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=ROOT).returncode
    elapsed = time.monotonic() - start
    text = log.read_text(errors="replace")
    new = sorted(set(artifacts.iterdir()) - before)
    markers = [m for m in FAILURE_MARKERS if m in text]
    execs = _stat(r"stat::number_of_executed_units:\s*(\d+)", text)
    if execs is None:
        execs = _stat(r"Done (\d+) runs", text) or 0
    fuzz_seconds = _stat(r"Done \d+ runs in (\d+) second", text) or max(1, round(elapsed))
    return {"harness": harness, "seconds": round(elapsed), "execs": execs, "rate": execs / max(fuzz_seconds, 1),
            "crashes": sum(not p.name.startswith(("timeout-", "oom-", "slow-unit-")) for p in new),
            "timeouts": sum(p.name.startswith("timeout-") for p in new),
            "ooms": sum(p.name.startswith("oom-") for p in new),
            "corpus": len(list(work.iterdir())), "exit": code, "markers": markers, "artifacts": new,
            "log": log}


def run(harnesses: list[str], seconds: int, corpus_only: bool) -> int:
    if "blob" in harnesses:
        subprocess.run(["make", "-s", "-C", str(ROOT / "firmware_ref"), "fuzz", f"BUILD_DIR={ROOT / 'build'}"],
                       check=True)
    if not corpus_only and not (WORK / "seeds").is_dir():
        print("building seed corpora from the zoo (once; `tools/fuzz.py corpus` rebuilds them)", flush=True)
        build_corpus(commit=False, names=[])
    rows = []
    for harness in harnesses:
        print(f"fuzzing {harness} for {seconds} s ...", flush=True)
        rows.append(run_harness(harness, seconds, corpus_only))
    print()
    print("| harness | wall s | execs | execs/s | crashes | timeouts | ooms | corpus | exit |")
    print("|---|---|---|---|---|---|---|---|---|")
    failed = False
    for row in rows:
        print(f"| {row['harness']} | {row['seconds']} | {row['execs']:,} | {row['rate']:,.0f} | {row['crashes']} | "
              f"{row['timeouts']} | {row['ooms']} | {row['corpus']} | {row['exit']} |")
        bad = row["exit"] != 0 or row["markers"] or row["artifacts"]
        failed |= bool(bad)
    for row in rows:
        if row["exit"] != 0 or row["markers"] or row["artifacts"]:
            print(f"\n{row['harness']}: FINDING (exit {row['exit']}, {', '.join(row['markers']) or 'no marker'}); "
                  f"log {row['log'].relative_to(ROOT)}; inputs: "
                  f"{', '.join(str(p.relative_to(ROOT)) for p in row['artifacts']) or 'none written'}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    corpus = sub.add_parser("corpus", help="build seed corpora")
    corpus.add_argument("--commit", action="store_true", help="write the small committed corpus tests/fuzz_corpus/")
    corpus.add_argument("names", nargs="*", help="zoo models (default: all)")
    fuzz = sub.add_parser("run", help="run the harnesses")
    fuzz.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", 180)))
    fuzz.add_argument("--corpus-only", action="store_true",
                      default=os.environ.get("FUZZ_CORPUS_ONLY", "") not in ("", "0"))
    fuzz.add_argument("harnesses", nargs="*", help=f"default: {' '.join(HARNESSES)}")
    args = parser.parse_args()
    if args.command == "corpus":
        build_corpus(args.commit, args.names)
        return
    unknown = set(args.harnesses) - set(HARNESSES)
    if unknown:
        parser.error(f"unknown harness {sorted(unknown)}; choose from {', '.join(HARNESSES)}")
    sys.exit(run(args.harnesses or list(HARNESSES), args.seconds, args.corpus_only))


if __name__ == "__main__":
    main()
