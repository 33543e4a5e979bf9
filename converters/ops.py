"""The op table of a .tflite: a per-type summary saying whether each op computes in int8 or
in float.

The graph itself (every operator in execution order with its tensors) is read by the
runtime's :mod:`edge_sdk.tflite_graph`, re-exported here.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass
from typing import Any

from edge_sdk.tflite_graph import OpInfo, TensorInfo, read_ops

__all__ = [
    "BOUNDARY_OPS",
    "OpInfo",
    "OpRow",
    "Precision",
    "TensorInfo",
    "float_ops",
    "op_precision",
    "op_table",
    "read_ops",
]

_FLOAT_TYPES = {"float32", "float16", "float64"}
BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


class Precision(str, enum.Enum):
    """How an op computes: on integers, in float, or converting between the two."""

    INT8 = "int8"
    FLOAT = "float"
    CONVERSION = "conversion"  # QUANTIZE / DEQUANTIZE at a float<->int boundary


def op_precision(op: OpInfo) -> Precision:
    """How ``op`` computes: int8, float, or a float<->int conversion at a boundary."""
    activations = [t for t in (*op.inputs, *op.outputs) if not t.constant]
    floats = any(t.dtype in _FLOAT_TYPES for t in activations)
    if op.name in BOUNDARY_OPS and floats:
        return Precision.CONVERSION
    if floats or any(t.dtype in _FLOAT_TYPES for t in op.inputs):
        return Precision.FLOAT
    return Precision.INT8


@dataclass(frozen=True)
class OpRow:
    """One line of the op table: op type, how many, and how they compute."""

    op: str
    count: int
    precision: Precision

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "count": self.count, "precision": self.precision.value}


def op_table(ops: list[OpInfo]) -> list[OpRow]:
    """Group ops by (type, precision), most frequent first."""
    counts: collections.Counter[tuple[str, Precision]] = collections.Counter(
        (op.name, op_precision(op)) for op in ops
    )
    return [
        OpRow(name, n, prec) for (name, prec), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))
    ]


def float_ops(ops: list[OpInfo]) -> list[str]:
    """Names of the op types that compute in float (sorted, unique)."""
    return sorted({op.name for op in ops if op_precision(op) is Precision.FLOAT})
