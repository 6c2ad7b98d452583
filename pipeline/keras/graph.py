"""Graph helpers for functional Keras models: which tensors a layer reads, which layers read a tensor."""
from __future__ import annotations


def inbound_tensors(layer) -> list:
    """The Keras tensors a (functional-model, single-call) layer reads."""
    node = layer._inbound_nodes[0]
    return list(node.input_tensors)


def consumers(model) -> dict[int, list]:
    """id(Keras tensor) -> the layers of `model` that read it, in layer order."""
    readers: dict[int, list] = {}
    for layer in model.layers:
        if layer.__class__.__name__ != "InputLayer":
            for tensor in inbound_tensors(layer):
                readers.setdefault(id(tensor), []).append(layer)
    return readers
