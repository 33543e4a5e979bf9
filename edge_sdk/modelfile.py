"""Read a .tflite file's structure without an interpreter: ops, custom ops and metadata buffers.

Parsing uses the ``tflite`` flatbuffer schema package, imported on first use. Nothing here
allocates tensors, so it is safe on models the interpreter cannot run (Edge TPU models,
unknown custom ops).
"""

from __future__ import annotations

import collections
import struct
from dataclasses import dataclass, field

from .errors import CorruptModelError, NotATfliteModelError

TFLITE_MAGIC = b"TFL3"
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
DETECTION_POSTPROCESS_OP = "TFLite_Detection_PostProcess"


@dataclass(frozen=True)
class ModelFile:
    """What the flatbuffer says, independent of any runtime.

    ``op_counts`` maps an op name (builtin name such as ``CONV_2D``, or the custom code) to
    how many times it appears over all subgraphs. ``metadata`` maps a metadata entry name
    (such as ``TFLITE_METADATA``) to its raw bytes.
    """

    op_counts: dict[str, int] = field(default_factory=dict)
    custom_ops: tuple[str, ...] = ()
    metadata: dict[str, bytes] = field(default_factory=dict)
    num_subgraphs: int = 1
    has_signature: bool = False

    @property
    def needs_edgetpu(self) -> bool:
        return EDGETPU_CUSTOM_OP in self.custom_ops


def check_magic(data: bytes | memoryview, source: str) -> None:
    """Raise unless ``data`` starts like a TFLite flatbuffer (``TFL3`` file identifier).

    Raises:
        NotATfliteModelError: too short, or another format (ONNX, zip, text ...).
    """
    head = bytes(data[:8])
    if len(data) < 8 or head[4:8] != TFLITE_MAGIC:
        found = "an empty file" if len(data) == 0 else f"{len(data)} bytes starting {head!r}"
        if head[:2] == b"PK":
            found = "a zip archive (a .keras file or a SavedModel archive? convert it first)"
        elif head[:1] == b"\x08":
            found = "what looks like an ONNX or protobuf file (convert it with: edge-sdk convert)"
        raise NotATfliteModelError(
            f"{source} is not a TFLite model: expected the 'TFL3' file identifier at byte 4, found {found}"
        )


def _builtin_code(opcode: object) -> int:
    """The op's code as TFLite computes it: max(builtin_code, deprecated_builtin_code).

    The ``tflite`` package's ``BuiltinCode()`` returns the deprecated field whenever the real one
    is below 127, which misnames ops in files that leave the deprecated field 0 (some
    converters do: a QUANTIZE read as ADD), so the field is read directly.
    """
    import flatbuffers  # lazy: comes with the tflite schema package, only needed to read a model

    tab = opcode._tab  # type: ignore[attr-defined]
    at = tab.Offset(10)  # field 3: builtin_code (int32)
    raw = int(tab.Get(flatbuffers.number_types.Int32Flags, at + tab.Pos)) if at else 0
    return max(raw, int(opcode.DeprecatedBuiltinCode()))  # type: ignore[attr-defined]


def _op_name(tflite: object, opcode: object) -> str:
    builtin = _builtin_code(opcode)
    custom = opcode.CustomCode()  # type: ignore[attr-defined]
    names = tflite.BUILTIN_OPCODE2NAME  # type: ignore[attr-defined]
    if custom is not None and builtin == 32:  # BuiltinOperator.CUSTOM
        return custom.decode("utf-8", "replace")
    return str(names.get(builtin, f"BUILTIN_{builtin}"))


# Ops whose kernels read parameters that must not be zero (a split count, a stride, a filter
# size): without their options table the runtime fills zeros and crashes in native code
# (found by fuzzing: a SPLIT whose options type byte was cleared segfaulted in
# allocate_tensors). Other ops only need a present options table to be of their own type.
REQUIRED_OPTIONS = {
    "SPLIT": "SplitOptions",
    "SPLIT_V": "SplitVOptions",
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions",
    "TRANSPOSE_CONV": "TransposeConvOptions",
    "PACK": "PackOptions",
    "UNPACK": "UnpackOptions",
}


# Element-wise ops and the number of inputs their kernels read without checking. A LOG that
# replaced a six-input CONCATENATION (one flipped opcode byte) segfaulted TFLite.
_UNARY = frozenset(
    [
        "ABS",
        "CAST",
        "CEIL",
        "COS",
        "DEQUANTIZE",
        "ELU",
        "EXP",
        "FLOOR",
        "HARD_SWISH",
        "LOG",
        "LOGICAL_NOT",
        "LOGISTIC",
        "NEG",
        "QUANTIZE",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "ROUND",
        "RSQRT",
        "SIGN",
        "SIN",
        "SQRT",
        "SQUARE",
        "TANH",
        "ZEROS_LIKE",
    ]
)
_BINARY = frozenset(
    [
        "ADD",
        "DIV",
        "EQUAL",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "GREATER",
        "GREATER_EQUAL",
        "LESS",
        "LESS_EQUAL",
        "LOGICAL_AND",
        "LOGICAL_OR",
        "MAXIMUM",
        "MINIMUM",
        "MUL",
        "NOT_EQUAL",
        "POW",
        "SQUARED_DIFFERENCE",
        "SUB",
    ]
)


def _check_arity(name: str, inputs: list[int], outputs: list[int], where: str) -> None:
    expected = 1 if name in _UNARY else 2 if name in _BINARY else None
    if expected is not None and (len(inputs) != expected or len(outputs) != 1):
        raise CorruptModelError(
            f"{where} has {len(inputs)} input(s) and {len(outputs)} output(s); expected {expected} and 1"
        )


def _check_options(name: str, op: object, outputs: list[int], where: str, tflite: object) -> None:
    """Option values the kernels trust: a SPLIT's count must match its outputs."""
    if name in ("SPLIT", "SPLIT_V"):
        table = op.BuiltinOptions()  # type: ignore[attr-defined]
        opts = (tflite.SplitOptions if name == "SPLIT" else tflite.SplitVOptions)()  # type: ignore[attr-defined]
        opts.Init(table.Bytes, table.Pos)
        if opts.NumSplits() != len(outputs):
            raise CorruptModelError(
                f"{where} splits into {opts.NumSplits()} part(s) but has {len(outputs)} output(s)"
            )


def _options_types(tflite: object) -> dict[str, int]:
    opts = tflite.BuiltinOptions  # type: ignore[attr-defined]
    return {k: v for k, v in vars(opts).items() if isinstance(v, int) and not k.startswith("_")}


def _expected_options(name: str, types: dict[str, int]) -> tuple[int | None, bool]:
    """The options type an op takes (None: unknown), and whether it must be present."""
    if name in REQUIRED_OPTIONS:
        return types.get(REQUIRED_OPTIONS[name]), True
    camel = "".join(part.capitalize() for part in name.split("_")) + "Options"
    return types.get(camel), False


def _holds_no_data(model: object, tensor: object, n_buffers: int) -> bool:
    """A tensor that is not a variable, has elements, and whose buffer is empty or missing."""
    if tensor.IsVariable():  # type: ignore[attr-defined]
        return False
    if tensor.ShapeLength() and any(int(d) == 0 for d in tensor.ShapeAsNumpy()):  # type: ignore[attr-defined]
        return False  # no elements, no data needed
    b = tensor.Buffer()  # type: ignore[attr-defined]
    if b >= n_buffers:
        return True
    buf = model.Buffers(b)  # type: ignore[attr-defined]
    return bool(buf.DataLength() == 0 and buf.Size() == 0)


def _check_graph(tflite: object, model: object, opcodes: list[str], source: str) -> None:
    """Refuse operator tables the runtime would crash on instead of rejecting.

    Checks every operator's tensor indices, its options type, and that each tensor an operator
    reads is produced somewhere (a graph input, another operator's output, a variable) or
    holds constant data. Found by fuzzing: a cleared options type on SPLIT and a weight
    tensor whose buffer lost its data both segfaulted TFLite's ``allocate_tensors``.

    Raises:
        CorruptModelError: naming the subgraph, the operator and what is wrong.
    """
    types = _options_types(tflite)
    op_names = tflite.BUILTIN_OPCODE2NAME  # type: ignore[attr-defined]
    builtin = set(op_names.values())
    n_buffers = model.BuffersLength()  # type: ignore[attr-defined]
    for s in range(model.SubgraphsLength()):  # type: ignore[attr-defined]
        sg = model.Subgraphs(s)  # type: ignore[attr-defined]
        n_tensors = sg.TensorsLength()
        for t in range(n_tensors):
            try:
                (sg.Tensors(t).Name() or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise CorruptModelError(
                    f"{source}: subgraph {s} tensor {t} has a name that is not UTF-8 text"
                ) from None
        produced = {int(i) for i in (sg.InputsAsNumpy() if sg.InputsLength() else [])}
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            produced.update(int(i) for i in (op.OutputsAsNumpy() if op.OutputsLength() else []))
        for t in (int(i) for i in (sg.OutputsAsNumpy() if sg.OutputsLength() else [])):
            if not 0 <= t < n_tensors:
                raise CorruptModelError(f"{source}: subgraph {s} output {t} is not a tensor of it")
            if t not in produced and _holds_no_data(model, sg.Tensors(t), n_buffers):
                raise CorruptModelError(
                    f"{source}: subgraph {s} output tensor {t} is neither computed by an operator nor constant"
                )
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            idx = op.OpcodeIndex()
            name = opcodes[idx] if idx < len(opcodes) else f"OPCODE_{idx}"
            where = f"{source}: subgraph {s} operator {o} ({name})"
            if name in builtin:
                expected, required = _expected_options(name, types)
                found = op.BuiltinOptionsType()
                if expected is not None and (found != expected if required else found not in (0, expected)):
                    raise CorruptModelError(
                        f"{where} has builtin options of type {found}; expected type {expected}"
                    )
            inputs = [int(i) for i in (op.InputsAsNumpy() if op.InputsLength() else [])]
            outputs = [int(i) for i in (op.OutputsAsNumpy() if op.OutputsLength() else [])]
            for t in (*inputs, *outputs):
                if t < -1 or t >= n_tensors:
                    raise CorruptModelError(f"{where} names tensor {t}; the subgraph has {n_tensors}")
            if name in builtin:
                _check_arity(name, inputs, outputs, where)
                _check_options(name, op, outputs, where, tflite)
            for t in inputs:
                if t == -1 or t in produced:
                    continue
                tensor = sg.Tensors(t)
                if tensor.Buffer() >= n_buffers:
                    raise CorruptModelError(
                        f"{where} reads tensor {t} whose buffer {tensor.Buffer()} does not exist"
                    )
                if _holds_no_data(model, tensor, n_buffers):
                    raise CorruptModelError(
                        f"{where} reads tensor {t}, which no operator produces and which holds no data"
                    )


def read_model_file(data: bytes | memoryview, source: str = "<bytes>") -> ModelFile:
    """Parse a TFLite flatbuffer's op table, subgraphs and metadata.

    Raises:
        NotATfliteModelError: the data does not carry the TFLite identifier.
        CorruptModelError: the flatbuffer's offsets point outside the data (truncation or
            corruption), or its operator table would crash the runtime (see ``_check_graph``).
    """
    check_magic(data, source)
    # lazy: the flatbuffer schema is only needed to read a model
    import tflite  # the flatbuffer schema; imported lazily because it is ~100 modules

    buf = bytes(data) if isinstance(data, memoryview) else data
    try:
        model = tflite.Model.GetRootAs(buf, 0)
        opcodes = [_op_name(tflite, model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
        counts: collections.Counter[str] = collections.Counter()
        for s in range(model.SubgraphsLength()):
            sg = model.Subgraphs(s)
            for o in range(sg.OperatorsLength()):
                idx = sg.Operators(o).OpcodeIndex()
                counts[opcodes[idx] if idx < len(opcodes) else f"OPCODE_{idx}"] += 1
        _check_graph(tflite, model, opcodes, source)
        builtin_names = set(tflite.BUILTIN_OPCODE2NAME.values())
        custom = tuple(sorted(name for name in set(opcodes) if name not in builtin_names))
        meta: dict[str, bytes] = {}
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            name = (entry.Name() or b"").decode("utf-8", "replace")
            b = model.Buffers(entry.Buffer())
            if b is not None and b.DataLength() > 0:
                meta[name] = b.DataAsNumpy().tobytes()
            elif b is not None and b.Offset() > 1:
                meta[name] = bytes(buf[b.Offset() : b.Offset() + b.Size()])
        return ModelFile(
            op_counts=dict(counts),
            custom_ops=custom,
            metadata=meta,
            num_subgraphs=model.SubgraphsLength(),
            has_signature=model.SignatureDefsLength() > 0,
        )
    except (IndexError, ValueError, TypeError, UnicodeDecodeError, OverflowError, struct.error) as exc:
        raise CorruptModelError(
            f"{source} is corrupt or truncated: its flatbuffer could not be parsed ({type(exc).__name__}: {exc})"
        ) from exc
