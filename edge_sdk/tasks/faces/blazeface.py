"""BlazeFace (MediaPipe short range / full range) decoded in numpy.

The .tflite files have no post-processing op: they output ``regressors`` ``[1, N, 16]`` and
``classificators`` ``[1, N, 1]``, one row per SSD anchor. Decoding follows MediaPipe's
``TensorsToDetectionsCalculator``: ``centre = raw / input_size + anchor centre``, ``size =
raw / input_size``, score = sigmoid(clip(raw, -100, 100)), then weighted NMS.

Input: the frame is letterboxed (aspect ratio kept, black borders) into the input and
scaled to [-1, 1]. Output faces are in pixels of the original frame.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import UnsupportedModelError
from ...metadata import Normalization
from ...model import Model
from ...preprocess import ResizeMode
from ...results import Face
from ..decoders import describe_outputs
from ..runner import ImageRunner, Timing
from .anchors import blazeface_anchor_options, ssd_anchors
from .options import FaceDetectorOptions
from .weighted_nms import weighted_nms

BLAZEFACE_KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")
"""Keypoint order; "right" is the person's right, which is on the image's left for a frontal face."""

_SCORE_CLIP = 100.0
DEFAULT_SCORE_THRESHOLD = 0.5


def blazeface_outputs(model: Model) -> tuple[int, int] | None:
    """``(regressors index, scores index)`` when the outputs look like BlazeFace, else None.

    BlazeFace has exactly two outputs, ``[1, N, 16]`` (box + 6 keypoints) and ``[1, N, 1]``.
    """
    outs = model.outputs
    if len(outs) != 2:
        return None
    reg = [i for i, t in enumerate(outs) if len(t.shape) == 3 and t.shape[0] == 1 and t.shape[2] == 16]
    cls = [i for i, t in enumerate(outs) if len(t.shape) == 3 and t.shape[0] == 1 and t.shape[2] == 1]
    if len(reg) != 1 or len(cls) != 1 or outs[reg[0]].shape[1] != outs[cls[0]].shape[1]:
        return None
    return reg[0], cls[0]


class BlazeFaceDetector:
    """Detect faces with a BlazeFace .tflite (6 keypoints per face).

    Args:
        model: a path, bytes, or a loaded :class:`Model`.
        options: :class:`FaceDetectorOptions`.
        accelerator, num_threads: passed to :class:`Model` when ``model`` is a path.

    Raises:
        ModelError: see :class:`Model`.
        UnsupportedModelError: the outputs are not BlazeFace's ``[1,N,16]`` + ``[1,N,1]``,
            or N does not match a published anchor layout for the input size.
    """

    num_keypoints = 6

    def __init__(
        self,
        model: str | Path | bytes | Model,
        options: FaceDetectorOptions | None = None,
        *,
        accelerator: Any = None,
        num_threads: int | None = None,
    ) -> None:
        self.options = options or FaceDetectorOptions()
        self.model = (
            model
            if isinstance(model, Model)
            else Model(model, accelerator=accelerator, num_threads=num_threads)
        )
        roles = blazeface_outputs(self.model)
        if roles is None:
            raise UnsupportedModelError(
                f"{self.model.source} is not a BlazeFace model: expected outputs [1, N, 16] and [1, N, 1], "
                f"found {describe_outputs(self.model.outputs)}"
            )
        self._reg, self._cls = roles
        self.runner = ImageRunner(
            self.model,
            resize=ResizeMode.LETTERBOX,
            normalization=Normalization((127.5,), (127.5,)),
            pad_value=0,
        )
        n = self.model.outputs[self._reg].shape[1]
        try:
            self.anchors = ssd_anchors(blazeface_anchor_options(self.runner.input_size, n))
        except Exception as exc:
            raise UnsupportedModelError(f"{self.model.source}: {exc}") from exc
        self.last_timing = Timing()

    @property
    def source(self) -> str:
        return self.model.source

    def detect(self, image: npt.ArrayLike) -> list[Face]:
        """Faces in one RGB image, best score first.

        Returns :class:`Face` objects with ``box`` (x0, y0, x1, y1) and 6 ``keypoints``
        (see :data:`BLAZEFACE_KEYPOINTS`) in pixels of ``image``, not clipped for keypoints,
        clipped to the image for boxes.

        Raises:
            ImageError: the image is empty, too small or of an unsupported type.
        """
        timing = Timing()
        transform = self.runner.run(image, timing)
        t0 = time.perf_counter()
        raw = self.model.output_float(self._reg)[0]
        logits = self.model.output_float(self._cls)[0, :, 0]
        scores = 0.5 * (1.0 + np.tanh(0.5 * np.clip(logits, -_SCORE_CLIP, _SCORE_CLIP)))  # sigmoid
        keep = np.flatnonzero(scores >= self.options.score_or(DEFAULT_SCORE_THRESHOLD))
        faces: list[Face] = []
        if keep.size:
            w, h = self.runner.input_size
            size = np.array([w, h], np.float32)
            anchors = self.anchors[keep]
            r = raw[keep]
            centre = r[:, 0:2] / size * anchors[:, 2:4] + anchors[:, 0:2]
            half = r[:, 2:4] / size * anchors[:, 2:4] / 2.0
            boxes = np.concatenate([centre - half, centre + half], axis=1) * np.tile(size, 2)
            kps = (r[:, 4:16].reshape(-1, 6, 2) / size * anchors[:, None, 2:4] + anchors[:, None, 0:2]) * size
            boxes, kept_scores, kps = weighted_nms(
                boxes, scores[keep], kps, self.options.iou_threshold, self.options.max_faces
            )
            boxes = transform.boxes_to_source(boxes)
            kps = transform.to_source(kps)
            faces = [Face(boxes[i], float(kept_scores[i]), kps[i]) for i in range(len(kept_scores))]
        timing.postprocess_ms = (time.perf_counter() - t0) * 1e3
        self.last_timing = timing
        return faces
