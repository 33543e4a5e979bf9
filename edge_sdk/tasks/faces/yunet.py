"""YuNet face detection through OpenCV's ``cv2.FaceDetectorYN`` (an .onnx model, 5 landmarks).

The OpenCV detector is created on the first frame (creating it loads the network) and its
input size is set to each frame's size, so boxes and landmarks come out directly in pixels
of the original frame.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ...errors import ModelError, ModelNotFoundError
from ...image import as_rgb
from ...results import Face
from ..runner import Timing
from .options import FaceDetectorOptions

YUNET_KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")
"""Landmark order; "right" is the person's right, on the image's left for a frontal face."""

DEFAULT_SCORE_THRESHOLD = 0.6


class YuNetDetector:
    """Detect faces with OpenCV zoo's YuNet ONNX model.

    Args:
        model: path to the ``face_detection_yunet_*.onnx`` file.
        options: :class:`FaceDetectorOptions` (score threshold, NMS IoU, max faces).

    Raises:
        ModelNotFoundError: the file does not exist.
        ModelError: OpenCV cannot load the file as a YuNet network (raised on the first frame
            at the latest; the file is checked to exist at construction).
    """

    num_keypoints = 5

    def __init__(self, model: str | Path, options: FaceDetectorOptions | None = None) -> None:
        self.options = options or FaceDetectorOptions()
        self.path = Path(model)
        if not self.path.is_file():
            raise ModelNotFoundError(f"face detector model {self.path} does not exist")
        self._detector: Any = None
        self._size: tuple[int, int] | None = None
        self.last_timing = Timing()

    @property
    def source(self) -> str:
        return str(self.path)

    def _ensure(self, size: tuple[int, int]) -> Any:
        if self._detector is None:
            top_k = 5000 if self.options.max_faces is None else max(self.options.max_faces, 1)
            try:
                self._detector = cv2.FaceDetectorYN.create(
                    str(self.path),
                    "",
                    size,
                    self.options.score_or(DEFAULT_SCORE_THRESHOLD),
                    float(self.options.iou_threshold),
                    top_k,
                )
            except cv2.error as exc:
                msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else "cv2.error"
                raise ModelError(f"OpenCV cannot load {self.path} as a YuNet face detector: {msg}") from exc
            self._size = size
        elif size != self._size:
            self._detector.setInputSize(size)
            self._size = size
        return self._detector

    def detect(self, image: npt.ArrayLike) -> list[Face]:
        """Faces in one RGB image, best score first.

        Returns :class:`Face` objects with ``box`` (x0, y0, x1, y1, clipped to the image) and
        5 ``keypoints`` (see :data:`YUNET_KEYPOINTS`) in pixels of ``image``.

        Raises:
            ImageError: the image is empty, too small or of an unsupported type.
            ModelError: OpenCV failed to load or run the network.
        """
        timing = Timing()
        t0 = time.perf_counter()
        rgb = as_rgb(image)
        h, w = rgb.shape[:2]
        scale = 1.0
        limit = self.options.max_side
        if limit is not None and max(w, h) > limit:
            scale = limit / max(w, h)
            small = (max(1, round(w * scale)), max(1, round(h * scale)))
            rgb = cv2.resize(rgb, small, interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        detector = self._ensure((bgr.shape[1], bgr.shape[0]))
        t1 = time.perf_counter()
        try:
            _, rows = detector.detect(bgr)
        except cv2.error as exc:
            raise ModelError(f"YuNet ({self.path}) failed: {str(exc).strip().splitlines()[-1]}") from exc
        t2 = time.perf_counter()
        faces: list[Face] = []
        if rows is not None and len(rows):
            rows = np.asarray(rows, np.float32).reshape(-1, 15)
            if scale != 1.0:  # back to original pixels, per axis (the sizes were rounded)
                rows[:, 0:14:2] *= np.float32(w / bgr.shape[1])
                rows[:, 1:14:2] *= np.float32(h / bgr.shape[0])
            rows = rows[np.argsort(-rows[:, 14], kind="stable")]
            if self.options.max_faces is not None:
                rows = rows[: self.options.max_faces]
            for r in rows:
                x, y, bw, bh = (float(v) for v in r[:4])
                box = np.array([max(x, 0.0), max(y, 0.0), min(x + bw, w), min(y + bh, h)], np.float32)
                faces.append(Face(box, float(r[14]), r[4:14].reshape(5, 2)))
        timing.preprocess_ms = (t1 - t0) * 1e3
        timing.invoke_ms = (t2 - t1) * 1e3
        timing.postprocess_ms = (time.perf_counter() - t2) * 1e3
        self.last_timing = timing
        return faces
