"""Model metadata: the standard TFLite Metadata (``TFLITE_METADATA``) and edge_sdk's own.

Standard metadata is a flatbuffer (``metadata_schema.fbs`` from tflite-support/MediaPipe)
stored in the model's metadata buffer, plus associated files (labels ...) packed as a zip
archive appended to the model. Only the fields edge_sdk uses are read, with the plain
flatbuffers table reader, so no schema package is needed on the device.

edge_sdk's converter also packs ``edge_sdk.json`` into the zip tail with the task, resize
mode and colour order; tools that do not know it ignore it.

Ultralytics exports carry their own metadata in the zip tail, in one of two forms: newer
exports (LiteRT's PyTorch converter) a ``metadata.json`` member; older ones (onnx2tf) a text
member (``temp_meta.txt``, attached to output 0 as if it were a label file) holding a Python
dict literal. Both hold ``names``, ``imgsz``, ``stride``, ``task``, ``end2end``, ``kpt_shape``
and ``channels``. They are parsed with :func:`json.loads` or :func:`ast.literal_eval` (never
``eval``), members over :data:`ULTRALYTICS_MAX_BYTES` are not read.
"""

from __future__ import annotations

import ast
import enum
import io
import json
import math
import mmap
import struct
import zipfile
from dataclasses import dataclass, field
from typing import Any

from .errors import MetadataError, OptionsError
from .labels import LabelMap
from .modelfile import _Reader
from .safe_io import MAX_NESTING, loads_json, nesting_depth

TFLITE_METADATA = "TFLITE_METADATA"
EDGE_SDK_FILE = "edge_sdk.json"
ULTRALYTICS_JSON = "metadata.json"
ULTRALYTICS_MAX_BYTES = 1 << 20
"""Largest Ultralytics metadata member read (its class names are a few KiB)."""
ULTRALYTICS_TASKS = {"detect": "detection", "classify": "classification"}
"""Ultralytics task names edge_sdk runs, to edge_sdk's."""

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
        if any(not s > 0 for s in self.std) or any(m != m for m in self.mean):
            raise MetadataError(
                f"normalization std must be > 0 and mean a number, got mean {self.mean} std {self.std}"
            )

    @classmethod
    def from_options(
        cls,
        mean: float | tuple[float, ...] | list[float] | None,
        std: float | tuple[float, ...] | list[float] | None,
    ) -> Normalization | None:
        """The user's ``--mean``/``--std`` (one value, or one per channel); None when neither is given.

        Raises:
            OptionsError: only one is given, a value is not a finite number, a std is not
                > 0, or the counts differ (1 or the channel count; the channel count is
                checked when the model is loaded).
        """
        if mean is None and std is None:
            return None
        if mean is None or std is None:
            raise OptionsError("give mean and std together (--mean and --std)")
        m = (mean,) if isinstance(mean, (int, float)) else tuple(mean)
        sd = (std,) if isinstance(std, (int, float)) else tuple(std)
        try:
            m, sd = tuple(float(v) for v in m), tuple(float(v) for v in sd)
        except (TypeError, ValueError):
            raise OptionsError(f"mean and std must be numbers, got mean {mean!r} std {std!r}") from None
        if not m or not sd or len(m) > 4 or len(sd) > 4:
            raise OptionsError(f"expected 1 or 3 mean and std values, got {len(m)} and {len(sd)}")
        if not all(math.isfinite(v) for v in m + sd):
            raise OptionsError(f"mean and std must be finite, got mean {m} std {sd}")
        if any(v <= 0 for v in sd):
            raise OptionsError(f"std must be > 0, got {sd}")
        if len(m) != len(sd) and 1 not in (len(m), len(sd)):
            raise OptionsError(
                f"mean has {len(m)} values and std {len(sd)}; expected equal counts or one value"
            )
        return cls(m, sd)

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
    ultralytics: dict[str, Any] | None = None
    """Ultralytics' export metadata (``names``, ``imgsz``, ``task``, ``end2end`` ...), if any."""

    @property
    def family_normalization(self) -> Normalization | None:
        """The model family's input range when the metadata names the family: Ultralytics
        models (detect and classify) take RGB in [0, 1]."""
        return Normalization((0.0,), (255.0,)) if self.ultralytics is not None else None

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
            "ultralytics": (
                {k: v for k, v in self.ultralytics.items() if k != "names"} if self.ultralytics else None
            ),
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


MAX_MEMBER_BYTES = 16 * 1024 * 1024
"""Largest associated file read from a model's zip tail (declared and actual size): 16 MiB."""

MAX_MEMBERS = 10_000
"""Most entries a model's zip tail may list."""


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

    def read(self, n: int | None = -1) -> bytes:
        return self._mm.read(n if n is not None and n >= 0 else None)


def _zip_tail(model_bytes: bytes | bytearray | memoryview | mmap.mmap) -> Any:
    """A seekable file over the model for ``zipfile`` (an mmap is read in place, bytes are
    not copied twice), or None when the file has no zip end record near its end."""
    tail = bytes(model_bytes[max(0, len(model_bytes) - _ZIP_END_SPAN) :])
    if tail.rfind(_ZIP_END) < 0:
        return None
    if isinstance(model_bytes, mmap.mmap):
        return _MmapFile(model_bytes)
    return io.BytesIO(model_bytes)


def _read_archive(
    model_bytes: bytes | bytearray | memoryview | mmap.mmap, wanted: set[str], source: str
) -> tuple[list[str], dict[str, bytes]]:
    """The names in the model's zip tail, and the contents of those in ``wanted`` that it packs.

    Only the wanted members are read, each only after its declared size is checked against
    :data:`MAX_MEMBER_BYTES`, and through a stream cut off one byte past the cap, so a member
    that lies about its size (a zip bomb) cannot use more memory than the cap.

    Raises:
        MetadataError: the zip tail is damaged, lists too many entries, or a wanted member is
            too large, encrypted, uses an unsupported compression, or fails its CRC check.
    """
    fh = _zip_tail(model_bytes)
    if fh is None:
        return [], {}  # no zip tail: the model packs no files
    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile:
        return [], {}  # no zip tail: the model packs no files
    except Exception as exc:  # a damaged central directory: OSError, ValueError, EOFError ...
        raise MetadataError(f"{source}: the packed metadata files cannot be read ({exc})") from exc
    archive: dict[str, bytes] = {}
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise MetadataError(
                f"{source}: the packed files list {len(infos)} entries; expected at most {MAX_MEMBERS}"
            )
        names = [i.filename for i in infos]
        for info in infos:
            if info.filename not in wanted or info.filename in archive:
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                raise MetadataError(
                    f"{source}: packed file {info.filename!r} declares {info.file_size} bytes; "
                    f"expected at most {MAX_MEMBER_BYTES}"
                )
            try:
                with zf.open(info) as fh:
                    data = fh.read(MAX_MEMBER_BYTES + 1)
            except (
                Exception
            ) as exc:  # BadZipFile (CRC), NotImplementedError, RuntimeError (encrypted), zlib.error
                raise MetadataError(
                    f"{source}: packed file {info.filename!r} cannot be read "
                    f"({type(exc).__name__}: {exc}); expected a stored or deflated, unencrypted member"
                ) from exc
            if len(data) > MAX_MEMBER_BYTES:
                raise MetadataError(
                    f"{source}: packed file {info.filename!r} holds more than {MAX_MEMBER_BYTES} bytes "
                    f"(it declared {info.file_size})"
                )
            archive[info.filename] = data
    return names, archive


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

    names, archive = _read_archive(model_bytes, {EDGE_SDK_FILE, *output_label_files.values()}, source)
    ultra, ultra_member = _read_ultralytics(model_bytes, source) if names else (None, None)
    extra: dict[str, Any] = {}
    if EDGE_SDK_FILE in archive:
        extra = loads_json(archive[EDGE_SDK_FILE], f"{source}: {EDGE_SDK_FILE}", MetadataError)
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
                # lazy: preprocess imports this module (import cycle)
                from .preprocess import ResizeMode

                ResizeMode(extra["resize"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MetadataError(
                f"{source}: {EDGE_SDK_FILE} is malformed: expected normalization {{mean: [..], std: [..]}}, "
                f"color_space in {[c.value for c in ColorSpace]} and resize in stretch/letterbox/center_crop "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    output_labels: dict[int, LabelMap] = {}
    task = extra.get("task")
    if ultra is not None:
        output_label_files = {k: v for k, v in output_label_files.items() if v != ultra_member}
        ultra_labels = _ultralytics_names(ultra.get("names"), source)
        if ultra_labels is not None:
            output_labels[0] = ultra_labels
        task = task or ULTRALYTICS_TASKS.get(str(ultra.get("task")), "unknown" if ultra.get("task") else None)
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
        task=task,
        resize=extra.get("resize") or ("letterbox" if ultra is not None and task == "detection" else None),
        files=tuple(sorted(set(names))),
        extra=extra,
        ultralytics=ultra,
    )


def _parse_dict(text: str) -> dict[str, Any] | None:
    """A JSON object or a Python dict literal (:func:`ast.literal_eval`, never ``eval``); None
    when it is neither, or nests deeper than :data:`~edge_sdk.safe_io.MAX_NESTING`."""
    if nesting_depth(text) > MAX_NESTING:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def _read_ultralytics(
    model_bytes: bytes | bytearray | memoryview | mmap.mmap, source: str
) -> tuple[dict[str, Any] | None, str | None]:
    """:func:`_ultralytics` on the model's zip tail (already checked by :func:`_read_archive`)."""
    fh = _zip_tail(model_bytes)
    if fh is None:
        return None, None
    try:
        with zipfile.ZipFile(fh) as zf:
            return _ultralytics(zf, source)
    except MetadataError:
        raise
    except Exception as exc:  # a damaged central directory: BadZipFile, OSError, ValueError ...
        raise MetadataError(f"{source}: the packed metadata files cannot be read ({exc})") from exc


def _ultralytics(zf: zipfile.ZipFile, source: str) -> tuple[dict[str, Any] | None, str | None]:
    """Ultralytics' metadata and the member holding it: ``metadata.json``, else the first
    member whose text is a dict with ``names`` (the dict-literal form), else ``(None, None)``.

    Raises:
        MetadataError: ``metadata.json`` exceeds the size cap or is not a JSON object with names.
    """
    infos = zf.infolist()
    for info in sorted(infos, key=lambda i: i.filename != ULTRALYTICS_JSON):
        if info.filename == EDGE_SDK_FILE:
            continue
        if info.file_size > ULTRALYTICS_MAX_BYTES:
            if info.filename == ULTRALYTICS_JSON:
                raise MetadataError(
                    f"{source}: {ULTRALYTICS_JSON} is {info.file_size} bytes; expected at most "
                    f"{ULTRALYTICS_MAX_BYTES} (Ultralytics metadata)"
                )
            continue
        try:
            with zf.open(info) as fh:  # bounded: a member may lie about its size
                data = fh.read(ULTRALYTICS_MAX_BYTES + 1)
        except Exception as exc:  # BadZipFile (CRC), NotImplementedError, RuntimeError (encrypted)
            if info.filename == ULTRALYTICS_JSON:
                raise MetadataError(
                    f"{source}: {ULTRALYTICS_JSON} cannot be read ({type(exc).__name__}: {exc})"
                ) from exc
            continue
        if len(data) > ULTRALYTICS_MAX_BYTES:
            if info.filename == ULTRALYTICS_JSON:
                raise MetadataError(
                    f"{source}: {ULTRALYTICS_JSON} holds more than {ULTRALYTICS_MAX_BYTES} bytes "
                    f"(it declared {info.file_size})"
                )
            continue
        text = data.decode("utf-8", "replace").strip()
        if not text.startswith("{"):
            continue
        value = _parse_dict(text)
        if value is not None and ("names" in value or "imgsz" in value):
            return value, info.filename
        if info.filename == ULTRALYTICS_JSON:
            raise MetadataError(f"{source}: {ULTRALYTICS_JSON} is not a JSON object with names/imgsz")
    return None, None


def _ultralytics_names(names: Any, source: str) -> LabelMap | None:
    """Class names of Ultralytics metadata: ``{id: name}`` (ids may be strings in JSON) or a list."""
    if names is None:
        return None
    try:
        if isinstance(names, dict):
            mapping = {int(k): str(v) for k, v in names.items()}
        elif isinstance(names, (list, tuple)):
            mapping = dict(enumerate(str(v) for v in names))
        else:
            raise TypeError(type(names).__name__)
    except (TypeError, ValueError) as exc:
        raise MetadataError(
            f"{source}: Ultralytics metadata names must be {{id: name}} or a list, found {exc}"
        ) from exc
    return LabelMap(mapping, "Ultralytics metadata (embedded)")
