"""The parameter words of an op record: a kernel_params dataclass laid out as its C struct, word by word."""
from __future__ import annotations

import dataclasses
import functools
import typing

import numpy as np

_type_hints = functools.cache(typing.get_type_hints)


@functools.cache
def param_layout(params_type: type) -> tuple[tuple[str, str], ...]:
    """(field path, 'int32_t' or 'float') of every parameter word of a params dataclass, in the order the C struct
    declares its fields (nested structs flattened in place: 'conv.stride_y')."""
    layout = []
    for field in dataclasses.fields(params_type):
        field_type = _type_hints(params_type)[field.name]
        if dataclasses.is_dataclass(field_type):
            layout.extend((f"{field.name}.{path}", c_type) for path, c_type in param_layout(field_type))
        else:
            layout.append((field.name, "float" if field_type is float else "int32_t"))
    return tuple(layout)


def float_bits(value: float) -> int:
    """A float32's bit pattern as an int32 parameter word."""
    return int(np.float32(value).view(np.int32))


def param_words(params) -> tuple[int, ...]:
    """The words of a params dataclass in param_layout's order: int32 fields as themselves, float fields as their
    float32 bit pattern."""
    words: list[int] = []
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if dataclasses.is_dataclass(value):
            words.extend(param_words(value))
        else:
            words.append(float_bits(value) if _type_hints(type(params))[field.name] is float else int(value))
    return tuple(words)


def nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The blob's NHWC dims of a shape of rank <= 4: rank 2 [b, d] -> [b, 1, 1, d]; other ranks padded with leading
    ones."""
    if len(shape) == 2:
        return (shape[0], 1, 1, shape[1])
    return tuple((1,) * (4 - len(shape)) + tuple(shape))
