"""Decoder for end-to-end YOLO heads ``[1, N, 6]``: NMS already ran inside the model.

YOLOv10 and YOLO26 exports (Ultralytics ``end2end``) emit at most N rows of
``x0, y0, x1, y1, score, class``, best first, padded with zero scores. Box units are
decided per frame unless given: Ultralytics' TFLite exports write them normalized to the
input, other exporters in input pixels; when every kept coordinate is at most
:data:`~edge_sdk.tasks.decoders.yolo.NORMALIZED_LIMIT` they are taken as normalized (a quantized
head decides once from the range its quantization can represent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...preprocess import image_layout
from ...quant import dequantize
from . import BoxCoordinates, Candidates, DetectorHead
from .yolo import NORMALIZED_LIMIT, anchor_count

if TYPE_CHECKING:
    from ...model import Model


class EndToEndDecoder:
    """Reads output ``output`` shaped ``[1, N, 6]``. Build with :meth:`from_model`."""

    head = DetectorHead.END2END
    needs_nms = False

    def __init__(
        self,
        output: int,
        num_classes: int | None,
        coordinates: BoxCoordinates | None,
        input_size: tuple[int, int],
        reason: str,
    ) -> None:
        self.output = output
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
        coordinates: BoxCoordinates | None = None,
    ) -> EndToEndDecoder | None:
        """The decoder when ``model`` has one ``[1, N, 6]`` output that is an end-to-end head:
        ``head`` is END2END, the Ultralytics metadata says ``end2end``, or N is not a YOLO
        candidate count (v8 grid or 3 anchors per cell) for the input size."""
        outs = model.outputs
        if len(outs) != 1 or len(outs[0].shape) != 3 or outs[0].shape[0] != 1 or outs[0].shape[2] != 6:
            return None
        n = int(outs[0].shape[1])
        layout = image_layout(model.input.shape)
        in_h, in_w = (
            (layout[0], layout[1]) if layout else (int(model.input.shape[1]), int(model.input.shape[2]))
        )
        ultra = model.metadata.ultralytics or {}
        if head is DetectorHead.END2END:
            reason = "given"
        elif ultra.get("end2end"):
            reason = "metadata end2end"
        elif head is None and n not in (anchor_count(in_w, in_h), 3 * anchor_count(in_w, in_h)) and n > 6:
            reason = f"{n} rows is no YOLO candidate count"
        else:
            return None
        names = ultra.get("names")
        nc = len(names) if isinstance(names, (dict, list)) else None
        spec = outs[0]
        if coordinates is None and spec.quant.quantized and not spec.quant.per_channel:
            info = np.iinfo(spec.dtype)
            reach = spec.quant.scale * max(
                abs(info.min - spec.quant.zero_point), abs(info.max - spec.quant.zero_point)
            )
            coordinates = BoxCoordinates.NORMALIZED if reach <= NORMALIZED_LIMIT else BoxCoordinates.PIXELS
        return cls(0, nc, coordinates, (in_w, in_h), reason)

    def decode(self, model: Model, threshold: float) -> Candidates:
        """Rows with ``score >= threshold``, boxes in input pixels."""
        spec = model.outputs[self.output]
        rows = model.output(self.output)[0]
        t = dequantize(rows, spec.quant) if spec.quant.quantized else rows.astype(np.float32, copy=False)
        keep = np.flatnonzero(t[:, 4] >= max(threshold, 1e-9))
        if keep.size == 0:
            return Candidates.empty()
        sel = t[keep]
        xyxy = sel[:, :4].astype(np.float32, copy=True)
        units = self.coordinates
        if units is None:
            small = float(np.abs(xyxy).max(initial=0.0)) <= NORMALIZED_LIMIT
            units = BoxCoordinates.NORMALIZED if small else BoxCoordinates.PIXELS
        if units is BoxCoordinates.NORMALIZED:
            iw, ih = self.input_size
            xyxy *= np.array([iw, ih, iw, ih], np.float32)
        return Candidates(xyxy, sel[:, 4].astype(np.float32), np.rint(sel[:, 5]).astype(np.int32))

    def describe(self) -> str:
        units = self.coordinates.value if self.coordinates else "decided per frame"
        return f"end-to-end head [1, N, 6] ({self.reason}), NMS in the model, boxes {units}"
