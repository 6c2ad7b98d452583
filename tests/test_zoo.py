"""The zoo: fixed digits splits and committed models that reach their documented float accuracy."""
import json

import numpy as np
import pytest

from pipeline.keras import zoo


def test_splits_are_fixed(splits):
    assert (len(splits.x_train), len(splits.x_calib), len(splits.x_test)) == (1197, 200, 400)
    assert splits.x_test.shape[1:] == (32, 32, 1) and splits.x_test.dtype == np.float32
    assert 0.0 <= splits.x_train.min() and splits.x_train.max() <= 1.0
    again = zoo.load_digits_splits()
    assert np.array_equal(again.y_test, splits.y_test) and np.array_equal(again.x_calib, splits.x_calib)
    # every digit appears in the test split
    assert set(splits.y_test.tolist()) == set(range(10))


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_committed_model_accuracy(name, zoo_model, splits):
    model = zoo_model(name)
    accuracy = float(np.mean(model.predict(splits.x_test, verbose=0).argmax(1) == splits.y_test))
    recorded = json.loads((zoo.ZOO_DIR / "accuracy.json").read_text())[name]["float_top1"]
    assert accuracy >= 0.95
    assert accuracy == pytest.approx(recorded, abs=0.0025)  # at most one test image off the recorded figure
    assert any(type(layer).__name__ == "BatchNormalization" for layer in model.layers)


def test_fc_autoencoder_is_mlperf_tiny_anomaly_detection_size():
    """640 -> 128 x4 -> 8 -> 128 x4 -> 640, each hidden Dense followed by BN and ReLU; not a ZOO (digits) entry."""
    model = zoo.fc_autoencoder()
    dense = [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert dense == [128] * 4 + [8] + [128] * 4 + [640]
    assert tuple(model.input.shape) == (None, 640) and tuple(model.output.shape) == (None, 640)
    kinds = [layer.__class__.__name__ for layer in model.layers[1:]]
    assert kinds == ["Dense", "BatchNormalization", "ReLU"] * 9 + ["Dense"]
    assert model.count_params() == 640 * 128 + 128 + 3 * (128 * 128 + 128) + 128 * 8 + 8 \
        + 8 * 128 + 128 + 3 * (128 * 128 + 128) + 128 * 640 + 640 + 4 * (8 * 128 + 8)
    assert "fc_autoencoder" not in zoo.ZOO
