"""Face embedder: any .tflite that maps an aligned face crop to a vector.

edge_sdk ships no embedder: the well-known face embedding weights (insightface's ArcFace,
MobileFaceNet, FaceNet ports) carry research-only or unclear licences. Users bring one.

Input size, dtype and quantization come from the model, normalization from its metadata (or
the ``normalization`` option); a float model without metadata gets raw 0..255 RGB, a uint8
model its raw pixels (the quantization encodes the normalization). The output is
dequantized and L2-normalised, so the dot product of two embeddings is their cosine.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import ModelNotFoundError, UnsupportedModelError
from ...image import as_rgb
from ...metadata import Normalization
from ...model import Model
from ...preprocess import ResizeMode
from ..decoders import describe_outputs
from ..runner import ImageRunner, Timing
from .align import align_face

EMBEDDER_ENV = "EDGE_SDK_FACE_EMBEDDER"
"""Environment variable naming the default face embedder model file (the CLI reads it)."""

NO_EMBEDDER_HELP = (
    "edge_sdk ships no face embedder, because the published face-embedding weights are licensed "
    "for research only: pass your own .tflite that maps an aligned RGB face (e.g. 112x112) to a "
    f"vector with --embedder / embedder=, or set {EMBEDDER_ENV} (for example a MobileFaceNet or "
    "ArcFace model converted to TFLite, whose licence you have checked)"
)


@dataclass(frozen=True)
class EmbedderIdentity:
    """What makes embeddings comparable: the model file's sha256 and the vector dimension."""

    sha256: str
    dim: int

    def __str__(self) -> str:
        return f"sha256:{self.sha256[:12]}… dim {self.dim}"


class FaceEmbedder:
    """Embed aligned face crops with a .tflite model.

    Args:
        model: a path, bytes, or a loaded :class:`Model`. None raises with the reason there is
            no default and how to supply one.
        normalization: input ``(pixel - mean) / std`` when the model's metadata lacks it.
        accelerator, num_threads: passed to :class:`Model` when ``model`` is a path.
        batch: embed the faces of a frame as one batch (the model's input is resized to the
            number of faces) where the model allows it; else, or with ``batch=False``, one invoke
            per face through the same input. A change in the number of faces reallocates the
            interpreter and costs one extra invoke of the new batch (bench/faces.py measures the
            steady state of similar frames).

    Raises:
        ModelNotFoundError: ``model`` is None or the file does not exist.
        ModelError: see :class:`Model`.
        UnsupportedModelError: the input is not an NHWC image or the output not one ``[1, D]`` vector.
    """

    def __init__(
        self,
        model: str | Path | bytes | Model | None,
        *,
        normalization: Normalization | None = None,
        accelerator: Any = None,
        num_threads: int | None = None,
        batch: bool = True,
    ) -> None:
        if model is None:
            raise ModelNotFoundError(NO_EMBEDDER_HELP)
        self.model = (
            model
            if isinstance(model, Model)
            else Model(model, accelerator=accelerator, num_threads=num_threads)
        )
        outs = self.model.outputs
        dims = [d for d in outs[0].shape if d != 1] if len(outs) == 1 else []
        if len(outs) != 1 or len(dims) != 1 or dims[0] < 2:
            raise UnsupportedModelError(
                f"{self.model.source} is not a face embedder: expected one output of shape [1, D], "
                f"found {describe_outputs(outs)}"
            )
        self.dim = int(dims[0])
        self.runner = ImageRunner(self.model, resize=ResizeMode.STRETCH, normalization=normalization)
        self.identity = EmbedderIdentity(self.model.sha256, self.dim)
        self.last_timing = Timing()
        self.batching = batch
        """Run several faces as one batch (one invoke) in :meth:`embed_batch`; turned off when the
        model turns out not to allow it."""

    @property
    def input_size(self) -> tuple[int, int]:
        """``(width, height)`` of the aligned crop the model takes."""
        return self.runner.input_size

    @property
    def source(self) -> str:
        return self.model.source

    def embed(self, face: npt.ArrayLike) -> np.ndarray:
        """L2-normalised float32 ``(D,)`` embedding of an aligned RGB face crop.

        The crop should already be ``input_size``; other sizes are stretched to it.

        Raises:
            ImageError: the crop is empty or of an unsupported type.
        """
        if self.model.batch_size != 1:
            self.model.resize_batch(1)
        timing = Timing()
        self.runner.run(face, timing)
        t0 = time.perf_counter()
        vec = self.model.output_float(0).reshape(-1).astype(np.float32)
        norm = float(np.linalg.norm(vec))
        if norm > 0:
            vec /= norm
        timing.postprocess_ms = (time.perf_counter() - t0) * 1e3
        self.last_timing = timing
        return vec

    def embed_batch(self, faces: Sequence[npt.ArrayLike]) -> np.ndarray:
        """L2-normalised float32 ``(N, D)`` embeddings of ``N`` aligned RGB face crops.

        With ``batch=True`` (the default) and a model that allows it, the input is resized to a batch of ``N``
        and all faces run in one invoke (the batch size is kept until a different ``N`` comes);
        otherwise each crop goes through the same preallocated input in turn, with no
        allocation per face. The answers are the same either way (within float rounding).

        Raises:
            ImageError: a crop is empty or of an unsupported type.
        """
        n = len(faces)
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        if not self.batching or (n == 1 and self.model.batch_size == 1):
            return np.stack([self.embed(f) for f in faces])
        try:
            self.model.resize_batch(n)
            self.batching = True
        except UnsupportedModelError:
            self.batching = False
            return np.stack([self.embed(f) for f in faces])
        timing = Timing()
        t0 = time.perf_counter()
        pre = self.runner.preprocessor
        for i, face in enumerate(faces):
            self.model.write_input(functools.partial(pre, as_rgb(face)), item=i)
        t1 = time.perf_counter()
        self.model.invoke()
        t2 = time.perf_counter()
        vecs = self.model.output_float(0).reshape(n, -1).astype(np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        np.divide(vecs, norms, out=vecs, where=norms > 0)
        timing.preprocess_ms = (t1 - t0) * 1e3
        timing.invoke_ms = (t2 - t1) * 1e3
        timing.postprocess_ms = (time.perf_counter() - t2) * 1e3
        self.last_timing = timing
        return vecs

    def embed_face(self, image: npt.ArrayLike, keypoints: npt.ArrayLike) -> np.ndarray:
        """Align the face with ``keypoints`` (source pixels) out of ``image`` (RGB) and embed it."""
        return self.embed(align_face(as_rgb(image), keypoints, self.input_size))


def load_embedder(
    model: str | Path | Model | FaceEmbedder | None = None,
    *,
    accelerator: Any = None,
    num_threads: int | None = None,
    normalization: Normalization | None = None,
) -> FaceEmbedder:
    """A :class:`FaceEmbedder` from a path/model, ``$EDGE_SDK_FACE_EMBEDDER``, or an error.

    ``normalization``: the user's input ``(pixel - mean) / std`` (``--mean/--std``).

    Raises:
        ModelNotFoundError: none given and the variable is unset (the message says how to
            supply one), or the file does not exist.
    """
    if isinstance(model, FaceEmbedder):
        return model
    if model is None:
        env = os.environ.get(EMBEDDER_ENV)
        model = Path(env) if env else None
    return FaceEmbedder(model, normalization=normalization, accelerator=accelerator, num_threads=num_threads)
