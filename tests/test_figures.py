"""The README's accuracy figures, measured with the evaluation harness (the full zoo is marked slow)."""
import numpy as np
import pytest

from pipeline import deploy, evaluate
from pipeline.keras import bnfold, stress, zoo
from pipeline.quant import wess

STRESSABLE = ("mobilenet_v1", "mobilenet_v2", "ds_cnn")


def run_eval(name, model, splits, is_stress):
    return evaluate.evaluate(name, model, splits.x_calib, splits.x_test, splits.y_test, deploy.DeployOptions(),
                             stress=is_stress, augment_copies=0)  # the figures checked are top-1 on the clean split


def check_plain(result):
    acc = result.accuracy
    assert acc["wess"] >= acc["per_channel"] - 0.002, acc
    assert acc["wess"] >= acc["float"] - 0.005, acc


def check_stress(result, stressed_model):
    acc = result.accuracy
    assert acc["per_tensor"] <= acc["float"] - 0.20, acc  # layer-wise int8 collapses
    assert acc["wess"] >= acc["float"] - 0.005, acc  # WESS recovers
    _, layers = bnfold.fold_batch_norms(stressed_model)
    depthwise = [wess.disparity(layer.kernel, 2) for layer in layers if layer.kind == "DepthwiseConv2D"]
    assert max(depthwise) >= 2**10


def test_stress_variant_leaves_the_zoo_model_alone(ds_cnn_stress, zoo_model):
    import keras

    on_disk = keras.models.load_model(zoo.ZOO["ds_cnn"].path, compile=False).get_weights()
    in_memory = zoo_model("ds_cnn").get_weights()  # the model the stress variant was made from
    assert all(np.array_equal(a, b) for a, b in zip(on_disk, in_memory)), "the zoo model was modified"


@pytest.mark.slow  # 60 s: the stress figures run with the zoo matrix in make test-all
def test_ds_cnn_stress_figures(ds_cnn_stress, splits):
    result = run_eval("ds_cnn_stress", ds_cnn_stress, splits, True)
    check_stress(result, ds_cnn_stress)
    acc = result.accuracy
    assert result.cle_pairs == 9
    # README: CLE (ReLU between every pair here) lifts layer-wise int8 from collapse to within 2 pt of float;
    # bias correction keeps WESS within 0.5 pt of float (it only moves biases)
    assert acc["cle"] >= acc["float"] - 0.02 and acc["per_tensor"] <= acc["float"] - 0.5, acc
    assert acc["wess+bc"] >= acc["float"] - 0.005 and acc["cle+wess+bc"] >= acc["float"] - 0.005, acc


@pytest.mark.slow
@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_figures(name, zoo_model, splits):
    check_plain(run_eval(name, zoo_model(name), splits, False))


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in STRESSABLE if n != "ds_cnn"])
def test_stress_figures(name, zoo_model, splits):
    model = stress.make_stress_variant(zoo_model(name), splits)
    check_stress(run_eval(f"{name}_stress", model, splits, True), model)
