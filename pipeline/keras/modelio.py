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
    _check_inputs(model, path)
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


def _check_inputs(model, path: Path) -> None:
    """At least one input and one output (several of either are fine: every runner joins them,
    runtime.join_outputs)."""
    inputs, outputs = list(getattr(model, "inputs", None) or []), list(getattr(model, "outputs", None) or [])
    if not inputs or not outputs:
        raise UnsupportedError(f"{path}: the model has {len(inputs)} inputs and {len(outputs)} outputs; "
                               "at least one of each is needed")


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
    arrays = _read_archive(path)
    if "x" not in arrays:
        raise InputError(f"{path}: no array named 'x' (found: {', '.join(arrays) or 'none'})")
    x = _checked_input(path, "x", arrays["x"], input_shape, "the model expects")
    return Dataset(x, _checked_labels(path, arrays.get("y"), len(x), need_labels, num_classes), str(path))


def load_model_data(path: str | Path, model, need_labels: bool = False, num_classes: int | None = None) -> Dataset:
    """The model's data: load_npz for a one-input model; for several inputs an array per Keras input, named after
    it (N, *that input's shape; the same N for all), joined per sample as the runners take them, and optional y."""
    names, shapes = [tensor.name for tensor in model.inputs], input_shapes(model)
    if len(names) == 1:
        return load_npz(path, shapes[0], need_labels, num_classes)
    path = Path(path)
    arrays = _read_archive(path)
    missing = [name for name in names if name not in arrays]
    if missing:
        raise InputError(f"{path}: no array for the model's input(s) {', '.join(missing)} (the model has "
                         f"{len(names)} inputs: {', '.join(names)}; an array per input, named after it; found: "
                         f"{', '.join(arrays) or 'none'})")
    parts = [_checked_input(path, name, arrays[name], shape, f"input {name!r} expects")
             for name, shape in zip(names, shapes)]
    for name, part in zip(names[1:], parts[1:]):
        if len(part) != len(parts[0]):
            raise InputError(f"{path}: array {name!r} has {len(part)} samples and {names[0]!r} {len(parts[0])}; "
                             f"every input's array needs the same number of samples")
    labels = _checked_labels(path, arrays.get("y"), len(parts[0]), need_labels, num_classes)
    return Dataset(runtime.join_outputs(parts), labels, str(path))


def data_layout(model) -> str:
    """The arrays load_model_data wants for this model, for an error message."""
    shapes = [", ".join(map(str, shape)) for shape in input_shapes(model)]
    if len(shapes) == 1:
        return f"array x of shape (N, {shapes[0]})"
    return "arrays " + ", ".join(f"{tensor.name} (N, {shape})" for tensor, shape in zip(model.inputs, shapes))


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not an .npz archive (not a zip file; write it with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None


def _checked_input(path: Path, name: str, x: np.ndarray, input_shape: tuple[int, ...], expects: str) -> np.ndarray:
    """One input's array as float32: numeric, (N >= 1, *input_shape), finite."""
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise InputError(f"{path}: {name} has dtype {x.dtype}; a numeric array is required")
    if x.ndim != len(input_shape) + 1 or tuple(x.shape[1:]) != tuple(input_shape):
        raise InputError(f"{path}: {name} has shape {x.shape}; {expects} (N, {', '.join(map(str, input_shape))})")
    if len(x) == 0:
        raise InputError(f"{path}: {name} is empty (0 samples)")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise InputError(f"{path}: {name} contains {int((~np.isfinite(x)).sum())} NaN/Inf values")
    return x


def _checked_labels(path: Path, y: np.ndarray | None, count: int, need_labels: bool,
                    num_classes: int | None) -> np.ndarray | None:
    if y is None and need_labels:
        raise InputError(f"{path}: no array named 'y' (labels are needed here)")
    if y is None:
        return None
    if not np.issubdtype(y.dtype, np.integer) or y.shape != (count,):
        raise InputError(f"{path}: y must be integer labels of shape ({count},), got {y.dtype} {y.shape}")
    if num_classes is not None and (y.min() < 0 or y.max() >= num_classes):
        raise InputError(f"{path}: labels must be in 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}")
    return y.astype(np.int64)


def input_shapes(model) -> list[tuple[int, ...]]:
    """Each Keras input's shape without the batch axis, in the model's input order."""
    return [tuple(int(d) for d in tensor.shape[1:]) for tensor in model.inputs]


def keras_inputs(model, x: np.ndarray) -> list[np.ndarray]:
    """Joined float inputs (as load_model_data returns them for several inputs) as one array per Keras input."""
    return runtime.split_joined(x, input_shapes(model))


def predict(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The Keras model's float64 outputs on x (several inputs: joined, keras_inputs); several outputs joined per
    sample as runtime.join_outputs does."""
    parts = keras_inputs(model, x)
    outputs = model.predict(parts[0] if len(parts) == 1 else parts, batch_size=batch_size, verbose=0)
    return np.asarray(runtime.join_outputs(outputs), np.float64)


def class_elements(model) -> int:
    """Elements of the model's first output per sample: where predict's joined outputs carry the class."""
    return int(np.prod(model.outputs[0].shape[1:]))
