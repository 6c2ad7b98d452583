"""`wess eval` beyond top-1 over classes: a one-unit sigmoid binary classifier, and outputs without labels."""
import json
import math

import numpy as np
import pytest

from pipeline.cli import main as cli
from pipeline.quant import metrics


def test_predicted_class_of_one_unit_is_the_threshold_and_of_several_the_argmax():
    assert metrics.predicted_class(np.array([[0.2], [0.5], [0.51], [0.9]])).tolist() == [0, 0, 1, 1]
    assert metrics.predicted_class(np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])).tolist() == [1, 0]
    assert metrics.predicted_class(np.zeros((2, 2, 2, 3)) + np.arange(3)).tolist() == [2, 2]  # flattened: the first maximum


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import keras

    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    inp = keras.Input((16,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inp)
    code = keras.layers.Dense(4, activation="relu", name="code")(inp)
    for name, model in (("binary", keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="prob")(hidden))),
                        ("autoencoder", keras.Model(inp, keras.layers.Dense(16, name="reconstruction")(code)))):
        for layer in model.layers[1:]:  # non-zero biases: the converter drops all-zero ones, which `+bc` needs
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape).astype(np.float32)])
        model.save(root / f"{name}.keras")
    x = rng.normal(size=(64, 16)).astype(np.float32)
    np.savez(root / "calib.npz", x=x[:32])
    np.savez(root / "test_labelled.npz", x=x[32:], y=(x[32:, 0] > 0).astype(np.int64))
    np.savez(root / "test_unlabelled.npz", x=x[32:])
    return root


def _eval(files, model: str, test: str, capfd) -> dict:
    code = cli.main(["eval", str(files / model), "--data", str(files / "calib.npz"),
                     "--test-data", str(files / test), "--json"])
    assert code == 0
    return json.loads(capfd.readouterr().out)


def test_sigmoid_classifier_gets_binary_top1(files, capfd):
    """Labels 0/1 for a one-unit output are accepted (they used to be refused as 'labels must be in 0..0')."""
    import keras

    result = _eval(files, "binary.keras", "test_labelled.npz", capfd)
    data = np.load(files / "test_labelled.npz")
    float_out = keras.models.load_model(files / "binary.keras").predict(data["x"], verbose=0)
    assert result["accuracy"]["float"] == pytest.approx(float(np.mean((float_out[:, 0] > 0.5) == data["y"])), abs=0)
    assert all(0 <= result["accuracy"][scheme] <= 1 for scheme in result["schemes"])


def test_output_without_labels_reports_errors_vs_float(files, capfd):
    result = _eval(files, "autoencoder.keras", "test_unlabelled.npz", capfd)
    assert result["accuracy"]["float"] is None  # NaN (no labels) is null in the JSON output
    for row in result["schemes"].values():
        # int8 output of a 16-unit linear layer: at least one quantization step of error somewhere, and the mean
        # is below the max; SQNR finite
        assert 0 < row["mean_abs_error"] <= row["max_abs_error"] and math.isfinite(row["sqnr_db"])
