"""Train the zoo models deterministically on the bundled digits and save them under pipeline/keras/zoo_models/.

Usage: python tools/train_zoo.py [NAME ...]   (default: every zoo model)
Writes NAME.keras and updates accuracy.json with the float test accuracy and the training time.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from pipeline.atomic import atomic_write_bytes  # noqa: E402
from pipeline.keras import zoo  # noqa: E402

SEED = 1234
BATCH = 32
SHIFT_PIXELS = 3  # augmentation: random translations of up to 3 pixels, 2 extra copies of the training split
AUGMENT_COPIES = 2
log = logging.getLogger("train_zoo")


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The training split plus AUGMENT_COPIES randomly translated copies (zero fill)."""
    pad = SHIFT_PIXELS
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    size = x.shape[1]
    copies = [x]
    for _ in range(AUGMENT_COPIES):
        dy, dx = rng.integers(0, 2 * pad + 1, size=(2, len(x)))
        copies.append(np.stack([padded[i, a:a + size, b:b + size] for i, (a, b) in enumerate(zip(dy, dx))]))
    return np.concatenate(copies), np.tile(y, AUGMENT_COPIES + 1)


def train(entry: zoo.ZooEntry, splits: zoo.Splits) -> dict:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    model = entry.build()
    x_train, y_train = augment(splits.x_train, splits.y_train, np.random.default_rng(SEED))
    steps = entry.epochs * int(np.ceil(len(x_train) / BATCH))
    schedule = keras.optimizers.schedules.CosineDecay(3e-3, steps)
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=BATCH, epochs=entry.epochs, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(splits.x_test, splits.y_test, verbose=0)
    tmp = entry.path.with_suffix(".tmp.keras")
    model.save(tmp)
    os.replace(tmp, entry.path)
    log.info("%s: test top-1 %.4f, %.0f s", entry.name, accuracy, seconds)
    return {"float_top1": round(float(accuracy), 4), "train_seconds": round(seconds, 1), "epochs": entry.epochs,
            "params": int(model.count_params())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(zoo.ZOO))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    splits = zoo.load_digits_splits()
    zoo.ZOO_DIR.mkdir(parents=True, exist_ok=True)
    summary_path = zoo.ZOO_DIR / "accuracy.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for name in args.names:
        summary[name] = train(zoo.ZOO[name], splits)
        atomic_write_bytes(summary_path, (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())


if __name__ == "__main__":
    main()
