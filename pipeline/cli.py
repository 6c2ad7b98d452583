"""The `wess` command line: deploy, eval, run, verify, inspect, zoo and firmware."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # deterministic float reference outputs

import numpy as np  # noqa: E402

from .errors import WessError  # noqa: E402

log = logging.getLogger("wess")
EXIT_USAGE = 2
EXIT_INTERNAL = 1


@dataclass(frozen=True)
class Inputs:
    """A model ready for conversion with its calibration and (optional) test data."""

    name: str
    model: object
    calibration_x: np.ndarray
    test_x: np.ndarray | None
    test_y: np.ndarray | None


def _load_inputs(args, need_test: bool) -> Inputs:
    from . import modelio, zoo
    from .calibrate import make_calibrator

    if args.calibrator != "auto":
        try:
            make_calibrator(args.calibrator)
        except ValueError as exc:
            raise WessError(str(exc)) from None
    source = modelio.load_keras(args.model)
    input_shape = tuple(int(d) for d in source.model.inputs[0].shape[1:])
    num_classes = int(source.model.outputs[0].shape[-1])
    model, name = source.model, source.name
    if source.zoo_entry is not None:
        splits = zoo.load_digits_splits()
        calibration_x, test_x, test_y = splits.x_calib, splits.x_test, splits.y_test
        if args.stress:
            from .stress import make_stress_variant

            model, name = make_stress_variant(model, splits), f"{name}_stress"
    else:
        if args.stress:
            raise WessError(f"{args.model}: --stress builds a variant of a zoo model; pass zoo:<name>")
        test_x = test_y = None
    if args.data:
        calibration_x = modelio.load_npz(args.data, input_shape).x
    elif source.zoo_entry is None:
        raise WessError(f"{args.model}: --data FILE.npz (array x of shape (N, {', '.join(map(str, input_shape))})) "
                        "is needed for calibration")
    if getattr(args, "test_data", None):
        test = modelio.load_npz(args.test_data, input_shape, need_labels=True, num_classes=num_classes)
        test_x, test_y = test.x, test.y
    if need_test and test_x is None:
        raise WessError(f"{args.model}: --test-data FILE.npz with labels y is needed to evaluate a non-zoo model")
    return Inputs(name, model, calibration_x, test_x, test_y)


def cmd_deploy(args) -> dict:
    from . import deploy, flatbuf, metadata, report, runtime
    from .atomic import atomic_write_bytes
    from .evaluate import score

    inputs = _load_inputs(args, need_test=False)
    out_dir = Path(args.out) if args.out else Path("build") / "deploy" / inputs.name
    model_path = out_dir / "model.tflite"
    if model_path.exists() and not args.force and args.out:
        raise WessError(f"{model_path}: exists; pass --force to replace it")
    state = deploy.run_passes(inputs.model, inputs.calibration_x,
                              deploy.DeployOptions(args.scheme, args.calibrator, args.shift_rule))
    model = state.model
    q = runtime.io_quant(model)
    probe = runtime.quantize_input(inputs.calibration_x[:args.verify_inputs], q)
    mismatched = int(np.sum(runtime.run_litert(model, probe) != runtime.run_tflm(model, probe)))
    accuracy = {}
    if inputs.test_x is not None:
        float_out = np.asarray(inputs.model.predict(inputs.test_x, batch_size=256, verbose=0), np.float64)
        accuracy = {"float": float(np.mean(float_out.argmax(1) == inputs.test_y)),
                    args.scheme: score(model, inputs.test_x, inputs.test_y, float_out).top1}
    meta = flatbuf.get_metadata(flatbuf.read_model(model), metadata.METADATA_NAME)
    result = {
        "model": inputs.name, "scheme": args.scheme, "calibrator": state.calibrator,
        "calibrator_scores": state.calibrator_scores, "shift_rule": args.shift_rule, "stress": bool(args.stress),
        "output": str(model_path), "model_bytes": len(model), "metadata_bytes": len(meta) if meta else 0,
        "accuracy": accuracy, "layers": deploy.weight_sqnr(state) if state.wess_layers else [],
        "verification": {"inputs": int(len(probe)), "mismatched_bytes": mismatched,
                         "pair": "litert_ref vs tflm"},
        "versions": report.tool_versions(),
    }
    if mismatched:
        raise WessError(f"{inputs.name}: LiteRT reference and TFLite Micro disagree on {mismatched} output bytes")
    atomic_write_bytes(model_path, model)
    report.write(out_dir, result, state.wess_layers)
    return result


def cmd_eval(args) -> dict:
    from .deploy import DeployOptions
    from .evaluate import evaluate

    inputs = _load_inputs(args, need_test=True)
    result = evaluate(inputs.name, inputs.model, inputs.calibration_x, inputs.test_x, inputs.test_y,
                      DeployOptions("wess", args.calibrator, args.shift_rule), bool(args.stress),
                      progress=not args.json)
    return result.to_json()


def cmd_run(args) -> dict:
    from . import runtime
    from .atomic import atomic_write_bytes

    path = Path(args.model)
    if not path.is_file():
        raise WessError(f"{path}: no such file")
    model = path.read_bytes()
    q = runtime.io_quant(model)
    if args.dump_intermediates and args.backend != "ref":
        raise WessError(f"--dump-intermediates needs --backend ref (got {args.backend})")
    if args.random_input:
        x = np.random.default_rng(args.seed).integers(-128, 128, size=(args.count, *q.input_shape)).astype(np.int8)
    else:
        in_path = Path(args.input)
        if not in_path.is_file():
            raise WessError(f"{in_path}: no such file")
        try:
            x = np.load(in_path, allow_pickle=False)
        except ValueError as exc:
            raise WessError(f"{in_path}: not a readable .npy file ({exc})") from None
        if x.shape == q.input_shape:
            x = x[None]
        if tuple(x.shape[1:]) != q.input_shape:
            raise WessError(f"{in_path}: shape {x.shape}; the model expects (N, {', '.join(map(str, q.input_shape))})")
        if x.dtype != np.int8:
            if not np.issubdtype(x.dtype, np.floating) or not np.all(np.isfinite(x)):
                raise WessError(f"{in_path}: dtype {x.dtype}; give int8 (quantized) or finite float inputs")
            x = runtime.quantize_input(x, q)
    y = runtime.run(model, x, args.backend)
    if args.dump_intermediates:
        _dump_intermediates(model, x, Path(args.dump_intermediates))
    if args.output:
        import io

        buffer = io.BytesIO()
        np.save(buffer, y)
        atomic_write_bytes(args.output, buffer.getvalue())
    return {"model": str(path), "backend": args.backend, "inputs": int(len(x)), "output_shape": list(y.shape),
            "top1": y.argmax(axis=1).tolist(), "output_int8": y.tolist() if len(y) <= 16 else None,
            "output": args.output}


def _dump_intermediates(model: bytes, x: np.ndarray, out_dir: Path) -> None:
    """Every tensor the C reference computes, stacked over the inputs: DIR/t<index>_<name>.npy."""
    import io
    import re

    from . import compact, runtime
    from .atomic import atomic_write_bytes

    compiled = compact.compile_model(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    for tensor, array in runtime.ref_intermediates(model, x).items():
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", compiled.tensors[tensor].name)[:80]
        buffer = io.BytesIO()
        np.save(buffer, array)
        atomic_write_bytes(out_dir / f"t{tensor:04d}_{name}.npy", buffer.getvalue())


def cmd_verify(args) -> dict:
    from .errors import VerificationError
    from .verify import verify

    path = Path(args.model)
    if not path.is_file():
        raise WessError(f"{path}: no such file")
    result = verify(path.read_bytes(), str(path), args.inputs, args.random_inputs, args.seed)
    report = result.to_json()
    if result.mismatched:
        pairs = ", ".join(f"{pair} {count}" for pair, count in result.mismatched_bytes.items() if count)
        where = result.first_divergence
        first = (f"; first divergence at operator {where.operator} ({where.op}, tensor {where.tensor_name!r})"
                 if where else "")
        raise VerificationError(f"{path}: mismatched bytes on {result.inputs} inputs: {pairs}{first}", report)
    return report


def cmd_inspect(args) -> dict:
    from . import flatbuf, metadata, postprocess, wess

    model = flatbuf.read_model_file(args.model)
    layers = postprocess.read_shifts(model, args.model)
    graph = model.subgraphs[0]
    rows = []
    histogram = np.zeros(16, np.int64)
    for layer in layers:
        histogram += np.bincount(layer.channel_right_shift, minlength=16)
        rows.append({"operator": layer.operator_index, "op": flatbuf.OPCODE_NAMES.get(layer.builtin_code, "?"),
                     "weight_tensor": layer.weight_tensor,
                     "name": flatbuf.tensor_name(graph.tensors[layer.weight_tensor]),
                     "output_channels": int(layer.channel_right_shift.size), "layer_scale": layer.layer_scale,
                     "multiplier": layer.multiplier, "right_shift": layer.right_shift,
                     "shifts": layer.channel_right_shift.tolist(),
                     "max_shift": int(layer.channel_right_shift.max(initial=0)),
                     "disparity_bound": float(2.0 ** int(layer.channel_right_shift.max(initial=0)))})
    payload = flatbuf.get_metadata(model, metadata.METADATA_NAME)
    return {"model": args.model, "format_version": metadata.VERSION, "metadata_bytes": len(payload),
            "layers": rows, "shift_histogram": histogram.tolist(),
            "channels": int(histogram.sum()), "saturated_layers": [r["operator"] for r in rows if r["max_shift"] == wess.MAX_SHIFT]}


def cmd_firmware(args) -> dict:
    from . import firmware

    path = Path(args.model)
    if not path.is_file():
        raise WessError(f"{path}: no such file")
    name = path.parent.name if path.name == "model.tflite" and path.parent.name else path.stem
    out_dir = Path(args.out) if args.out else Path("build") / "firmware" / name / args.target
    options = firmware.FirmwareOptions(args.target, out_dir, args.run, args.inputs, args.timeout,
                                       args.flash_bytes, args.ram_bytes)
    return firmware.build_firmware(path.read_bytes(), str(path), options)


def cmd_zoo(args) -> dict:
    from . import zoo

    summary_path = zoo.ZOO_DIR / "accuracy.json"
    trained = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return {"models": [{"name": e.name, "spec": f"zoo:{e.name}", "description": e.description,
                        "path": str(e.path), "present": e.path.is_file(), **trained.get(e.name, {})}
                       for e in zoo.ZOO.values()], "default": zoo.DEFAULT_MODEL}


def _human(command: str, result: dict) -> str:
    if command == "zoo":
        return "\n".join(f"{m['spec']:<20} {m['description']:<40} float top-1 {m.get('float_top1', 'n/a')}"
                         for m in result["models"])
    if command == "deploy":
        acc = ", ".join(f"{k} {100 * v:.2f}%" for k, v in result["accuracy"].items())
        return (f"wrote {result['output']} ({result['model_bytes']:,} bytes, scheme {result['scheme']}, calibrator "
                f"{result['calibrator']}); report.json and report.md beside it\n"
                f"LiteRT reference vs TFLite Micro: {result['verification']['mismatched_bytes']} mismatched bytes on "
                f"{result['verification']['inputs']} inputs" + (f"\ntest top-1: {acc}" if acc else ""))
    if command == "eval":
        lines = [f"{result['model']}: calibrator {result['calibrator']}, {result['test_samples']} test samples, "
                 f"max R/r_c {result['max_disparity']:.1f}"]
        lines += [f"  {k:<12} top-1 {100 * v:6.2f}%" for k, v in result["accuracy"].items()]
        lines += [f"  {k:<12} agreement {100 * v['agreement']:6.2f}%  output SQNR {v['sqnr_db']:.1f} dB"
                  for k, v in result["schemes"].items()]
        return "\n".join(lines)
    if command == "inspect":
        lines = [f"{result['model']}: {len(result['layers'])} WESS layers, {result['channels']} channels, "
                 f"metadata {result['metadata_bytes']} bytes",
                 "shift histogram (k = 0..15): " + " ".join(map(str, result["shift_histogram"]))]
        lines += [f"  op {r['operator']:>3} {r['op']:<18} {r['output_channels']:>4} ch  multiplier {r['multiplier']} "
                  f"right shift {r['right_shift']}  max k {r['max_shift']}" for r in result["layers"]]
        return "\n".join(lines)
    if command == "verify":
        top1 = "" if result["ref_top1"] is None else f", C reference top-1 {100 * result['ref_top1']:.2f}%"
        return (f"{result['model']}: {result['inputs']} inputs ({result['digit_inputs']} digits, "
                f"{result['random_inputs']} random): mismatched bytes "
                + ", ".join(f"{k} {v}" for k, v in result["mismatched_bytes"].items())
                + f"; peak activation arena {result['peak_arena_bytes']:,} bytes, blob {result['blob_bytes']:,} bytes"
                + top1)
    if command == "firmware":
        memory, field = result["memory"], result["field"]
        lines = [f"{result['model']} on {result['target']} ({result['machine']}): wrote {result['out']}/firmware.elf"
                 f" .bin .hex",
                 f"  flash {result['flash_bytes']:,} bytes (code {memory['flash_code_bytes']:,}, model "
                 f"{memory['flash_model_bytes']:,}, test data {memory['flash_test_data_bytes']:,}, other "
                 f"{memory['flash_other_bytes']:,})",
                 f"  RAM {result['ram_bytes']:,} bytes (arena {memory['ram_arena_bytes']:,}, stack "
                 f"{memory['ram_stack_bytes']:,}, other {memory['ram_other_bytes']:,})",
                 f"  arena {field['arena']['ours_bytes']:,} bytes vs TFLite Micro "
                 f"{field['arena']['tflm_total_bytes']:,}"
                 f"; requantize parameters {field['requant_parameters']['ours_bytes']:,} bytes vs TFLite Micro "
                 f"{field['requant_parameters']['tflm_bytes']:,}"]
        if result["ran"]:
            lines.append(f"  QEMU: {result['inputs']} inputs, outputs identical to the host C reference: "
                         f"{'yes' if result['matches_host'] else 'NO'}; {result['instructions_per_inference']:,} "
                         f"instructions per inference, stack used {result['stack_used_bytes']:,} bytes")
        return "\n".join(lines)
    if command == "run":
        return f"{result['inputs']} inputs on {result['backend']}: top-1 {result['top1'][:20]}"
    return json.dumps(result)


def build_parser() -> argparse.ArgumentParser:
    from .calibrate import CALIBRATOR_NAMES
    from .deploy import SCHEMES
    from .runtime import BACKENDS
    from .wess import SHIFT_RULES

    parser = argparse.ArgumentParser(prog="wess", description="Keras -> int8 TFLite with WESS for integer NPUs.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p):
        p.add_argument("model", help="a .keras/.h5 file, a SavedModel directory, or zoo:<name>")
        p.add_argument("--data", help="calibration data: .npz with array x (N, *input_shape)")
        p.add_argument("--calibrator", default="max", help=f"{', '.join(CALIBRATOR_NAMES)}, percentileP or auto")
        p.add_argument("--shift-rule", default="mse", choices=SHIFT_RULES, help="how WESS picks k_c and s")
        p.add_argument("--stress", action="store_true", help="use the stress variant of a zoo model (dead channels)")
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    p = sub.add_parser("deploy", help="convert a Keras model to an int8 TFLite model and write a report")
    model_args(p)
    p.add_argument("--scheme", default="wess", choices=SCHEMES)
    p.add_argument("--out", help="output directory (default build/deploy/<model>)")
    p.add_argument("--force", action="store_true", help="replace an existing model in --out")
    p.add_argument("--verify-inputs", type=int, default=20, help="inputs run through LiteRT and TFLite Micro")
    p = sub.add_parser("eval", help="top-1 and SQNR of every scheme against float on a test split")
    model_args(p)
    p.add_argument("--test-data", help="test data: .npz with x and integer labels y")
    p = sub.add_parser("run", help="run an int8 .tflite model on inputs")
    p.add_argument("model")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--input", help=".npy of int8 (quantized) or float inputs, (N, *input_shape)")
    group.add_argument("--random-input", action="store_true", help="uniform random int8 inputs")
    p.add_argument("--count", type=int, default=1, help="how many random inputs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="litert", choices=BACKENDS)
    p.add_argument("--output", help="write the int8 outputs to this .npy")
    p.add_argument("--dump-intermediates", metavar="DIR", help="backend ref: write every tensor to DIR as .npy")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("verify", help="C reference vs LiteRT reference vs TFLite Micro, byte for byte")
    p.add_argument("model")
    p.add_argument("--inputs", type=int, default=100, help="digits test inputs (cycled past 400)")
    p.add_argument("--random-inputs", type=int, default=16, help="seeded random int8 inputs added")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("inspect", help="show a WESS model's layers, shifts and metadata")
    p.add_argument("model")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("firmware", help="build the C runner and a model into Cortex-M firmware; run it in QEMU")
    p.add_argument("model", help="an int8 .tflite model")
    p.add_argument("--target", default="cortex-m3", help="cortex-m3, cortex-m4, cortex-m7, cortex-m33 or cortex-m55")
    p.add_argument("--out", help="output directory (default build/firmware/<model>/<target>)")
    p.add_argument("--run", action="store_true", help="run in QEMU and compare with the host C reference")
    p.add_argument("--inputs", type=int, default=10, help="test inputs embedded in the image")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds QEMU may run")
    p.add_argument("--flash-bytes", type=int, help="flash of the part, if smaller than the machine's memory map")
    p.add_argument("--ram-bytes", type=int, help="RAM of the part, if smaller than the machine's memory map")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("zoo", help="the bundled model zoo")
    p.add_argument("action", choices=["list"])
    p.add_argument("--json", action="store_true")
    return parser


COMMANDS = {"deploy": cmd_deploy, "eval": cmd_eval, "run": cmd_run, "verify": cmd_verify, "inspect": cmd_inspect,
            "zoo": cmd_zoo, "firmware": cmd_firmware}


@contextlib.contextmanager
def _isolated_streams(debug: bool):
    """Yield (stdout, stderr) for the command's own output while native libraries' chatter goes to /dev/null.

    TensorFlow prints to file descriptor 1 and its C++ logs to descriptor 2 whatever the log level; the command's
    one JSON object must be alone on stdout. With --debug nothing is hidden (stdout still carries only the result).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    real_out = os.fdopen(os.dup(1), "w", buffering=1)
    real_err = os.fdopen(os.dup(2), "w", buffering=1) if not debug else sys.stderr
    saved_stdout, saved_stderr = sys.stdout, sys.stderr
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno() if not debug else 2, 1)
        if not debug:
            os.dup2(devnull.fileno(), 2)
    sys.stdout, sys.stderr = (open(os.devnull, "w") if not debug else saved_stderr), real_err
    try:
        yield real_out, real_err
    finally:
        sys.stdout, sys.stderr = saved_stdout, saved_stderr
        real_out.flush()
        os.dup2(real_out.fileno(), 1)
        if not debug:
            real_err.flush()
            os.dup2(real_err.fileno(), 2)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.debug:
        warnings.filterwarnings("ignore", module="tensorflow")
        warnings.filterwarnings("ignore", module="keras")
    if args.debug:
        os.environ["WESS_VERBOSE"] = "1"
    with _isolated_streams(args.debug) as (out, err):
        logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=err, force=True,
                            format="%(levelname)s %(name)s: %(message)s")
        try:
            result = COMMANDS[args.command](args)
        except WessError as exc:
            if getattr(args, "json", False) and getattr(exc, "result", None) is not None:
                from .report import dumps

                print(dumps(exc.result), file=out)
            print(f"wess {args.command}: error: {exc}", file=err)
            if args.debug:
                raise
            return EXIT_USAGE
        except KeyboardInterrupt:
            print(f"wess {args.command}: interrupted; no output was written half-way", file=err)
            return 130
        except Exception as exc:  # an internal error: one line unless --debug
            if args.debug:
                raise
            print(f"wess {args.command}: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                  "traceback)", file=err)
            return EXIT_INTERNAL
        from .report import dumps

        print(dumps(result) if args.json else _human(args.command, result), file=out)
        return 0


if __name__ == "__main__":
    sys.exit(main())
