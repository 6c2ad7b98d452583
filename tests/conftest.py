"""Shared fixtures: the digits splits, zoo models and one deployed WESS model, built once per session."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def splits():
    from pipeline.keras import zoo

    return zoo.load_digits_splits()


@pytest.fixture(scope="session")
def zoo_model():
    import keras

    from pipeline.keras import zoo

    cache = {}

    def load(name):
        if name not in cache:
            cache[name] = keras.models.load_model(zoo.ZOO[name].path, compile=False)
        return cache[name]

    return load


@pytest.fixture(scope="session")
def ds_cnn_stress(zoo_model, splits):
    """The stress variant of ds_cnn (dead channels, R/r_c >= 2^10), built once: per-tensor int8 collapses on it."""
    from pipeline.keras import stress

    return stress.make_stress_variant(zoo_model("ds_cnn"), splits)


@pytest.fixture(scope="session")
def deployed(zoo_model, splits):
    """mobilenet_v1 through every pass with the default options (scheme wess, calibrator max), the gate on 16 inputs
    (its default 100 is tested on smaller models; the sanitized run pays for every C-runner input here)."""
    from pipeline import deploy

    return deploy.run_passes(zoo_model("mobilenet_v1"), splits.x_calib, deploy.DeployOptions(verify_inputs=16))


@pytest.fixture(scope="session")
def reference_library():
    """build/libwess_ref.so, rebuilt with make when older than firmware_ref (unless WESS_REF_LIB is set)."""
    import subprocess
    from pathlib import Path

    from pipeline.cref import library

    if "WESS_REF_LIB" not in os.environ:
        root = Path(__file__).resolve().parent.parent
        built = root / "build" / "libwess_ref.so"
        sources = [path for path in (root / "firmware_ref").rglob("*") if path.is_file()]
        if not built.is_file() or built.stat().st_mtime < max(path.stat().st_mtime for path in sources):
            subprocess.run(["make", "-C", str(root / "firmware_ref"), f"BUILD_DIR={root / 'build'}"],
                           check=True, capture_output=True)
    return library.load_library()


@pytest.fixture(scope="session")
def make_mixed():
    """make(ranged, calibrated, picks): the WESS model with the conv / FC operators at positions `picks` (graph
    order) left in float by the converter, between the DEQUANTIZE and QUANTIZE it inserts (partial quantization)."""
    from pipeline.quant import schemes
    from pipeline.tflite import flatbuf

    def make(ranged: bytes, calibrated: bytes, picks) -> bytes:
        model = flatbuf.read_model(calibrated)
        graph = model.subgraphs[0]
        names = [flatbuf.tensor_name(graph.tensors[op.outputs[0]]) for op in graph.operators
                 if flatbuf.builtin_code(model, op) in flatbuf.WEIGHTED_OPS]
        return schemes.build_scheme(ranged, calibrated, "wess", float_nodes=tuple(names[i] for i in picks))[0]

    return make


@pytest.fixture(scope="session")
def mixed(deployed, make_mixed):
    """The deployed mobilenet_v1 with its first CONV_2D (fed by a DEQUANTIZE of the model input), a
    DEPTHWISE_CONV_2D + CONV_2D pair sharing one DEQUANTIZE / QUANTIZE, and the final FULLY_CONNECTED in float."""
    return make_mixed(deployed.ranged, deployed.calibrated, (0, 3, 4, 27))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A user model small enough for CLI tests that only need a real deploy or eval to happen quickly: (model.keras,
    calib.npz, test.npz) paths; conv + depthwise + dense on 12x12x1 inputs, 10 classes, seeded weights and data."""
    import keras
    import numpy as np

    root = tmp_path_factory.mktemp("tiny")
    keras.utils.set_random_seed(0)
    bias = {"bias_initializer": keras.initializers.RandomUniform(-0.1, 0.1)}  # zero biases would be dropped
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu", **bias)(inputs)
    x = keras.layers.DepthwiseConv2D(3, activation="relu", **bias)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax", **bias)(x)).save(root / "model.keras")
    rng = np.random.default_rng(0)
    np.savez(root / "calib.npz", x=rng.random((32, 12, 12, 1), np.float32))
    np.savez(root / "test.npz", x=rng.random((40, 12, 12, 1), np.float32), y=rng.integers(0, 10, 40))
    return root / "model.keras", root / "calib.npz", root / "test.npz"


@pytest.fixture(scope="session")
def transpose_conv_model():
    """Conv2D -> Conv2DTranspose (bias, stride 2, SAME) -> Conv2DTranspose (no bias, relu): the transposed layers'
    output channels scaled 1, 1/8, 1/100 (Keras kernel [kh, kw, out, in]) so that WESS gives them different shifts."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")(x)
    x = keras.layers.Conv2DTranspose(3, (2, 3), strides=(1, 2), use_bias=False, activation="relu", name="up_nobias")(x)
    model = keras.Model(inputs, x)
    for name in ("up", "up_nobias"):
        weights = model.get_layer(name).get_weights()
        weights[0] = weights[0] * np.array([1.0, 1 / 8, 1 / 100], np.float32)[None, None, :, None]
        if len(weights) > 1:
            weights[1] = np.array([0.3, -0.2, 0.05], np.float32)
        model.get_layer(name).set_weights(weights)
    return model

