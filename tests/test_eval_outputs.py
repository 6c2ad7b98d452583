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


def test_compare_outputs_exact_values():
    """Two joined outputs per sample: a box [2] (no decision) and a probability [2] on TFLite's softmax grid."""
    from pipeline.tflite import runtime

    q = runtime.IoQuant(inputs=(runtime.OutputQuant(0.1, 0, (3,)),),
                        outputs=(runtime.OutputQuant(0.05, 3, (2,)), runtime.OutputQuant(1 / 256, -128, (2,))))
    # per sample: box x, box y | p(not face), p(face)
    ref = np.array([[1.0, 2.0, 0.3, 0.7], [0.0, -1.0, 0.9, 0.1]])
    approx = np.array([[1.5, 2.0, 0.6, 0.4], [0.0, -1.0, 0.875, 0.125]])  # sample 0's decision flips
    box, probability = metrics.compare_outputs(ref, approx, q)
    assert math.isnan(box.agreement) and box.max_abs_error == 0.5 and box.mean_abs_error == 0.125
    assert box.sqnr_db == pytest.approx(10 * np.log10(6.0 / 0.25))
    assert probability.agreement == 0.5 and probability.max_abs_error == pytest.approx(0.3)
    assert probability.mean_abs_error == pytest.approx((0.3 + 0.3 + 0.025 + 0.025) / 4)


def test_decision_is_per_position_over_the_last_axis():
    out = np.zeros((2, 2, 2, 2))
    out[0, 0, 1] = [0.2, 0.8]  # one window of sample 0 says "face"
    assert metrics.decision(out).tolist() == [[[0, 1], [0, 0]], [[0, 0], [0, 0]]]
    assert metrics.decision(np.array([[0.4], [0.6]])).tolist() == [0, 1]


def test_two_output_model_gets_metrics_per_output(tmp_path, capfd):
    """A detector-like model (box regression, face probability): eval reports each output; the joined output's
    largest error is the largest of the two outputs'."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16,))
    hidden = keras.layers.Dense(8, activation="relu")(inp)
    model = keras.Model(inp, [keras.layers.Dense(4, name="box")(hidden),
                              keras.layers.Dense(2, activation="softmax", name="face")(hidden)])
    model.save(tmp_path / "two.keras")
    x = np.random.default_rng(0).normal(size=(64, 16)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", x=x[:32])
    np.savez(tmp_path / "test.npz", x=x[32:])
    assert cli.main(["eval", str(tmp_path / "two.keras"), "--data", str(tmp_path / "calib.npz"), "--test-data",
                     str(tmp_path / "test.npz"), "--augment", "0", "--schemes", "per_tensor,wess", "--json"]) == 0
    result = json.loads(capfd.readouterr().out)
    for row in result["schemes"].values():
        box, face = row["outputs"]
        assert box["agreement"] is None and 0 <= face["agreement"] <= 1  # NaN (a regression) is null in JSON
        assert box["inputs"] == face["inputs"] == 32
        assert max(box["max_abs_error"], face["max_abs_error"]) == row["max_abs_error"]
    from pipeline.cli import format as cli_format

    # the text output formats the result before JSON turns NaN into null: put the NaNs back
    result["accuracy"] = {k: float("nan") if v is None else v for k, v in result["accuracy"].items()}
    for row in result["schemes"].values():
        row["outputs"][0]["agreement"] = float("nan")
    text = cli_format._eval(result)
    assert "output 0: SQNR" in text and "output 1: decision agreement" in text
