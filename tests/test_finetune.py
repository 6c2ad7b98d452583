"""`wess finetune`: the fake-quant model models the deployed int8 model; training is seeded; the output is plain."""
import numpy as np
import pytest

from pipeline import deploy
from pipeline.cli import main as cli
from pipeline.quant import adaround, error_split, finetune, metrics, rewrite
from pipeline.tflite import flatbuf, runtime


@pytest.fixture(scope="module")
def tiny():
    """conv -> BN -> ReLU6 -> depthwise -> BN -> ReLU -> pool -> dense -> softmax, on a learnable toy task."""
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((10, 10, 1))
    x = keras.layers.Conv2D(6, 3, padding="same", use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(epsilon=1e-7)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(3)(x)
    model = keras.Model(inp, keras.layers.Softmax()(x))
    rng = np.random.default_rng(0)
    x_data = rng.uniform(0, 1, (160, 10, 10, 1)).astype(np.float32)
    y_data = ((x_data[:, :5].mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)
              + (x_data[:, :, :5].mean(axis=(1, 2, 3)) > 0.5))
    first_bn = model.layers[2]  # channel 2 dead after the ReLU6, as in the stress variant
    first_bn.set_weights([w * np.array([1, 1, 0, 1, 1, 1], np.float32) if i < 2 else w
                          for i, w in enumerate(first_bn.get_weights())])
    bn = model.layers[5]  # a wide spread of folded depthwise channel ranges, as the stress variant has
    bn.set_weights([w * s for w, s in zip(bn.get_weights(), (np.array([1, 1, 0.001, 1, 1, 1], np.float32), 1, 1,
                                                              np.array([1, 1, 1e-6, 1, 1, 1], np.float32)))])
    return model, x_data, y_data


# every 8-bit grid and one 4-bit grid (the 4-bit plain grids share grid_scales' code path with the 8-bit ones)
TESTED_BASES = ("per_tensor", "per_channel", "wess", "wess4")


def _deployed_scales(model, x_calib, base):
    state = deploy.run_passes(model, x_calib, deploy.DeployOptions(base))
    int8 = flatbuf.read_model(state.model)
    return state, [adaround.channel_scales(int8, wop)
                   for wop in rewrite.weighted_ops(int8, flatbuf.read_model(state.calibrated))]


@pytest.mark.parametrize("base", TESTED_BASES)
def test_grid_scales_are_the_deployed_weight_scales(tiny, base):
    from pipeline.keras import bnfold

    model, x_data, _ = tiny
    _, deployed = _deployed_scales(model, x_data[:60], base)
    folded, _ = bnfold.fold_batch_norms(model)
    layers = [layer for layer in folded.layers if layer.__class__.__name__ in finetune.WEIGHTED]
    assert len(layers) == len(deployed) == 3
    for layer, theirs in zip(layers, deployed):
        kind, kernel = layer.__class__.__name__, np.asarray(layer.kernel)
        mine = finetune.grid_scales(kind, kernel, base)
        live = finetune.wess.channel_ranges(finetune.kernel_channels(kind, kernel), 1) > 0  # an all-zero channel
        # quantizes to zeros whatever its scale (the converter writes ~4e-9 there, we write 1)
        assert np.allclose(mine[live], theirs[live], rtol=1e-6, atol=0)  # the converter's scales are float32


def _fake_quant_vs_int8(model, x_calib, x, base):
    fq = finetune.fake_quant_model(model, x_calib, base)
    state = deploy.run_passes(model, x_calib, deploy.DeployOptions(base))
    q = runtime.io_quant(state.model)
    int8 = runtime.dequantize_output(runtime.run_litert(state.model, runtime.quantize_input(x, q)), q)
    return np.abs(fq.predict(x, verbose=0) - int8) / q.outputs[0].scale  # in output LSBs


# Tolerance: fake quantization rounds float sums where the int8 kernels round fixed-point accumulators through
# integer multipliers (and the bias is rounded to int32), so single intermediate values may differ by one LSB
# and a later layer's gain amplifies that; measured on zoo:ds_cnn: max 6 LSB, mean 0.008 LSB on 400 test images.
MAX_LSB, MEAN_LSB = 8, 0.25


@pytest.mark.parametrize("base", TESTED_BASES)
def test_fake_quant_model_matches_the_deployed_int8_model(tiny, base):
    model, x_data, _ = tiny
    diff = _fake_quant_vs_int8(model, x_data[:60], x_data[60:], base)
    assert diff.max() <= MAX_LSB and diff.mean() <= MEAN_LSB


@pytest.fixture(scope="module")
def tuned(tiny):
    model, x_data, y_data = tiny
    options = finetune.FinetuneOptions("per_tensor", epochs=2, learning_rate=1e-3, batch_size=16)
    return finetune.finetune(model, x_data, y_data, x_data[:60], options)


def test_finetune_is_seeded_and_writes_a_plain_model(tiny, tuned, tmp_path):
    import keras

    model, x_data, y_data = tiny
    again = finetune.finetune(model, x_data, y_data, x_data[:60],
                              finetune.FinetuneOptions("per_tensor", epochs=2, learning_rate=1e-3, batch_size=16))
    assert all(np.array_equal(a, b) for a, b in zip(tuned.model.get_weights(), again.model.get_weights()))
    assert len(tuned.epoch_loss) == 2 and all(np.isfinite(tuned.epoch_loss))
    assert not any(np.array_equal(a, b) for a, b in zip(tuned.model.get_weights()[:1],
                                                        finetune.bnfold.fold_batch_norms(model)[0].get_weights()[:1]))
    path = tmp_path / "m.keras"
    tuned.model.save(path)
    loaded = keras.models.load_model(path, compile=False)  # stock Keras: no custom objects
    kinds = {layer.__class__.__name__ for layer in loaded.layers}
    assert "BatchNormalization" not in kinds and kinds <= {"InputLayer", "Conv2D", "ReLU", "DepthwiseConv2D",
                                                            "GlobalAveragePooling2D", "Dense", "Softmax"}
    assert np.array_equal(loaded.predict(x_data[:8], verbose=0), tuned.model.predict(x_data[:8], verbose=0))


def test_after_finetune_fake_quant_still_matches_int8(tiny, tuned):
    _, x_data, _ = tiny
    diff = _fake_quant_vs_int8(tuned.model, x_data[:60], x_data[60:], "per_tensor")
    assert diff.max() <= MAX_LSB and diff.mean() <= MEAN_LSB


def test_cli_finetune_then_deploy(tiny, tmp_path, capfd):
    import json

    model, x_data, y_data = tiny
    model.save(tmp_path / "user.keras")
    np.savez(tmp_path / "train.npz", x=x_data, y=y_data)
    code = cli.main(["finetune", str(tmp_path / "user.keras"), "--data", str(tmp_path / "train.npz"), "--epochs",
                     "1", "--scheme", "wess", "--out", str(tmp_path / "ft"), "--json"])
    out, err = capfd.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["epochs"] == 1 and sorted(p.name for p in (tmp_path / "ft").iterdir()) == ["finetune.json",
                                                                                              "model.keras"]
    code = cli.main(["deploy", report["output"], "--data", str(tmp_path / "train.npz"), "--out",
                     str(tmp_path / "dep"), "--json"])
    assert code == 0, capfd.readouterr().err
    code = cli.main(["finetune", str(tmp_path / "user.keras"), "--data", str(tmp_path / "train.npz"),
                     "--out", str(tmp_path / "ft")])
    assert code == 2 and "--force" in capfd.readouterr().err
    np.savez(tmp_path / "nolabels.npz", x=x_data)
    code = cli.main(["finetune", str(tmp_path / "user.keras"), "--data", str(tmp_path / "nolabels.npz"),
                     "--out", str(tmp_path / "ft2")])
    assert code == 2 and "needs integer labels" in capfd.readouterr().err


def test_zero_dead_inputs_zeroes_only_weights_that_multiply_zero(tiny):
    from pipeline.keras import bnfold

    model, x_data, _ = tiny
    folded = finetune._fresh_copy(bnfold.fold_batch_norms(model)[0])
    before = folded.predict(x_data, verbose=0)
    depthwise = next(layer for layer in folded.layers if layer.__class__.__name__ == "DepthwiseConv2D")
    assert np.abs(np.asarray(depthwise.kernel)[:, :, 2]).max() > 0
    # depthwise input 2 (after the dead ReLU6) and, since its BN has beta 0, the dense layer's input 2 after the ReLU
    assert finetune.zero_dead_inputs(folded, x_data) == 2
    assert np.all(np.asarray(folded.layers[-2].kernel)[2] == 0)
    kernel = np.asarray(depthwise.kernel)
    assert np.all(kernel[:, :, 2] == 0) and np.all(np.abs(kernel[:, :, [0, 1, 3, 4, 5]]).max(axis=(0, 1)) > 0)
    assert np.array_equal(folded.predict(x_data, verbose=0), before)  # the input was exactly zero: same function


def test_fake_quant_halves_round_only_what_they_say(tiny):
    """weights=False keeps the folded float kernels; activations=False has no activation quantizer and its kernels
    on the grid; both together are the default fake-quant model, output for output."""
    from pipeline.keras import bnfold

    model, x_data, _ = tiny
    folded = bnfold.fold_batch_norms(model)[0]
    float_kernels = [np.asarray(layer.kernel) for layer in folded.layers
                     if layer.__class__.__name__ in finetune.WEIGHTED]
    acts = finetune.fake_quant_model(model, x_data[:60], "wess", weights=False)
    weights = finetune.fake_quant_model(model, x_data[:60], "wess", activations=False)
    for variant, on_grid in ((acts, False), (weights, True)):
        layers = [layer for layer in variant.layers if layer.__class__.__name__ in finetune.WEIGHTED]
        assert len(layers) == 3
        for layer, float_kernel in zip(layers, float_kernels):
            kind, kernel = layer.__class__.__name__, np.asarray(layer.kernel)
            if not on_grid:
                assert np.array_equal(kernel, float_kernel)
                continue
            scales = finetune.grid_scales(kind, float_kernel, "wess")
            steps = finetune.kernel_channels(kind, kernel) / scales
            assert np.allclose(steps, np.round(steps), atol=1e-3)  # float32 products of an integer and a scale
            assert not np.array_equal(kernel, float_kernel)
    assert sum(layer.__class__.__name__ == "ActivationFakeQuant" for layer in acts.layers) > 0
    assert not any(layer.__class__.__name__ == "ActivationFakeQuant" for layer in weights.layers)
    both = finetune.fake_quant_model(model, x_data[:60], "wess")
    split = error_split.split(model, x_data[:60], x_data[60:], model.predict(x_data[60:], verbose=0), "wess")
    assert split.both == metrics.compare(model.predict(x_data[60:], verbose=0), both.predict(x_data[60:], verbose=0))
    assert split.weights_only.sqnr_db > 0 and split.activations_only.sqnr_db > 0


def test_error_split_of_weights_already_on_the_grid():
    """Dense weights k/128 with max |k| = 127: per_tensor's scale is 1/128 exactly, so rounding changes nothing and
    the weights-only variant reproduces float bit for bit (SQNR inf); the activations alone still cost."""
    import keras

    rng = np.random.default_rng(3)
    inp = keras.Input((6,))
    dense = keras.layers.Dense(4)
    model = keras.Model(inp, dense(inp))
    steps = rng.integers(-127, 128, (6, 4))
    steps[0, 0] = 127
    dense.set_weights([(steps / 128).astype(np.float32), np.zeros(4, np.float32)])
    x = rng.normal(size=(40, 6)).astype(np.float32)
    float_out = model.predict(x, verbose=0)
    split = error_split.split(model, x[:20], x, float_out, "per_tensor")
    assert split.weights_only.sqnr_db == float("inf") and split.weights_only.agreement == 1.0
    assert split.weights_only.max_abs_error == 0.0
    assert np.isfinite(split.activations_only.sqnr_db) and split.activations_only.max_abs_error > 0


def test_output_grid_only_loses_exactly_the_ties():
    """Softmax outputs on TFLite's grid (1/256, zero point -128): 0.499 and 0.4995 both round to 128/256, a tie
    that resolves to class 0 while float says class 1; 0.2 / 0.8 keep their order."""
    from pipeline.tflite import runtime

    grid = runtime.OutputQuant(1 / 256, -128, (2,))
    out = error_split.output_grid_only(np.array([[0.499, 0.4995], [0.2, 0.8]]), grid)
    assert out.agreement == 0.5
    assert out.max_abs_error == pytest.approx(0.5 - 0.499)  # round(0.499 * 256) = 128


def test_disagreements_by_margin_counts_per_bin():
    float_out = np.array([[3.0, 0.0], [0.0, 0.5], [10.0, 0.0], [0.0, 20.0]])
    int8_out = np.array([[0.0, 3.0], [0.0, 0.5], [10.0, 0.0], [1.0, 0.0]])  # samples 0 and 3 flip
    counts = error_split.disagreements_by_margin(float_out, int8_out, step=1.0)
    assert counts == {"< 1": [1, 0], "1-4": [1, 1], "4-16": [1, 0], ">= 16": [1, 1]}
