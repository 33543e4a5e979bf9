"""The op table of a .tflite: every operator in execution order with its tensors' types,
and a per-type summary saying whether each op computes in int8 or in float.

Read with the ``tflite`` flatbuffer schema package (no interpreter), so it works on models
the CPU cannot run, such as Edge TPU-compiled ones.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass
from typing import Any

from edge_sdk.modelfile import check_magic

_TYPE_NAMES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    5: "string",
    6: "bool",
    7: "int16",
    8: "complex64",
    9: "int8",
    10: "float64",
    15: "uint32",
    16: "uint16",
    17: "int4",
}
_FLOAT_TYPES = {"float32", "float16", "float64"}
BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


class Precision(str, enum.Enum):
    """How an op computes: on integers, in float, or converting between the two."""

    INT8 = "int8"
    FLOAT = "float"
    CONVERSION = "conversion"  # QUANTIZE / DEQUANTIZE at a float<->int boundary


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the flatbuffer describes it. ``shape_signature`` has -1 for dynamic sizes."""

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    constant: bool
    quantized: bool

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.shape_signature)


@dataclass(frozen=True)
class OpInfo:
    """One operator, in execution order (``index`` within subgraph ``subgraph``)."""

    subgraph: int
    index: int
    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    options: dict[str, Any]

    @property
    def precision(self) -> Precision:
        activations = [t for t in (*self.inputs, *self.outputs) if not t.constant]
        floats = any(t.dtype in _FLOAT_TYPES for t in activations)
        if self.name in BOUNDARY_OPS and floats:
            return Precision.CONVERSION
        if floats or any(t.dtype in _FLOAT_TYPES for t in self.inputs):
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


def _op_name(tflite: Any, opcode: Any) -> str:
    builtin = max(int(opcode.BuiltinCode()), int(opcode.DeprecatedBuiltinCode()))
    custom = opcode.CustomCode()
    if custom is not None and builtin == 32:  # BuiltinOperator.CUSTOM
        return str(custom.decode("utf-8", "replace"))
    return str(tflite.BUILTIN_OPCODE2NAME.get(builtin, f"BUILTIN_{builtin}"))


def _options(op: Any) -> dict[str, Any]:
    """The few builtin options the Edge TPU pre-check needs (strides, dilation, activation)."""
    # lazy: the flatbuffer schema (~100 modules), only to read/write a model
    import tflite

    out: dict[str, Any] = {}
    table = op.BuiltinOptions()
    if table is None:
        return out
    kind = op.BuiltinOptionsType()
    cls = {
        tflite.BuiltinOptions.Conv2DOptions: tflite.Conv2DOptions,
        tflite.BuiltinOptions.DepthwiseConv2DOptions: tflite.DepthwiseConv2DOptions,
    }.get(kind)
    if cls is None:
        return out
    o = cls()
    o.Init(table.Bytes, table.Pos)
    out["stride"] = (int(o.StrideW()), int(o.StrideH()))
    out["dilation"] = (int(o.DilationWFactor()), int(o.DilationHFactor()))
    return out


def read_ops(data: bytes) -> list[OpInfo]:
    """Every operator of every subgraph, in execution order.

    Raises:
        edge_sdk.errors.NotATfliteModelError: ``data`` is not a TFLite flatbuffer.
    """
    check_magic(data, "<model bytes>")
    # lazy: the flatbuffer schema (~100 modules), only to read/write a model
    import tflite

    model = tflite.Model.GetRootAs(data, 0)
    names = [_op_name(tflite, model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    ops: list[OpInfo] = []
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        cache: dict[int, TensorInfo] = {}

        def tensor(i: int, sg: Any = sg, cache: dict[int, TensorInfo] = cache) -> TensorInfo:
            if i not in cache:
                t = sg.Tensors(i)
                buf = model.Buffers(t.Buffer())
                constant = buf is not None and (buf.DataLength() > 0 or buf.Offset() > 1)
                q = t.Quantization()
                shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
                sig = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
                cache[i] = TensorInfo(
                    i,
                    (t.Name() or b"").decode("utf-8", "replace"),
                    _TYPE_NAMES.get(int(t.Type()), f"type{t.Type()}"),
                    shape,
                    sig,
                    constant,
                    q is not None and q.ScaleLength() > 0,
                )
            return cache[i]

        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            idx = op.OpcodeIndex()
            ins = tuple(tensor(int(i)) for i in op.InputsAsNumpy() if i >= 0) if op.InputsLength() else ()
            outs = tuple(tensor(int(i)) for i in op.OutputsAsNumpy() if i >= 0) if op.OutputsLength() else ()
            ops.append(
                OpInfo(s, o, names[idx] if idx < len(names) else f"OPCODE_{idx}", ins, outs, _options(op))
            )
    return ops


def op_table(ops: list[OpInfo]) -> list[OpRow]:
    """Group ops by (type, precision), most frequent first."""
    counts: collections.Counter[tuple[str, Precision]] = collections.Counter(
        (op.name, op.precision) for op in ops
    )
    return [
        OpRow(name, n, prec) for (name, prec), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))
    ]


def float_ops(ops: list[OpInfo]) -> list[str]:
    """Names of the op types that compute in float (sorted, unique)."""
    return sorted({op.name for op in ops if op.precision is Precision.FLOAT})
