"""Activation ranges: stream calibration data through the float model into calibrators, write the chosen ranges."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pipeline.tflite import flatbuf, runtime

from .calibrators import Calibrator, make_calibrator

CALIBRATION_BATCH = 50  # samples per interpreter run while collecting activations


def activation_tensors(calibrated: bytes) -> list[int]:
    """Indices of the tensors the converter calibrated (those carrying min/max)."""
    model = flatbuf.read_model(calibrated)
    return [i for i, t in enumerate(model.subgraphs[0].tensors)
            if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min)]


def stream_tensors(calibrated: bytes, x: np.ndarray, tensor_indices: list[int],
                   progress: bool = False) -> Iterator[dict[int, np.ndarray]]:
    """Run x through the float model in batches of CALIBRATION_BATCH; yield each batch's listed tensors by index.

    Memory stays flat in the number of samples: one batch of tensors at a time.
    """
    from tqdm import tqdm

    interpreter = _float_interpreter(calibrated)
    graph = flatbuf.read_model(calibrated).subgraphs[0]
    batched = [i for i in tensor_indices if graph.tensors[i].shape is not None and len(graph.tensors[i].shape)
               and graph.tensors[i].shape[0] == 1]  # tensors with a batch axis
    for start in tqdm(range(0, len(x), CALIBRATION_BATCH), desc="calibrating", disable=not progress, leave=False):
        batch = x[start:start + CALIBRATION_BATCH].astype(np.float32)
        tensors = run_batch(interpreter, batch, tensor_indices, batched)
        if tensors is None:  # a batch-1 model whose shapes are constants (convert.py exports batch 1)
            interpreter = _float_interpreter(calibrated)
            samples = [run_batch(interpreter, sample[None], tensor_indices, batched) for sample in batch]
            tensors = {index: np.concatenate([s[index] for s in samples]) for index in tensor_indices}
        yield tensors


def _float_interpreter(calibrated: bytes):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True, num_threads=2)


def run_batch(interpreter, batch: np.ndarray, tensor_indices: list[int],
               batched: list[int]) -> dict[int, np.ndarray] | None:
    """The listed tensors for this batch, or None when the model does not run at this batch size (the `batched`
    tensors must keep the batch as their leading axis, else a constant-shape RESHAPE has mixed the samples)."""
    try:
        runtime.set_inputs(interpreter, batch, resize=True)  # several inputs: the batch joins them
        interpreter.invoke()
    except (ValueError, RuntimeError):
        return None
    tensors = {index: interpreter.get_tensor(index) for index in tensor_indices}
    if any(tensors[index].shape[:1] != (len(batch),) for index in batched):
        return None
    return tensors


def collect_activations(calibrated: bytes, calibration_x: np.ndarray, calibrators: dict[int, list[Calibrator]],
                        progress: bool = False) -> None:
    """Stream the calibration split through the float model and feed every calibrated tensor's values
    (histograms of fixed size: memory stays flat in the number of samples)."""
    for tensors in stream_tensors(calibrated, calibration_x, list(calibrators), progress):
        for tensor_index, cals in calibrators.items():
            for cal in cals:
                cal.collect(tensors[tensor_index])


def with_ranges(calibrated: bytes, ranges: dict[int, tuple[float, float]]) -> bytes:
    """The calibrated model with the given tensors' min/max replaced."""
    model = flatbuf.read_model(calibrated)
    tensors = model.subgraphs[0].tensors
    for index, (low, high) in ranges.items():
        tensors[index].quantization.min = np.array([low], np.float32)
        tensors[index].quantization.max = np.array([high], np.float32)
    return flatbuf.write_model(model)


def calibrate_ranges(calibrated: bytes, calibration_x: np.ndarray, names: list[str],
                     progress: bool = False) -> dict[str, dict[int, tuple[float, float]]]:
    """For each calibrator name, the [min, max] of every activation tensor, in one pass over the data."""
    indices = activation_tensors(calibrated)
    calibrators = {i: [make_calibrator(name) for name in names] for i in indices}
    collect_activations(calibrated, calibration_x, calibrators, progress)
    return {name: {i: calibrators[i][k].compute_range() for i in indices} for k, name in enumerate(names)}


HELD_BACK_FRACTION = 0.25  # of the calibration split, scored but not calibrated on by `--calibrator auto`
HELD_BACK_SEED = 0


def held_back_split(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(calibrate on, score on) sample indices: a seeded permutation, HELD_BACK_FRACTION held back (at least one
    sample each side; with a single sample both are that sample)."""
    order = np.random.default_rng(HELD_BACK_SEED).permutation(samples)
    held = min(max(1, int(round(samples * HELD_BACK_FRACTION))), samples - 1) if samples > 1 else 1
    return (np.sort(order[held:]) if samples > 1 else order), np.sort(order[:held])
