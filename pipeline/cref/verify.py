"""`wess verify`: the C reference runner, LiteRT's reference kernels and TFLite Micro compared byte for byte."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pipeline.errors import InputError, UnsupportedError
from pipeline.keras import zoo
from pipeline.tflite import flatbuf, runtime

from . import backends, compact

DIGITS_SHAPE = (zoo.INPUT_SIZE, zoo.INPUT_SIZE, 1)
RANDOM_INPUTS = 16  # seeded uniform int8 inputs added to the digits
PAIRS = ("ref_vs_litert", "ref_vs_tflm", "litert_vs_tflm")


@dataclass(frozen=True)
class Divergence:
    """The first op (in execution order) whose output differs between the C reference and LiteRT BUILTIN_REF."""

    sample: int  # input index in the verification batch
    operator: int  # TFLite operator index
    op: str
    tensor: int
    tensor_name: str
    mismatched_bytes: int


@dataclass(frozen=True)
class VerifyResult:
    """What `wess verify` reports."""

    model: str
    inputs: int
    digit_inputs: int
    random_inputs: int
    mismatched_bytes: dict[str, int]  # keyed by PAIRS
    first_divergence: Divergence | None
    peak_arena_bytes: int
    blob_bytes: int
    wess: bool
    ref_top1: float | None  # C reference top-1 on the digits labels (32x32x1 models only)

    @property
    def mismatched(self) -> bool:
        return any(self.mismatched_bytes.values())

    def to_json(self) -> dict:
        return asdict(self)


def verification_inputs(q: runtime.IoQuant, count: int, random_count: int, seed: int):
    """(int8 inputs, digits labels or None): `count` test digits (cycled) for 32x32x1 models, then seeded random."""
    rng = np.random.default_rng(seed)
    if q.input_shape == DIGITS_SHAPE:
        splits = zoo.load_digits_splits()
        order = np.arange(count) % len(splits.x_test)
        digits, labels = runtime.quantize_input(splits.x_test[order], q), splits.y_test[order]
    else:
        digits, labels, random_count = np.empty((0, *q.input_shape), np.int8), None, random_count + count
    noise = rng.integers(-128, 128, size=(random_count, *q.input_shape)).astype(np.int8)
    return np.concatenate([digits, noise]), labels


def _byte_mismatches(a: np.ndarray, b: np.ndarray) -> int:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        raise UnsupportedError(f"backends disagree on the output shape or type: {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
    return int(np.count_nonzero(a.view(np.uint8) != b.view(np.uint8)))


def first_divergence(model: bytes, compiled: compact.CompactModel, x: np.ndarray, sample: int) -> Divergence | None:
    """Compare every op output of one sample, C reference vs LiteRT BUILTIN_REF with all tensors preserved."""
    ours = {tensor: values[0] for tensor, values in backends.ref_intermediates(model, x[sample:sample + 1]).items()}
    return divergence_from(model, x, sample, ours, [(op.operator_index, op.op_name, op.outputs) for op in compiled.ops])


def divergence_from(model: bytes, x: np.ndarray, sample: int, ours: dict[int, np.ndarray],
                    operators: list[tuple[int, str, tuple[int, ...]]]) -> Divergence | None:
    """The first of `operators` (index, op name, output tensors; in execution order) whose output in `ours` (tensor
    -> its value at input `sample` of x) differs from LiteRT BUILTIN_REF's with all tensors preserved."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                              experimental_preserve_all_tensors=True, num_threads=1)
    interpreter.allocate_tensors()
    runtime.set_inputs(interpreter, x[sample:sample + 1])
    interpreter.invoke()
    tensors = flatbuf.read_model(model).subgraphs[0].tensors
    for operator, op_name, outputs in operators:
        for tensor in outputs:
            theirs = interpreter.get_tensor(tensor)
            mismatched = _byte_mismatches(ours[tensor].reshape(theirs.shape), theirs)  # one sample: batch 1
            if mismatched:
                return Divergence(sample, operator, op_name, tensor, flatbuf.tensor_name(tensors[tensor]), mismatched)
    return None


def verify(model: bytes, name: str, count: int, random_count: int = RANDOM_INPUTS, seed: int = 0) -> VerifyResult:
    """Run the inputs through the three backends and compare every output byte."""
    if count < 1 or random_count < 0:
        raise InputError(f"--inputs must be >= 1 and --random-inputs >= 0 (got {count}, {random_count})")
    compiled = compact.compile_model(model, name)
    q = runtime.io_quant(model)
    x, labels = verification_inputs(q, count, random_count, seed)
    outputs = {"ref": backends.run_ref(model, x), "litert": runtime.run_litert(model, x, reference=True),
               "tflm": runtime.run_tflm(model, x)}
    mismatched = {pair: _byte_mismatches(outputs[pair.split("_vs_")[0]], outputs[pair.split("_vs_")[1]])
                  for pair in PAIRS}
    divergence = None
    if any(mismatched.values()):
        per_sample = [any(_byte_mismatches(outputs[a][i], outputs[b][i]) for a, b in
                          (p.split("_vs_") for p in PAIRS)) for i in range(len(x))]
        divergence = first_divergence(model, compiled, x, per_sample.index(True))
    top1 = None if labels is None else float(np.mean(outputs["ref"][:len(labels)].reshape(len(labels), -1)
                                                      .argmax(axis=1) == labels))
    return VerifyResult(name, int(len(x)), 0 if labels is None else int(len(labels)),
                        int(len(x)) - (0 if labels is None else int(len(labels))), mismatched, divergence,
                        compiled.arena_bytes, len(compiled.blob), compiled.wess, top1)
