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


def read_model_file(data: bytes | bytearray | memoryview | mmap.mmap, source: str = "<bytes>") -> ModelFile:
    """Parse a TFLite flatbuffer's op table, subgraphs and metadata (without copying ``data``).

    Raises:
        NotATfliteModelError: the data does not carry the TFLite identifier.
        CorruptModelError: the flatbuffer's offsets point outside the data (truncation or
            corruption).
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
