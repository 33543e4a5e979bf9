"""Read a .tflite file's structure without an interpreter: ops, custom ops and metadata buffers.

The flatbuffer is walked directly with :mod:`struct` (only the handful of fields edge_sdk
needs), over any buffer: ``bytes``, a ``memoryview`` or an ``mmap``, without copying the model.
The ``tflite`` schema package (~200 modules, ~40 ms to import) is only imported to turn builtin
op codes into names, when :attr:`ModelFile.op_counts` is first read (``edge-sdk info``, the
converters), never on the path that loads and runs a model. Nothing here allocates tensors, so
it is safe on models the interpreter cannot run (Edge TPU models, unknown custom ops).
"""

from __future__ import annotations

import collections
import functools
import mmap
import struct
from dataclasses import dataclass, field

from .errors import CorruptModelError, NotATfliteModelError

TFLITE_MAGIC = b"TFL3"
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
DETECTION_POSTPROCESS_OP = "TFLite_Detection_PostProcess"
_CUSTOM = 32  # BuiltinOperator.CUSTOM
_BUILTIN_CODES = {"DEQUANTIZE": 6, "LOGISTIC": 14, "SOFTMAX": 25, "QUANTIZE": 114}
"""BuiltinOperator codes from schema.fbs that the runtime asks about when it loads a model."""


@dataclass(frozen=True)
class ModelFile:
    """What the flatbuffer says, independent of any runtime.

    ``op_codes`` maps an operator code ``(builtin code, custom code or None)`` to how many
    times it appears over all subgraphs; :attr:`op_counts` is the same with op names.
    ``metadata`` maps a metadata entry name (such as ``TFLITE_METADATA``) to its raw bytes.
    """

    op_codes: dict[tuple[int, str | None], int] = field(default_factory=dict)
    custom_ops: tuple[str, ...] = ()
    metadata: dict[str, bytes] = field(default_factory=dict)
    num_subgraphs: int = 1
    has_signature: bool = False

    @property
    def needs_edgetpu(self) -> bool:
        return EDGETPU_CUSTOM_OP in self.custom_ops

    def has_op(self, name: str) -> bool:
        """Whether the model uses op ``name`` (a custom code, or a builtin name such as
        ``SOFTMAX``), without importing the schema package for the builtins listed here."""
        if name in self.custom_ops:
            return True
        code = _BUILTIN_CODES.get(name)
        if code is not None:
            return any(b == code and c is None for b, c in self.op_codes)
        if not name.isupper():  # builtin names are UPPER_SNAKE; custom ones are all in custom_ops
            return False
        return name in self.op_counts

    @functools.cached_property
    def op_counts(self) -> dict[str, int]:
        """Op name (builtin name such as ``CONV_2D``, or the custom code) to its count.

        Imports the ``tflite`` schema package for the builtin names on first use.
        """
        import tflite  # lazy: the flatbuffer schema, ~200 modules; only the tools that list ops

        names = tflite.BUILTIN_OPCODE2NAME
        counts: collections.Counter[str] = collections.Counter()
        for (builtin, custom), n in self.op_codes.items():
            name = custom if custom is not None else str(names.get(builtin, f"BUILTIN_{builtin}"))
            counts[name] += n
        return dict(counts)


def check_magic(data: bytes | bytearray | memoryview | mmap.mmap, source: str) -> None:
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


class _Reader:
    """Bounds-checked reads of flatbuffer scalars, tables, vectors and strings over a buffer.

    Every offset is checked against the buffer, so truncated or corrupt files raise
    ``ValueError`` instead of reading garbage (``struct`` would accept negative offsets).
    """

    def __init__(self, buf: bytes | bytearray | memoryview | mmap.mmap) -> None:
        self.buf = buf
        self.size = len(buf)

    def _unpack(self, fmt: str, pos: int) -> int:
        width = struct.calcsize(fmt)
        if pos < 0 or pos + width > self.size:
            raise ValueError(f"offset {pos} is outside the {self.size}-byte file")
        return int(struct.unpack_from(fmt, self.buf, pos)[0])

    def root(self) -> int:
        return self._unpack("<I", 0)

    def field(self, table: int, slot: int) -> int:
        """Absolute position of field ``slot`` of the table at ``table``, or 0 when absent."""
        vtable = table - self._unpack("<i", table)
        vt_size = self._unpack("<H", vtable)
        entry = 4 + 2 * slot
        if entry >= vt_size:
            return 0
        off = self._unpack("<H", vtable + entry)
        return table + off if off else 0

    def scalar(self, table: int, slot: int, fmt: str, default: int = 0) -> int:
        pos = self.field(table, slot)
        return self._unpack(fmt, pos) if pos else default

    def indirect(self, pos: int) -> int:
        return pos + self._unpack("<I", pos)

    def vector(self, table: int, slot: int, elem_size: int = 4) -> tuple[int, int]:
        """``(start, length)`` of a vector field; ``(0, 0)`` when absent."""
        pos = self.field(table, slot)
        if not pos:
            return 0, 0
        vec = self.indirect(pos)
        n = self._unpack("<I", vec)
        if vec + 4 + n * elem_size > self.size:
            raise ValueError(f"a vector of {n} elements at {vec} runs past the {self.size}-byte file")
        return vec + 4, n

    def tables(self, table: int, slot: int) -> list[int]:
        start, n = self.vector(table, slot)
        return [self.indirect(start + 4 * i) for i in range(n)]

    def string(self, table: int, slot: int) -> str | None:
        start, n = self.vector(table, slot, 1)
        if not start:
            return None
        return bytes(self.buf[start : start + n]).decode("utf-8", "replace")


# Field slots from tensorflow/lite/schema/schema.fbs.
_MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS, _MODEL_METADATA, _MODEL_SIGNATURES = 1, 2, 4, 6, 7
_OPCODE_DEPRECATED, _OPCODE_CUSTOM, _OPCODE_BUILTIN = 0, 1, 3
_SUBGRAPH_OPERATORS = 3
_OPERATOR_OPCODE_INDEX = 0
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2
_METADATA_NAME, _METADATA_BUFFER = 0, 1


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


def _check_graph_of(data: bytes | bytearray | memoryview | mmap.mmap, source: str) -> None:
    """:func:`_check_graph` on the model's own flatbuffer (read in place)."""
    import tflite  # lazy: the flatbuffer schema, ~200 modules; the graph check walks it

    model = tflite.Model.GetRootAs(data, 0)
    names = [_op_name(tflite, model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    _check_graph(tflite, model, names, source)


def read_model_file(data: bytes | bytearray | memoryview | mmap.mmap, source: str = "<bytes>") -> ModelFile:
    """Parse a TFLite flatbuffer's op table, subgraphs and metadata (without copying ``data``).

    Raises:
        NotATfliteModelError: the data does not carry the TFLite identifier.
        CorruptModelError: the flatbuffer's offsets point outside the data (truncation or
            corruption), or its operator table would crash the runtime (see ``_check_graph``).
    """
    check_magic(data, source)
    r = _Reader(data)
    try:
        model = r.root()
        opcodes: list[tuple[int, str | None]] = []
        for oc in r.tables(model, _MODEL_OPCODES):
            builtin = max(r.scalar(oc, _OPCODE_BUILTIN, "<i"), r.scalar(oc, _OPCODE_DEPRECATED, "<b"))
            custom = r.string(oc, _OPCODE_CUSTOM) if builtin == _CUSTOM else None
            opcodes.append((builtin, custom))
        counts: collections.Counter[tuple[int, str | None]] = collections.Counter()
        subgraphs = r.tables(model, _MODEL_SUBGRAPHS)
        for sg in subgraphs:
            for op in r.tables(sg, _SUBGRAPH_OPERATORS):
                idx = r.scalar(op, _OPERATOR_OPCODE_INDEX, "<I")
                counts[opcodes[idx] if idx < len(opcodes) else (-1, f"OPCODE_{idx}")] += 1
        custom_ops = tuple(sorted({c for b, c in opcodes if c is not None}))
        buffers = r.tables(model, _MODEL_BUFFERS)
        meta: dict[str, bytes] = {}
        for entry in r.tables(model, _MODEL_METADATA):
            name = r.string(entry, _METADATA_NAME) or ""
            b = buffers[r.scalar(entry, _METADATA_BUFFER, "<I")]
            start, n = r.vector(b, _BUFFER_DATA, 1)
            offset = r.scalar(b, _BUFFER_OFFSET, "<Q")
            if n > 0:
                meta[name] = bytes(data[start : start + n])
            elif offset > 1:
                size = r.scalar(b, _BUFFER_SIZE, "<Q")
                if offset + size > r.size:
                    raise ValueError(f"metadata buffer {name!r} runs past the end of the file")
                meta[name] = bytes(data[offset : offset + size])
        _, n_signatures = r.vector(model, _MODEL_SIGNATURES)
        _check_graph_of(data, source)
        return ModelFile(
            op_codes=dict(counts),
            custom_ops=custom_ops,
            metadata=meta,
            num_subgraphs=len(subgraphs),
            has_signature=n_signatures > 0,
        )
    except (IndexError, ValueError, TypeError, UnicodeDecodeError, OverflowError, struct.error) as exc:
        raise CorruptModelError(
            f"{source} is corrupt or truncated: its flatbuffer could not be parsed ({type(exc).__name__}: {exc})"
        ) from exc
