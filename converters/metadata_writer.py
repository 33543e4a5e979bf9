"""Write standard TFLite Metadata (labels, normalization, colour space) plus ``edge_sdk.json``.

The metadata flatbuffer follows ``metadata_schema.fbs`` (tflite-support / MediaPipe), built
with the plain ``flatbuffers`` Builder; it is attached to the model as the
``TFLITE_METADATA`` buffer with TensorFlow's ``flatbuffer_utils``, and the associated files
(``labels.txt``, ``edge_sdk.json``) are packed into a zip appended to the model, exactly as
the MetadataPopulator does. MediaPipe Tasks and the TFLite Task Library read the result;
edge_sdk's runtime reads it with ``edge_sdk.metadata``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

from edge_sdk.metadata import EDGE_SDK_FILE, TFLITE_METADATA, ColorSpace

LABELS_FILE = "labels.txt"
METADATA_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"

# Union and enum codes from metadata_schema.fbs.
_CONTENT_FEATURE, _CONTENT_IMAGE = 1, 2
_PROCESS_NORMALIZATION = 1
_FILE_TENSOR_AXIS_LABELS = 2
_FILE_TENSOR_VALUE_LABELS = 3
_CONTENT_BOUNDING_BOX = 3
_BOX_BOUNDARIES, _BOX_RATIO = 1, 0  # BoundingBoxType.BOUNDARIES, CoordinateType.RATIO
SSD_OUTPUTS = ("location", "category", "score", "number of detections")
"""The four outputs of a ``TFLite_Detection_PostProcess`` model, in order, as MediaPipe and the
TFLite Task Library name them in metadata."""
_COLOR = {ColorSpace.RGB: 1, ColorSpace.GRAYSCALE: 2, ColorSpace.BGR: 1, ColorSpace.UNKNOWN: 0}


def _build_metadata(
    name: str,
    description: str,
    mean: Sequence[float],
    std: Sequence[float],
    color: ColorSpace,
    num_outputs: int,
    labelled_output: int | None,
    image_input: bool,
    ssd_outputs: bool = False,
) -> bytes:
    # lazy: the flatbuffer schema (~100 modules), only to read/write a model
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def string(s: str) -> int:
        return int(b.CreateString(s))

    def float_vector(values: Sequence[float]) -> int:
        b.StartVector(4, len(values), 4)
        for v in reversed(list(values)):
            b.PrependFloat32(float(v))
        return int(b.EndVector())

    def offset_vector(offsets: Sequence[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for o in reversed(list(offsets)):
            b.PrependUOffsetTRelative(o)
        return int(b.EndVector())

    def uint_vector(values: Sequence[int]) -> int:
        b.StartVector(4, len(values), 4)
        for v in reversed(list(values)):
            b.PrependUint32(int(v))
        return int(b.EndVector())

    def table(fields: list[tuple[int, str, Any]], nslots: int) -> int:
        b.StartObject(nslots)
        for slot, kind, value in fields:
            if kind == "off":
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
            elif kind == "i32":
                b.PrependInt32Slot(slot, value, 0)
            else:  # "u8"
                b.PrependUint8Slot(slot, value, 0)
        return int(b.EndObject())

    def value_range(lo: int, hi: int) -> int:
        return table([(0, "i32", lo), (1, "i32", hi)], 2)

    # Input tensor: image properties + normalization.
    input_fields: list[tuple[int, str, Any]] = [(0, "off", string("image"))]
    if image_input:
        props = table([(0, "u8", _COLOR[color])], 2)  # ImageProperties.color_space
        content = table([(0, "u8", _CONTENT_IMAGE), (1, "off", props)], 3)
        norm = table([(0, "off", float_vector(mean)), (1, "off", float_vector(std))], 2)
        unit = table([(0, "u8", _PROCESS_NORMALIZATION), (1, "off", norm)], 2)
        input_fields += [(3, "off", content), (4, "off", offset_vector([unit]))]
    input_md = table(input_fields, 7)

    outputs = []
    for i in range(num_outputs):
        plain = "score" if i == labelled_output else f"output_{i}"
        name = SSD_OUTPUTS[i] if ssd_outputs else plain
        fields: list[tuple[int, str, Any]] = [(0, "off", string(name))]
        if ssd_outputs and i == 0:
            # boxes as (ymin, xmin, ymax, xmax) ratios: BoundingBoxProperties index [1, 0, 3, 2]
            props = table(
                [(0, "off", uint_vector([1, 0, 3, 2])), (1, "u8", _BOX_BOUNDARIES), (2, "u8", _BOX_RATIO)], 3
            )
            content_fields = [
                (0, "u8", _CONTENT_BOUNDING_BOX),
                (1, "off", props),
                (2, "off", value_range(2, 2)),
            ]
        else:
            feature = table([], 3)  # FeatureProperties
            content_fields = [(0, "u8", _CONTENT_FEATURE), (1, "off", feature)]
            if ssd_outputs and i < 3:
                content_fields.append((2, "off", value_range(2, 2)))
        fields.append((3, "off", table(content_fields, 3)))
        if i == labelled_output:
            f = table(
                [
                    (0, "off", string(LABELS_FILE)),
                    (1, "off", string("Labels for the classes of this output.")),
                    (2, "u8", _FILE_TENSOR_VALUE_LABELS if ssd_outputs else _FILE_TENSOR_AXIS_LABELS),
                ],
                5,
            )
            fields.append((6, "off", offset_vector([f])))
        outputs.append(table(fields, 7))

    subgraph = table([(2, "off", offset_vector([input_md])), (3, "off", offset_vector(outputs))], 9)
    root = table(
        [
            (0, "off", string(name)),
            (1, "off", string(description)),
            (3, "off", offset_vector([subgraph])),
            (7, "off", string(MIN_PARSER_VERSION)),
        ],
        8,
    )
    b.Finish(root, file_identifier=METADATA_IDENTIFIER)
    return bytes(b.Output())


def _attach_buffer(model: bytes, metadata: bytes) -> bytes:
    """Attach ``metadata`` as the model's ``TFLITE_METADATA`` buffer (replacing an old one)."""
    # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    buf = schema.BufferT()
    buf.data = list(metadata)
    obj.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = TFLITE_METADATA
    entry.buffer = len(obj.buffers) - 1
    obj.metadata = [
        m for m in (obj.metadata or []) if m.name not in (TFLITE_METADATA, TFLITE_METADATA.encode())
    ]
    obj.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def pack_files(model: bytes, files: dict[str, bytes]) -> bytes:
    """Append ``files`` to the model's zip tail (creating the tail when absent)."""
    buf = io.BytesIO(model)
    buf.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def write_metadata(
    model: bytes,
    *,
    task: str,
    labels: Sequence[str] | None = None,
    mean: Sequence[float] = (0.0,),
    std: Sequence[float] = (1.0,),
    color: ColorSpace = ColorSpace.RGB,
    resize: str = "stretch",
    name: str = "edge_sdk model",
    description: str = "Converted by edge-sdk",
    num_outputs: int = 1,
    labelled_output: int = 0,
) -> bytes:
    """Return ``model`` with metadata embedded. ``model`` must not carry metadata yet.

    Args:
        task: ``classification``, ``detection``, ``embedding`` ...
        labels: one label per class of output ``labelled_output``, in output order.
        mean, std: input normalization ``(pixel - mean) / std`` in the model's colour order.
        color: the input colour order.
        resize: how frames are fitted (``stretch``, ``letterbox``, ``center_crop``).
        num_outputs: how many output tensors to describe. A ``detection`` model with 4 outputs
            is described as a ``TFLite_Detection_PostProcess`` model (location, category, score,
            number of detections; boxes as ymin, xmin, ymax, xmax ratios; the labels as value
            labels of ``category``, so pass ``labelled_output=1``), which MediaPipe's
            ObjectDetector requires.
    """
    md = _build_metadata(
        name,
        description,
        mean,
        std,
        color,
        num_outputs,
        labelled_output if labels else None,
        image_input=True,
        ssd_outputs=task == "detection" and num_outputs == 4,
    )
    out = _attach_buffer(model, md)
    info = {
        "task": task,
        "resize": resize,
        "color_space": color.value,
        "normalization": {"mean": list(mean), "std": list(std)},
        "writer": "edge-sdk",
    }
    files = {EDGE_SDK_FILE: json.dumps(info, indent=1, sort_keys=True).encode()}
    if labels:
        files[LABELS_FILE] = ("\n".join(labels) + "\n").encode()
    return pack_files(out, files)
