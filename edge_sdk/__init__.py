"""edge_sdk: run trained CNNs on small devices, offline.

The top-level API is small and imported lazily, so ``import edge_sdk`` costs almost nothing
and never imports TensorFlow::

    from edge_sdk import Classifier, load_image
    clf = Classifier("mobilenet.tflite")
    print(clf.classify(load_image("parrot.jpg")).top)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Model": "edge_sdk.model",
    "TensorSpec": "edge_sdk.model",
    "Classifier": "edge_sdk.tasks.classify",
    "ClassifierOptions": "edge_sdk.tasks.classify",
    "Category": "edge_sdk.results",
    "Classification": "edge_sdk.results",
    "Detections": "edge_sdk.results",
    "Detector": "edge_sdk.tasks.detect",
    "DetectorOptions": "edge_sdk.tasks.detect",
    "Face": "edge_sdk.results",
    "Frame": "edge_sdk.frame",
    "LabelMap": "edge_sdk.labels",
    "ResizeMode": "edge_sdk.preprocess",
    "Transform": "edge_sdk.preprocess",
    "Normalization": "edge_sdk.metadata",
    "load_image": "edge_sdk.image",
    "as_rgb": "edge_sdk.image",
    "open_source": "devices.sources",
    "ReconnectPolicy": "devices.sources",
    "SourceState": "devices.sources",
    "EdgeSdkError": "edge_sdk.errors",
    "FaceRecognizer": "edge_sdk.tasks.faces.recognizer",
    "RecognizerOptions": "edge_sdk.tasks.faces.recognizer",
    "FaceDetectorOptions": "edge_sdk.tasks.faces.options",
    "FaceEmbedder": "edge_sdk.tasks.faces.embedder",
    "Gallery": "edge_sdk.tasks.faces.gallery",
    "Pipeline": "edge_sdk.pipeline.engine",
    "PipelineOptions": "edge_sdk.pipeline.options",
    "Sink": "edge_sdk.sinks.base",
    "TaskResult": "edge_sdk.tasks.base",
    "Segmenter": "edge_sdk.tasks.segment",
    "SegmenterOptions": "edge_sdk.tasks.segment",
    "Segmentation": "edge_sdk.results",
    "PoseEstimator": "edge_sdk.tasks.pose",
    "PoseEstimatorOptions": "edge_sdk.tasks.pose",
    "Poses": "edge_sdk.results",
}

if TYPE_CHECKING:  # the same names as _EXPORTS, so type checkers see every export
    from devices.sources import ReconnectPolicy, SourceState, open_source

    from .errors import EdgeSdkError
    from .frame import Frame
    from .image import as_rgb, load_image
    from .labels import LabelMap
    from .metadata import Normalization
    from .model import Model, TensorSpec
    from .pipeline.engine import Pipeline
    from .pipeline.options import PipelineOptions
    from .preprocess import ResizeMode, Transform
    from .results import Category, Classification, Detections, Face, Poses, Segmentation
    from .sinks.base import Sink
    from .tasks.base import TaskResult
    from .tasks.classify import Classifier, ClassifierOptions
    from .tasks.detect import Detector, DetectorOptions
    from .tasks.faces.embedder import FaceEmbedder
    from .tasks.faces.gallery import Gallery
    from .tasks.faces.options import FaceDetectorOptions
    from .tasks.faces.recognizer import FaceRecognizer, RecognizerOptions
    from .tasks.pose import PoseEstimator, PoseEstimatorOptions
    from .tasks.segment import Segmenter, SegmenterOptions


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Category",
    "Classification",
    "Classifier",
    "ClassifierOptions",
    "Detections",
    "Detector",
    "DetectorOptions",
    "EdgeSdkError",
    "Face",
    "FaceDetectorOptions",
    "FaceEmbedder",
    "FaceRecognizer",
    "Frame",
    "Gallery",
    "LabelMap",
    "Model",
    "Normalization",
    "Pipeline",
    "PipelineOptions",
    "PoseEstimator",
    "PoseEstimatorOptions",
    "Poses",
    "RecognizerOptions",
    "ReconnectPolicy",
    "ResizeMode",
    "Segmentation",
    "Segmenter",
    "SegmenterOptions",
    "Sink",
    "SourceState",
    "TaskResult",
    "TensorSpec",
    "Transform",
    "as_rgb",
    "load_image",
    "open_source",
]
