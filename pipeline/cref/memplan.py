"""Static activation memory plan: arena offsets computed ahead of time, buffers reused once dead (greedy by size)."""
from __future__ import annotations

from dataclasses import dataclass

ARENA_ALIGNMENT = 16  # every buffer starts on a 16-byte boundary


@dataclass(frozen=True)
class Buffer:
    """One activation buffer: the tensors sharing it (aliases), its size and the ops during which it is live."""

    tensors: tuple[int, ...]  # tensor indices; more than one when RESHAPE aliases its input
    size_bytes: int
    first_op: int  # position of the op that writes it (0 for the model input)
    last_op: int  # position of the last op that reads it (the last op for the model output)
    offset: int = -1  # arena byte offset, filled by plan()

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first_op <= other.last_op and other.first_op <= self.last_op

    def overlaps_in_memory(self, other: Buffer) -> bool:
        return self.offset < other.offset + other.size_bytes and other.offset < self.offset + self.size_bytes


@dataclass(frozen=True)
class MemoryPlan:
    """Arena offset of every activation tensor and the peak arena size."""

    buffers: tuple[Buffer, ...]
    arena_bytes: int  # peak: the end of the highest buffer

    def offset_of(self, tensor_index: int) -> int:
        for buffer in self.buffers:
            if tensor_index in buffer.tensors:
                return buffer.offset
        raise KeyError(tensor_index)


def _align(value: int) -> int:
    return (value + ARENA_ALIGNMENT - 1) // ARENA_ALIGNMENT * ARENA_ALIGNMENT


def plan(buffers: list[Buffer]) -> MemoryPlan:
    """Place the largest buffers first, each at the lowest aligned offset free of every time-overlapping buffer."""
    placed: list[Buffer] = []
    for buffer in sorted(buffers, key=lambda b: (-b.size_bytes, b.first_op, b.tensors)):
        live = sorted((p for p in placed if p.overlaps_in_time(buffer)), key=lambda p: p.offset)
        offset = 0
        for other in live:
            if offset + buffer.size_bytes <= other.offset:
                break
            offset = max(offset, _align(other.offset + other.size_bytes))
        placed.append(Buffer(buffer.tensors, buffer.size_bytes, buffer.first_op, buffer.last_op, offset))
    placed.sort(key=lambda b: (b.first_op, b.tensors))
    arena_bytes = max((b.offset + b.size_bytes for b in placed), default=0)
    return MemoryPlan(tuple(placed), arena_bytes)


def conflicts(memory_plan: MemoryPlan) -> list[tuple[Buffer, Buffer]]:
    """Pairs of buffers live at the same time whose byte ranges overlap (empty for a correct plan)."""
    buffers = memory_plan.buffers
    return [(a, b) for i, a in enumerate(buffers) for b in buffers[i + 1:]
            if a.overlaps_in_time(b) and a.overlaps_in_memory(b)]
