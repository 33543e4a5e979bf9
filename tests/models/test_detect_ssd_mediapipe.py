"""Our metadata writer's SSD layout, read by MediaPipe's ObjectDetector and by edge_sdk alike."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SSD = "detection/coco_ssd_mobilenet_v1/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"


def test_mediapipe_object_detector_reads_our_ssd_metadata(tmp_path: Path, assets: Path) -> None:
    mp = pytest.importorskip("mediapipe")
    vision = pytest.importorskip("mediapipe.tasks.python.vision")
    from mediapipe.tasks.python import BaseOptions

    from converters.metadata_writer import write_metadata
    from edge_sdk.image import load_image
    from edge_sdk.model import Model
    from edge_sdk.tasks.detect import Detector

    src = assets / SSD
    labels = (src.parent / "labelmap.txt").read_text().splitlines()
    out = tmp_path / "ssd.tflite"
    out.write_bytes(
        write_metadata(
            src.read_bytes(),
            task="detection",
            labels=labels,
            mean=(127.5,),
            std=(127.5,),
            num_outputs=4,
            labelled_output=1,
        )
    )
    md = Model(out).metadata
    assert md.output_labels[1].get(16) == labels[16] and md.normalization is not None

    # the same pixels for both: a frame already at the 300x300 input size
    frame = cv2.resize(
        load_image(assets / "detection/cats_and_dogs.jpg"), (300, 300), interpolation=cv2.INTER_AREA
    )
    ours = Detector(out, threshold=0.5, num_threads=1).detect(frame)
    det = vision.ObjectDetector.create_from_options(
        vision.ObjectDetectorOptions(base_options=BaseOptions(model_asset_path=str(out)), score_threshold=0.5)
    )
    try:
        theirs = det.detect(
            mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        ).detections
    finally:
        det.close()
    assert len(theirs) == len(ours) >= 2
    for d in theirs:
        bb = d.bounding_box
        box = np.array(
            [bb.origin_x, bb.origin_y, bb.origin_x + bb.width, bb.origin_y + bb.height], np.float32
        )
        x0 = np.maximum(ours.xyxy[:, :2], box[:2])
        x1 = np.minimum(ours.xyxy[:, 2:], box[2:])
        inter = np.prod(np.clip(x1 - x0, 0, None), axis=1)
        areas = np.prod(ours.xyxy[:, 2:] - ours.xyxy[:, :2], axis=1) + np.prod(box[2:] - box[:2])
        best = int(np.argmax(inter / (areas - inter)))
        assert inter[best] / (areas[best] - inter[best]) >= 0.9
        assert ours.labels[best] == d.categories[0].category_name
        assert abs(float(ours.scores[best]) - d.categories[0].score) < 0.03
