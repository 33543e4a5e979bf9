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


def _op_name(tflite: object, opcode: object) -> str:
    builtin = max(int(opcode.BuiltinCode()), int(opcode.DeprecatedBuiltinCode()))  # type: ignore[attr-defined]
    custom = opcode.CustomCode()  # type: ignore[attr-defined]
    names = tflite.BUILTIN_OPCODE2NAME  # type: ignore[attr-defined]
    if custom is not None and builtin == 32:  # BuiltinOperator.CUSTOM
        return custom.decode("utf-8", "replace")
    return str(names.get(builtin, f"BUILTIN_{builtin}"))


def read_model_file(data: bytes | memoryview, source: str = "<bytes>") -> ModelFile:
    """Parse a TFLite flatbuffer's op table, subgraphs and metadata.

    Raises:
        NotATfliteModelError: the data does not carry the TFLite identifier.
        CorruptModelError: the flatbuffer's offsets point outside the data (truncation or
            corruption).
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
