"""Every common keras.layers layer in a tiny model through deploy's gate: deploys, deploys with a warning, or refused.

    python tools/keras_layers.py [--only NAME[,NAME]] [--json]

Each row puts one layer (or activation) between a model input and a Dense(4) head (Flatten first when the layer's
output has more than one axis), deploys it with the default scheme on 32 seeded normal samples and a 16-input gate
(C reference vs TFLite Micro), and prints what happened: `ok`, `ok, no C kernel: ...` (TFLite Micro runs it, the C
runner and firmware do not) or the one-line refusal. A refusal (WessError) is a row; anything else is a bug and
propagates. The table in docs/operators.md ("Keras layers") is this command's output.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

SAMPLES, GATE_INPUTS = 32, 16
SEQUENCE, IMAGE, VECTOR = (12, 4), (8, 8, 4), (16,)
ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "hard_sigmoid", "hard_silu", "silu", "gelu", "softplus",
               "softsign", "elu", "selu", "exponential", "linear", "mish", "log_softmax", "leaky_relu", "softmax")
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")


def _cases() -> dict[str, tuple[tuple[int, ...], Callable]]:
    """Layer name -> (input shape, a function from the input tensor to the layer's output)."""
    import keras

    layers = keras.layers

    def one(factory):
        return lambda x: factory()(x)

    def merged(name):  # a 1x1 conv / Dense branch merged with the input itself
        def build(x):
            branch = layers.Conv2D(x.shape[-1], 1)(x) if len(x.shape) == 4 else layers.Dense(x.shape[-1])(x)
            return getattr(layers, name)()([branch, x])
        return build

    cases = {
        "Dense": (VECTOR, one(lambda: layers.Dense(8))),
        "Conv1D": (SEQUENCE, one(lambda: layers.Conv1D(4, 3))),
        "Conv2D": (IMAGE, one(lambda: layers.Conv2D(4, 3))),
        "Conv2D dilation 2": (IMAGE, one(lambda: layers.Conv2D(4, 3, dilation_rate=2))),
        "Conv2D groups 2": (IMAGE, one(lambda: layers.Conv2D(4, 3, groups=2))),
        "Conv3D": ((4, 6, 6, 2), one(lambda: layers.Conv3D(3, 2))),
        "DepthwiseConv1D": (SEQUENCE, one(lambda: layers.DepthwiseConv1D(3))),
        "DepthwiseConv2D": (IMAGE, one(lambda: layers.DepthwiseConv2D(3, depth_multiplier=2))),
        "SeparableConv1D": (SEQUENCE, one(lambda: layers.SeparableConv1D(4, 3))),
        "SeparableConv2D": (IMAGE, one(lambda: layers.SeparableConv2D(4, 3))),
        "Conv1DTranspose": (SEQUENCE, one(lambda: layers.Conv1DTranspose(3, 3, strides=2))),
        "Conv2DTranspose": (IMAGE, one(lambda: layers.Conv2DTranspose(3, 3, strides=2, padding="same"))),
        "MaxPooling1D": (SEQUENCE, one(lambda: layers.MaxPooling1D(2))),
        "MaxPooling2D": (IMAGE, one(lambda: layers.MaxPooling2D(2))),
        "AveragePooling1D": (SEQUENCE, one(lambda: layers.AveragePooling1D(2))),
        "AveragePooling2D": (IMAGE, one(lambda: layers.AveragePooling2D(2))),
        "GlobalMaxPooling1D": (SEQUENCE, one(layers.GlobalMaxPooling1D)),
        "GlobalAveragePooling1D": (SEQUENCE, one(layers.GlobalAveragePooling1D)),
        "GlobalMaxPooling2D": (IMAGE, one(layers.GlobalMaxPooling2D)),
        "GlobalAveragePooling2D": (IMAGE, one(layers.GlobalAveragePooling2D)),
        "BatchNormalization": (IMAGE, one(layers.BatchNormalization)),
        "LayerNormalization": (SEQUENCE, one(layers.LayerNormalization)),
        "UnitNormalization": (VECTOR, one(layers.UnitNormalization)),
        "GroupNormalization": (IMAGE, one(lambda: layers.GroupNormalization(groups=2))),
        "ReLU": (VECTOR, one(layers.ReLU)),
        "ReLU(6)": (VECTOR, one(lambda: layers.ReLU(6.0))),
        "LeakyReLU": (VECTOR, one(lambda: layers.LeakyReLU(0.2))),
        "PReLU": (IMAGE, one(lambda: layers.PReLU(shared_axes=[1, 2]))),
        "ELU": (VECTOR, one(layers.ELU)),
        "Softmax": (VECTOR, one(layers.Softmax)),
        **{f"Activation {name}": (VECTOR, one(lambda name=name: layers.Activation(name))) for name in ACTIVATIONS},
        "Flatten": (IMAGE, one(layers.Flatten)),
        "Reshape": (IMAGE, one(lambda: layers.Reshape((16, 16)))),
        "Permute": (IMAGE, one(lambda: layers.Permute((2, 1, 3)))),
        "RepeatVector": (VECTOR, one(lambda: layers.RepeatVector(3))),
        "UpSampling1D": (SEQUENCE, one(lambda: layers.UpSampling1D(2))),
        "UpSampling2D nearest": (IMAGE, one(lambda: layers.UpSampling2D(2))),
        "UpSampling2D bilinear": (IMAGE, one(lambda: layers.UpSampling2D(2, interpolation="bilinear"))),
        "ZeroPadding1D": (SEQUENCE, one(lambda: layers.ZeroPadding1D(1))),
        "ZeroPadding2D": (IMAGE, one(lambda: layers.ZeroPadding2D(1))),
        "Cropping1D": (SEQUENCE, one(lambda: layers.Cropping1D(1))),
        "Cropping2D": (IMAGE, one(lambda: layers.Cropping2D(1))),
        "Dropout": (VECTOR, one(lambda: layers.Dropout(0.5))),
        "SpatialDropout2D": (IMAGE, one(lambda: layers.SpatialDropout2D(0.5))),
        "GaussianNoise": (VECTOR, one(lambda: layers.GaussianNoise(0.1))),
        "Rescaling": (VECTOR, one(lambda: layers.Rescaling(0.5, 0.1))),
        "Resizing": (IMAGE, one(lambda: layers.Resizing(4, 4))),
        "CenterCrop": (IMAGE, one(lambda: layers.CenterCrop(4, 4))),
        "Identity": (VECTOR, one(layers.Identity)),
        "SimpleRNN": (SEQUENCE, one(lambda: layers.SimpleRNN(8, unroll=True))),
        "GRU": (SEQUENCE, one(lambda: layers.GRU(8, unroll=True))),
        "LSTM": (SEQUENCE, one(lambda: layers.LSTM(8, unroll=True))),
        "GRU return_sequences": (SEQUENCE, one(lambda: layers.GRU(8, unroll=True, return_sequences=True))),
        "LSTM return_sequences": (SEQUENCE, one(lambda: layers.LSTM(8, unroll=True, return_sequences=True))),
        "LSTM unroll=False": (SEQUENCE, one(lambda: layers.LSTM(8))),
        "Attention": (SEQUENCE, lambda x: layers.Attention()([layers.Dense(x.shape[-1])(x), x])),
        "MultiHeadAttention": (SEQUENCE, lambda x: layers.MultiHeadAttention(2, 4)(x, x)),
        **{name: (IMAGE, merged(name)) for name in MERGES},
    }
    return cases


def run_layer(name: str, shape: tuple[int, ...], body: Callable) -> str:
    """Deploy Input -> body -> [Flatten] -> Dense(4): "ok", "ok, no C kernel: ..." or "refused: <message>"."""
    import keras

    from pipeline import deploy
    from pipeline.errors import WessError

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape)
    x = body(inputs)
    if len(x.shape) > 2:
        x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    samples = np.random.default_rng(0).normal(size=(SAMPLES, *shape)).astype(np.float32)
    try:
        state = deploy.run_passes(model, samples, deploy.DeployOptions(verify_inputs=GATE_INPUTS),
                                  passes=[*deploy.CONVERSION_PASSES, deploy.fully_int8_pass,
                                          deploy.firmware_support_pass, deploy.verify_pass], source="model.keras")
    except WessError as exc:
        return f"refused: {str(exc).splitlines()[0]}"
    missing = state.verification.get("firmware_unsupported")
    return "ok, no C kernel: " + "; ".join(missing) if missing else "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated layer names (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    cases = _cases()
    names = args.only.split(",") if args.only else list(cases)
    unknown = [name for name in names if name not in cases]
    if unknown:
        parser.error(f"unknown layer(s) {', '.join(unknown)}; choose from {', '.join(cases)}")
    rows = {}
    for name in names:
        rows[name] = run_layer(name, *cases[name])
        if not args.json:
            print(f"| {name} | {rows[name]} |", flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
