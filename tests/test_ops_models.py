"""The operators of issue 12 in tiny Keras models through the real converter: the C reference runs each model
byte-exact with TFLite Micro, and with LiteRT's reference kernels except where an op's difference is documented
(docs/operators.md)."""
from __future__ import annotations

import functools
import re
import shutil

import numpy as np
import pytest

from pipeline.cref import compact, op_registry, verify
from pipeline.cref import kernel_params as kp

pytestmark = pytest.mark.usefixtures("reference_library")

INPUT_SHAPE = (6, 6, 3)
CALIBRATION_SAMPLES = 16
CHANNEL_SCALES = np.array([0.5, -1.0, 2.0, 0.25], np.float32)  # a [C] constant against NHWC, after a ReLU
VERIFY_INPUTS = 8  # plus verify.RANDOM_INPUTS seeded uniform int8 inputs


def _conv(layers, x, channels: int = 4):
    return layers.Conv2D(channels, 3, padding="same")(x)


def _every_activation(layers, x):
    """Conv1D (a RESHAPE to 4-D at batch 1) branches through LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, then RELU, swish (MUL) and RELU6 after
    concatenations (whose inputs the converter requantizes with int8 QUANTIZE ops); a PReLU branch through MAXIMUM,
    MINIMUM, GlobalMaxPooling1D (REDUCE_MAX of a 3-D tensor) and, reshaped to 2-D, a bilinear UpSampling2D
    (RESIZE_BILINEAR), a nearest Resizing (RESIZE_NEAREST_NEIGHBOR), Cropping2D and slices (STRIDED_SLICE, SLICE),
    Conv1DTranspose (TRANSPOSE_CONV) and GlobalMaxPooling2D."""
    import keras

    conv = lambda activation=None: layers.Conv1D(4, 3, padding="same", activation=activation)(x)
    mixed = layers.ReLU()(layers.Concatenate()([conv("sigmoid"), conv("tanh"), conv("hard_swish")]))
    swish = layers.Activation("swish")(mixed)
    mixed = layers.ReLU(6.0)(layers.Concatenate()([layers.LeakyReLU(0.2)(conv()), swish]))
    prelu = layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.6, 0.6), shared_axes=[1])(conv())
    selected = layers.Minimum()([layers.Maximum()([prelu, conv()]), conv()])
    grid = layers.UpSampling2D(2, interpolation="bilinear")(layers.Reshape((6, 2, 4))(selected))
    grid = layers.Cropping2D(((1, 1), (0, 1)))(layers.Resizing(9, 5, interpolation="nearest")(grid))  # 7x4x4
    upsampled = layers.Conv1DTranspose(4, 3, strides=2, padding="same")(selected)  # TRANSPOSE_CONV, 24x4
    pooled = [layers.GlobalMaxPooling1D()(upsampled[:, ::-2]), layers.GlobalMaxPooling2D()(_slice(grid))]
    return layers.Dense(3)(layers.Concatenate()([layers.Flatten()(mixed), *pooled]))


def _squeeze_excite(layers, x):
    """A MobileNetV3-style squeeze-excite block: [1, 1, 1, C] gates broadcast over [1, H, W, C]."""
    x = _conv(layers, x, 8)
    gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = layers.Conv2D(8, 1, activation="sigmoid")(layers.Conv2D(2, 1, activation="relu")(gate))
    return layers.Multiply()([x, gate])


def _abs(layers, x):
    import keras

    return keras.ops.abs(_conv(layers, x))


def _attention(layers, x):
    """Dot-product attention over the 36 pixels: BATCH_MATMUL of [1, 36, 4] by its key transposed (adj_y), a
    SOFTMAX, BATCH_MATMUL by the values."""
    sequence = lambda: layers.Reshape((36, 4))(_conv(layers, x))
    return layers.Attention()([sequence(), sequence()])


def _multi_head_attention(layers, x):
    """Two heads of key size 4: BATCH_MATMULs of rank 4 ([1, 2, 36, 4]) around a SOFTMAX."""
    sequence = layers.Reshape((36, 3))(x)
    return layers.MultiHeadAttention(num_heads=2, key_dim=4)(sequence, sequence)


def _centred(layers, x):
    """Each channel minus its spatial mean: SUB of [1, 1, 1, C] broadcast over [1, H, W, C]."""
    x = layers.ReLU()(_conv(layers, x))
    return layers.Subtract()([x, layers.GlobalAveragePooling2D(keepdims=True)(x)])


def _prelu(layers, x, shared_axes=None):
    """PReLU with a random per-channel ([1, 1, C]) or full ([H, W, C]) alpha of both signs (Keras starts it at 0)."""
    import keras

    alpha = keras.initializers.RandomUniform(-0.6, 0.6)
    return layers.PReLU(alpha_initializer=alpha, shared_axes=shared_axes)(_conv(layers, x))


def _selections(layers, x):
    """MTCNN-style PReLU, an element-wise MAXIMUM and MINIMUM of conv branches, then GlobalMaxPooling2D
    (REDUCE_MAX over H and W) and a MAXIMUM with a per-channel constant."""
    x = layers.Minimum()([layers.Maximum()([_prelu(layers, x, [1, 2]), _conv(layers, x)]), _conv(layers, x)])
    return layers.Maximum()([layers.GlobalMaxPooling2D()(x), CHANNEL_SCALES[None]])


def _split_pad_reduce(layers, x):
    """keras.ops.split into equal channel thirds (SPLIT) and into rows 2 | 4 (SPLIT_V); keras.ops.pad of the
    channels (a PAD beyond H and W: PADV2's kernel) and of the top with a constant (PADV2); a channel mean (MEAN over
    C: SUM's kernel) subtracted and squared (SQUARED_DIFFERENCE, broadcast); keras.ops.sum over H and W (SUM)."""
    import keras

    ops = keras.ops
    x = _conv(layers, x, 6)
    first, second, third = ops.split(x, 3, axis=-1)
    top, bottom = ops.split(x, [2], axis=1)  # every output used (an unused one may be left in float)
    channels = ops.pad(first, [[0, 0], [0, 0], [0, 0], [1, 2]])  # 6x6x5
    above = ops.pad(top, [[0, 0], [1, 0], [0, 0], [0, 0]], constant_values=0.5)  # 3x6x6
    spread = ops.square(second - ops.mean(second, axis=-1, keepdims=True))  # 6x6x2
    parts = (channels, above, bottom, spread, ops.sum(third, axis=(1, 2)))
    return layers.Concatenate()([layers.Flatten()(part) for part in parts])


def _slice(x):
    """keras.ops.slice (SLICE) of rows 1..4, columns 2..4 (of 4 or more) and channels 1..2."""
    import keras

    return keras.ops.slice(x, (0, 1, 2, 1), (1, 4, 2, 2))


# name: (graph from the Keras input, input shape, ops the deployed model must hold)
MODELS = {
    "logistic": (lambda layers, x: layers.Activation("sigmoid")(_conv(layers, x)), INPUT_SHAPE, {"LOGISTIC"}),
    "tanh": (lambda layers, x: layers.Activation("tanh")(_conv(layers, x)), INPUT_SHAPE, {"TANH"}),
    "relu": (lambda layers, x: layers.ReLU()(layers.Concatenate()([_conv(layers, x), x])), INPUT_SHAPE, {"RELU"}),
    "relu6": (lambda layers, x: layers.ReLU(6.0)(layers.Concatenate()([_conv(layers, x), x])), INPUT_SHAPE,
              {"RELU6"}),
    "hard_swish": (lambda layers, x: layers.Activation("hard_swish")(_conv(layers, x)), INPUT_SHAPE,
                   {"HARD_SWISH"}),
    "leaky_relu": (lambda layers, x: layers.LeakyReLU(0.2)(_conv(layers, x)), INPUT_SHAPE, {"LEAKY_RELU"}),
    "swish": (lambda layers, x: layers.Activation("swish")(_conv(layers, x)), INPUT_SHAPE, {"LOGISTIC", "MUL"}),
    "abs": (_abs, INPUT_SHAPE, {"ABS"}),
    "grouped_conv": (lambda layers, x: layers.Conv2D(6, 3, groups=3)(_conv(layers, x, 6)),  # VALID: offset folded
                     INPUT_SHAPE, {"CONV_2D_GROUPED"}),
    "attention": (_attention, INPUT_SHAPE, {"BATCH_MATMUL", "SOFTMAX"}),
    "multi_head_attention": (_multi_head_attention, INPUT_SHAPE, {"BATCH_MATMUL", "SOFTMAX"}),
    "squeeze_excite": (_squeeze_excite, INPUT_SHAPE, {"MUL"}),
    "mul_channel_constant": (lambda layers, x: layers.ReLU()(_conv(layers, x)) * CHANNEL_SCALES, INPUT_SHAPE,
                             {"MUL"}),
    "add_channel_constant": (lambda layers, x: layers.ReLU()(_conv(layers, x)) + CHANNEL_SCALES, INPUT_SHAPE,
                             {"ADD"}),
    "sub": (lambda layers, x: layers.Subtract()([_conv(layers, x), _conv(layers, x)]), INPUT_SHAPE, {"SUB"}),
    "sub_broadcast": (_centred, INPUT_SHAPE, {"SUB"}),
    "prelu_per_channel": (lambda layers, x: _prelu(layers, x, [1, 2]), INPUT_SHAPE, {"PRELU"}),
    "prelu_full_alpha": (_prelu, INPUT_SHAPE, {"PRELU"}),
    "global_max_pool": (lambda layers, x: layers.GlobalMaxPooling2D()(_conv(layers, x)), INPUT_SHAPE,
                        {"REDUCE_MAX"}),
    "global_max_pool_keepdims": (lambda layers, x: layers.GlobalMaxPooling2D(keepdims=True)(_conv(layers, x)),
                                 INPUT_SHAPE, {"REDUCE_MAX"}),
    "selections": (_selections, INPUT_SHAPE, {"PRELU", "MAXIMUM", "MINIMUM", "REDUCE_MAX"}),
    "upsample_bilinear": (lambda layers, x: layers.UpSampling2D(2, interpolation="bilinear")(_conv(layers, x)),
                          INPUT_SHAPE, {"RESIZE_BILINEAR"}),
    "resize_bilinear": (lambda layers, x: layers.Resizing(4, 9, interpolation="bilinear")(_conv(layers, x)),
                        INPUT_SHAPE, {"RESIZE_BILINEAR"}),
    "resize_nearest": (lambda layers, x: layers.Resizing(4, 9, interpolation="nearest")(_conv(layers, x)),
                       INPUT_SHAPE, {"RESIZE_NEAREST_NEIGHBOR"}),
    "cropping": (lambda layers, x: layers.Cropping2D(((1, 2), (0, 1)))(_conv(layers, x)), INPUT_SHAPE,
                 {"STRIDED_SLICE"}),
    "strided_slice": (lambda layers, x: _conv(layers, x)[:, 1:5, ::2, 1:3], INPUT_SHAPE, {"STRIDED_SLICE"}),
    "strided_slice_shrink_reverse": (lambda layers, x: _conv(layers, x)[:, 2, ::-2], INPUT_SHAPE,
                                     {"STRIDED_SLICE"}),
    "slice": (lambda layers, x: _slice(_conv(layers, x)), INPUT_SHAPE, {"SLICE"}),
    "transpose_conv": (lambda layers, x: layers.Conv2DTranspose(3, 3, strides=2, padding="same")(_conv(layers, x)),
                       INPUT_SHAPE, {"TRANSPOSE_CONV"}),
    "transpose_conv_valid_relu": (lambda layers, x: layers.Conv2DTranspose(2, (2, 3), strides=(1, 2),
                                                                          activation="relu")(_conv(layers, x)),
                                  INPUT_SHAPE, {"TRANSPOSE_CONV"}),
    "global_average_pool_1d": (lambda layers, x: layers.GlobalAveragePooling1D()(layers.Conv1D(4, 3)(x)), (12, 3),
                               {"MEAN"}),
    "permute_hw": (lambda layers, x: layers.Flatten()(layers.Permute((2, 1, 3))(_conv(layers, x))), INPUT_SHAPE,
                   {"TRANSPOSE"}),
    "permute_1d": (lambda layers, x: layers.Permute((2, 1))(layers.Conv1D(4, 3, activation="relu")(x)), (12, 3),
                   {"TRANSPOSE"}),
    # at batch 1 a Conv1D's EXPAND_DIMS converts to a RESHAPE (static shapes)
    "conv1d": (lambda layers, x: layers.Conv1D(4, 3, activation="relu")(x), (12, 3), {"RESHAPE"}),
    "split_pad_reduce": (_split_pad_reduce, INPUT_SHAPE, {"SPLIT", "SPLIT_V", "PADV2", "SUM", "SQUARED_DIFFERENCE"}),
    "every_activation": (_every_activation, (12, 3),
                         {"RESHAPE", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "RELU", "RELU6", "MUL",
                          "QUANTIZE_S8", "PRELU", "MAXIMUM", "MINIMUM", "REDUCE_MAX", "RESIZE_BILINEAR",
                          "RESIZE_NEAREST_NEIGHBOR", "STRIDED_SLICE", "SLICE",
                          "TRANSPOSE_CONV"}),
}

# ops whose LiteRT reference kernel is not TFLite Micro's arithmetic: (pair, why), documented in docs/operators.md
LITERT_DIFFERS = {
    "every_activation": "RELU6, as below",
    "relu6": "TFLite Micro clamps RELU6 in the input's quantization and keeps its bytes; LiteRT rescales",
    "split_pad_reduce": "LiteRT 2.3.0's reference int8 SUM writes -1 into every output byte",
    "multi_head_attention": "LiteRT's reference FULLY_CONNECTED rounds once where TFLite Micro rounds twice",
}
# the first operator whose bytes LiteRT's reference gets wrong, where one is documented (the ops before it agree)
LITERT_FIRST_DIVERGENCE = {"split_pad_reduce": "SUM", "multi_head_attention": "FULLY_CONNECTED"}


@functools.lru_cache(maxsize=None)  # the firmware tests reuse the conversion (bytes: immutable)
def deployed_model(name: str, seed: int = 0) -> bytes:
    import keras

    from pipeline import deploy

    graph, shape, _ = MODELS[name]
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    model = keras.Model(inputs, graph(keras.layers, inputs))
    x_calib = np.random.default_rng(seed).normal(size=(CALIBRATION_SAMPLES, *shape)).astype(np.float32)
    return deploy.run_passes(model, x_calib, deploy.DeployOptions(verify_inputs=0)).model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_op_model_runs_byte_exact_with_tflite_micro(name):
    model = deployed_model(name)
    ops = {op_registry.SPECS[op.op_code].name for op in compact.compile_model(model, name).ops}  # the C rows
    assert MODELS[name][2] <= ops, ops
    result = verify.verify(model, name, VERIFY_INPUTS)
    assert result.mismatched_bytes["ref_vs_tflm"] == 0
    if name in LITERT_DIFFERS:  # the documented difference shows, between LiteRT and the two that agree
        assert result.mismatched_bytes["ref_vs_litert"] == result.mismatched_bytes["litert_vs_tflm"] > 0
        if name in LITERT_FIRST_DIVERGENCE:
            assert result.first_divergence.op == LITERT_FIRST_DIVERGENCE[name], result.first_divergence
    else:
        assert result.mismatched_bytes == {pair: 0 for pair in verify.PAIRS}, result.first_divergence


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="gcc-arm-none-eabi / qemu-system-arm not installed (make apt)")
@pytest.mark.parametrize("name, target", [pytest.param("every_activation", "cortex-m3", marks=pytest.mark.slow),
                                          ("every_activation", "cortex-m55"), ("split_pad_reduce", "cortex-m55"),
                                          ("multi_head_attention", "cortex-m55"),
                                          pytest.param("attention", "cortex-m3", marks=pytest.mark.slow),
                                          pytest.param("abs", "cortex-m3", marks=pytest.mark.slow),
                                          pytest.param("grouped_conv", "cortex-m3", marks=pytest.mark.slow),
                                          ("grouped_conv", "cortex-m55")])
def test_op_model_runs_in_the_firmware_as_on_the_host(name, target):
    from pipeline.firmware import build as firmware

    assert firmware.measure(deployed_model(name), target, inputs=3).matches_host


def test_an_op_version_the_pinned_litert_lacks_is_refused_naming_the_layer():
    """Keras ELU converts to ELU version 1, which LiteRT 2.3.0 cannot load (nor has TFLite Micro an int8 ELU to
    compare with): deploy refuses in one line naming the user's layer."""
    import keras

    from pipeline import deploy
    from pipeline.errors import UnsupportedError

    keras.utils.set_random_seed(0)
    inputs = keras.Input(INPUT_SHAPE)
    inner = keras.layers.ELU(name="inner_elu")(_conv(keras.layers, inputs))  # its output tensor names the layer
    model = keras.Model(inputs, keras.layers.ELU(name="my_elu")(_conv(keras.layers, inner)))  # a model output
    x_calib = np.random.default_rng(0).normal(size=(4, *INPUT_SHAPE)).astype(np.float32)
    with pytest.raises(UnsupportedError) as refused:
        deploy.run_passes(model, x_calib, deploy.DeployOptions(verify_inputs=0), source="elu.keras")
    message = str(refused.value)
    assert message.startswith("elu.keras: LiteRT cannot load the model: Didn't find op for builtin opcode 'ELU'")
    assert re.search(r" \(ELU version 1: operator \d+ of Keras layer 'inner_elu', operator \d+ of Keras layer "
                     r"'my_elu'; replace that layer\)$", message), message
    assert "\n" not in message


def test_unet_with_upsampling_nearest_deploys_through_the_gate():
    """A U-Net-ish model (Conv2D, MaxPooling2D, UpSampling2D nearest, Concatenate, Conv2DTranspose): the UpSampling2D
    is rewritten as Resizing nearest before conversion (its own conversion, TILE version 3, does not load in the
    pinned LiteRT), so the model holds RESIZE_NEAREST_NEIGHBOR and no TILE, and deploy's gate (C reference vs
    TFLite Micro, every op in the C runner) finds 0 differing bytes; LiteRT's reference agrees too."""
    import keras

    from pipeline import deploy

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 10, 3))  # W / 2 = 5: an odd size upsampled
    skip = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(keras.layers.MaxPooling2D(2)(skip))
    x = keras.layers.Concatenate()([keras.layers.UpSampling2D(2, name="up")(x), skip])
    model = keras.Model(inputs, keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same")(x))
    x_calib = np.random.default_rng(0).normal(size=(32, 8, 10, 3)).astype(np.float32)
    state = deploy.run_passes(model, x_calib, deploy.DeployOptions(verify_inputs=16))
    ops = [op_registry.SPECS[op.op_code].name for op in compact.compile_model(state.model, "unet").ops]
    assert {"CONV_2D", "MAX_POOL_2D", "RESIZE_NEAREST_NEIGHBOR", "CONCATENATION", "TRANSPOSE_CONV"} <= set(ops), ops
    assert state.verification["firmware_unsupported"] == [] and state.verification["stand_in"] is None
    assert state.verification["gate"] == {"pair": "ref vs tflm", "mismatched_bytes": 0, "first_input": None,
                                          "first_operator": None}
    assert state.verification["litert_vs_tflm"]["mismatched_bytes"] == 0


def test_upsampling1d_and_repeat_vector_deploy_through_the_gate():
    """UpSampling1D and RepeatVector (the converter's TILE version 3, which the pinned LiteRT cannot load) are
    rewritten as Resizing nearest before conversion: RESIZE_NEAREST_NEIGHBOR and no TILE, 0 bytes differing between
    the C reference and TFLite Micro in deploy's gate."""
    import keras

    from pipeline import deploy

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 3))
    x = keras.layers.Conv1D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv1D(2, 3, activation="relu")(keras.layers.UpSampling1D(2)(x))  # [12, 4] -> [10, 2]
    x = keras.layers.RepeatVector(3)(keras.layers.GlobalAveragePooling1D()(x))  # [3, 2]
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    x_calib = np.random.default_rng(0).normal(size=(32, 6, 3)).astype(np.float32)
    state = deploy.run_passes(model, x_calib, deploy.DeployOptions(verify_inputs=16))
    ops = [op_registry.SPECS[op.op_code].name for op in compact.compile_model(state.model, "repeat").ops]
    assert ops.count("RESIZE_NEAREST_NEIGHBOR") == 2 and "TILE" not in ops, ops
    assert state.verification["firmware_unsupported"] == [] and state.verification["stand_in"] is None
    assert state.verification["gate"]["mismatched_bytes"] == 0



def test_hard_swish_with_tiny_scales_matches_tflite_micro():
    """Activations ~1e-6 (the scales of random weights: MobileNetV3Small built with weights=None) give HARD_SWISH
    exponents below -15, where gemmlowp's int16 rounding divide returns +-1 (test_kernels_activations.py): the C
    reference and TFLite Micro agree byte for byte in deploy's gate."""
    import keras

    from pipeline import deploy

    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, keras.layers.Activation("hard_swish")(keras.layers.Conv2D(3, 1)(inputs)))
    x_calib = (np.random.default_rng(0).normal(size=(32, 4, 4, 2)) * 1e-6).astype(np.float32)
    state = deploy.run_passes(model, x_calib, deploy.DeployOptions(verify_inputs=16))
    compiled = compact.compile_model(state.model, "tiny_hard_swish")
    hard_swish = next(op for op in compiled.ops if op_registry.SPECS[op.op_code].name == "HARD_SWISH")
    layout = list(kp.HardSwishParams.__dataclass_fields__)
    params = dict(zip(layout, hard_swish.params))
    assert params["reluish_exponent"] < -15, params  # the path under test
    assert state.verification["stand_in"] is None
    assert state.verification["gate"]["mismatched_bytes"] == 0
