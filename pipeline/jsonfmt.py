"""JSON as the CLI and the reports print it: sorted keys, NumPy scalars as numbers, NaN as null, infinities as strings."""
from __future__ import annotations

import json
import math

import numpy as np


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def dumps(obj: dict) -> str:
    """Indented, key-sorted JSON of a report (deterministic for the same values)."""
    return json.dumps(_json_safe(obj), indent=2, sort_keys=True)
