"""`wess run --input`: the user's .npy inputs, one per model input (NAME=X.npy for several), as joined int8."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import InputError
from pipeline.tflite import runtime


def load_run_inputs(specs: list[str], q: runtime.IoQuant, model: str) -> np.ndarray:
    """int8 inputs [N, *shape] (several model inputs: joined per sample, runtime.join_outputs) from `--input`
    values: `X.npy` for a one-input model (or `NAME=X.npy`), `NAME=X.npy` once per input for several."""
    files = _files_by_input(specs, q, model)
    parts = [_load_one(files[tensor.name], tensor, len(q.inputs) > 1) for tensor in q.inputs]
    counts = {len(part) for part in parts}
    if len(counts) > 1:
        found = ", ".join(f"{tensor.name}={files[tensor.name]} ({len(part)})" for tensor, part in zip(q.inputs, parts))
        raise InputError(f"{model}: --input files hold different numbers of samples: {found}")
    return runtime.join_outputs(parts)


def _files_by_input(specs: list[str], q: runtime.IoQuant, model: str) -> dict[str, Path]:
    names = [tensor.name for tensor in q.inputs]
    usage = " ".join(f"--input {name}=X.npy" for name in names)
    if len(names) == 1 and len(specs) == 1 and not _named(specs[0], names):
        return {names[0]: Path(specs[0])}
    files: dict[str, Path] = {}
    for spec in specs:
        if not _named(spec, names):
            raise InputError(f"{model}: --input {spec}: the model has {len(names)} inputs ({', '.join(names)}); "
                             f"give each as {usage}")
        name, _, file = spec.partition("=")
        if name in files:
            raise InputError(f"{model}: --input {name}= given twice")
        files[name] = Path(file)
    missing = [name for name in names if name not in files]
    if missing:
        raise InputError(f"{model}: no --input for the model's input(s) {', '.join(missing)}; give {usage}")
    return files


def _named(spec: str, names: list[str]) -> bool:
    return spec.partition("=")[0] in names and "=" in spec


def _load_one(path: Path, tensor: runtime.OutputQuant, named: bool) -> np.ndarray:
    """One input's int8 array from an int8 (quantized) or float .npy; a single sample may omit the batch axis."""
    what = f"{path} (input {tensor.name!r})" if named else str(path)
    if not path.is_file():
        raise InputError(f"{what}: no such file")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{what}: not a readable .npy file ({exc})") from None
    if x.shape == tensor.shape:
        x = x[None]
    if tuple(x.shape[1:]) != tensor.shape:
        raise InputError(f"{what}: shape {x.shape}; the model expects (N, {', '.join(map(str, tensor.shape))})")
    if x.dtype == np.int8:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{what}: dtype {x.dtype}; give int8 (quantized) or float inputs")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{what}: {int((~np.isfinite(x)).sum())} NaN/Inf values; float inputs must be finite")
    return runtime.quantize_tensor(x, tensor)
