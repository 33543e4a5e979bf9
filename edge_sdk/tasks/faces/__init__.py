"""Face recognition: detect (BlazeFace, YuNet), align (ArcFace template), embed (your .tflite),
and match against a durable SQLite :class:`Gallery`.

    from edge_sdk.tasks.faces import FaceRecognizer
    rec = FaceRecognizer("face_detection_full_range.tflite", "my_embedder.tflite", "faces.db")
    rec.enrol("ada", load_image("ada.jpg"))
    for face in rec.recognize(load_image("group.jpg")):
        print(face.identity, face.similarity, face.box)
"""

from __future__ import annotations

from .align import ARCFACE_TEMPLATE_112, align_face, alignment_matrix, square_crop
from .anchors import SsdAnchorOptions, ssd_anchors
from .blazeface import BlazeFaceDetector
from .calibrate import Calibration, calibrate
from .detector import FaceDetector, find_installed_blazeface, load_detector
from .embedder import EmbedderIdentity, FaceEmbedder, load_embedder
from .gallery import Gallery, IdentityInfo, Match
from .options import FaceDetectorOptions
from .recognizer import FaceRecognizer, FaceTiming, RecognizerOptions
from .weighted_nms import weighted_nms
from .yunet import YuNetDetector

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "BlazeFaceDetector",
    "Calibration",
    "EmbedderIdentity",
    "FaceDetector",
    "FaceDetectorOptions",
    "FaceEmbedder",
    "FaceRecognizer",
    "FaceTiming",
    "Gallery",
    "IdentityInfo",
    "Match",
    "RecognizerOptions",
    "SsdAnchorOptions",
    "YuNetDetector",
    "align_face",
    "alignment_matrix",
    "calibrate",
    "find_installed_blazeface",
    "load_detector",
    "load_embedder",
    "square_crop",
    "ssd_anchors",
    "weighted_nms",
]
