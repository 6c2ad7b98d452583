"""`--custom-objects`: the user's own layer and model classes (written here into tmp_path), `.hdf5`, safe mode."""
import importlib.util
import textwrap

import numpy as np
import pytest

from pipeline.cli import main as cli
from pipeline.errors import InputError
from pipeline.keras import modelio

USER_CODE = textwrap.dedent('''
    import keras


    class Scale(keras.layers.Layer):
        """A custom layer: x * factor."""

        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}


    class TinyNet(keras.Model):
        """A subclassed model: Conv2D -> Flatten -> Dense."""

        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.conv = keras.layers.Conv2D(4, 3, activation="relu")
            self.flatten = keras.layers.Flatten()
            self.head = keras.layers.Dense(units)

        def call(self, x):
            return self.head(self.flatten(self.conv(x)))

        def get_config(self):
            return {**super().get_config(), "units": self.units}
''')


def _user_module(tmp_path, module_name: str):
    """The user's file, imported under a name Keras cannot import by itself (as in a fresh process)."""
    path = tmp_path / f"{module_name}.py"
    path.write_text(USER_CODE)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


@pytest.fixture
def user_files(tmp_path):
    import keras

    path, module = _user_module(tmp_path, "user_layers")
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    x = module.Scale(0.5, name="halve")(keras.layers.Conv2D(4, 3, name="conv")(inp))
    keras.Model(inp, keras.layers.Dense(3, name="head")(keras.layers.Flatten()(x))).save(tmp_path / "custom.keras")
    subclassed = module.TinyNet(name="tiny")
    subclassed(np.zeros((1, 8, 8, 1), np.float32))
    subclassed.save(tmp_path / "subclassed.keras")
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype(np.float32))
    return tmp_path, path


def test_without_the_option_the_message_names_it(user_files):
    root, _ = user_files
    with pytest.raises(InputError, match=r"custom class 'Scale' is not available: pass the module or \.py file that "
                                         r"defines it with --custom-objects MODULE\[,MODULE\], or export the model as "
                                         r"a SavedModel directory"):
        modelio.load_keras(str(root / "custom.keras"))


def test_custom_layer_from_a_py_file_deploys(user_files, capfd):
    root, module_path = user_files
    out = root / "out"
    code = cli.main(["deploy", str(root / "custom.keras"), "--data", str(root / "calib.npz"), "--out", str(out),
                     "--custom-objects", str(module_path), "--verify-inputs", "8"])
    assert code == 0 and (out / "model.tflite").is_file()
    assert "mismatched output bytes on 24 inputs" in capfd.readouterr().out


def test_subclassed_model_from_an_importable_module(user_files, monkeypatch):
    root, _ = user_files
    monkeypatch.syspath_prepend(str(root))
    source = modelio.load_keras(str(root / "subclassed.keras"), ("user_layers",))
    assert [tuple(t.shape) for t in source.model.inputs] == [(None, 8, 8, 1)]
    x = np.random.default_rng(1).uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    assert source.model.predict(x, verbose=0).shape == (4, 3)


def test_hdf5_suffix_is_accepted(tmp_path):
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2, name="fc")(inp))
    model.save(tmp_path / "legacy.h5")
    (tmp_path / "legacy.h5").rename(tmp_path / "legacy.hdf5")
    loaded = modelio.load_keras(str(tmp_path / "legacy.hdf5")).model
    assert np.array_equal(loaded.get_layer("fc").get_weights()[0], model.get_layer("fc").get_weights()[0])


def test_bad_custom_objects_are_input_errors(user_files):
    root, _ = user_files
    with pytest.raises(InputError, match=r"^--custom-objects no_such_module_xyz: cannot import it"):
        modelio.load_keras(str(root / "custom.keras"), ("no_such_module_xyz",))
    (root / "empty.py").write_text("X = 1\n")
    with pytest.raises(InputError, match=r"empty\.py: defines no keras Layer or Model subclass$"):
        modelio.load_keras(str(root / "custom.keras"), (str(root / "empty.py"),))


def test_lambda_bytecode_stays_refused_with_custom_objects(user_files):
    import keras

    root, module_path = user_files
    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 2, name="double")(inp)).save(root / "lambda.keras")
    with pytest.raises(InputError, match=r"^.*lambda\.keras: Keras cannot load the model: .*unsafe"):
        modelio.load_keras(str(root / "lambda.keras"), (str(module_path),))
