"""What a sweep covers: a YAML spec file or command-line lists, checked, as typed cells in a fixed order."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError
from pipeline.firmware import targets
from pipeline.keras.modelio import ZOO_PREFIX
from pipeline.quant import schemes
from pipeline.quant.calibrators import make_calibrator
from pipeline.quant.wess import SHIFT_RULES

LIST_KEYS = ("models", "schemes", "calibrators", "targets")
DEFAULTS = {"calibrators": ("max",), "targets": (targets.HOST,)}
TOP_KEYS = (*LIST_KEYS, "shift_rule", "verify_inputs", "cells")
MODEL_KEYS = ("model", "data", "test_data")
CELL_KEYS = ("model", "scheme", "calibrator", "target")


@dataclass(frozen=True)
class ModelSpec:
    """A model as the spec names it (the table's label) and where its files are."""

    label: str  # zoo:<name> or the path as written
    location: str  # zoo:<name> or the path resolved against the spec file's directory
    data: str | None = None  # calibration .npz (zoo models: the digits calibration split when None)
    test_data: str | None = None  # labelled test .npz (zoo models: the digits test split when None)

    @property
    def is_zoo(self) -> bool:
        return self.location.startswith(ZOO_PREFIX)


@dataclass(frozen=True)
class CellSpec:
    """One cell of the grid: which model, scheme, calibrator and target."""

    model: str  # a ModelSpec label
    scheme: str
    calibrator: str
    target: str


@dataclass(frozen=True)
class SweepSpec:
    """The checked sweep: its axes in the order given, and the cells (the cross product unless listed)."""

    models: tuple[ModelSpec, ...]
    schemes: tuple[str, ...]
    calibrators: tuple[str, ...]
    targets: tuple[str, ...]
    shift_rule: str = "mse"
    verify_inputs: int = 20
    listed: tuple[CellSpec, ...] | None = None

    def cells(self) -> list[CellSpec]:
        """The cells, sorted by the position of their model, target, scheme and calibrator in the spec."""
        if self.listed is not None:
            cells = list(dict.fromkeys(self.listed))
        else:
            cells = [CellSpec(m.label, s, c, t) for m, t, s, c in
                     itertools.product(self.models, self.targets, self.schemes, self.calibrators)]
        return sorted(cells, key=self.order)

    def order(self, cell: CellSpec) -> tuple[int, int, int, int]:
        labels = [m.label for m in self.models]
        return (labels.index(cell.model), self.targets.index(cell.target), self.schemes.index(cell.scheme),
                self.calibrators.index(cell.calibrator))

    def model(self, label: str) -> ModelSpec:
        return next(m for m in self.models if m.label == label)


def _check_names(source: str, key: str, names: tuple[str, ...]) -> None:
    """Each scheme, calibrator and target must be one wess deploy accepts; the error names the spec and key."""
    for name in names:
        try:
            if key == "schemes":
                schemes.parse_scheme(name)
            elif key == "calibrators" and name != "auto":
                make_calibrator(name)
            elif key == "targets" and name not in targets.NAMES:
                raise InputError(f"unknown target {name!r}; choose one of {', '.join(targets.NAMES)}")
        except InputError as exc:
            raise InputError(f"{source}: {key}: {exc}") from None
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"{source}: {key}: {', '.join(duplicates)} listed twice")


def _model_spec(source: str, entry, base: Path | None) -> ModelSpec:
    """`zoo:<name>`, a path, or a mapping {model, data, test_data}; paths resolved against the spec's directory."""
    if isinstance(entry, str):
        entry = {"model": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
        raise InputError(f"{source}: models: each entry is zoo:<name>, a path, or {{model: PATH, data: NPZ, "
                         f"test_data: NPZ}} (got {entry!r})")
    unknown = sorted(set(entry) - set(MODEL_KEYS))
    if unknown:
        raise InputError(f"{source}: models: unknown key {unknown[0]!r} in {entry['model']!r}; allowed: "
                         f"{', '.join(MODEL_KEYS)}")

    def resolve(text):
        if text is None or text.startswith(ZOO_PREFIX) or base is None:
            return text
        return str(base / text)

    model = ModelSpec(entry["model"], resolve(entry["model"]), resolve(entry.get("data")),
                      resolve(entry.get("test_data")))
    if not model.is_zoo and (model.data is None or model.test_data is None):
        raise InputError(f"{source}: model {model.label!r}: a model file needs data: (calibration .npz with x) and "
                         "test_data: (.npz with x and labels y)")
    return model


def _string_list(source: str, key: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InputError(f"{source}: {key}: expected a non-empty list of names, got {value!r}")
    return tuple(value)


def _listed_cells(source: str, value, spec: SweepSpec) -> tuple[CellSpec, ...]:
    """`cells:` entries {model, scheme, calibrator, target}: each axis value must appear in the spec's lists."""
    if not isinstance(value, list) or not value:
        raise InputError(f"{source}: cells: expected a non-empty list of {{{', '.join(CELL_KEYS)}}}")
    axes = {"model": [m.label for m in spec.models], "scheme": spec.schemes, "calibrator": spec.calibrators,
            "target": spec.targets}
    cells = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) - set(CELL_KEYS) or "model" not in entry or "scheme" not in entry:
            raise InputError(f"{source}: cells[{index}]: expected {{model, scheme[, calibrator][, target]}}, got "
                             f"{entry!r}")
        fields = {"calibrator": spec.calibrators[0], "target": spec.targets[0], **entry}
        for key, allowed in axes.items():
            if fields[key] not in allowed:
                raise InputError(f"{source}: cells[{index}]: {key} {fields[key]!r} is not in the spec's {key}s "
                                 f"({', '.join(allowed)})")
        cells.append(CellSpec(**{key: fields[key] for key in CELL_KEYS}))
    return tuple(cells)


def from_mapping(source: str, document, base: Path | None = None) -> SweepSpec:
    """A SweepSpec from a parsed YAML document (or the CLI's lists); `source` names it in errors."""
    if not isinstance(document, dict):
        raise InputError(f"{source}: expected a mapping with keys {', '.join(TOP_KEYS)}")
    unknown = sorted(set(document) - set(TOP_KEYS))
    if unknown:
        raise InputError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(TOP_KEYS)}")
    if "models" not in document or "schemes" not in document:
        raise InputError(f"{source}: 'models' and 'schemes' are required")
    raw_models = document["models"] if isinstance(document["models"], list) else [document["models"]]
    models = tuple(_model_spec(source, entry, base) for entry in raw_models)
    lists = {key: _string_list(source, key, document[key]) if key in document else DEFAULTS[key]
             for key in LIST_KEYS[1:]}
    labels = tuple(m.label for m in models)
    _check_names(source, "models", labels)
    for key, names in lists.items():
        _check_names(source, key, names)
    shift_rule = document.get("shift_rule", "mse")
    if shift_rule not in SHIFT_RULES:
        raise InputError(f"{source}: shift_rule: {shift_rule!r}; choose one of {', '.join(SHIFT_RULES)}")
    verify_inputs = document.get("verify_inputs", 20)
    if not isinstance(verify_inputs, int) or isinstance(verify_inputs, bool) or verify_inputs < 0:
        raise InputError(f"{source}: verify_inputs: expected an integer >= 0, got {verify_inputs!r}")
    spec = SweepSpec(models, lists["schemes"], lists["calibrators"], lists["targets"], shift_rule, verify_inputs)
    if "cells" in document:
        spec = SweepSpec(**{**spec.__dict__, "listed": _listed_cells(source, document["cells"], spec)})
    return spec


def load(path: str | Path) -> SweepSpec:
    """Read and check a YAML spec file (PyYAML's safe loader: plain data only)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    return from_mapping(str(path), document, path.parent)
