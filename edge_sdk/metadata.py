"""Model metadata: the standard TFLite Metadata (``TFLITE_METADATA``) and edge_sdk's own.

Standard metadata is a flatbuffer (``metadata_schema.fbs`` from tflite-support/MediaPipe)
stored in the model's metadata buffer, plus associated files (labels ...) packed as a zip
archive appended to the model. Only the fields edge_sdk uses are read, with the plain
flatbuffers table reader, so no schema package is needed on the device.

edge_sdk's converter also packs ``edge_sdk.json`` into the zip tail with the task, resize
mode and colour order; tools that do not know it ignore it.
"""

from __future__ import annotations

import enum
import io
import mmap
import struct
from dataclasses import dataclass, field
from typing import Any

from .errors import MetadataError
from .labels import LabelMap
from .modelfile import _Reader

TFLITE_METADATA = "TFLITE_METADATA"
EDGE_SDK_FILE = "edge_sdk.json"

# Field slots (vtable offsets) from metadata_schema.fbs; slot n is at 4 + 2n.
_MODEL_SUBGRAPHS, _MODEL_FILES = 10, 16
_SG_INPUTS, _SG_OUTPUTS = 8, 10
_TENSOR_NAME, _TENSOR_CONTENT, _TENSOR_PROCESS, _TENSOR_FILES = 4, 10, 12, 16
_CONTENT_PROPS_TYPE, _CONTENT_PROPS = 4, 6
_IMAGE_COLOR = 4
_PU_OPTIONS_TYPE, _PU_OPTIONS = 4, 6
_NORM_MEAN, _NORM_STD = 4, 6
_FILE_NAME, _FILE_TYPE = 4, 8
_UNION_IMAGE_PROPERTIES = 2
_UNION_NORMALIZATION = 1
_FILE_TENSOR_AXIS_LABELS = 2
_FILE_TENSOR_VALUE_LABELS = 3


class ColorSpace(str, enum.Enum):
    """Colour order a model's image input expects."""

    RGB = "rgb"
    BGR = "bgr"
    GRAYSCALE = "grayscale"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Normalization:
    """Input normalization ``(pixel - mean) / std``, per channel or one value for all."""

    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if not self.mean or not self.std:
            raise MetadataError("normalization needs at least one mean and one std value")
        if any(s == 0 for s in self.std):
            raise MetadataError(f"normalization std must be non-zero, got {self.std}")

    def scalar(self) -> tuple[float, float] | None:
        """``(mean, std)`` when every channel uses the same values, else None."""
        if len(set(self.mean)) == 1 and len(set(self.std)) == 1:
            return self.mean[0], self.std[0]
        return None

    def as_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class ModelMetadata:
    """What a model says about itself. Fields are None when the model does not say.

    ``output_labels`` maps an output tensor index to the label file attached to it.
    """

    normalization: Normalization | None = None
    color_space: ColorSpace = ColorSpace.UNKNOWN
    output_labels: dict[int, LabelMap] = field(default_factory=dict)
    task: str | None = None
    resize: str | None = None
    files: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> LabelMap | None:
        """The first output's labels (the classifier/detector class names), if any."""
        if not self.output_labels:
            return None
        return self.output_labels[min(self.output_labels)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "normalization": self.normalization.as_dict() if self.normalization else None,
            "color_space": self.color_space.value,
            "labels": {
                str(k): {"file": v.source, "count": len(v)} for k, v in sorted(self.output_labels.items())
            },
            "task": self.task,
            "resize": self.resize,
            "files": list(self.files),
        }


class _Table:
    """Minimal read-only flatbuffer table (slots are vtable offsets, 4 + 2n), over the
    bounds-checked reader :mod:`edge_sdk.modelfile` uses for the model itself."""

    def __init__(self, reader: _Reader, pos: int) -> None:
        self.r = reader
        self.pos = pos

    @classmethod
    def root(cls, buf: bytes) -> _Table:
        r = _Reader(buf)
        return cls(r, r.root())

    def _field(self, slot: int) -> int:
        return self.r.field(self.pos, (slot - 4) // 2)

    def string(self, slot: int) -> str | None:
        s = self.r.string(self.pos, (slot - 4) // 2)
        return None if s is None else s

    def u8(self, slot: int) -> int:
        return self.r.scalar(self.pos, (slot - 4) // 2, "<B")

    def table(self, slot: int) -> _Table | None:
        o = self._field(slot)
        return _Table(self.r, self.r.indirect(o)) if o else None

    union = table

    def tables(self, slot: int) -> list[_Table]:
        return [_Table(self.r, t) for t in self.r.tables(self.pos, (slot - 4) // 2)]

    def floats(self, slot: int) -> tuple[float, ...]:
        start, n = self.r.vector(self.pos, (slot - 4) // 2)
        if not start:
            return ()
        return tuple(float(v) for v in struct.unpack_from(f"<{n}f", self.r.buf, start))


def _label_files(tensor: _Table) -> list[str]:
    names = []
    for f in tensor.tables(_TENSOR_FILES):
        if f.u8(_FILE_TYPE) in (_FILE_TENSOR_AXIS_LABELS, _FILE_TENSOR_VALUE_LABELS):
            name = f.string(_FILE_NAME)
            if name:
                names.append(name)
    return names


_ZIP_END = b"PK\x05\x06"  # zip end-of-central-directory signature
_ZIP_END_SPAN = 22 + 65535  # the record plus the longest zip comment


class _MmapFile:
    """An mmap as the seekable file ``zipfile`` wants (``mmap.seekable`` is Python >= 3.13)."""

    def __init__(self, mm: mmap.mmap) -> None:
        self._mm = mm
        mm.seek(0)

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: Any = 0) -> int:
        self._mm.seek(pos, whence)
        return self._mm.tell()

    def tell(self) -> int:
        return self._mm.tell()

    def read(self, n: int = -1) -> bytes:
        return self._mm.read(n if n is not None and n >= 0 else None)


def _stored_files(buf: bytes | bytearray | memoryview | mmap.mmap, eocd: int) -> dict[str, bytes] | None:
    """The entries of the zip whose end record is at ``eocd``, when all are simply stored.

    The metadata writers (tflite-support's MetadataPopulator, converters/metadata_writer.py)
    store the associated files uncompressed. Reading such an archive needs only its directory,
    not ``zipfile`` and the compression modules it imports (~10 ms at start-up). Returns None for
    anything else (compression, encryption, zip64, inconsistent offsets): ``zipfile`` reads it.
    """
    import zlib

    _, _, _, _, n_entries, cd_size, cd_offset, _ = struct.unpack_from("<4s4H2LH", buf, eocd)
    cd_start = eocd - cd_size
    base = cd_start - cd_offset  # where the archive starts (it is appended to the model)
    if cd_start < 0 or base < 0 or 0xFFFF in (n_entries,) or 0xFFFFFFFF in (cd_size, cd_offset):
        return None
    files: dict[str, bytes] = {}
    pos = cd_start
    for _ in range(n_entries):
        if pos + 46 > eocd or bytes(buf[pos : pos + 4]) != b"PK\x01\x02":
            return None
        flags, method, _, _, crc, csize, usize, nlen, xlen, clen = struct.unpack_from("<4H3L3H", buf, pos + 8)
        local = base + struct.unpack_from("<L", buf, pos + 42)[0]
        raw = bytes(buf[pos + 46 : pos + 46 + nlen])
        name = raw.decode("ascii") if raw.isascii() else raw.decode("utf-8" if flags & 0x800 else "cp437")
        pos += 46 + nlen + xlen + clen
        if method != 0 or flags & 1 or csize != usize or local + 30 > cd_start:
            return None
        if bytes(buf[local : local + 4]) != b"PK\x03\x04":
            return None
        lnlen, lxlen = struct.unpack_from("<2H", buf, local + 26)
        start = local + 30 + lnlen + lxlen
        if start + csize > cd_start:
            return None
        data = bytes(buf[start : start + csize])
        if zlib.crc32(data) != crc:
            return None
        files[name] = data
    return files


def _packed_files(model_bytes: bytes | bytearray | memoryview | mmap.mmap, source: str) -> dict[str, bytes]:
    """The associated files packed as a zip archive at the end of the model, name to bytes.

    Nothing is imported for a model without packed files; stored (uncompressed) files are read
    straight from the directory; ``zipfile`` reads anything else.
    """
    size = len(model_bytes)
    tail_start = max(0, size - _ZIP_END_SPAN)
    tail = bytes(model_bytes[tail_start:])
    at = tail.rfind(_ZIP_END)
    if at < 0:
        return {}
    if at + 22 <= len(tail):
        try:
            stored = _stored_files(model_bytes, tail_start + at)
        except (struct.error, UnicodeDecodeError, ValueError):
            stored = None
        if stored is not None:
            return stored
    import zipfile

    try:
        fh: Any = _MmapFile(model_bytes) if isinstance(model_bytes, mmap.mmap) else io.BytesIO(model_bytes)
        with zipfile.ZipFile(fh) as zf:  # an mmap is read in place, without a copy
            return {n: zf.read(n) for n in zf.namelist()}
    except zipfile.BadZipFile:
        return {}
    except (OSError, ValueError, EOFError) as exc:
        raise MetadataError(f"{source}: the packed metadata files cannot be read ({exc})") from exc


def parse_metadata(
    model_bytes: bytes | bytearray | memoryview | mmap.mmap,
    metadata_buffers: dict[str, bytes],
    source: str = "model",
) -> ModelMetadata:
    """Read standard TFLite Metadata and ``edge_sdk.json`` from a model.

    Args:
        model_bytes: the whole .tflite file (the zip tail with associated files is at its end):
            bytes, a memoryview or an mmap (read in place).
        metadata_buffers: the model's metadata entries, name to bytes (see ``modelfile``).

    Raises:
        MetadataError: metadata is present but cannot be parsed, or names a file that is not
            packed in the model.
    """
    archive = _packed_files(model_bytes, source)

    normalization: Normalization | None = None
    color = ColorSpace.UNKNOWN
    output_label_files: dict[int, str] = {}
    raw = metadata_buffers.get(TFLITE_METADATA)
    if raw:
        try:
            root = _Table.root(raw)
            subgraphs = root.tables(_MODEL_SUBGRAPHS)
            if subgraphs:
                sg = subgraphs[0]
                inputs = sg.tables(_SG_INPUTS)
                if inputs:
                    tin = inputs[0]
                    for pu in tin.tables(_TENSOR_PROCESS):
                        if pu.u8(_PU_OPTIONS_TYPE) == _UNION_NORMALIZATION:
                            opts = pu.union(_PU_OPTIONS)
                            if opts is not None:
                                mean, std = opts.floats(_NORM_MEAN), opts.floats(_NORM_STD)
                                if mean and std:
                                    normalization = Normalization(mean, std)
                    content = tin.table(_TENSOR_CONTENT)
                    if content is not None and content.u8(_CONTENT_PROPS_TYPE) == _UNION_IMAGE_PROPERTIES:
                        props = content.union(_CONTENT_PROPS)
                        code = props.u8(_IMAGE_COLOR) if props is not None else 0
                        color = {1: ColorSpace.RGB, 2: ColorSpace.GRAYSCALE}.get(code, ColorSpace.UNKNOWN)
                for i, tout in enumerate(sg.tables(_SG_OUTPUTS)):
                    files = _label_files(tout)
                    if files:
                        output_label_files[i] = files[0]
        except MetadataError:
            raise
        except Exception as exc:  # the flatbuffers reader raises IndexError/struct.error on garbage
            raise MetadataError(f"{source}: TFLITE_METADATA is present but malformed ({exc})") from exc

    extra: dict[str, Any] = {}
    if EDGE_SDK_FILE in archive:
        import json

        try:
            extra = json.loads(archive[EDGE_SDK_FILE].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MetadataError(f"{source}: {EDGE_SDK_FILE} is not valid JSON ({exc})") from exc
        if not isinstance(extra, dict):
            raise MetadataError(
                f"{source}: {EDGE_SDK_FILE} must hold a JSON object, found {type(extra).__name__}"
            )
        try:
            if "normalization" in extra:
                n = extra["normalization"]
                ours = Normalization(tuple(float(v) for v in n["mean"]), tuple(float(v) for v in n["std"]))
                normalization = normalization or ours  # the standard metadata wins when both say
            if "color_space" in extra:
                color = ColorSpace(extra["color_space"])
            if extra.get("resize") is not None:
                from .preprocess import ResizeMode

                ResizeMode(extra["resize"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MetadataError(
                f"{source}: {EDGE_SDK_FILE} is malformed: expected normalization {{mean: [..], std: [..]}}, "
                f"color_space in {[c.value for c in ColorSpace]} and resize in stretch/letterbox/center_crop "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    output_labels: dict[int, LabelMap] = {}
    for idx, name in output_label_files.items():
        if name not in archive:
            raise MetadataError(
                f"{source}: metadata names label file {name!r} but the model does not pack it"
            )
        output_labels[idx] = LabelMap.parse(archive[name].decode("utf-8", "replace"), f"{name} (embedded)")

    return ModelMetadata(
        normalization=normalization,
        color_space=color,
        output_labels=output_labels,
        task=extra.get("task"),
        resize=extra.get("resize"),
        files=tuple(sorted(archive)),
        extra=extra,
    )
