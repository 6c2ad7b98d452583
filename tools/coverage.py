"""Models users bring, each through deploy -> verify -> firmware (cortex-m55): a table of what goes through.

    python tools/coverage.py [--only NAME[,NAME]] [--json]

Each row: the model, its TFLite operators, how far it got (or the one-line refusal of the stage that stopped it),
the bytes in which the C reference and TFLite Micro differ (`wess verify`) and the instructions per inference in
QEMU. A refusal (WessError) is a row; anything else is a bug and propagates. The full corpus runs under
`make test-all` (tests/test_coverage.py, pytest -m slow).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

CALIBRATION_SAMPLES = 32
TARGET = "cortex-m55"


@dataclass(frozen=True)
class CoverageRow:
    """One model of the corpus."""

    model: str
    ops: list[str]  # the deployed model's TFLite operators, in order of first use
    result: str  # "firmware ok", or "<stage> refused: <message>"
    mismatched_bytes: int | None  # `wess verify`: C reference vs TFLite Micro, None when verify did not run
    instructions: int | None  # per inference on TARGET in QEMU


def _mlp():
    import keras

    inp = keras.Input((64,), name="features")
    return keras.Model(inp, keras.layers.Dense(10, name="logits")(keras.layers.Dense(32, activation="relu")(inp)))


def _sigmoid_classifier():
    import keras

    inp = keras.Input((16, 16, 1), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="prob")(x))


def _conv1d_keyword_spotter():
    import keras

    inp = keras.Input((49, 10), name="mfcc")
    x = keras.layers.Conv1D(16, 3, activation="relu")(inp)
    x = keras.layers.Conv1D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inp, keras.layers.Dense(12, activation="softmax", name="keyword")(x))


def _autoencoder():
    import keras

    inp = keras.Input((64,), name="spectrum")
    x = keras.layers.Dense(32, activation="relu")(inp)
    x = keras.layers.Dense(8, activation="relu", name="code")(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    return keras.Model(inp, keras.layers.Dense(64, name="reconstruction")(x))


def _unet_ish():
    import keras

    inp = keras.Input((16, 16, 1), name="image")
    skip = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.MaxPooling2D()(skip)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(8, 2, strides=2)(x)
    x = keras.layers.Concatenate()([x, skip])
    return keras.Model(inp, keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x))


def _mobilenet_v3_small():
    import keras

    return keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=10,
                                               include_preprocessing=False)


def _subclassed():
    import keras

    class TinyNet(keras.Model):
        def __init__(self):
            super().__init__(name="tiny_net")
            self.conv = keras.layers.Conv2D(8, 3, activation="relu")
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.head = keras.layers.Dense(4)

        def call(self, x):
            return self.head(self.pool(self.conv(x)))

    net = TinyNet()
    inp = keras.Input((12, 12, 1), name="image")
    return keras.Model(inp, net(inp), name="subclassed")


def _onet_like():
    """MTCNN O-Net's shape: conv + PReLU trunk, three heads (face probability, box, landmarks)."""
    import keras

    inp = keras.Input((24, 24, 3), name="face")
    x = keras.layers.PReLU(shared_axes=[1, 2])(keras.layers.Conv2D(8, 3)(inp))
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.PReLU(shared_axes=[1, 2])(keras.layers.Conv2D(16, 3)(x))
    x = keras.layers.Flatten()(x)
    x = keras.layers.PReLU()(keras.layers.Dense(32)(x))
    return keras.Model(inp, [keras.layers.Dense(2, activation="softmax", name="probability")(x),
                             keras.layers.Dense(4, name="box")(x), keras.layers.Dense(10, name="landmarks")(x)])


def _detector_heads():
    """A single-input detector: shared ReLU trunk, a class head and a box-regression head."""
    import keras

    inp = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, [keras.layers.Dense(3, activation="softmax", name="classes")(x),
                             keras.layers.Dense(4, name="box")(x)])


def _global_max_pool():
    import keras

    inp = keras.Input((16, 16, 1), name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu")(inp)
    return keras.Model(inp, keras.layers.Dense(5, name="logits")(keras.layers.GlobalMaxPooling2D()(x)))


def _upsampling_nearest():
    import keras

    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.UpSampling2D()(keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp))
    return keras.Model(inp, keras.layers.Conv2D(1, 1, name="mask")(x))


def _gru_kws():
    import keras

    inp = keras.Input((10, 8), name="mfcc")
    x = keras.layers.GRU(8, unroll=True)(inp)
    return keras.Model(inp, keras.layers.Dense(4, activation="softmax", name="keyword")(x))


def _lstm_kws():
    import keras

    inp = keras.Input((10, 8), name="mfcc")
    x = keras.layers.LSTM(8, unroll=True, return_sequences=True)(inp)  # every step's state: PACK
    return keras.Model(inp, keras.layers.Dense(4, activation="softmax", name="keyword")(keras.layers.Flatten()(x)))


def _mtcnn(network: str, size: int) -> Callable:
    """One of MTCNN's networks from the `mtcnn` package (subclassed Keras models with PReLU and two or three
    outputs, the package's own pretrained weights), wrapped as a one-input functional model."""
    def build():
        import importlib

        import keras
        from mtcnn.utils.tensorflow import load_weights

        net = getattr(importlib.import_module(f"mtcnn.network.{network}"), network[0].upper() + "Net")()
        net.build((None, size, size, 3))
        net.set_weights(load_weights(f"{network}.lz4"))
        inp = keras.Input((size, size, 3), name="face")
        return keras.Model(inp, list(net(inp)), name=f"mtcnn_{network}")
    return build


CORPUS: dict[str, Callable] = {
    "mlp": _mlp, "sigmoid_classifier": _sigmoid_classifier, "conv1d_kws": _conv1d_keyword_spotter,
    "autoencoder": _autoencoder, "unet_ish": _unet_ish, "mobilenet_v3_small": _mobilenet_v3_small,
    "subclassed": _subclassed, "onet_like": _onet_like, "detector_heads": _detector_heads,
    "global_max_pool": _global_max_pool, "upsampling_nearest": _upsampling_nearest, "gru_kws": _gru_kws,
    "lstm_kws": _lstm_kws,
    "mtcnn_pnet": _mtcnn("pnet", 24), "mtcnn_rnet": _mtcnn("rnet", 24), "mtcnn_onet": _mtcnn("onet", 48),
}


def run_model(name: str, build: Callable, target: str = TARGET) -> CoverageRow:
    """deploy (default options, 32 seeded calibration inputs) -> verify (4 + 4 random) -> firmware in QEMU."""
    import keras

    from pipeline import deploy
    from pipeline.cref import verify
    from pipeline.errors import WessError
    from pipeline.firmware import build as firmware
    from pipeline.tflite import flatbuf

    keras.utils.set_random_seed(0)
    model = build()
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x = np.random.default_rng(0).uniform(-1, 1, (CALIBRATION_SAMPLES, *shape)).astype(np.float32)
    ops: list[str] = []
    stage, mismatched = "deploy", None
    try:
        state = deploy.run_passes(model, x, deploy.DeployOptions(verify_inputs=CALIBRATION_SAMPLES), source=name)
        graph = flatbuf.read_model(state.model)
        ops = list(dict.fromkeys(flatbuf.opcode_name(graph, op) for op in graph.subgraphs[0].operators))
        stage = "verify"
        checked = verify.verify(state.model, name, 4, 4)
        mismatched = checked.mismatched_bytes["ref_vs_tflm"]
        stage = "firmware"
        cost = firmware.measure(state.model, target, inputs=2, source=name)
    except WessError as exc:
        return CoverageRow(name, ops, f"{stage} refused: {str(exc).splitlines()[0]}", mismatched, None)
    return CoverageRow(name, ops, "firmware ok" if cost.matches_host else "firmware differs from host",
                       mismatched, cost.instructions_per_inference)


def table(rows: list[CoverageRow]) -> str:
    lines = ["| model | ops | result | bytes differing | instructions |", "|---|---|---|---|---|"]
    for row in rows:
        differing = "n/a" if row.mismatched_bytes is None else str(row.mismatched_bytes)
        instructions = "n/a" if row.instructions is None else f"{row.instructions:,}"
        lines.append(f"| {row.model} | {', '.join(row.ops)} | {row.result} | {differing} | {instructions} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated corpus names (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(CORPUS)
    unknown = [n for n in names if n not in CORPUS]
    if unknown:
        parser.error(f"unknown corpus models {unknown}; choose from {', '.join(CORPUS)}")
    rows = [run_model(name, CORPUS[name]) for name in names]
    print(json.dumps([asdict(r) for r in rows], indent=1) if args.json else table(rows))


if __name__ == "__main__":
    main()
