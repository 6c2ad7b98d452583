"""The wess argument parser: every command's options, no abbreviated options, one-line usage errors, `--version`."""
from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse without abbreviated options (a misspelt or future option is an error, not another option) and
    with usage errors on one stderr line, like every other refusal."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class VersionAction(argparse.Action):
    """`wess --version`: wess-deploy's version, then every tool version report.json records, one per line."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the versions of wess-deploy and its tools")

    def __call__(self, parser, namespace, values, option_string=None):
        from pipeline.tflite import versions

        found = versions.tool_versions(compiler=True)
        lines = [f"wess-deploy {found.pop('wess-deploy') or 'unknown (not installed)'}"]
        lines += [f"{name} {version or 'not installed'}" for name, version in found.items()]
        sys.stdout.write("\n".join(lines) + "\n")
        parser.exit(0)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 0")
    return value


def _model_args(p) -> None:
    """The arguments of every command that loads a Keras model."""
    from pipeline.firmware.targets import NAMES as TARGETS
    from pipeline.quant.calibrators import CALIBRATOR_NAMES
    from pipeline.quant.wess import SHIFT_RULES

    p.add_argument("model", help="a .keras/.h5/.hdf5 file, a SavedModel directory, or zoo:<name>")
    p.add_argument("--custom-objects", metavar="MODULE[,MODULE]",
                   help="importable modules or .py files whose Keras layer and model classes the model file uses "
                        "(Lambda layers holding Python code stay refused)")
    p.add_argument("--data", help="calibration data: .npz with array x (N, *input_shape); a model with several "
                                  "inputs: one array per input, named after the Keras input (N, *its shape)")
    p.add_argument("--calibrator", default="max", help=f"{', '.join(CALIBRATOR_NAMES)}, percentileP or auto")
    p.add_argument("--shift-rule", default="mse", choices=SHIFT_RULES, help="how WESS picks k_c and s")
    p.add_argument("--stress", action="store_true", help="use the stress variant of a zoo model (dead channels)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--target", default="host", choices=TARGETS, metavar="TARGET",
                   help=f"{' | '.join(TARGETS)}: also report the cost on a Cortex-M core (firmware in QEMU) or "
                        "an Ethos-U NPU (compiled by Vela: needs wess-deploy[ethos-u]) (default host)")


def _add_deploy(sub) -> None:
    from pipeline.quant.schemes import DEFAULT_SCHEME, scheme_names

    p = sub.add_parser("deploy", help="convert a Keras model to an int8 TFLite model and write a report")
    _model_args(p)
    p.add_argument("--scheme", default=DEFAULT_SCHEME, choices=scheme_names(), metavar="SCHEME",
                   help="[cle+]per_tensor|per_channel|wess[+ar][+bc]: cross-layer equalization, weight quantization, "
                        f"learned rounding, bias correction (default {DEFAULT_SCHEME})")
    p.add_argument("--target-drop", type=float, metavar="POINTS",
                   help="leave the most sensitive conv/FC layers in float until top-1 on the (labelled) calibration "
                        "data is within POINTS percentage points of float")
    p.add_argument("--mixed-bits", type=float, metavar="POINTS",
                   help="with a 4-bit scheme: keep the conv/FC layers most sensitive to 4-bit weights at 8 bits until "
                        "top-1 on the (labelled) calibration data is within POINTS percentage points of float")
    p.add_argument("--cost-target", default="cortex-m55",
                   help="with --target-drop: the Cortex-M core on which the float layers' cost is measured in QEMU")
    p.add_argument("--out", help="output directory (default build/deploy/<model>)")
    p.add_argument("--force", action="store_true", help="replace existing outputs (refused without it)")
    p.add_argument("--verify-inputs", type=int, default=100,
                   help="calibration inputs (then seeded random ones) run through the C reference runner and TFLite "
                        "Micro, which must agree byte for byte; LiteRT's reference is compared too (0 skips the check)")
    p.add_argument("--require-firmware", action="store_true",
                   help="refuse a model with operators the C reference runner and firmware cannot run (default: warn)")
    p.add_argument("--progress", action="store_true",
                   help="print `wess deploy: pass I/N NAME` on stderr as each pass starts")


def _add_eval(sub) -> None:
    from pipeline.quant.metrics import AUGMENTED_COPIES
    from pipeline.quant.schemes import DEFAULT_SCHEME, scheme_names

    p = sub.add_parser("eval", help="top-1 and SQNR of every scheme against float on a test split")
    _model_args(p)
    p.add_argument("--test-data", help="test data: .npz with x (several inputs: an array per input, as --data) and "
                                       "integer labels y")
    p.add_argument("--sensitivity", action="store_true",
                   help="also quantize one conv/FC layer at a time (the rest float) and rank the layers")
    p.add_argument("--scheme", default=DEFAULT_SCHEME, choices=scheme_names(), metavar="SCHEME",
                   help="the scheme whose weight quantization the sensitivity sweep uses")
    p.add_argument("--augment", type=_non_negative_int, default=AUGMENTED_COPIES, metavar="COPIES",
                   help="agreement and SQNR also on the test split plus this many seeded augmented copies of it "
                        f"(shift, noise, contrast; 0: the test split alone; default {AUGMENTED_COPIES})")
    p.add_argument("--adaround", action="store_true",
                   help="also measure the learned-rounding schemes (per_tensor+ar, per_channel+ar, wess+ar)")
    p.add_argument("--schemes", metavar="A,B,...",
                   help="measure exactly these schemes instead of the default set, e.g. the 4-bit ones "
                        "per_tensor4,per_channel4,wess4 (with +ar, +bc)")
    p.add_argument("--out", help="also write eval.json, eval.md (and sensitivity.png) into this directory")
    p.add_argument("--force", action="store_true", help="replace existing outputs in --out")


def _add_model_file_commands(sub) -> None:
    """run, verify, inspect: commands on an int8 .tflite file."""
    from pipeline.cref.backends import BACKENDS

    p = sub.add_parser("run", help="run an int8 .tflite model on inputs")
    p.add_argument("model")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--input", action="append", metavar="[NAME=]X.npy",
                       help=".npy of int8 (quantized) or float inputs, (N, *input_shape); a model with several "
                            "inputs takes one NAME=X.npy per input, NAME the Keras input's name (repeat --input)")
    group.add_argument("--random-input", action="store_true", help="uniform random int8 inputs")
    p.add_argument("--count", type=int, default=1, help="how many random inputs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="litert", choices=BACKENDS)
    p.add_argument("--output", help="write the int8 outputs to this .npy")
    p.add_argument("--dump-intermediates", metavar="DIR", help="backend ref: write every tensor to DIR as .npy")
    p.add_argument("--force", action="store_true", help="replace existing outputs (refused without it)")
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


def _add_firmware_and_zoo(sub) -> None:
    p = sub.add_parser("firmware", help="build the C runner and a model into Cortex-M firmware; run it in QEMU")
    p.add_argument("model", help="an int8 .tflite model")
    p.add_argument("--target", default="cortex-m3", help="cortex-m3, cortex-m4, cortex-m7, cortex-m33 or cortex-m55")
    p.add_argument("--out", help="output directory (default build/firmware/<model>/<target> in a source checkout, "
                                 "else ~/.cache/wess-deploy/firmware/<model>/<target>, honouring XDG_CACHE_HOME)")
    p.add_argument("--run", action="store_true", help="run in QEMU and compare with the host C reference")
    p.add_argument("--inputs", type=int, default=10, help="test inputs embedded in the image")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds QEMU may run")
    p.add_argument("--flash-bytes", type=int, help="flash of the part, if smaller than the machine's memory map")
    p.add_argument("--ram-bytes", type=int, help="RAM of the part, if smaller than the machine's memory map")
    p.add_argument("--force", action="store_true", help="replace existing outputs (refused without it)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("zoo", help="the bundled model zoo")
    p.add_argument("action", choices=["list"])
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    from pipeline.cli.finetune import add_finetune_parser
    from pipeline.cli.sweep import add_sweep_parser

    parser = Parser(prog="wess", description="Keras -> int8 TFLite with WESS for integer NPUs.")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks, debug logs and the native libraries' own log lines")
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_deploy(sub)
    _add_eval(sub)
    add_finetune_parser(sub, _model_args)
    _add_model_file_commands(sub)
    _add_firmware_and_zoo(sub)
    add_sweep_parser(sub)
    return parser
