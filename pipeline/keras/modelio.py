"""Load the user's inputs: a Keras model (path or `zoo:<name>`) and `.npz` data, with one-line errors."""
from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import InputError, UnsupportedError, WessError
from pipeline.tflite import runtime

from . import custom, zoo

log = logging.getLogger(__name__)
ZOO_PREFIX = "zoo:"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_SUFFIXES = (".h5", ".hdf5")  # Keras 2 files ship under both names


@dataclass(frozen=True)
class Dataset:
    """Inputs (float32, the model's input shape) and optional integer labels."""

    x: np.ndarray
    y: np.ndarray | None
    source: str


@dataclass(frozen=True)
class ModelSource:
    """A loaded Keras model, its display name and where it came from."""

    model: object
    name: str
    spec: str
    zoo_entry: zoo.ZooEntry | None


def load_keras(spec: str, custom_modules: tuple[str, ...] = ()) -> ModelSource:
    """A `.keras` / `.h5` / `.hdf5` file, a SavedModel directory, or `zoo:<name>`; `custom_modules`: the
    --custom-objects modules whose Keras layer and model classes the file may name."""
    import keras

    if spec.startswith(ZOO_PREFIX):
        name = spec[len(ZOO_PREFIX):]
        if name not in zoo.ZOO:
            raise InputError(f"{spec}: unknown zoo model; available: {', '.join(zoo.ZOO)}")
        entry = zoo.ZOO[name]
        if not entry.path.is_file():
            raise InputError(f"{spec}: {entry.path} is missing; train it with `python tools/train_zoo.py {name}`")
        return ModelSource(keras.models.load_model(entry.path, compile=False), name, spec, entry)
    path = Path(spec)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    try:
        if path.is_dir():
            return ModelSource(_saved_model_as_keras(path), path.name, spec, None)
        if path.suffix not in (".keras", *HDF5_SUFFIXES):
            raise InputError(f"{path}: expected a .keras, .h5 or .hdf5 file, a SavedModel directory or zoo:<name>")
        _check_signature(path)
        model = keras.models.load_model(path, compile=False, custom_objects=custom.custom_objects(custom_modules))
    except WessError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: Keras cannot load the model: {_keras_load_problem(exc)}") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable Keras model ({exc})") from None
    model = custom.as_functional(model, path)
    _check_one_input(model, path)
    return ModelSource(model, path.stem, spec, None)


def _check_signature(path: Path) -> None:
    """A .keras file is a zip archive and an .h5 file HDF5: say so before Keras reports a misleading error."""
    with open(path, "rb") as f:
        head = f.read(8)
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a .keras model (not a zip archive{', the file is empty' if not head else ''})")
    if path.suffix in HDF5_SUFFIXES and head != HDF5_SIGNATURE:
        raise InputError(f"{path}: not an HDF5 ({path.suffix}) model (no HDF5 signature)")


def _keras_load_problem(exc: Exception) -> str:
    """One line from Keras' multi-paragraph load error: the missing custom class if that is the cause."""
    text = str(exc).strip()
    missing = re.search(r"Could not locate (class|function) '([^']+)'", text)
    if missing:
        return custom.missing_class_advice(missing[1], missing[2])
    return text.splitlines()[0] if text else type(exc).__name__


def _check_one_input(model, path: Path) -> None:
    """One input (several outputs are fine: every runner joins them, runtime.join_outputs)."""
    inputs, outputs = list(getattr(model, "inputs", None) or []), list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1 or not outputs:
        names = ", ".join(getattr(t, "name", "?") for t in inputs)
        raise UnsupportedError(f"{path}: the model has {len(inputs)} inputs ({names}) and {len(outputs)} outputs; "
                               "one input and at least one output are supported")


def _saved_model_as_keras(path: Path):
    """Wrap a SavedModel's serving signature (one input) as a functional Keras model.

    Its layers are opaque to BN folding here; the TFLite converter folds batch norms inside it instead.
    """
    import keras
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise InputError(f"{path}: a directory without saved_model.pb is not a SavedModel")
    signature = tf.saved_model.load(str(path)).signatures.get("serving_default")
    if signature is None:
        raise InputError(f"{path}: SavedModel has no 'serving_default' signature")
    specs = list(signature.structured_input_signature[1].values())
    if len(specs) != 1:
        raise UnsupportedError(f"{path}: SavedModel has {len(specs)} inputs; one is supported")
    inp = keras.Input(shape=tuple(specs[0].shape[1:]), name="input")
    out = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")(inp)
    if isinstance(out, dict):  # several outputs: in the order of their signature names
        out = [out[key] for key in sorted(out)] if len(out) > 1 else next(iter(out.values()))
    return keras.Model(inp, out, name=path.name)


def load_npz(path: str | Path, input_shape: tuple[int, ...], need_labels: bool = False,
             num_classes: int | None = None) -> Dataset:
    """Read `x` (N, *input_shape) float and optional `y` (N,) integer labels; reject NaN/Inf and bad shapes."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not an .npz archive (not a zip file; write it with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    if "x" not in arrays:
        raise InputError(f"{path}: no array named 'x' (found: {', '.join(arrays) or 'none'})")
    x = arrays["x"]
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise InputError(f"{path}: x has dtype {x.dtype}; a numeric array is required")
    if x.ndim != len(input_shape) + 1 or tuple(x.shape[1:]) != tuple(input_shape):
        raise InputError(f"{path}: x has shape {x.shape}; the model expects (N, {', '.join(map(str, input_shape))})")
    if len(x) == 0:
        raise InputError(f"{path}: x is empty (0 samples)")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise InputError(f"{path}: x contains {int((~np.isfinite(x)).sum())} NaN/Inf values")
    y = arrays.get("y")
    if y is None and need_labels:
        raise InputError(f"{path}: no array named 'y' (labels are needed here)")
    if y is not None:
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),):
            raise InputError(f"{path}: y must be integer labels of shape ({len(x)},), got {y.dtype} {y.shape}")
        if num_classes is not None and (y.min() < 0 or y.max() >= num_classes):
            raise InputError(f"{path}: labels must be in 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}")
        y = y.astype(np.int64)
    return Dataset(x, y, str(path))


def predict(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The Keras model's float64 outputs on x; several outputs joined per sample as runtime.join_outputs does."""
    return np.asarray(runtime.join_outputs(model.predict(x, batch_size=batch_size, verbose=0)), np.float64)


def class_elements(model) -> int:
    """Elements of the model's first output per sample: where predict's joined outputs carry the class."""
    return int(np.prod(model.outputs[0].shape[1:]))
