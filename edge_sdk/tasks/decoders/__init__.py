"""Detection output decoders, chosen once when a model is loaded.

A decoder turns a detector's raw output tensors into candidate boxes in **model-input
pixels** (``x0, y0, x1, y1``, origin top-left of the input tensor), scores and class ids.
:class:`edge_sdk.tasks.detect.Detector` then filters, runs NMS when the model has none, and maps
boxes back to source pixels.

Supported layouts (see :func:`select_decoder`):

- ``TFLite_Detection_PostProcess`` (SSD and friends): four outputs, boxes, classes, scores
  and count, found by the op's own output order, else by name and shape;
- YOLOv8 / YOLO11 heads ``[1, 4+nc, N]`` or ``[1, N, 4+nc]``;
- YOLOv5 heads ``[1, N, 5+nc]`` (with objectness);
- end-to-end heads ``[1, N, 6]`` (YOLOv10, YOLO26: ``x0, y0, x1, y1, score, class``, NMS
  in the model).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ...errors import UnsupportedModelError

if TYPE_CHECKING:
    from ...model import Model, TensorSpec


class DetectorHead(str, enum.Enum):
    """The output layout of a detector."""

    SSD = "ssd"  # TFLite_Detection_PostProcess: boxes, classes, scores, count
    YOLOV8 = "yolov8"  # [1, 4+nc, N] or [1, N, 4+nc]: cx, cy, w, h, class scores (also YOLO11)
    YOLOV5 = "yolov5"  # [1, N, 5+nc]: cx, cy, w, h, objectness, class scores
    END2END = "end2end"  # [1, N, 6]: x0, y0, x1, y1, score, class after NMS in the model


class BoxCoordinates(str, enum.Enum):
    """Units of a YOLO head's ``cx, cy, w, h``: fractions of the input size, or input pixels."""

    NORMALIZED = "normalized"
    PIXELS = "pixels"


@dataclass(frozen=True)
class Candidates:
    """Decoded candidates of one frame, before class filtering and (for YOLO) NMS.

    ``xyxy``: float32 ``(N, 4)`` in model-input pixels; ``scores``: float32 ``(N,)``;
    ``class_ids``: int32 ``(N,)`` (0-based, the label file's line index).
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, idx: np.ndarray) -> Candidates:
        return Candidates(self.xyxy[idx], self.scores[idx], self.class_ids[idx])


class Decoder(Protocol):
    """What :class:`~edge_sdk.tasks.detect.Detector` needs from a decoder."""

    @property
    def head(self) -> DetectorHead:
        """The layout this decoder reads."""
        ...

    @property
    def num_classes(self) -> int | None:
        """Classes the model can output (None when the model does not say)."""
        ...

    @property
    def needs_nms(self) -> bool:
        """True when the model emits raw candidates (YOLO); False when NMS ran in the graph (SSD)."""
        ...

    def decode(self, model: Model, threshold: float) -> Candidates:
        """Candidates of the last invoke with ``score >= threshold``."""
        ...

    def describe(self) -> str:
        """One line naming the layout and the tensors used."""
        ...


def describe_outputs(outputs: tuple[TensorSpec, ...]) -> str:
    """``name [shape] dtype`` for every output, ``; ``-separated (for error messages)."""
    return "; ".join(f"{t.name} {list(t.shape)} {t.dtype.name}" for t in outputs)


def select_decoder(
    model: Model,
    *,
    head: DetectorHead | None = None,
    num_labels: int | None = None,
    coordinates: BoxCoordinates | None = None,
) -> Decoder:
    """Work out a detector's output layout once, at load time.

    In order: an explicit ``head``; a ``TFLite_Detection_PostProcess`` op or four outputs
    shaped like its result (SSD); one 3-D output shaped like a YOLO head (see
    :func:`edge_sdk.tasks.decoders.yolo.YoloDecoder.from_model` for how v8 and v5 are told apart).

    Args:
        head: force a layout instead of detecting it.
        num_labels: how many labels the caller has (helps tell YOLOv8 from YOLOv5).
        coordinates: units of a YOLO head's boxes (default: metadata, else detected).

    Raises:
        UnsupportedModelError: no known layout fits; the message lists every output tensor.
    """
    # lazy: the decoder modules import this package (cycle)
    from .ssd import SsdDecoder
    from .yolo import YoloDecoder

    if head in (None, DetectorHead.SSD):
        ssd = SsdDecoder.from_model(model, required=head is DetectorHead.SSD)
        if ssd is not None:
            return ssd
    if head in (None, DetectorHead.END2END):
        from .e2e import EndToEndDecoder  # lazy: e2e imports this package (import cycle)

        e2e = EndToEndDecoder.from_model(model, head=head, coordinates=coordinates)
        if e2e is not None:
            return e2e
        if head is DetectorHead.END2END:
            raise UnsupportedModelError(
                f"{model.source}: expected one end-to-end output [1, N, 6]; found outputs: "
                f"{describe_outputs(model.outputs)}"
            )
    yolo = YoloDecoder.from_model(model, head=head, num_labels=num_labels, coordinates=coordinates)
    if yolo is not None:
        return yolo
    raise UnsupportedModelError(
        f"{model.source}: unknown detection output layout; expected TFLite_Detection_PostProcess "
        "(4 outputs: boxes [1,N,4], classes [1,N], scores [1,N], count [1]), a YOLOv8 head "
        "[1,4+nc,N]/[1,N,4+nc], a YOLOv5 head [1,N,5+nc] or an end-to-end head [1,N,6]; found outputs: "
        f"{describe_outputs(model.outputs)}"
    )
