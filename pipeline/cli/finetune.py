"""`wess finetune`: quantization-aware fine-tuning of a Keras model, written as a plain Keras model for deploy."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipeline.errors import WessError

FINETUNE_OUTPUTS = ("model.keras", "finetune.json")


def add_finetune_parser(sub, model_args) -> None:
    """The `finetune` subcommand's arguments (model_args: the options every model command shares)."""
    from pipeline.quant.finetune import BASES
    from pipeline.quant.schemes import DEFAULT_SCHEME

    p = sub.add_parser("finetune", help="quantization-aware fine-tuning; writes a plain Keras model for deploy")
    model_args(p)
    p.add_argument("--scheme", default=DEFAULT_SCHEME, choices=BASES,
                   help="the weight grid deploy will use, modelled in training (default %(default)s)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory: model.keras and finetune.json")
    p.add_argument("--force", action="store_true", help="replace existing outputs (refused without it)")


def training_data(args, inputs) -> tuple:
    """(x, y) to train on: --data (with labels y), else a zoo model's training split."""
    from pipeline.keras import zoo

    if args.data:
        if inputs.calibration_y is None:
            raise WessError(f"{args.data}: finetune needs integer labels y beside x")
        return inputs.calibration_x, inputs.calibration_y
    splits = zoo.load_digits_splits()
    return splits.x_train, splits.y_train


def save_keras(model, path: Path) -> None:
    """model.save() into a temporary file beside `path`, then one atomic replace."""
    from pipeline.atomic import atomic_write_bytes

    handle, temporary = tempfile.mkstemp(suffix=".keras", dir=path.parent)
    os.close(handle)
    try:
        model.save(temporary)
        atomic_write_bytes(path, Path(temporary).read_bytes())
    finally:
        os.unlink(temporary)


def cmd_finetune(args, load_inputs) -> dict:
    from pipeline.atomic import atomic_write_text, refuse_existing, signals_deferred
    from pipeline.jsonfmt import dumps
    from pipeline.quant import finetune

    if args.epochs < 0:
        raise WessError(f"--epochs {args.epochs}: must be >= 0 (0: only fold and zero dead-input weights)")
    if args.calibrator != "max":
        raise WessError(f"--calibrator {args.calibrator}: finetune models the max calibrator's activation ranges "
                        "(deploy's default); other calibrators are not modelled yet")
    inputs = load_inputs(args, need_test=False)
    out_dir = Path(args.out)
    refuse_existing([out_dir / name for name in FINETUNE_OUTPUTS], args.force)
    train_x, train_y = training_data(args, inputs)
    options = finetune.FinetuneOptions(args.scheme, args.shift_rule, args.epochs, args.learning_rate,
                                       args.batch_size, args.seed)
    result = finetune.finetune(inputs.model, train_x, train_y, inputs.calibration_x, options,
                               progress=not args.json)
    report = {"model": inputs.name, "scheme": args.scheme, "shift_rule": args.shift_rule, "epochs": args.epochs,
              "learning_rate": args.learning_rate, "batch_size": args.batch_size, "seed": args.seed,
              "train_samples": int(len(train_x)), "calibration_samples": int(len(inputs.calibration_x)),
              "epoch_loss": result.epoch_loss,
              "dead_input_channels": result.dead_input_channels, "output": str(out_dir / "model.keras")}
    out_dir.mkdir(parents=True, exist_ok=True)
    with signals_deferred():
        save_keras(result.model, out_dir / "model.keras")
        atomic_write_text(out_dir / "finetune.json", dumps(report) + "\n")
    return report
