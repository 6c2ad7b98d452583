"""Models users bring, each through deploy -> verify -> firmware (cortex-m55, cortex-m3): a table of what goes through.

    python tools/coverage.py [--only NAME[,NAME]] [--target T[,T]]... [--json]

Each row: the model, its TFLite operators, how far it got (or the one-line refusal of the stage that stopped it,
naming the target for the firmware), the bytes in which the C reference and TFLite Micro differ (`wess verify`) and
the instructions per inference in QEMU on each target. A refusal (WessError) is a row; anything else is a bug and
propagates. The full corpus runs under `make test-all` (tests/test_coverage.py, pytest -m slow).
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
TARGETS = ("cortex-m55", "cortex-m3")  # the default: Helium, and the smallest core without DSP or FPU


@dataclass(frozen=True)
class CoverageRow:
    """One model of the corpus."""

    model: str
    ops: list[str]  # the deployed model's TFLite operators, in order of first use
    result: str  # "firmware ok" (on every target), or "<stage> refused: <message>" ("firmware (<target>) ...")
    mismatched_bytes: int | None  # `wess verify`: C reference vs TFLite Micro, None when verify did not run
    instructions: dict[str, int | None]  # target -> per inference in QEMU, None where the firmware did not run


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


def _unet():
    """Two levels down (MaxPooling2D), up by Conv2DTranspose and by UpSampling2D bilinear, a bottleneck branch up by
    UpSampling2D nearest, Concatenate skip connections, a sigmoid mask."""
    import keras

    layers = keras.layers
    inp = keras.Input((16, 16, 1), name="image")
    e1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="enc1")(inp)  # 16x16
    e2 = layers.Conv2D(16, 3, padding="same", activation="relu", name="enc2")(layers.MaxPooling2D()(e1))  # 8x8
    b = layers.Conv2D(16, 3, padding="same", activation="relu", name="bottleneck")(layers.MaxPooling2D()(e2))  # 4x4
    up2 = layers.Conv2DTranspose(16, 2, strides=2, name="up_transpose")(b)  # 8x8
    d2 = layers.Conv2D(16, 3, padding="same", activation="relu", name="dec2")(layers.Concatenate()([up2, e2]))
    up1 = layers.UpSampling2D(interpolation="bilinear", name="up_bilinear")(d2)  # 16x16
    d1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="dec1")(layers.Concatenate()([up1, e1]))
    side = layers.UpSampling2D(4, interpolation="nearest", name="up_nearest")(layers.Conv2D(4, 1)(b))  # 16x16
    return keras.Model(inp, layers.Conv2D(1, 1, activation="sigmoid", name="mask")(
        layers.Concatenate()([d1, side])), name="unet")


def _mobilenet_v3_small():
    import keras

    return keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=10,
                                               include_preprocessing=False)


def _mobilenet_v2():
    import keras

    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)


def _mobilenet_v3_large():
    import keras

    return keras.applications.MobileNetV3Large(input_shape=(32, 32, 3), alpha=0.75, weights=None, classes=10,
                                               include_preprocessing=False)


def _efficientnet_b0():
    import keras

    return keras.applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=10)


def _zoo(name: str) -> Callable:
    """A trained zoo model (pipeline/keras/zoo_models: 32x32x1 digits)."""
    def build():
        from pipeline.keras import modelio

        return modelio.load_keras(f"zoo:{name}").model
    return build


def _mlperf_anomaly_detection():
    from pipeline.keras import zoo

    model = zoo.fc_autoencoder()
    _randomize_batch_norms(model)
    return model


def _randomize_batch_norms(model) -> None:
    """Give every BatchNormalization statistics of a trained model (an untrained one is the identity)."""
    import keras

    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype(np.float32))
            layer.beta.assign(rng.uniform(-0.2, 0.2, channels).astype(np.float32))
            layer.moving_mean.assign(rng.uniform(-0.2, 0.2, channels).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype(np.float32))


def _separable_and_pooling():
    """SeparableConv2D (depth multipliers 1 and 2, strides 1 and 2) and pooling of several sizes, strides and
    paddings."""
    import keras

    layers = keras.layers
    inp = keras.Input((24, 24, 3), name="image")
    x = layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep1")(inp)  # 24x24
    x = layers.MaxPooling2D(3, strides=1, padding="same", name="max3_s1_same")(x)  # 24x24
    x = layers.AveragePooling2D(3, strides=2, name="avg3_s2_valid")(x)  # 11x11
    x = layers.SeparableConv2D(16, 3, strides=2, padding="same", depth_multiplier=2, activation="relu",
                               name="sep2")(x)  # 6x6
    x = layers.AveragePooling2D(2, strides=1, padding="same", name="avg2_s1_same")(x)  # 6x6
    x = layers.MaxPooling2D((3, 2), strides=(2, 3), padding="same", name="max3x2_s2x3_same")(x)  # 3x2
    x = layers.AveragePooling2D((3, 2), name="avg3x2_valid")(x)  # 1x1
    return keras.Model(inp, layers.Dense(5, name="logits")(layers.Flatten()(x)), name="separable_pooling")


def _bn_placements():
    """BatchNormalization where it cannot fold into a conv: on the input before the first conv, after a ReLU, after
    a depthwise conv's ReLU6 and before a Dense (trained-like statistics)."""
    import keras

    layers = keras.layers
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.BatchNormalization(name="bn_input")(inp)
    x = layers.Conv2D(8, 3, activation="relu", name="conv1")(x)
    x = layers.BatchNormalization(name="bn_after_relu")(x)
    x = layers.Conv2D(16, 3, strides=2, name="conv2")(x)
    x = layers.BatchNormalization(name="bn_folded")(x)  # directly after a conv: folds
    x = layers.ReLU(6.0)(layers.DepthwiseConv2D(3, name="dw")(layers.ReLU()(x)))
    x = layers.BatchNormalization(name="bn_after_relu6")(x)
    x = layers.BatchNormalization(name="bn_before_dense")(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, layers.Dense(4, name="logits")(x), name="bn_placements")
    _randomize_batch_norms(model)
    return model


def _multi_input():
    """An image and a vector of side features, each through its own layers, concatenated into one head."""
    import keras

    layers = keras.layers
    image, side = keras.Input((16, 16, 3), name="image"), keras.Input((6,), name="side_features")
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(8, 3, strides=2, activation="relu")(image))
    s = layers.Dense(8, activation="relu")(side)
    joined = layers.Concatenate()([x, s])
    return keras.Model([image, side], layers.Dense(4, activation="softmax", name="classes")(joined),
                       name="multi_input")


def _multi_output():
    """Three outputs of different ranks and kinds: a feature map, a sigmoid score and a regression vector."""
    import keras

    layers = keras.layers
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    heatmap = layers.Conv2D(2, 1, name="heatmap")(x)  # 8x8x2
    pooled = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, [heatmap, layers.Dense(1, activation="sigmoid", name="score")(pooled),
                             layers.Dense(3, name="offset")(pooled)], name="multi_output")


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
    "autoencoder": _autoencoder, "unet": _unet, "mobilenet_v2": _mobilenet_v2,
    "mobilenet_v3_small": _mobilenet_v3_small, "mobilenet_v3_large": _mobilenet_v3_large,
    "efficientnet_b0": _efficientnet_b0, "mlperf_kws_ds_cnn": _zoo("ds_cnn"),
    "mlperf_vww_mobilenet_v1": _zoo("mobilenet_v1"), "mlperf_ic_resnet8": _zoo("resnet8"),
    "mlperf_ad_autoencoder": _mlperf_anomaly_detection, "separable_pooling": _separable_and_pooling,
    "bn_placements": _bn_placements, "multi_input": _multi_input, "multi_output": _multi_output,
    "subclassed": _subclassed, "onet_like": _onet_like, "detector_heads": _detector_heads,
    "global_max_pool": _global_max_pool, "upsampling_nearest": _upsampling_nearest, "gru_kws": _gru_kws,
    "lstm_kws": _lstm_kws,
    "mtcnn_pnet": _mtcnn("pnet", 24), "mtcnn_rnet": _mtcnn("rnet", 24), "mtcnn_onet": _mtcnn("onet", 48),
}


def calibration_inputs(model, count: int = CALIBRATION_SAMPLES) -> np.ndarray:
    """Seeded uniform [-1, 1) floats for every input of the model, joined per sample as deploy takes them."""
    from pipeline.keras import modelio
    from pipeline.tflite import runtime

    rng = np.random.default_rng(0)
    return runtime.join_outputs([rng.uniform(-1, 1, (count, *shape)).astype(np.float32)
                                 for shape in modelio.input_shapes(model)])


def run_model(name: str, build: Callable, targets: tuple[str, ...] = TARGETS) -> CoverageRow:
    """deploy (default options, 32 seeded calibration inputs) -> verify (4 + 4 random) -> firmware in QEMU on each
    target (2 inputs, each compared with the host C reference)."""
    import keras

    from pipeline import deploy
    from pipeline.cref import verify
    from pipeline.errors import WessError
    from pipeline.firmware import build as firmware
    from pipeline.tflite import flatbuf

    keras.utils.set_random_seed(0)
    model = build()
    ops: list[str] = []
    stage, mismatched = "deploy", None
    instructions: dict[str, int | None] = dict.fromkeys(targets)
    try:
        state = deploy.run_passes(model, calibration_inputs(model),
                                  deploy.DeployOptions(verify_inputs=CALIBRATION_SAMPLES), source=name)
        graph = flatbuf.read_model(state.model)
        ops = list(dict.fromkeys(flatbuf.opcode_name(graph, op) for op in graph.subgraphs[0].operators))
        stage = "verify"
        checked = verify.verify(state.model, name, 4, 4)
        mismatched = checked.mismatched_bytes["ref_vs_tflm"]
    except WessError as exc:
        return CoverageRow(name, ops, f"{stage} refused: {str(exc).splitlines()[0]}", mismatched, instructions)
    failures = []
    for target in targets:
        try:
            cost = firmware.measure(state.model, target, inputs=2, source=name)
        except WessError as exc:
            failures.append(f"firmware ({target}) refused: {str(exc).splitlines()[0]}")
            continue
        instructions[target] = cost.instructions_per_inference
        if not cost.matches_host:
            failures.append(f"firmware ({target}) differs from host")
    return CoverageRow(name, ops, "; ".join(failures) or "firmware ok", mismatched, instructions)


def table(rows: list[CoverageRow]) -> str:
    targets = list(dict.fromkeys(target for row in rows for target in row.instructions))
    lines = ["| model | ops | result | bytes differing | " + " | ".join(f"instructions {t}" for t in targets) + " |",
             "|---|---|---|---|" + "---|" * len(targets)]
    for row in rows:
        differing = "n/a" if row.mismatched_bytes is None else str(row.mismatched_bytes)
        counts = [row.instructions.get(t) for t in targets]
        cells = " | ".join("n/a" if count is None else f"{count:,}" for count in counts)
        lines.append(f"| {row.model} | {', '.join(row.ops)} | {row.result} | {differing} | {cells} |")
    return "\n".join(lines)


def _targets(values: list[str] | None) -> tuple[str, ...]:
    from pipeline.firmware import build as firmware

    names = tuple(dict.fromkeys(t for value in values for t in value.split(",") if t)) if values else TARGETS
    for name in names:
        firmware.get_target(name)  # an unknown name: InputError naming the Cortex-M targets
    return names


def main() -> None:
    from pipeline.errors import WessError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated corpus names (default: all)")
    parser.add_argument("--target", action="append", metavar="T[,T]",
                        help=f"Cortex-M target(s) for the firmware, repeatable or a comma list (default: "
                             f"{','.join(TARGETS)})")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(CORPUS)
    unknown = [n for n in names if n not in CORPUS]
    if unknown:
        parser.error(f"unknown corpus models {unknown}; choose from {', '.join(CORPUS)}")
    try:
        targets = _targets(args.target)
    except WessError as exc:
        parser.error(str(exc))
    rows = [run_model(name, CORPUS[name], targets) for name in names]
    print(json.dumps([asdict(r) for r in rows], indent=1) if args.json else table(rows))

if __name__ == "__main__":
    main()
