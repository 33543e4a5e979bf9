"""The operator graph of a .tflite: every op in execution order, with its tensors and options.

Read with the ``tflite`` flatbuffer schema package (no interpreter, no TensorFlow), so it works
on models the CPU cannot run, such as Edge TPU-compiled ones, and on the device. The Edge TPU
pre-check (:mod:`edge_sdk.edgetpu_precheck`) and the converter's op table
(:mod:`converters.ops`) both build on it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import CorruptModelError
from .modelfile import check_magic

TYPE_NAMES = {
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
_NUMPY = {"int32": np.int32, "int64": np.int64, "uint8": np.uint8, "int8": np.int8, "int16": np.int16}
# Constant tensors up to this many elements keep their values (sizes, axes, paddings, strides).
MAX_VALUES = 64


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the flatbuffer describes it.

    ``shape_signature`` has -1 for dynamic sizes. ``constant`` is true when the tensor has a
    data buffer (weights, biases, sizes, axes); ``variable`` when it is state the interpreter
    keeps between calls (an LSTM's cell state). ``values`` holds the data of small integer
    constants (at most :data:`MAX_VALUES` elements, flattened), else None.
    """

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    constant: bool
    quantized: bool
    variable: bool = False
    values: tuple[int, ...] | None = None

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.shape_signature)

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class OpInfo:
    """One operator, in execution order (``index`` within subgraph ``subgraph``).

    ``options`` holds the builtin options the Edge TPU pre-check needs, by name: ``stride``
    and ``dilation`` as (x, y), ``activation`` (fused activation name, ``"NONE"`` when none),
    ``align_corners`` / ``half_pixel_centers`` (resizes), ``axis`` (concatenation, pack),
    ``squeeze_dims``, ``ellipsis_mask`` / ``new_axis_mask`` (strided slice),
    ``weights_format`` (fully connected, 0 is the default format).
    """

    subgraph: int
    index: int
    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    options: dict[str, Any] = field(default_factory=dict)


def op_name(tflite: Any, opcode: Any) -> str:
    """The builtin name (``CONV_2D``) or the custom code (``edgetpu-custom-op``) of an opcode."""
    builtin = max(int(opcode.BuiltinCode()), int(opcode.DeprecatedBuiltinCode()))
    custom = opcode.CustomCode()
    if custom is not None and builtin == 32:  # BuiltinOperator.CUSTOM
        return str(custom.decode("utf-8", "replace"))
    return str(tflite.BUILTIN_OPCODE2NAME.get(builtin, f"BUILTIN_{builtin}"))


def _activation(tflite: Any, code: int) -> str:
    names = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
    return str(names.get(code, f"ACTIVATION_{code}"))


def _options(tflite: Any, op: Any) -> dict[str, Any]:
    """The builtin options the Edge TPU pre-check reads (see :class:`OpInfo`)."""
    table = op.BuiltinOptions()
    if table is None:
        return {}
    kind = op.BuiltinOptionsType()
    bo = tflite.BuiltinOptions
    cls = {
        bo.Conv2DOptions: tflite.Conv2DOptions,
        bo.DepthwiseConv2DOptions: tflite.DepthwiseConv2DOptions,
        bo.Pool2DOptions: tflite.Pool2DOptions,
        bo.ConcatenationOptions: tflite.ConcatenationOptions,
        bo.FullyConnectedOptions: tflite.FullyConnectedOptions,
        bo.ResizeBilinearOptions: tflite.ResizeBilinearOptions,
        bo.ResizeNearestNeighborOptions: tflite.ResizeNearestNeighborOptions,
        bo.PackOptions: tflite.PackOptions,
        bo.SqueezeOptions: tflite.SqueezeOptions,
        bo.StridedSliceOptions: tflite.StridedSliceOptions,
    }.get(kind)
    if cls is None:
        return {}
    o = cls()
    o.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    if hasattr(o, "StrideW"):
        out["stride"] = (int(o.StrideW()), int(o.StrideH()))
    if hasattr(o, "DilationWFactor"):
        out["dilation"] = (int(o.DilationWFactor()), int(o.DilationHFactor()))
    if hasattr(o, "FusedActivationFunction"):
        out["activation"] = _activation(tflite, int(o.FusedActivationFunction()))
    if hasattr(o, "AlignCorners"):
        out["align_corners"] = bool(o.AlignCorners())
        out["half_pixel_centers"] = bool(o.HalfPixelCenters())
    if hasattr(o, "Axis"):
        out["axis"] = int(o.Axis())
    if hasattr(o, "WeightsFormat"):
        out["weights_format"] = int(o.WeightsFormat())
    if hasattr(o, "SqueezeDimsLength"):
        out["squeeze_dims"] = tuple(int(o.SqueezeDims(j)) for j in range(o.SqueezeDimsLength()))
    if hasattr(o, "EllipsisMask"):
        out["ellipsis_mask"] = int(o.EllipsisMask())
        out["new_axis_mask"] = int(o.NewAxisMask())
    return out


def read_ops(data: bytes) -> list[OpInfo]:
    """Every operator of every subgraph, in execution order.

    Raises:
        edge_sdk.errors.NotATfliteModelError: ``data`` is not a TFLite flatbuffer.
        edge_sdk.errors.CorruptModelError: its offsets point outside the data.
    """
    check_magic(data, "<model bytes>")
    import tflite  # lazy: the flatbuffer schema, ~100 modules

    try:
        return _read_ops(tflite, data)
    except (IndexError, ValueError, TypeError, UnicodeDecodeError, OverflowError, struct.error) as exc:
        raise CorruptModelError(
            f"the model is corrupt or truncated: its flatbuffer could not be parsed ({type(exc).__name__}: {exc})"
        ) from exc


def _read_ops(tflite: Any, data: bytes) -> list[OpInfo]:
    model = tflite.Model.GetRootAs(data, 0)
    names = [op_name(tflite, model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    ops: list[OpInfo] = []
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        cache: dict[int, TensorInfo] = {}

        def tensor(i: int, sg: Any = sg, cache: dict[int, TensorInfo] = cache) -> TensorInfo:
            if i not in cache:
                t = sg.Tensors(i)
                buf = model.Buffers(t.Buffer())
                inline = buf is not None and buf.DataLength() > 0
                constant = inline or (buf is not None and buf.Offset() > 1)
                q = t.Quantization()
                shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
                sig = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
                dtype = TYPE_NAMES.get(int(t.Type()), f"type{t.Type()}")
                values = None
                width = np.dtype(_NUMPY[dtype]).itemsize if dtype in _NUMPY else 0
                if inline and width and buf.DataLength() // width <= MAX_VALUES:
                    raw = buf.DataAsNumpy().tobytes()
                    values = tuple(
                        int(v) for v in np.frombuffer(raw[: len(raw) // width * width], _NUMPY[dtype])
                    )
                cache[i] = TensorInfo(
                    i,
                    (t.Name() or b"").decode("utf-8", "replace"),
                    dtype,
                    shape,
                    sig,
                    constant,
                    q is not None and q.ScaleLength() > 0,
                    bool(t.IsVariable()),
                    values,
                )
            return cache[i]

        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            idx = op.OpcodeIndex()
            ins = tuple(tensor(int(i)) for i in op.InputsAsNumpy() if i >= 0) if op.InputsLength() else ()
            outs = tuple(tensor(int(i)) for i in op.OutputsAsNumpy() if i >= 0) if op.OutputsLength() else ()
            name = names[idx] if idx < len(names) else f"OPCODE_{idx}"
            ops.append(OpInfo(s, o, name, ins, outs, _options(tflite, op)))
    return ops
