"""The published COCO SSD MobileNet v1 gives its published detections through Detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_sdk.errors import LabelsError, OptionsError
from edge_sdk.image import load_image
from edge_sdk.nms import box_iou
from edge_sdk.tasks.decoders import DetectorHead
from edge_sdk.tasks.detect import Detector, DetectorOptions

SSD = "detection/coco_ssd_mobilenet_v1/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"

# From ../shared/assets/README.md (reference: ai-edge-litert, stretch resize INTER_LINEAR).
EXPECTED = {
    "cats_and_dogs.jpg": [
        ("cat", 0.65, [55, 397, 447, 596]),
        ("cat", 0.61, [606, 161, 993, 601]),
        ("cat", 0.56, [260, 394, 439, 603]),
        ("dog", 0.51, [390, 198, 666, 606]),
    ],
    "multi_objects.jpg": [
        ("chair", 0.61, [163, 209, 276, 342]),
        ("traffic light", 0.59, [685, 118, 758, 225]),
        ("clock", 0.54, [426, 146, 527, 248]),
        ("chair", 0.52, [155, 162, 279, 316]),
        ("chair", 0.52, [266, 154, 397, 355]),
        ("chair", 0.51, [35, 169, 230, 346]),
    ],
}


@pytest.fixture(scope="module")
def ssd(assets: Path) -> Detector:
    return Detector(assets / SSD, options=DetectorOptions(threshold=0.5))


def match(got, expected) -> None:
    """Each expected detection has its own got detection: same label, score ±0.03, IoU >= 0.9."""
    assert len(got) == len(expected), got.as_dicts()
    used: set[int] = set()
    for label, score, box in expected:
        ious = box_iou(np.array([box], np.float32), got.xyxy)[0]
        cands = [
            i
            for i in np.argsort(-ious)
            if i not in used and got.labels[i] == label and abs(float(got.scores[i]) - score) <= 0.03
        ]
        assert cands, f"no {label} {score} {box} in {got.as_dicts()}"
        i = int(cands[0])
        assert ious[i] >= 0.9, (label, box, got.xyxy[i].tolist(), ious[i])
        used.add(i)


@pytest.mark.parametrize("image", sorted(EXPECTED))
def test_published_detections(ssd: Detector, assets: Path, image: str) -> None:
    dets = ssd.detect(load_image(assets / "detection" / image))
    match(dets, EXPECTED[image])
    assert list(dets.scores) == sorted(dets.scores, reverse=True)
    h, w = load_image(assets / "detection" / image).shape[:2]
    assert (dets.xyxy >= 0).all() and (dets.xyxy[:, 0::2] <= w).all() and (dets.xyxy[:, 1::2] <= h).all()


def test_decoder_found_roles_and_labels(ssd: Detector) -> None:
    assert ssd.decoder.head is DetectorHead.SSD
    assert ssd.num_classes == 90
    assert ssd.labels is not None and ssd.labels.get(0) == "person" and ssd.labels.get(17) == "dog"
    assert ssd.resize.value == "stretch"


def test_allow_and_deny_lists(ssd: Detector, assets: Path) -> None:
    img = load_image(assets / "detection" / "multi_objects.jpg")
    only = Detector(ssd.model, options=DetectorOptions(threshold=0.5, classes=["chair"]))
    assert set(only.detect(img).labels) == {"chair"} and len(only.detect(img)) == 4
    deny = Detector(ssd.model, options=DetectorOptions(threshold=0.5, exclude=["chair", 9]))
    assert list(deny.detect(img).labels) == ["clock"]
    top2 = Detector(ssd.model, options=DetectorOptions(threshold=0.5, max_detections=2))
    assert list(top2.detect(img).labels) == ["chair", "traffic light"]


def test_unknown_allow_label(ssd: Detector) -> None:
    with pytest.raises(OptionsError, match="'unicorn'"):
        Detector(ssd.model, classes=["unicorn"])
    with pytest.raises(OptionsError, match="class id 90"):
        Detector(ssd.model, classes=[90])


def test_label_file_shorter_than_class_count(ssd: Detector, tmp_path: Path) -> None:
    short = tmp_path / "labels.txt"
    short.write_text("\n".join(f"c{i}" for i in range(80)) + "\n")
    with pytest.raises(LabelsError, match=r"80 labels.*90 classes"):
        Detector(ssd.model, labels=short)


def test_given_labels_override_metadata(ssd: Detector, tmp_path: Path, assets: Path) -> None:
    names = tmp_path / "labels.txt"
    names.write_text("\n".join(f"c{i}" for i in range(90)) + "\n")
    det = Detector(ssd.model, labels=names)
    dets = det.detect(load_image(assets / "detection" / "cats_and_dogs.jpg"))
    assert list(dets.labels) == ["c16", "c16", "c16", "c17"]
