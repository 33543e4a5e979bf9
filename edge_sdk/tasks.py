"""Which task a model is for, decided from its metadata, ops and output shapes."""

from __future__ import annotations

import enum

from .model import Model
from .modelfile import DETECTION_POSTPROCESS_OP


class Task(str, enum.Enum):
    CLASSIFICATION = "classification"
    DETECTION = "detection"
    FACE_DETECTION = "face_detection"
    EMBEDDING = "embedding"
    UNKNOWN = "unknown"


def detect_task(model: Model) -> Task:
    """Best judgement of a model's task.

    In order: the task written in edge_sdk metadata; a ``TFLite_Detection_PostProcess`` op
    (SSD detector); BlazeFace's paired ``[1, A, 16]``/``[1, A, 1]`` outputs (face detector);
    a YOLO head ``[1, 4+nc, N]``/``[1, N, 4+nc]``/``[1, N, 5+nc]`` (detector); one
    ``[1, N]`` output with labels or a final SOFTMAX (classifier); one ``[1, D]`` output
    without either (embedding).
    """
    meta_task = model.metadata.task
    if meta_task:
        try:
            return Task(meta_task)
        except ValueError:
            return Task.UNKNOWN
    if model.file.has_op(DETECTION_POSTPROCESS_OP):
        return Task.DETECTION
    shapes = [t.shape for t in model.outputs]
    if len(shapes) == 2 and all(len(s) == 3 for s in shapes):
        a, b = sorted(shapes, key=lambda s: s[2])
        if a[2] == 1 and b[2] == 16 and a[1] == b[1]:
            return Task.FACE_DETECTION
    if len(shapes) == 1 and len(shapes[0]) == 3 and shapes[0][0] == 1:
        small, large = sorted(shapes[0][1:])
        if small >= 5 and large > small * 4:
            return Task.DETECTION
    if len(shapes) == 1 and len([d for d in shapes[0] if d != 1]) == 1:
        if model.metadata.labels is not None or model.file.has_op("SOFTMAX"):
            return Task.CLASSIFICATION
        return Task.EMBEDDING
    return Task.UNKNOWN
