"""BN folding: the folded model computes what the original computes, and the folded weights follow the formula."""
import numpy as np

from pipeline.keras import bnfold


def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = keras.layers.BatchNormalization(name="dw_bn", epsilon=1e-5)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(3, name="fc")(x)
    x = keras.layers.BatchNormalization(name="fc_bn")(x)
    model = keras.Model(inp, x)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial statistics, some channels with tiny variance
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n), rng.normal(size=n),
                               np.exp(rng.uniform(-8, 1, n))])
    return model


def test_folded_model_matches_original():
    model = tiny_model()
    folded, layers = bnfold.fold_batch_norms(model)
    x = np.random.default_rng(1).normal(size=(16, 8, 8, 2)).astype(np.float32)
    a, b = model.predict(x, verbose=0), folded.predict(x, verbose=0)
    # float32 evaluation of two algebraically equal graphs: relative error of a few ulps times the fan-in
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max())
    assert [layer.name for layer in layers] == ["conv", "dw", "fc"]
    assert all(layer.folded_bn for layer in layers)
    assert not any(type(layer).__name__ == "BatchNormalization" for layer in folded.layers)


def test_fold_formula_depthwise_multiplier():
    # depthwise [kh, kw, in=2, mult=2]: output channel = in * 2 + m, so a[1 * 2 + 0] scales kernel[..., 1, 0]
    kernel = np.ones((1, 1, 2, 2), np.float32)
    a = np.array([1.0, 2.0, 3.0, 4.0])
    k, b = bnfold.fold_kernel("DepthwiseConv2D", kernel, np.zeros(4), a, np.array([0.5, 0, 0, 0]))
    assert k[0, 0].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert b.tolist() == [0.5, 0.0, 0.0, 0.0]


def test_fold_formula_conv():
    kernel = np.full((1, 1, 1, 2), 2.0, np.float32)
    k, b = bnfold.fold_kernel("Conv2D", kernel, np.array([1.0, -1.0]), np.array([0.5, 3.0]), np.array([1.0, 0.0]))
    assert k.ravel().tolist() == [1.0, 6.0]
    assert b.tolist() == [1.5, -3.0]  # (bias * a) + c


def test_several_inputs_fold_in_their_order():
    import keras

    keras.utils.set_random_seed(0)
    a, b = keras.Input((4,), name="zz_first"), keras.Input((4,), name="aa_second")
    dense = keras.layers.BatchNormalization()(keras.layers.Dense(4)(a))
    model = keras.Model([a, b], keras.layers.Add()([dense, b]), name="two_inputs")
    model.layers[-2].set_weights([w + 0.5 for w in model.layers[-2].get_weights()])  # a BN that is not identity
    folded, layers = bnfold.fold_batch_norms(model)
    assert [t.name for t in folded.inputs] == ["zz_first", "aa_second"] and len(layers) == 1
    x = [np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32) for _ in range(2)]
    # folding reorders float arithmetic only: a few float32 ulps of values of order 1
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_zoo_model_folds_exactly(zoo_model, splits):
    model = zoo_model("mobilenet_v2")
    folded, layers = bnfold.fold_batch_norms(model)
    a = model.predict(splits.x_test[:64], verbose=0)
    b = folded.predict(splits.x_test[:64], verbose=0)
    np.testing.assert_allclose(b, a, atol=1e-4)  # softmax outputs in [0, 1]
    assert np.array_equal(a.argmax(1), b.argmax(1))
    assert len(layers) == sum(type(layer).__name__ in bnfold.FOLDABLE for layer in model.layers)
