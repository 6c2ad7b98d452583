"""The `wess` command line: deploy, eval, finetune, run, verify, inspect, zoo, firmware and sweep."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # deterministic float reference outputs, whatever the caller's environment

import numpy as np  # noqa: E402

from pipeline.atomic import received_signal, signals_handled  # noqa: E402
from pipeline.cli.parser import EXIT_USAGE, build_parser  # noqa: E402
from pipeline.errors import InputError, Terminated, WessError, about  # noqa: E402

log = logging.getLogger("wess")
EXIT_INTERNAL = 1
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM


@dataclass(frozen=True)
class Inputs:
    """A model ready for conversion with its calibration and (optional) test data."""

    name: str
    model: object
    calibration_x: np.ndarray
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    calibration_y: np.ndarray | None = None  # labels of the calibration data, when it has them


def _load_inputs(args, need_test: bool) -> Inputs:
    from pipeline.keras import modelio, zoo
    from pipeline.keras.custom import parse_modules
    from pipeline.quant.calibrators import make_calibrator

    if args.calibrator != "auto":
        make_calibrator(args.calibrator)  # an unknown name fails before the model loads
    source = modelio.load_keras(args.model, parse_modules(args.custom_objects))
    units = int(source.model.outputs[0].shape[-1])
    num_classes = 2 if units == 1 else units  # one unit: a binary classifier (metrics.predicted_class)
    model, name = source.model, source.name
    if source.zoo_entry is not None:
        splits = zoo.load_digits_splits()
        calibration_x, test_x, test_y = splits.x_calib, splits.x_test, splits.y_test
        calibration_y = splits.y_calib
        if args.stress:
            from pipeline.keras.stress import make_stress_variant

            model, name = make_stress_variant(model, splits), f"{name}_stress"
    else:
        if args.stress:
            raise InputError(f"{args.model}: --stress builds a variant of a zoo model; pass zoo:<name>")
        test_x = test_y = None
    if args.data:
        calibration = modelio.load_model_data(args.data, model, num_classes=num_classes)
        calibration_x, calibration_y = calibration.x, calibration.y
    elif source.zoo_entry is None:
        raise InputError(f"{args.model}: --data FILE.npz ({modelio.data_layout(model)}) is needed for calibration")
    if getattr(args, "test_data", None):
        test = modelio.load_model_data(args.test_data, model, num_classes=num_classes)  # without y: errors only
        test_x, test_y = test.x, test.y
    if need_test and test_x is None:
        raise InputError(f"{args.model}: --test-data FILE.npz (x, and labels y for top-1) is needed to evaluate a "
                         "non-zoo model")
    return Inputs(name, model, calibration_x, test_x, test_y, calibration_y)


def cmd_deploy(args) -> dict:
    from pipeline import deploy
    from pipeline.atomic import refuse_existing
    from pipeline.firmware import targets

    targets.check_available(args.target)  # missing tools fail before the model loads
    inputs = _load_inputs(args, need_test=False)
    out_dir = Path(args.out) if args.out else Path("build") / "deploy" / inputs.name
    refuse_existing([out_dir / name for name in (*deploy.OUTPUTS, *targets.OUTPUTS)], args.force)
    options = deploy.DeployOptions(args.scheme, args.calibrator, args.shift_rule, args.target_drop,
                                   mixed_bits=args.mixed_bits, verify_inputs=args.verify_inputs,
                                   cost_target=args.cost_target,
                                   require_firmware=args.require_firmware, target=args.target)
    state = deploy.run_passes(inputs.model, inputs.calibration_x, options, inputs.calibration_y,
                              on_pass=_progress_printer("deploy") if args.progress else None, name=inputs.name,
                              source=args.model, stress=bool(args.stress), test_x=inputs.test_x, test_y=inputs.test_y)
    return deploy.write_outputs(state, out_dir)


def _progress_printer(command: str):
    """`--progress`: one stderr line as each pass starts, `wess COMMAND: pass I/N NAME` (a documented format)."""
    def show(index: int, count: int, name: str) -> None:
        print(f"wess {command}: pass {index}/{count} {name}", file=sys.stderr, flush=True)
    return show


def cmd_eval(args) -> dict:
    from pipeline import evaluate, report
    from pipeline.atomic import refuse_existing
    from pipeline.deploy import DeployOptions
    from pipeline.firmware import targets
    from pipeline.tflite import versions

    targets.check_available(args.target)
    inputs = _load_inputs(args, need_test=True)
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        refuse_existing([out_dir / name for name in evaluate.OUTPUTS], args.force)
    result = evaluate.evaluate(inputs.name, inputs.model, inputs.calibration_x, inputs.test_x, inputs.test_y,
                               DeployOptions(args.scheme, args.calibrator, args.shift_rule), bool(args.stress),
                               progress=not args.json, with_sensitivity=args.sensitivity, target=args.target,
                               augment_copies=args.augment, with_adaround=args.adaround,
                               scheme_names=_eval_schemes(args.schemes)).to_json()
    result["versions"] = versions.tool_versions()
    if out_dir is not None:
        report.write_eval(out_dir, result)
    return result


def _eval_schemes(text: str | None) -> tuple[str, ...] | None:
    """`--schemes A,B,...` checked (InputError naming an unknown one), or None for the default set."""
    from pipeline.quant import schemes

    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise InputError("--schemes: no scheme named; e.g. --schemes per_channel4,wess4")
    for name in names:
        schemes.parse_scheme(name)
    return names


def cmd_run(args) -> dict:
    from pipeline.atomic import atomic_write_bytes, refuse_existing
    from pipeline.cref import backends, compact
    from pipeline.tflite import flatbuf, runtime

    path = Path(args.model)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if args.dump_intermediates and args.backend != "ref":
        raise InputError(f"--dump-intermediates needs --backend ref (got {args.backend})")
    refuse_existing([Path(args.output)] if args.output else [], args.force)
    if args.dump_intermediates:
        refuse_existing(sorted(Path(args.dump_intermediates).glob("t[0-9][0-9][0-9][0-9]_*.npy")), args.force)
    model = path.read_bytes()
    flatbuf.read_model(model, str(path))
    if args.backend == "ref":
        compact.compile_model(model, str(path))  # names the file and the first operator the C runner lacks
    with about(str(path)):
        q = runtime.io_quant(model)
    if args.random_input:
        x = np.random.default_rng(args.seed).integers(-128, 128, size=(args.count, *q.input_shape)).astype(np.int8)
    else:
        from pipeline.cli.run_inputs import load_run_inputs

        x = load_run_inputs(args.input, q, str(path))
    with about(str(path)):
        y = backends.run(model, x, args.backend)
    if args.dump_intermediates:
        _dump_intermediates(model, x, Path(args.dump_intermediates))
    if args.output:
        import io

        buffer = io.BytesIO()
        np.save(buffer, y)
        atomic_write_bytes(args.output, buffer.getvalue())
    from pipeline.quant.metrics import predicted_class

    # several outputs: y joins them per sample (runtime.join_outputs); top-1 is the first output's class
    return {"model": str(path), "backend": args.backend, "inputs": int(len(x)), "output_shape": list(y.shape),
            "output_shapes": [list(output.shape) for output in q.outputs],
            "top1": predicted_class(y, q.class_elements).tolist(), "output_int8": y.tolist() if len(y) <= 16 else None,
            "output": args.output}


def _dump_intermediates(model: bytes, x: np.ndarray, out_dir: Path) -> None:
    """Every tensor the C reference computes, stacked over the inputs: DIR/t<index>_<name>.npy."""
    import io
    import re

    from pipeline.atomic import atomic_write_bytes
    from pipeline.cref import backends, compact

    compiled = compact.compile_model(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    for tensor, array in backends.ref_intermediates(model, x).items():
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", compiled.tensors[tensor].name)[:80]
        buffer = io.BytesIO()
        np.save(buffer, array)
        atomic_write_bytes(out_dir / f"t{tensor:04d}_{name}.npy", buffer.getvalue())


def cmd_verify(args) -> dict:
    from pipeline.cref.verify import verify
    from pipeline.errors import VerificationError
    from pipeline.tflite import flatbuf, runtime

    path = Path(args.model)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    model = path.read_bytes()
    flatbuf.read_model(model, str(path))
    with about(str(path)):
        runtime.io_quant(model)  # an int8 model before the C runner looks at its ops
        result = verify(model, str(path), args.inputs, args.random_inputs, args.seed)
    report = result.to_json()
    if result.mismatched:
        pairs = ", ".join(f"{pair} {count}" for pair, count in result.mismatched_bytes.items() if count)
        where = result.first_divergence
        first = (f"; first divergence at operator {where.operator} ({where.op}, tensor {where.tensor_name!r})"
                 if where else "")
        raise VerificationError(f"{path}: mismatched bytes on {result.inputs} inputs: {pairs}{first}", report)
    return report


def cmd_inspect(args) -> dict:
    from pipeline.firmware import vela
    from pipeline.quant import wess
    from pipeline.tflite import flatbuf, metadata, versions

    model = flatbuf.read_model_file(args.model)
    if vela.is_vela_output(model):  # its WESS shifts were dropped: no operator of the file has them any more
        return vela.inspect(model, args.model)
    layers = metadata.read_shifts(model, args.model)
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
                     "weight_bits": layer.weight_bits, "shifts": layer.channel_right_shift.tolist(),
                     "max_shift": int(layer.channel_right_shift.max(initial=0)),
                     "disparity_bound": float(2.0 ** int(layer.channel_right_shift.max(initial=0)))})
    payload = flatbuf.get_metadata(model, metadata.METADATA_NAME)
    return {"model": args.model, "format_version": metadata.VERSION, "metadata_bytes": len(payload),
            "versions": versions.read(model, args.model),
            "layers": rows, "shift_histogram": histogram.tolist(),
            "channels": int(histogram.sum()), "saturated_layers": [r["operator"] for r in rows if r["max_shift"] == wess.MAX_SHIFT]}


def cmd_firmware(args) -> dict:
    from pipeline import resources
    from pipeline.atomic import refuse_existing
    from pipeline.firmware import build as firmware
    from pipeline.tflite import flatbuf, runtime

    path = Path(args.model)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    name = path.parent.name if path.name == "model.tflite" and path.parent.name else path.stem
    out_dir = Path(args.out) if args.out else resources.firmware_out_dir(name, args.target)
    outputs = (*firmware.get_target(args.target).artifacts, "firmware.json")
    refuse_existing([out_dir / output for output in outputs], args.force)
    options = firmware.FirmwareOptions(args.target, out_dir, args.run, args.inputs, args.timeout,
                                       args.flash_bytes, args.ram_bytes)
    model = path.read_bytes()
    flatbuf.read_model(model, str(path))
    with about(str(path)):
        runtime.io_quant(model)  # an int8 model before the C runner looks at its ops
        return firmware.build_firmware(model, str(path), options)


def cmd_zoo(args) -> dict:
    from pipeline.keras import zoo

    summary_path = zoo.ZOO_DIR / "accuracy.json"
    trained = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return {"models": [{"name": e.name, "spec": f"zoo:{e.name}", "description": e.description,
                        "path": str(e.path), "present": e.path.is_file(), **trained.get(e.name, {})}
                       for e in zoo.ZOO.values()], "default": zoo.DEFAULT_MODEL}


def cmd_finetune(args) -> dict:
    from pipeline.cli.finetune import cmd_finetune as run

    return run(args, _load_inputs)


def cmd_sweep(args) -> dict:
    from pipeline.cli.sweep import cmd_sweep as run

    return run(args)


COMMANDS = {"deploy": cmd_deploy, "eval": cmd_eval, "finetune": cmd_finetune, "run": cmd_run, "verify": cmd_verify,
            "inspect": cmd_inspect, "zoo": cmd_zoo, "firmware": cmd_firmware, "sweep": cmd_sweep}


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


def _interrupted(command: str, signum: int, err) -> int:
    kept = ("the cells finished so far are stored; rerun the same command to resume" if command == "sweep"
            else "no output was written or replaced")
    print(f"wess {command}: interrupted by {signal.Signals(signum).name}; {kept}", file=err)
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.debug:  # the libraries' Python warnings (TensorFlow, Keras, LiteRT) would land on the user's stderr
        warnings.simplefilter("ignore")
    if args.debug:
        os.environ["WESS_VERBOSE"] = "1"
    with _isolated_streams(args.debug) as (out, err):
        logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=err, force=True,
                            format="%(levelname)s %(name)s: %(message)s")
        try:
            with signals_handled():
                result = COMMANDS[args.command](args)
        except WessError as exc:
            if received_signal():
                return _interrupted(args.command, received_signal(), err)
            if getattr(args, "json", False) and getattr(exc, "result", None) is not None:
                from pipeline.jsonfmt import dumps

                print(dumps(exc.result), file=out)
            print(f"wess {args.command}: error: {exc}", file=err)
            if args.debug:
                raise
            return EXIT_USAGE
        except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM as errors.Terminated: temp files are gone by now
            return _interrupted(args.command, signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT, err)
        except Exception as exc:  # an internal error: one line unless --debug
            if received_signal():
                return _interrupted(args.command, received_signal(), err)
            if args.debug:
                raise
            print(f"wess {args.command}: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                  "traceback)", file=err)
            return EXIT_INTERNAL
        from pipeline.jsonfmt import dumps

        from .format import human

        print(dumps(result) if args.json else human(args.command, result), file=out)
        return 0

