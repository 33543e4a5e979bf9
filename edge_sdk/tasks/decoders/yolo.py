"""Decoder for raw YOLO heads: YOLOv8/YOLO11 ``[1, 4+nc, N]`` (or ``[1, N, 4+nc]``) and
YOLOv5 ``[1, N, 5+nc]``.

Each of the N candidates holds ``cx, cy, w, h`` then, for YOLOv5, an objectness, then one
score per class (already sigmoid-activated, as Ultralytics exports them). A candidate's
score is its best class score (times the objectness for YOLOv5) and its class that best
class. Quantized heads are read in place: the best class and the threshold test run on the raw
integers (a positive scale keeps the order) and only candidates that pass are dequantized,
with :func:`edge_sdk.quant.dequantize`.

**Which YOLO** (decided once at load): an explicit head; else ``"head"`` in the model's
edge_sdk metadata; else channels-first ``[1, C, N]`` means v8 (Ultralytics' v8/11 export
layout; v5 exports are channels-last); else, for ``[1, N, C]``, the label count
(``nc == C-4`` means v8, ``nc == C-5`` v5); else the candidate count (``N`` equal to the
anchor-free grid of strides 8/16/32 over the input means v8, three times that v5). Anything
else is ambiguous and fails at load, asking for labels or an explicit head.

**Coordinate units**: Ultralytics' TFLite exports give ``cx, cy, w, h`` normalized to the
input size, other exporters give input pixels. Decided once: an explicit option; else
``"box_coordinates"`` in the edge_sdk metadata; else, for a quantized head, from the range
its quantization can represent (at most 2.0 means normalized); else, for a float head, from
the first frame's values (every ``|cx|, |cy|, |w|, |h|`` at most 2.0 means normalized), then
kept for later frames.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from ...errors import UnsupportedModelError
from ...preprocess import image_layout
from ...quant import QuantParams, dequantize
from . import BoxCoordinates, Candidates, DetectorHead, describe_outputs

if TYPE_CHECKING:
    from ...model import Model

log = logging.getLogger(__name__)

NORMALIZED_LIMIT = 2.0
"""Box values up to this magnitude are taken as normalized coordinates, larger as pixels."""

STRIDES = (8, 16, 32)


def anchor_count(width: int, height: int, strides: tuple[int, ...] = STRIDES) -> int:
    """Candidates of an anchor-free YOLO head over a ``(width, height)`` input."""
    return sum((width // s) * (height // s) for s in strides)


class YoloDecoder:
    """Decodes one YOLO head output. Build with :meth:`from_model`.

    Attributes:
        head: ``YOLOV8`` or ``YOLOV5``.
        channels_first: the tensor is ``[1, C, N]`` (else ``[1, N, C]``).
        num_classes: ``nc``.
        coordinates: box units, or None until the first frame decides (float heads only).
    """

    needs_nms = True

    def __init__(
        self,
        output: int,
        head: DetectorHead,
        channels_first: bool,
        num_classes: int,
        coordinates: BoxCoordinates | None,
        input_size: tuple[int, int],
        reason: str,
    ) -> None:
        self.output = output
        self.head = head
        self.channels_first = channels_first
        self.num_classes = num_classes
        self.coordinates = coordinates
        self.input_size = input_size
        self.reason = reason

    @classmethod
    def from_model(
        cls,
        model: Model,
        *,
        head: DetectorHead | None = None,
        num_labels: int | None = None,
        coordinates: BoxCoordinates | None = None,
        required: bool = False,
    ) -> YoloDecoder | None:
        """The decoder for ``model``, or None when its outputs are not one YOLO-shaped head.

        Raises:
            UnsupportedModelError: ``required`` (or a ``head`` was given) and the output does
                not fit; or the shape fits both v8 and v5 and nothing tells them apart.
        """
        outs = model.outputs

        def fail(why: str) -> UnsupportedModelError:
            return UnsupportedModelError(f"{model.source}: {why}; found outputs: {describe_outputs(outs)}")

        shape = outs[0].shape if len(outs) == 1 else ()
        if len(shape) != 3 or shape[0] != 1 or min(shape[1:]) < 5 or max(shape[1:]) <= min(shape[1:]):
            if required or head is not None:
                raise fail(
                    "expected one YOLO head output [1, 4+nc, N], [1, N, 4+nc] or [1, N, 5+nc] with N > channels"
                )
            return None
        spec = outs[0]
        if spec.dtype not in (
            np.dtype(np.float32),
            np.dtype(np.int8),
            np.dtype(np.uint8),
            np.dtype(np.float16),
        ):
            raise fail(f"a YOLO head must be float32, int8 or uint8, found {spec.dtype.name}")
        if spec.quant.per_channel or (spec.quant.quantized and spec.quant.scale <= 0):
            raise fail("a per-channel or negatively scaled quantized YOLO head is not supported")
        channels_first = shape[1] < shape[2]
        c = min(shape[1:])
        n = max(shape[1:])
        layout = image_layout(model.input.shape)
        in_h, in_w = (layout[0], layout[1]) if layout else (model.input.shape[1], model.input.shape[2])
        meta = model.metadata.extra

        reason = ""
        if head is not None:
            reason = "given"
        elif meta.get("head") in (DetectorHead.YOLOV8.value, DetectorHead.YOLOV5.value):
            head, reason = DetectorHead(meta["head"]), "metadata"
        elif channels_first:
            head, reason = DetectorHead.YOLOV8, "channels-first layout"
        elif num_labels is not None and num_labels in (c - 4, c - 5):
            head = DetectorHead.YOLOV8 if num_labels == c - 4 else DetectorHead.YOLOV5
            reason = f"{num_labels} labels"
        elif n == anchor_count(in_w, in_h):
            head, reason = DetectorHead.YOLOV8, f"{n} candidates = anchor-free grid"
        elif n == 3 * anchor_count(in_w, in_h):
            head, reason = DetectorHead.YOLOV5, f"{n} candidates = 3 anchors per grid cell"
        else:
            raise fail(
                f"the YOLO head {list(shape)} could be YOLOv8 ({c - 4} classes) or YOLOv5 ({c - 5} classes); "
                "pass labels, or head=DetectorHead.YOLOV8/YOLOV5"
            )
        nc = c - (4 if head is DetectorHead.YOLOV8 else 5)
        if nc < 1:
            raise fail(f"a {head.value} head needs at least {c - nc + 1} channels, found {c}")

        if coordinates is None and meta.get("box_coordinates") in ("normalized", "pixels"):
            coordinates = BoxCoordinates(meta["box_coordinates"])
        if coordinates is None and spec.quant.quantized:
            info = np.iinfo(spec.dtype)
            reach = spec.quant.scale * max(
                abs(info.min - spec.quant.zero_point), abs(info.max - spec.quant.zero_point)
            )
            coordinates = BoxCoordinates.NORMALIZED if reach <= NORMALIZED_LIMIT else BoxCoordinates.PIXELS
        return cls(0, head, channels_first, nc, coordinates, (in_w, in_h), reason)

    def decode(self, model: Model, threshold: float) -> Candidates:
        """Candidates with ``score >= threshold``, boxes in input pixels (before NMS).

        Reads the output in place (no copy). For a quantized head, the best class and the
        threshold test run on the raw integers (a positive scale keeps the order), and only
        the candidates that pass are dequantized.
        """
        spec = model.outputs[self.output]
        return model.read_output(lambda t: self._decode(t[0], spec.quant, threshold), self.output)

    def _decode(self, t: np.ndarray, quant: QuantParams, threshold: float) -> Candidates:
        axis = 0 if self.channels_first else 1
        first = 4 if self.head is DetectorHead.YOLOV8 else 5
        quantized = quant.quantized

        def rows(a: int, b: int | None = None) -> np.ndarray:
            return t[a:b] if axis == 0 else t[:, a:b]

        def real(x: np.ndarray) -> np.ndarray:
            return dequantize(x, quant) if quantized else x.astype(np.float32, copy=False)

        best = rows(first).max(axis=axis)
        if self.head is DetectorHead.YOLOV5:
            conf = real(best) * real(rows(4, 5).reshape(-1))
            idx = np.flatnonzero(conf >= threshold)
        elif quantized:
            # scale * (q - zp) >= threshold  <=>  q >= threshold / scale + zp
            idx = np.flatnonzero(best >= threshold / quant.scale + quant.zero_point)
        else:
            idx = np.flatnonzero(best >= threshold)
        if self.coordinates is None:
            box = real(rows(0, 4))
            self.coordinates = (
                BoxCoordinates.NORMALIZED
                if float(np.abs(box).max(initial=0.0)) <= NORMALIZED_LIMIT
                else BoxCoordinates.PIXELS
            )
            log.debug("YOLO head box coordinates: %s (from the first frame)", self.coordinates.value)
        if idx.size == 0:
            return Candidates.empty()
        sel = real(t[:, idx].T if axis == 0 else t[idx])  # (k, C) float32, a copy
        scores = sel[:, first:].max(axis=1)
        if self.head is DetectorHead.YOLOV5:
            scores = scores * sel[:, 4]
        class_ids = sel[:, first:].argmax(axis=1).astype(np.int32)
        cx, cy, w, h = sel[:, 0], sel[:, 1], sel[:, 2], sel[:, 3]
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
        if self.coordinates is BoxCoordinates.NORMALIZED:
            iw, ih = self.input_size
            xyxy *= np.array([iw, ih, iw, ih], np.float32)
        return Candidates(xyxy, scores.astype(np.float32), class_ids)

    def describe(self) -> str:
        layout = "[1, C, N]" if self.channels_first else "[1, N, C]"
        units = self.coordinates.value if self.coordinates else "decided on the first frame"
        return f"{self.head.value} head {layout} ({self.reason}), {self.num_classes} classes, boxes {units}"
