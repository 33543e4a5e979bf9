"""Offline Edge TPU compatibility pre-check: predict, op by op, what ``edgetpu_compiler`` maps.

It applies the documented Edge TPU model requirements (coral.ai "TensorFlow models on the
Edge TPU"):

- tensors are 8-bit quantized (int8/uint8; int32 biases);
- tensor sizes are constant at compile time (static shapes);
- tensors have at most 3 dimensions, or only the 3 innermost dimensions are larger than 1;
- the op is in the supported-operations table, within its documented limits;
- the compiler makes one Edge TPU subgraph: at the first op that cannot be mapped, that op
  and every op after it run on the CPU.

It needs no compiler, so it runs everywhere, always. Status texts follow the compiler's own
operation log so the two can be compared line by line.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .ops import OpInfo, read_ops

# The Edge TPU's supported operations (compiler 16), with their documented limits checked below.
SUPPORTED_OPS = frozenset(
    {
        "ADD",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "EXPAND_DIMS",
        "FULLY_CONNECTED",
        "L2_NORMALIZATION",
        "LOGISTIC",
        "LSTM",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MUL",
        "PACK",
        "PAD",
        "PRELU",
        "QUANTIZE",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "RSQRT",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SQUARED_DIFFERENCE",
        "SQUEEZE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
        "HARD_SWISH",
    }
)
_INT_TYPES = frozenset({"int8", "uint8"})
_SOFTMAX_MAX = 16000


class OpStatus(str, enum.Enum):
    """Predicted placement of one op, worded as the compiler's operation log words it."""

    MAPPED = "Mapped to Edge TPU"
    UNSUPPORTED = "Operation not supported"
    AFTER_CPU = "More than one subgraph is not supported"


@dataclass(frozen=True)
class OpPrediction:
    """One op: where it is predicted to run and why."""

    index: int
    op: str
    status: OpStatus
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "op": self.op, "status": self.status.value, "reason": self.reason}


@dataclass(frozen=True)
class Precheck:
    """The prediction for a whole model."""

    ops: tuple[OpPrediction, ...]

    @property
    def mapped(self) -> int:
        return sum(p.status is OpStatus.MAPPED for p in self.ops)

    @property
    def on_cpu(self) -> int:
        return len(self.ops) - self.mapped

    @property
    def first_unsupported(self) -> OpPrediction | None:
        return next((p for p in self.ops if p.status is OpStatus.UNSUPPORTED), None)

    @property
    def fully_mapped(self) -> bool:
        return self.on_cpu == 0

    def table(self) -> list[dict[str, Any]]:
        """Rows ``{op, count, status}`` grouped like the compiler's log."""
        counts: collections.Counter[tuple[str, str]] = collections.Counter(
            (p.op, p.status.value) for p in self.ops
        )
        return [{"op": op, "count": n, "status": status} for (op, status), n in counts.items()]

    def as_dict(self) -> dict[str, Any]:
        first = self.first_unsupported
        return {
            "ops_total": len(self.ops),
            "ops_mapped": self.mapped,
            "ops_on_cpu": self.on_cpu,
            "predicted_subgraphs": 1 if self.mapped else 0,
            "fully_mapped": self.fully_mapped,
            "first_unsupported": first.as_dict() if first else None,
            "table": self.table(),
            "ops": [p.as_dict() for p in self.ops],
        }


def _rank_ok(shape: tuple[int, ...]) -> bool:
    return len(shape) <= 3 or all(d == 1 for d in shape[:-3])


def check_op(op: OpInfo) -> str:
    """Why ``op`` cannot run on the Edge TPU, or ``""`` when it can."""
    if op.name not in SUPPORTED_OPS:
        return f"{op.name} is not an Edge TPU operation"
    tensors = (*op.inputs, *op.outputs)
    for t in tensors:
        if t.dynamic:
            return f"tensor {t.name} has a dynamic shape {list(t.shape_signature)}; sizes must be constant"
    for t in tensors:
        if t.constant and t.dtype == "int32":
            continue  # biases, shapes, paddings, axes
        if t.dtype not in _INT_TYPES and not (t.constant and t.dtype == "int64"):
            return f"tensor {t.name} is {t.dtype}; the Edge TPU needs 8-bit quantized (int8/uint8) tensors"
    for t in tensors:
        if not t.constant and not _rank_ok(t.shape):
            return f"tensor {t.name} has shape {list(t.shape)}: only the 3 innermost dimensions may be larger than 1"
    if op.name == "CONV_2D" and "dilation" in op.options:
        dw, dh = op.options["dilation"]
        if dw != dh:
            return f"CONV_2D must use the same dilation in x and y, found {dw}x{dh}"
    if op.name == "DEPTHWISE_CONV_2D" and op.options.get("dilation", (1, 1)) != (1, 1):
        return "dilated DEPTHWISE_CONV_2D kernels are not supported"
    if op.name == "SOFTMAX" and op.inputs:
        shape = op.inputs[0].shape
        inner = [d for d in shape if d != 1]
        size = 1
        for d in shape:
            size *= d
        if len(inner) > 1 or size > _SOFTMAX_MAX:
            return (
                f"SOFTMAX supports only a 1-D input of at most {_SOFTMAX_MAX} elements, found {list(shape)}"
            )
    if op.name == "FULLY_CONNECTED" and op.outputs:
        inner = [d for d in op.outputs[0].shape if d != 1]
        if len(inner) > 1:
            return f"FULLY_CONNECTED output must be one-dimensional, found {list(op.outputs[0].shape)}"
    return ""


def precheck(model: bytes) -> Precheck:
    """Predict the Edge TPU placement of every op of ``model`` (subgraph 0, execution order)."""
    return predict(read_ops(model))


def predict(ops: Iterable[OpInfo]) -> Precheck:
    """Predict the placement of ``ops`` (execution order): mapped until the first op that
    cannot be, which and every later op of subgraph 0 run on the CPU."""
    preds: list[OpPrediction] = []
    cut: OpPrediction | None = None
    for op in ops:
        if op.subgraph != 0:
            continue
        if cut is not None:
            preds.append(
                OpPrediction(
                    op.index, op.name, OpStatus.AFTER_CPU, f"after {cut.op} (op {cut.index}) on the CPU"
                )
            )
            continue
        reason = check_op(op)
        if reason:
            cut = OpPrediction(op.index, op.name, OpStatus.UNSUPPORTED, reason)
            preds.append(cut)
        else:
            preds.append(OpPrediction(op.index, op.name, OpStatus.MAPPED))
    return Precheck(tuple(preds))
