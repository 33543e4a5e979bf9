"""Embedding several faces: a batch (one invoke) gives the same vectors as one invoke per face."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import UnsupportedModelError
from edge_sdk.image import load_image
from edge_sdk.tasks.faces import BlazeFaceDetector, FaceEmbedder, FaceRecognizer, align_face

PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


@pytest.fixture(scope="module")
def crops(assets):
    det = BlazeFaceDetector(assets / "face/detectors/face_detection_full_range.tflite")
    out = []
    for name in PHOTOS:
        img = load_image(assets / "face/images/tests" / name)
        out.append(align_face(img, det.detect(img)[0].keypoints))
    return out


@pytest.mark.parametrize("name", ["mobilefacenet_uint8.tflite", "mobilefacenet.tflite"])
def test_batch_equals_one_invoke_per_face(assets, crops, name):
    path = assets / "face/embedders" / name
    single = FaceEmbedder(path, num_threads=1, batch=False)
    batched = FaceEmbedder(path, num_threads=1)  # batching is the default
    want = np.stack([single.embed(c) for c in crops])
    got = batched.embed_batch(crops)
    assert batched.batching and batched.model.batch_size == len(crops)
    assert got.shape == (len(crops), single.dim)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # a different count reallocates; a single face afterwards goes back to batch 1
    np.testing.assert_allclose(batched.embed_batch(crops[:2]), want[:2], atol=1e-5)
    np.testing.assert_allclose(batched.embed(crops[3]), want[3], atol=1e-5)
    assert batched.model.batch_size == 1
    # the default path: one invoke per face through the same input, same answers
    np.testing.assert_allclose(single.embed_batch(crops), want, atol=1e-6)
    assert single.model.batch_size == 1
    assert single.embed_batch([]).shape == (0, single.dim)


def test_resize_batch_rejects_nonsense(assets):
    emb = FaceEmbedder(assets / "face/embedders/mobilefacenet_uint8.tflite", num_threads=1)
    with pytest.raises(UnsupportedModelError, match="at least one"):
        emb.model.resize_batch(0)


def test_recognizer_embeds_all_faces_of_a_frame(assets, crops):
    rec = FaceRecognizer(
        detector=assets / "face/detectors/face_detection_full_range.tflite",
        embedder=FaceEmbedder(
            assets / "face/embedders/mobilefacenet_uint8.tflite", num_threads=1, batch=True
        ),
    )
    img = load_image(assets / "face/images/examples/two_people.jpg")
    faces = rec.embed(img, rec.detect(img))
    assert len(faces) == 2 and rec.embedder is not None and rec.embedder.model.batch_size == 2
    per_face = [rec.embedder.embed(align_face(img, f.keypoints)) for f in faces]
    for f, v in zip(faces, per_face, strict=True):
        assert f.embedding is not None
        np.testing.assert_allclose(f.embedding, v, atol=1e-5)
