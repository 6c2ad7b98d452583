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
