"""Cross-layer equalization: the pairs it finds, the ranges it equalizes, and the function it must not change."""
import numpy as np
import pytest

from pipeline.keras import bnfold, cle


def tiny_model(activation):
    """Conv2D(2 -> 3) -> activation -> Conv2D(3 -> 2), hand-set weights with ranges 1, 100, 0.01 on the middle axis."""
    import keras

    inp = keras.Input((4, 4, 2))
    x = keras.layers.Conv2D(3, 1, name="a")(inp)
    x = activation(x)
    out = keras.layers.Conv2D(2, 1, name="b")(x)
    model = keras.Model(inp, out)
    w1 = np.zeros((1, 1, 2, 3), np.float32)
    w1[0, 0, 0] = [1.0, -100.0, 0.01]  # output-channel ranges r1 = 1, 100, 0.01
    w2 = np.zeros((1, 1, 3, 2), np.float32)
    w2[0, 0, :, 0] = [4.0, 1.0, -0.0001]  # input-channel ranges r2 = 4, 1, 0.0001
    model.get_layer("a").set_weights([w1, np.array([0.5, -1.0, 2.0], np.float32)])
    model.get_layer("b").set_weights([w2, np.zeros(2, np.float32)])
    return model


def test_scales_equalize_a_hand_computed_pair():
    import keras

    model = tiny_model(keras.layers.ReLU(name="relu"))
    equalized, result = cle.equalize(model)
    assert [(p.first, p.second, p.through) for p in result.pairs] == [("a", "b", ("relu",))]
    w1, b1 = equalized.get_layer("a").get_weights()
    w2, _ = equalized.get_layer("b").get_weights()
    # s = sqrt(r1 / r2) = [0.5, 10, 10]; both layers' channel ranges become sqrt(r1 r2) = [2, 10, 0.001]
    np.testing.assert_allclose(cle.output_ranges("Conv2D", w1), [2.0, 10.0, 0.001], rtol=1e-6)
    np.testing.assert_allclose(cle.input_ranges("Conv2D", w2), [2.0, 10.0, 0.001], rtol=1e-6)
    np.testing.assert_allclose(b1, [1.0, -0.1, 0.2], rtol=1e-6)
    x = np.random.default_rng(0).normal(size=(5, 4, 4, 2)).astype(np.float32)
    # float32: the rescaled weights round differently, a few ulps of outputs up to ~100 (ulp 7.6e-6 there)
    np.testing.assert_allclose(equalized.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-5)
    assert model.get_layer("a").get_weights()[0][0, 0, 0, 1] == -100.0, "the input model was modified"


def test_first_layer_without_bias():
    """A conv without bias (no BN to fold) is equalized all the same: only its kernel is rescaled."""
    import keras

    keras.utils.set_random_seed(0)  # layer b's initial weights
    inp = keras.Input((4, 4, 2))
    x = keras.layers.ReLU(name="relu")(keras.layers.Conv2D(3, 1, use_bias=False, name="a")(inp))
    model = keras.Model(inp, keras.layers.Conv2D(2, 1, name="b")(x))
    rng = np.random.default_rng(1)
    model.get_layer("a").set_weights([(rng.normal(size=(1, 1, 2, 3)) * [1.0, 100.0, 0.01]).astype(np.float32)])
    equalized, result = cle.equalize(model)
    assert len(result.pairs) == 1 and len(equalized.get_layer("a").get_weights()) == 1
    r1 = cle.output_ranges("Conv2D", equalized.get_layer("a").get_weights()[0])
    np.testing.assert_allclose(r1, cle.input_ranges("Conv2D", equalized.get_layer("b").get_weights()[0]), rtol=1e-6)
    x = rng.normal(size=(5, 4, 4, 2)).astype(np.float32)
    # float32: the rescaled weights round differently, a few ulps of outputs up to ~100 (ulp 7.6e-6 there)
    np.testing.assert_allclose(equalized.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-5)


def test_relu6_is_not_equalized():
    import keras

    _, result = cle.equalize(tiny_model(keras.layers.ReLU(6.0, name="relu6")))
    assert result.pairs == [] and result.skipped == {"ReLU6 follows": 1}


@pytest.mark.parametrize("name, pairs", [("mobilenet_v1", 0), ("resnet8", 3), ("ds_cnn", 9)])
def test_zoo_pairs_and_function_preserved(name, pairs, zoo_model, splits):
    folded, _ = bnfold.fold_batch_norms(zoo_model(name))
    equalized, result = cle.equalize(folded)
    assert len(result.pairs) == pairs
    # float32 rounding of the rescaled weights only: outputs are softmax probabilities in [0, 1]
    np.testing.assert_allclose(equalized.predict(splits.x_test, verbose=0), folded.predict(splits.x_test, verbose=0),
                               rtol=0, atol=1e-5)
    layers = {layer.name: layer for layer in equalized.layers}
    for pair in result.pairs:
        first, second = layers[pair.first], layers[pair.second]
        r1 = cle.output_ranges(first.__class__.__name__, first.get_weights()[0])
        r2 = cle.input_ranges(second.__class__.__name__, second.get_weights()[0])
        live = (r1 > 0) & (r2 > 0)
        np.testing.assert_allclose(r1[live], r2[live], rtol=1e-3, err_msg=f"{pair.first} -> {pair.second}")
