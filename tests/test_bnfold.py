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


def test_upsampling_nearest_equals_resizing_nearest():
    """The identity the rewrite rests on: UpSampling2D nearest by integer factors (fy, fx) gives exactly the
    elements of Resizing(h * fy, w * fx, "nearest"), in both data formats and on odd sizes."""
    import keras

    rng = np.random.default_rng(0)
    for data_format in ("channels_last", "channels_first"):
        for height, width in ((5, 7), (4, 4), (1, 3)):
            for size in ((2, 2), (3, 1), (1, 4), (3, 2)):
                shape = (height, width, 3) if data_format == "channels_last" else (3, height, width)
                x = rng.normal(size=(2, *shape)).astype(np.float32)
                upsampled = keras.layers.UpSampling2D(size, data_format=data_format)(x)
                resized = keras.layers.Resizing(height * size[0], width * size[1], interpolation="nearest",
                                                data_format=data_format)(x)
                assert np.array_equal(np.asarray(upsampled), np.asarray(resized)), (data_format, height, width, size)


def test_upsampling_nearest_is_rewritten_as_resizing(caplog):
    """UpSampling2D nearest (either data format) becomes Resizing nearest under the same name, logged; the model
    computes the same values exactly (a copy of elements either way); bilinear stays as it is."""
    import logging

    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((5, 3, 2))
    x = keras.layers.Conv2D(4, 1, name="conv")(inp)
    x = keras.layers.UpSampling2D((2, 3), name="up_last")(x)
    x = keras.layers.UpSampling2D((3, 1), data_format="channels_first", name="up_first")(x)  # axes 2, 3: H*2, W*3
    model = keras.Model(inp, keras.layers.UpSampling2D(2, interpolation="bilinear", name="up_bilinear")(x))
    with caplog.at_level(logging.INFO, logger="pipeline.keras.bnfold"):
        folded, layers = bnfold.fold_batch_norms(model)  # no BN to fold: the rewrite alone rebuilds the model
    kinds = {layer.name: type(layer).__name__ for layer in folded.layers}
    assert kinds["up_last"] == kinds["up_first"] == "Resizing" and kinds["up_bilinear"] == "UpSampling2D"
    assert (folded.get_layer("up_last").height, folded.get_layer("up_last").width) == (10, 9)
    assert (folded.get_layer("up_first").height, folded.get_layer("up_first").width) == (27, 4)
    assert [layer.name for layer in layers] == ["conv"]
    assert sum("rewritten as Resizing" in message for message in caplog.messages) == 2
    x = np.random.default_rng(1).normal(size=(3, 5, 3, 2)).astype(np.float32)
    assert np.array_equal(folded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_upsampling1d_and_repeat_vector_are_rewritten_as_resizing(caplog):
    """UpSampling1D(s) on [steps, features] and RepeatVector(n) on [features] repeat along one axis: each becomes
    Resizing nearest between two reshapes under the layer's name, logged, with exactly the same values (odd sizes)."""
    import logging

    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((5, 3))
    x = keras.layers.UpSampling1D(3, name="up1d")(keras.layers.Dense(4, name="dense")(inp))  # [15, 4]
    x = keras.layers.RepeatVector(2, name="repeat")(keras.layers.GlobalAveragePooling1D()(x))  # [2, 4]
    model = keras.Model(inp, x)
    with caplog.at_level(logging.INFO, logger="pipeline.keras.bnfold"):
        folded, _ = bnfold.fold_batch_norms(model)
    up, repeat = folded.get_layer("up1d"), folded.get_layer("repeat")
    assert type(up).__name__ == type(repeat).__name__ == "Resizing"
    assert (up.height, up.width, repeat.height, repeat.width) == (15, 1, 2, 1)
    assert sum("rewritten as Resizing" in message for message in caplog.messages) == 2
    assert not any(type(layer).__name__ in ("UpSampling1D", "RepeatVector") for layer in folded.layers)
    x = np.random.default_rng(1).normal(size=(3, 5, 3)).astype(np.float32)
    assert np.array_equal(folded.predict(x, verbose=0), model.predict(x, verbose=0))
