"""`--custom-objects MODULE[,MODULE]`: the user's Keras layer and model classes, from importable modules or .py files."""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
from pathlib import Path
from types import ModuleType

from pipeline.errors import InputError, UnsupportedError

log = logging.getLogger(__name__)
OPTION = "--custom-objects"


def parse_modules(value: str | None) -> tuple[str, ...]:
    """`a.b,layers.py` -> ("a.b", "layers.py"); None or "" -> ()."""
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _import(spec: str) -> ModuleType:
    """An importable module name, or a .py file executed as a module of its own (the user's own code)."""
    if spec.endswith(".py"):
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"{OPTION} {spec}: no such file")
        name = f"wess_custom_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module  # dataclasses and keras' registry look the module up by name
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:  # the user's file: whatever it raises is their error, not ours
            del sys.modules[name]
            raise InputError(f"{OPTION} {spec}: importing it failed: {type(exc).__name__}: {exc}") from None
        return module
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        raise InputError(f"{OPTION} {spec}: cannot import it ({exc}); give an importable module or a .py file") from None


def custom_objects(specs: tuple[str, ...]) -> dict[str, type]:
    """Every keras Layer / Model subclass the modules define, under its class name and its registered name."""
    import keras

    found: dict[str, type] = {}
    for spec in specs:
        module = _import(spec)
        classes = [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                   if issubclass(cls, keras.layers.Layer) and cls.__module__ == module.__name__]
        if not classes:
            raise InputError(f"{OPTION} {spec}: defines no keras Layer or Model subclass")
        for cls in classes:
            found[cls.__name__] = cls
            found[keras.saving.get_registered_name(cls)] = cls
        log.info("%s %s: %s", OPTION, spec, ", ".join(cls.__name__ for cls in classes))
    return found


def missing_class_advice(kind: str, name: str) -> str:
    """What to say when Keras cannot find a class the file names."""
    return (f"custom {kind} {name!r} is not available: pass the module or .py file that defines it with "
            f"{OPTION} MODULE[,MODULE], or export the model as a SavedModel directory (model.export(DIR))")


def as_functional(model, path: Path):
    """A subclassed model (no symbolic inputs) wrapped as a one-input functional model from its build shape."""
    import keras

    if getattr(model, "inputs", None):
        return model
    shape = (model.get_build_config() or {}).get("input_shape") if hasattr(model, "get_build_config") else None
    if not shape or not isinstance(shape[0], (int, type(None))):
        raise UnsupportedError(f"{path}: subclassed model {model.name!r} records no single input shape; build it on "
                               "one input before saving, or export it as a SavedModel directory (model.export(DIR))")
    inp = keras.Input(shape=tuple(shape[1:]), name="input")
    return keras.Model(inp, model(inp), name=model.name)
