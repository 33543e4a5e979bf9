"""Offline Edge TPU pre-check: predict, op by op, what ``edgetpu_compiler`` 16 maps.

It needs neither the compiler (x86-64 Linux only) nor TensorFlow: the graph is read from the
flatbuffer (:mod:`edge_sdk.tflite_graph`), so it runs on a Pi, a Mac or an ARM laptop, from
``edge-sdk info MODEL --edgetpu``.

Two parts:

1. **Can this op run on the Edge TPU at all?** (:func:`check`) The rules of the supported-ops
   table (:data:`OP_TABLE`, each entry with its source) and the global requirements: 8-bit
   tensors, static shapes, only the 3 innermost dimensions larger than 1.
2. **Where does it run, given the others?** (:func:`predict`) The compiler makes one Edge TPU
   subgraph (one ``edgetpu-custom-op``). Placement follows the data flow, not the file order:

   - an op that cannot be mapped and consumes only graph inputs (or the outputs of other such
     ops) runs on the CPU *before* the Edge TPU subgraph;
   - an op that cannot be mapped and consumes an output of the Edge TPU subgraph runs on the
     CPU *after* it, and so does every op that consumes its outputs, directly or
     transitively ("More than one subgraph is not supported"): mapping them would need a
     second Edge TPU subgraph;
   - every other op is mapped, wherever it sits in the file.

   Every prediction is checked with :func:`single_subgraph_violation`: the mapped ops form one
   convex set of the graph (no path leaves it and comes back), which is what one custom op
   can replace.

Status texts are the compiler's own operation-log words, so a prediction and a real log can
be compared line by line. Accuracy against compiled pairs is stated in docs/converters.md.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .modelfile import EDGETPU_CUSTOM_OP
from .tflite_graph import OpInfo, TensorInfo, read_ops

COMPILER_VERSION = "16.0"  # the edgetpu_compiler whose behaviour this models (docs, log header)

# Sources of the op table's entries.
DOCS = "Coral docs: supported operations (coral.ai/docs/edgetpu/models-intro)"
LOG = "compiler 16 log (edgetpu_compiler_sample.log, YOLOv8n): mapped"
LOG_SUBGRAPH = (
    "compiler 16 log (edgetpu_compiler_sample.log): 'More than one subgraph', so otherwise supported"
)
PAIR_DEEPLAB = "compiled pair deeplabv3_mnv2_dm05_pascal_quant"
PAIR_LSTM = "compiled pair keras_lstm_mnist_ptq: mapped"
PAIR_MOBILENET = "compiled pair mobilenet_v1_0.5_160_quant: mapped"
PAIR_POSENET = "compiled pair posenet_mobilenet_v1_075_353_481_16_quant_decoder: mapped"
PAIR_SPLIT = "compiled pair split_concat: mapped"
PAIR_CITYSCAPES = (
    "compiled pair deeplabv3_mnv2_cityscapes (google-coral/test_data, reported in issue 13; "
    "not among the shared pairs): mapped"
)

_INT_TYPES = frozenset({"int8", "uint8"})
SOFTMAX_MAX_ELEMENTS = 16000


@dataclass(frozen=True)
class OpSupport:
    """One row of the Edge TPU's supported-operations table."""

    op: str
    limits: str
    sources: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "limits": self.limits, "sources": list(self.sources)}


def _row(op: str, limits: str, *sources: str) -> tuple[str, OpSupport]:
    return op, OpSupport(op, limits, sources)


# What compiler 16 maps, and within which limits (checked in _limits below).
OP_TABLE: dict[str, OpSupport] = dict(
    [
        _row("ADD", "", DOCS, LOG, PAIR_DEEPLAB),
        _row("AVERAGE_POOL_2D", "no fused activation function", DOCS, PAIR_DEEPLAB),
        _row(
            "CONCATENATION",
            "no fused activation function; a constant input is allowed only as one of 2 inputs, all zeros",
            DOCS,
            LOG,
            PAIR_POSENET,
            PAIR_SPLIT,
        ),
        _row("CONV_2D", "same dilation in x and y", DOCS, LOG, PAIR_MOBILENET),
        _row(
            "DEPTHWISE_CONV_2D",
            "same dilation in x and y (a 2x2 dilation is mapped in the DeepLab pair)",
            DOCS,
            PAIR_DEEPLAB,
            PAIR_MOBILENET,
        ),
        _row("EXPAND_DIMS", "", DOCS),
        _row(
            "FULLY_CONNECTED",
            "default weights format only; one-dimensional output",
            DOCS,
            PAIR_LSTM,
        ),
        _row("L2_NORMALIZATION", "", DOCS),
        _row("LOGISTIC", "", DOCS, LOG),
        _row("LSTM", "unidirectional only", DOCS),
        _row("MAXIMUM", "", DOCS),
        _row("MAX_POOL_2D", "no fused activation function", DOCS, LOG),
        _row("MEAN", "no reduction over the batch dimension", DOCS),
        _row("MINIMUM", "", DOCS),
        _row("MUL", "", DOCS, LOG),
        _row("PACK", "no packing along the batch dimension", DOCS),
        _row("PAD", "no padding of the batch dimension", DOCS, LOG, PAIR_POSENET),
        _row("PRELU", "alpha is one-dimensional (only its innermost dimension is larger than 1)", DOCS),
        _row("QUANTIZE", "integer input (a float input is quantized on the CPU)", DOCS, LOG, PAIR_LSTM),
        _row("REDUCE_MAX", "not over the batch dimension", DOCS),
        _row("REDUCE_MIN", "not over the batch dimension", DOCS),
        _row("RELU", "", DOCS),
        _row("RELU6", "", DOCS),
        _row("RELU_N1_TO_1", "", DOCS),
        _row("RESHAPE", "", DOCS, LOG, PAIR_LSTM, PAIR_MOBILENET),
        _row(
            "RESIZE_BILINEAR",
            "3-D input/output; align_corners=False (a 1x1->33x33 align_corners resize stays on the CPU in "
            "the DeepLab pair); output size an integer multiple of the input size",
            DOCS,
            PAIR_DEEPLAB,
        ),
        _row(
            "RESIZE_NEAREST_NEIGHBOR",
            "as RESIZE_BILINEAR (YOLOv8n's two 2x upsamplings are mapped in the compiler log)",
            DOCS,
            LOG,
        ),
        _row("RSQRT", "", DOCS),
        _row("SLICE", "", DOCS),
        _row(
            "SOFTMAX", f"one-dimensional input of at most {SOFTMAX_MAX_ELEMENTS} elements", DOCS, LOG_SUBGRAPH
        ),
        _row("SPACE_TO_DEPTH", "", DOCS),
        _row("SPLIT", "not along the batch dimension", DOCS, PAIR_SPLIT),
        _row("SQUARED_DIFFERENCE", "", DOCS),
        _row("SQUEEZE", "only leading 1s are removed (no relayout)", DOCS),
        _row("STRIDED_SLICE", "all strides 1, ellipsis_mask 0, new_axis_mask 0", DOCS, LOG),
        _row("SUB", "", DOCS, LOG_SUBGRAPH),
        _row("SUM", "not over the batch dimension", DOCS),
        _row("TANH", "", DOCS),
        _row("TILE", "", PAIR_CITYSCAPES),
        _row("TRANSPOSE", "", DOCS, LOG),
        _row("TRANSPOSE_CONV", "", DOCS),
        _row(
            "UNIDIRECTIONAL_SEQUENCE_LSTM",
            "int8 activations, int16 cell state",
            PAIR_LSTM,
        ),
        _row(
            "HARD_SWISH",
            "",
            "kept from the previous table: not in the Coral table nor in a pair, unverified",
        ),
    ]
)
SUPPORTED_OPS = frozenset(OP_TABLE)


class OpStatus(str, enum.Enum):
    """Predicted placement of one op, worded as the compiler's operation log words it."""

    MAPPED = "Mapped to Edge TPU"
    UNSUPPORTED = "Operation not supported"
    DATA_TYPE = "Operation is working on an unsupported data type"
    RANK = "Tensor has unsupported rank (up to 3 innermost dimensions mapped)"
    LIMITATION = "Operation is otherwise supported, but not mapped due to some unspecified limitation"
    AFTER_CPU = "More than one subgraph is not supported"


class Placement(str, enum.Enum):
    """Where an op runs relative to the single Edge TPU subgraph."""

    CPU_BEFORE = "cpu_before"
    EDGETPU = "edgetpu"
    CPU_AFTER = "cpu_after"


@dataclass(frozen=True)
class Fallback:
    """Why one op cannot run on the Edge TPU: the compiler's status and our explanation."""

    status: OpStatus
    reason: str


@dataclass(frozen=True)
class OpPrediction:
    """One op: where it is predicted to run and why."""

    index: int
    op: str
    status: OpStatus
    reason: str = ""
    placement: Placement = Placement.EDGETPU

    @property
    def mapped(self) -> bool:
        return self.status is OpStatus.MAPPED

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "op": self.op,
            "status": self.status.value,
            "mapped": self.mapped,
            "placement": self.placement.value,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Precheck:
    """The prediction for a whole model (subgraph 0, in execution order)."""

    ops: tuple[OpPrediction, ...]

    @property
    def mapped(self) -> int:
        return sum(p.mapped for p in self.ops)

    @property
    def on_cpu(self) -> int:
        return len(self.ops) - self.mapped

    @property
    def first_unsupported(self) -> OpPrediction | None:
        """The first op (execution order) that cannot be mapped by itself."""
        return next((p for p in self.ops if p.status not in (OpStatus.MAPPED, OpStatus.AFTER_CPU)), None)

    @property
    def fully_mapped(self) -> bool:
        return self.on_cpu == 0

    @property
    def subgraphs(self) -> int:
        """Predicted number of Edge TPU subgraphs (custom ops): 1, or 0 when nothing maps."""
        return 1 if self.mapped else 0

    @property
    def cpu_ops(self) -> dict[str, int]:
        """Op type -> how many of them stay on the CPU."""
        return dict(collections.Counter(p.op for p in self.ops if not p.mapped))

    def cpu_ops_at(self, where: Placement) -> dict[str, int]:
        """Op type -> how many run on the CPU at ``where`` (before or after the Edge TPU subgraph)."""
        return dict(collections.Counter(p.op for p in self.ops if p.placement is where))

    def table(self) -> list[dict[str, Any]]:
        """Rows ``{op, count, status, mapped}`` grouped like the compiler's log (first seen first)."""
        counts: collections.Counter[tuple[str, OpStatus]] = collections.Counter(
            (p.op, p.status) for p in self.ops
        )
        return [
            {"op": op, "count": n, "status": status.value, "mapped": status is OpStatus.MAPPED}
            for (op, status), n in counts.items()
        ]

    def as_dict(self) -> dict[str, Any]:
        first = self.first_unsupported
        return {
            "compiler_version": COMPILER_VERSION,
            "ops_total": len(self.ops),
            "ops_mapped": self.mapped,
            "ops_on_cpu": self.on_cpu,
            "predicted_subgraphs": self.subgraphs,
            "fully_mapped": self.fully_mapped,
            "first_unsupported": first.as_dict() if first else None,
            "cpu_ops": self.cpu_ops,
            "table": self.table(),
            "ops": [p.as_dict() for p in self.ops],
        }


def _rank_ok(shape: tuple[int, ...]) -> bool:
    return len(shape) <= 3 or all(d == 1 for d in shape[:-3])


def _axes(t: TensorInfo | None, rank: int) -> tuple[int, ...] | None:
    """A constant axis tensor's values, normalized to 0..rank-1 (None when not known)."""
    if t is None or t.values is None:
        return None
    return tuple(a % rank if rank else a for a in t.values)


def _dtype_fallback(op: OpInfo) -> Fallback | None:
    for t in (*op.inputs, *op.outputs):
        if t.dtype in _INT_TYPES:
            continue
        if t.constant and t.dtype in ("int32", "int64"):
            continue  # biases, sizes, paddings, axes
        if op.name == "UNIDIRECTIONAL_SEQUENCE_LSTM" and t.variable and t.dtype == "int16":
            continue  # its cell state (mapped in the Keras LSTM pair)
        return Fallback(
            OpStatus.DATA_TYPE,
            f"tensor {t.name!r} is {t.dtype}; the Edge TPU needs 8-bit quantized (int8/uint8) tensors",
        )
    return None


def _limits(op: OpInfo) -> str:
    """The op-specific limit ``op`` breaks, or ``""``."""
    name, o = op.name, op.options
    x = op.inputs[0] if op.inputs else None
    rank = len(x.shape) if x is not None else 0
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION") and o.get("activation", "NONE") != "NONE":
        return f"{name} has a fused {o['activation']} activation; the Edge TPU takes none here"
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D") and "dilation" in o:
        dw, dh = o["dilation"]
        if dw != dh:
            return f"{name} must use the same dilation in x and y, found {dw}x{dh}"
    if name == "CONCATENATION":
        consts = [t for t in op.inputs if t.constant]
        if consts and (len(op.inputs) != 2 or any(t.values is not None and any(t.values) for t in consts)):
            return "a constant CONCATENATION input is only mapped as one of 2 inputs, all zeros (a zero pad)"
    if name == "FULLY_CONNECTED":
        if o.get("weights_format", 0) != 0:
            return "FULLY_CONNECTED weights must use the default format"
        if op.outputs and len([d for d in op.outputs[0].shape if d != 1]) > 1:
            return f"FULLY_CONNECTED output must be one-dimensional, found {list(op.outputs[0].shape)}"
    if (
        name == "SOFTMAX"
        and x is not None
        and (len([d for d in x.shape if d != 1]) > 1 or x.elements > SOFTMAX_MAX_ELEMENTS)
    ):
        return f"SOFTMAX supports only a 1-D input of at most {SOFTMAX_MAX_ELEMENTS} elements, found {list(x.shape)}"
    if name in ("MEAN", "REDUCE_MAX", "REDUCE_MIN", "SUM", "SPLIT") and len(op.inputs) > 1:
        # SPLIT is (axis, data); the reductions are (data, axes).
        data, axis_t = (op.inputs[1], op.inputs[0]) if name == "SPLIT" else (op.inputs[0], op.inputs[1])
        axes = _axes(axis_t, len(data.shape))
        if len(data.shape) > 1 and axes is not None and 0 in axes:
            return f"{name} over the batch dimension (axis 0) is not mapped"
    if name == "PACK" and o.get("axis") == 0:
        return "PACK along the batch dimension (axis 0) is not mapped"
    pads = op.inputs[1].values if name == "PAD" and len(op.inputs) > 1 else None
    if pads is not None and any(pads[:2]):
        return "PAD of the batch dimension is not mapped"
    if name == "PRELU" and len(op.inputs) > 1:
        alpha = op.inputs[1].shape
        if len([d for d in alpha if d != 1]) > 1 or (alpha and any(d != 1 for d in alpha[:-1])):
            return (
                f"PRELU alpha must be one-dimensional (only the innermost dimension > 1), found {list(alpha)}"
            )
    if name == "SQUEEZE" and x is not None:
        dims = o.get("squeeze_dims") or tuple(i for i, d in enumerate(x.shape) if d == 1)
        dims = tuple(d % rank for d in dims) if rank else dims
        first_big = next((i for i, d in enumerate(x.shape) if d != 1), rank)
        if any(d > first_big for d in dims):
            return (
                f"SQUEEZE of {list(x.shape)} along {list(dims)} needs a relayout; only leading 1s are removed"
            )
    if name == "STRIDED_SLICE":
        strides = op.inputs[3].values if len(op.inputs) > 3 else None
        if strides is not None and any(s != 1 for s in strides):
            return f"STRIDED_SLICE strides must all be 1, found {list(strides)}"
        if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0):
            return "STRIDED_SLICE with an ellipsis or new-axis mask is not mapped"
    if name in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR") and x is not None and op.outputs:
        y = op.outputs[0]
        if len(x.shape) == 4 and len(y.shape) == 4:
            (hi, wi), (ho, wo) = x.shape[1:3], y.shape[1:3]
            if o.get("align_corners") and (ho, wo) != (hi, wi):
                return (
                    f"{name} {hi}x{wi} -> {ho}x{wo} with align_corners=True is kept on the CPU "
                    "(precision; as in the compiled DeepLab pair)"
                )
            if hi and wi and (ho % hi or wo % wi):
                return (
                    f"{name} {hi}x{wi} -> {ho}x{wo} is not an integer scale factor; the compiler keeps such "
                    "resizes on the CPU to avoid a loss in precision"
                )
    return ""


def check(op: OpInfo) -> Fallback | None:
    """Why ``op`` cannot run on the Edge TPU by itself, or None when it can."""
    if op.name not in SUPPORTED_OPS:
        return Fallback(
            OpStatus.UNSUPPORTED, f"{op.name} is not an Edge TPU operation (compiler {COMPILER_VERSION})"
        )
    for t in (*op.inputs, *op.outputs):
        if t.dynamic:
            return Fallback(
                OpStatus.LIMITATION,
                f"tensor {t.name!r} has a dynamic shape {list(t.shape_signature)}; sizes must be constant",
            )
    dtype = _dtype_fallback(op)
    if dtype is not None:
        return dtype
    for t in (*op.inputs, *op.outputs):
        if not t.constant and not _rank_ok(t.shape):
            return Fallback(
                OpStatus.RANK,
                f"tensor {t.name!r} has shape {list(t.shape)}: only the 3 innermost dimensions may be larger than 1",
            )
    reason = _limits(op)
    return Fallback(OpStatus.LIMITATION, reason) if reason else None


def check_op(op: OpInfo) -> str:
    """Why ``op`` cannot run on the Edge TPU by itself, or ``""`` when it can."""
    fb = check(op)
    return fb.reason if fb else ""


def _producers(ops: Sequence[OpInfo]) -> dict[int, int]:
    """Tensor index -> position in ``ops`` of the op that writes it."""
    return {t.index: i for i, op in enumerate(ops) for t in op.outputs}


def predict(ops: Iterable[OpInfo]) -> Precheck:
    """Place every op of subgraph 0 (execution order, which TFLite guarantees is topological).

    See the module docstring for the rule; the result is checked to be a single-subgraph
    partition.
    """
    graph = [op for op in ops if op.subgraph == 0]
    producer = _producers(graph)
    preds: list[OpPrediction] = []
    for i, op in enumerate(graph):
        inputs = sorted(
            {producer[t.index] for t in op.inputs if t.index in producer and producer[t.index] < i}
        )
        fb = check(op)
        after = [preds[j] for j in inputs if preds[j].placement is not Placement.CPU_BEFORE]
        if fb is not None:
            where = Placement.CPU_AFTER if after else Placement.CPU_BEFORE
            preds.append(OpPrediction(op.index, op.name, fb.status, fb.reason, where))
            continue
        blocked = next((preds[j] for j in inputs if preds[j].placement is Placement.CPU_AFTER), None)
        if blocked is not None:
            preds.append(
                OpPrediction(
                    op.index,
                    op.name,
                    OpStatus.AFTER_CPU,
                    f"consumes the output of {blocked.op} (op {blocked.index}), which runs on the CPU after "
                    "the Edge TPU subgraph; mapping it would need a second subgraph",
                    Placement.CPU_AFTER,
                )
            )
        else:
            preds.append(OpPrediction(op.index, op.name, OpStatus.MAPPED))
    result = Precheck(tuple(preds))
    problem = single_subgraph_violation(graph, {p.index for p in result.ops if not p.mapped})
    if problem:  # pragma: no cover - an invariant of the rule above
        raise AssertionError(f"pre-check produced an impossible partition: {problem}")
    return result


def single_subgraph_violation(ops: Sequence[OpInfo], cpu: set[int]) -> str:
    """Why mapping every op of ``ops`` (subgraph 0) whose index is not in ``cpu`` needs more
    than one Edge TPU subgraph, or ``""`` when one custom op can replace them.

    One subgraph is possible exactly when the mapped ops form a convex set: no mapped op
    consumes, directly or through CPU ops, a CPU op that itself depends on a mapped op.
    """
    graph = [op for op in ops if op.subgraph == 0]
    producer = _producers(graph)
    after_tpu: list[bool] = []  # op i is, or depends on, a mapped op
    for i, op in enumerate(graph):
        srcs = [producer[t.index] for t in op.inputs if t.index in producer and producer[t.index] < i]
        mapped = op.index not in cpu
        if mapped:
            bad = next((j for j in srcs if graph[j].index in cpu and after_tpu[j]), None)
            if bad is not None:
                return (
                    f"{op.name} (op {op.index}) is mapped but consumes {graph[bad].name} (op {graph[bad].index}), "
                    "a CPU op that runs after mapped ops"
                )
        after_tpu.append(mapped or any(after_tpu[j] for j in srcs))
    return ""


def precheck(model: bytes) -> Precheck:
    """Predict the Edge TPU placement of every op of ``model`` (a .tflite's bytes).

    Raises:
        edge_sdk.errors.NotATfliteModelError: not a TFLite flatbuffer.
        edge_sdk.errors.CorruptModelError: a truncated or corrupt flatbuffer.
    """
    return predict(read_ops(model))


def compiled_cpu_ops(compiled: bytes) -> tuple[dict[str, int], int]:
    """What a real ``*_edgetpu.tflite`` keeps on the CPU: ``(op type -> count, custom ops)``.

    The compiler folds every op it maps into ``edgetpu-custom-op``; every other op left in
    subgraph 0 runs on the CPU. The second value is the number of Edge TPU subgraphs.

    Raises:
        edge_sdk.errors.NotATfliteModelError, edge_sdk.errors.CorruptModelError: as :func:`precheck`.
    """
    ops = [op for op in read_ops(compiled) if op.subgraph == 0]
    cpu = collections.Counter(op.name for op in ops if op.name != EDGETPU_CUSTOM_OP)
    return dict(cpu), sum(op.name == EDGETPU_CUSTOM_OP for op in ops)


def compiled_cpu_before(compiled: bytes) -> dict[str, int]:
    """Op type -> how many CPU ops a compiled model runs before its first ``edgetpu-custom-op``
    (execution order); the rest of :func:`compiled_cpu_ops` runs after it."""
    ops = [op for op in read_ops(compiled) if op.subgraph == 0]
    first = next((i for i, op in enumerate(ops) if op.name == EDGETPU_CUSTOM_OP), len(ops))
    return dict(collections.Counter(op.name for op in ops[:first]))
