"""Segmentation and pose on models the test builds (see segment_pose_builder), and on Coral's
published DeepLab v3: every output form, masks and keypoints at source size through stretch
and letterbox on non-square sources, the CLI, and the pipeline with JSON lines, MQTT (a real
mosquitto) and the video sink.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.cli.main import main
from edge_sdk.errors import UnsupportedModelError
from edge_sdk.image import load_image
from edge_sdk.model import Model
from edge_sdk.preprocess import ResizeMode
from edge_sdk.results import COCO_KEYPOINTS
from edge_sdk.tasks.pose import PoseEstimator, PoseHead
from edge_sdk.tasks.registry import infer_task
from edge_sdk.tasks.segment import SegmentationOutput, Segmenter

from . import segment_pose_builder as b

pytestmark = pytest.mark.slow

SEG_ASSETS = "segmentation"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build (once per session, on first use) the .tflite of a name."""
    pytest.importorskip("tensorflow")
    from converters.quantize_keras import IOType, QuantizeOptions, float_tflite_from_keras, quantize_keras

    root = tmp_path_factory.mktemp("segpose")
    cache: dict[str, Path] = {}
    keras_cache: dict[str, object] = {}

    def seg_variants():
        if "seg" not in keras_cache:
            train, cal = b.train_segmenter()
            keras_cache["seg"] = (b.segment_variants(train), cal)
        return keras_cache["seg"]

    def get(name: str) -> Path:
        if name in cache:
            return cache[name]
        if name == "probs_uint8":
            v, cal = seg_variants()
            data = quantize_keras(v["probs"], cal)
        elif name == "logits_int8":
            v, cal = seg_variants()
            data = quantize_keras(v["logits"], cal, QuantizeOptions(output_type=IOType.INT8))
        elif name in ("logits_float", "argmax32", "argmax64"):
            v, _ = seg_variants()
            data = float_tflite_from_keras(v["logits" if name == "logits_float" else name])
        elif name == "scan":
            model, cal = b.train_scan()
            data = quantize_keras(model, cal)
        else:  # pose_single, pose_multi, pose_yolo
            data = float_tflite_from_keras(b.build_pose(name.split("_")[1]))
        path = root / f"{name}.tflite"
        path.write_bytes(data)
        cache[name] = path
        return path

    return get


def pooled_iou(seg: Segmenter, scenes: list[tuple[np.ndarray, np.ndarray]], classes=(1, 2)) -> list[float]:
    inter = np.zeros(max(classes) + 1)
    union = np.zeros(max(classes) + 1)
    for img, truth in scenes:
        r = seg.segment(img)
        assert r.mask.shape == truth.shape  # source size, (H, W)
        assert sum(c.pixels for c in r.classes) == truth.size
        for c in classes:
            a, g = r.mask == c, truth == c
            inter[c] += (a & g).sum()
            union[c] += (a | g).sum()
    return [float(inter[c] / union[c]) for c in classes]


SOURCES = [((64, 64), ResizeMode.STRETCH), ((160, 96), ResizeMode.LETTERBOX), ((96, 160), ResizeMode.STRETCH)]


@pytest.mark.parametrize(("size", "mode"), SOURCES)
def test_trained_int8_segmenter_matches_the_known_masks_at_source_size(built, size, mode) -> None:
    rng = np.random.default_rng(7)
    scenes = [b.scene(rng, *size) for _ in range(6)]
    with Segmenter(built("probs_uint8"), resize=mode) as seg:
        assert seg.form is SegmentationOutput.SCORES
        assert seg.model.outputs[0].dtype == np.uint8 and seg.model.input.dtype == np.uint8
        ious = pooled_iou(seg, scenes)
    assert min(ious) >= 0.9, ious


@pytest.mark.parametrize(
    ("name", "form", "dtype"),
    [
        ("logits_int8", SegmentationOutput.SCORES, np.int8),
        ("logits_float", SegmentationOutput.SCORES, np.float32),
        ("argmax32", SegmentationOutput.CLASS_IDS, np.int32),
        ("argmax64", SegmentationOutput.CLASS_IDS, np.int64),
    ],
)
def test_every_output_form_gives_the_same_masks_through_a_letterbox(built, name, form, dtype) -> None:
    rng = np.random.default_rng(8)
    scenes = [b.scene(rng, 160, 96) for _ in range(6)]
    with Segmenter(built(name), resize=ResizeMode.LETTERBOX) as seg:
        assert seg.form is form
        assert seg.model.outputs[0].dtype == dtype
        ious = pooled_iou(seg, scenes)
        assert infer_task(seg.model) == "segmentation"
    assert min(ious) >= 0.9, (name, ious)


def test_scores_are_per_pixel_probabilities_for_logits_and_probabilities(built) -> None:
    rng = np.random.default_rng(9)
    img, _ = b.scene(rng, 96, 72)
    got = []
    for name in ("probs_uint8", "logits_float", "logits_int8"):
        with Segmenter(built(name), scores=True) as seg:
            r = seg.segment(img)
        assert r.scores is not None and r.scores.shape == r.mask.shape
        assert float(r.scores.min()) >= 0.3 and float(r.scores.max()) <= 1.0 + 1e-6
        got.append(r.scores)
    # softmax of the logits agrees with the model's own softmax (int8 rounding aside)
    assert np.abs(got[0] - got[1]).mean() < 0.05
    assert np.abs(got[1] - got[2]).mean() < 0.05


@pytest.mark.parametrize("size", [(64, 64), (100, 80)])
def test_one_channel_16bit_scan_with_a_foreground_probability(built, size) -> None:
    rng = np.random.default_rng(10)
    scans = [b.scan(rng, *size) for _ in range(5)]
    assert scans[0][0].dtype == np.uint16 and scans[0][0].ndim == 2
    with Segmenter(built("scan")) as seg:
        assert seg.form is SegmentationOutput.FOREGROUND
        assert seg.model.input.shape[3] == 1
        assert [seg.labels.get(0), seg.labels.get(1)] == ["background", "foreground"]
        ious = pooled_iou(seg, scans, classes=(1,))
        area = sum(int(seg.segment(s).mask.sum()) for s, _ in scans)
    assert ious[0] >= 0.9, ious
    with Segmenter(built("scan"), threshold=0.99) as strict:  # the threshold is applied
        strict_area = sum(int(strict.segment(s).mask.sum()) for s, _ in scans)
    assert strict_area < 0.8 * area


def test_segmentation_errors_say_what_was_expected_and_found(built, assets: Path) -> None:
    clf = assets / "classification" / "mobilenet_v1_0.25_224_quant_with_metadata.tflite"
    with pytest.raises(UnsupportedModelError, match=r"expected one segmentation output.*\[1, 1001\] uint8"):
        Segmenter(clf)
    with pytest.raises(UnsupportedModelError, match=r"expected one pose output.*\[1, 1001\] uint8"):
        PoseEstimator(clf)
    with pytest.raises(UnsupportedModelError, match=r"expected one pose output.*\[1, 64, 64, 3\]"):
        PoseEstimator(built("probs_uint8"))
    with pytest.raises(UnsupportedModelError, match="needs kpt_shape"):
        PoseEstimator(built("pose_yolo"))
    with pytest.raises(UnsupportedModelError, match="does not fit head movenet_multi"):
        PoseEstimator(built("pose_single"), head=PoseHead.MOVENET_MULTI)


# -- the published DeepLab v3 ---------------------------------------------------------------------


def voc_iou(mask: np.ndarray, expected: np.ndarray) -> float:
    """pycoral's measure: pixels equal / (pixels of both - pixels equal)."""
    equal = int((mask == expected).sum())
    return equal / (mask.size + expected.size - equal)


def test_coral_deeplab_v3_matches_its_expected_mask(assets: Path) -> None:
    d = assets / SEG_ASSETS
    seg = Segmenter(
        d / "deeplabv3_mnv2_dm05_pascal_quant.tflite", labels=d / "pascal_voc_segmentation_labels.txt"
    )
    with seg:
        assert seg.form is SegmentationOutput.CLASS_IDS
        assert infer_task(seg.model) == "segmentation"
        image = load_image(d / "bird_segmentation.bmp")
        expected = cv2.imread(str(d / "bird_segmentation_mask.bmp"), cv2.IMREAD_UNCHANGED)
        r = seg.segment(image)
        assert voc_iou(r.mask, expected) > 0.90  # pycoral's test; the reference run gives 0.924
        top = max((c for c in r.classes if c.id != 0), key=lambda c: c.pixels)
        assert top.label == "bird" and 0.1 < top.fraction < 0.3
        # twice the size: the mask comes back at 1026x1026, nearest-neighbour
        big = cv2.resize(image, (1026, 1026), interpolation=cv2.INTER_NEAREST)
        r2 = seg.segment(big)
        assert r2.mask.shape == (1026, 1026)
        assert voc_iou(r2.mask, np.repeat(np.repeat(expected, 2, 0), 2, 1)) > 0.90


def test_segment_cli_masks_and_refusals(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = assets / SEG_ASSETS
    model = str(d / "deeplabv3_mnv2_dm05_pascal_quant.tflite")
    labels = str(d / "pascal_voc_segmentation_labels.txt")
    photo = str(d / "bird_segmentation.bmp")
    masks = tmp_path / "masks"
    args = [
        "segment",
        "-m",
        model,
        "--labels",
        labels,
        "--masks",
        str(masks),
        "--annotate",
        str(tmp_path / "ann"),
    ]
    assert main([*args, photo]) == 0
    rec = json.loads(capsys.readouterr().out.strip())
    assert set(rec) == {"source", "frame", "classes", "mask", "timing_ms"}
    assert rec["mask"] == str(masks / "bird_segmentation.png")
    written = cv2.imread(rec["mask"], cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint8 and written.shape == (513, 513)
    expected = cv2.imread(str(d / "bird_segmentation_mask.bmp"), cv2.IMREAD_UNCHANGED)
    assert voc_iou(written, expected) > 0.90
    counts = {c["id"]: c["pixels"] for c in rec["classes"]}
    assert counts == {int(i): int((written == i).sum()) for i in np.unique(written)}
    assert {c["label"] for c in rec["classes"]} >= {"background", "bird"}
    assert (tmp_path / "ann" / "bird_segmentation.bmp").is_file()
    # a second run refuses to replace the mask, unless told to
    assert main([*args, photo]) == 1
    assert "pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite", photo]) == 0
    capsys.readouterr()
    # never over an input, even with --overwrite
    inputs = tmp_path / "in"
    inputs.mkdir()
    src = inputs / "bird.png"
    cv2.imwrite(str(src), cv2.imread(photo))
    before = src.read_bytes()
    assert main(["segment", "-m", model, "--masks", str(inputs), "--overwrite", str(src)]) == 1
    assert "input" in capsys.readouterr().err
    assert src.read_bytes() == before


# -- pose -------------------------------------------------------------------------------------------


def expected_keypoints(size: tuple[int, int], mode: ResizeMode, dot: tuple[float, float]) -> np.ndarray:
    """Where the model's keypoints must land, computed by hand: the dot's position in the
    64x64 input, plus the offsets, mapped back to source pixels."""
    w, h = size
    if mode is ResizeMode.STRETCH:
        sx, sy, ox, oy = b.SIZE / w, b.SIZE / h, 0.0, 0.0
    else:
        s = min(b.SIZE / w, b.SIZE / h)
        nw, nh = round(w * s), round(h * s)
        sx, sy, ox, oy = nw / w, nh / h, (b.SIZE - nw) // 2, (b.SIZE - nh) // 2
    cx_in, cy_in = dot[0] * sx + ox, dot[1] * sy + oy
    x_in = cx_in + b.OFFSETS[:, 0] * b.SIZE
    y_in = cy_in + b.OFFSETS[:, 1] * b.SIZE
    return np.stack([(x_in - ox) / sx, (y_in - oy) / sy], axis=1)


@pytest.mark.parametrize("layout", ["single", "multi", "yolo"])
@pytest.mark.parametrize(
    ("size", "mode", "dot"),
    [
        ((160, 96), ResizeMode.LETTERBOX, (40.0, 60.0)),
        ((96, 160), ResizeMode.LETTERBOX, (70.0, 30.0)),
        ((160, 96), ResizeMode.STRETCH, (110.0, 30.0)),
    ],
)
def test_pose_keypoints_in_source_pixels(built, layout, size, mode, dot) -> None:
    kw = {"kpt_shape": (17, 3)} if layout == "yolo" else {}
    with PoseEstimator(built(f"pose_{layout}"), resize=mode, **kw) as est:
        assert est.head.value.endswith(layout) or (layout == "yolo" and est.head is PoseHead.YOLO)
        poses = est.estimate(b.dot_image(*size, *dot))
        if layout != "yolo":
            assert infer_task(est.model) == "pose"
    assert len(poses) == 1  # multi: 5 weak poses under the threshold; yolo: NMS drops the duplicate
    assert poses.names == COCO_KEYPOINTS
    want = expected_keypoints(size, mode, dot)
    # 1 input pixel of centroid blur, in source pixels
    tol = 1.0 * max(size[0] / b.SIZE, size[1] / b.SIZE) + 0.5
    np.testing.assert_allclose(poses.keypoints[0, :, :2], want, atol=tol)
    np.testing.assert_allclose(poses.keypoints[0, :, 2], b.SCORES, atol=1e-5)
    expected_score = float(b.SCORES.mean()) if layout == "single" else 0.9
    assert poses.scores[0] == pytest.approx(expected_score, abs=1e-5)
    if layout == "single":
        assert poses.boxes is None
    else:
        assert poses.boxes is not None
        x0, y0, x1, y1 = poses.boxes[0]
        assert x0 <= want[0, 0] <= x1 and y0 <= want[0, 1] <= y1
    rec = poses.as_dicts()[0]
    assert rec["keypoints"][0]["name"] == "nose"
    assert rec["keypoints"][0]["x"] == pytest.approx(want[0, 0], abs=tol)


def test_pose_cli(built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "dot.png"
    cv2.imwrite(str(img), b.dot_image(160, 96, 40.0, 60.0))
    out = tmp_path / "ann"
    assert main(["pose", "-m", str(built("pose_multi")), "--annotate", str(out), str(img)]) == 0
    rec = json.loads(capsys.readouterr().out.strip())
    assert set(rec) == {"source", "frame", "poses", "timing_ms"}
    (pose,) = rec["poses"]
    assert set(pose) == {"score", "box", "keypoints"} and len(pose["box"]) == 4
    assert [k["name"] for k in pose["keypoints"]] == list(COCO_KEYPOINTS)
    assert abs(pose["keypoints"][0]["x"] - 40.0) < 3 and abs(pose["keypoints"][0]["y"] - 60.0) < 3
    drawn = cv2.imread(str(out / "dot.png"))
    assert drawn is not None and (drawn != cv2.imread(str(img))).any()
    assert main(["pose", "-m", str(built("pose_yolo")), "--kpt-shape", "17,3", str(img)]) == 0
    assert json.loads(capsys.readouterr().out)["poses"][0]["score"] == pytest.approx(0.9, abs=1e-5)


# -- the pipeline: JSON lines, MQTT, video -------------------------------------------------------------


@pytest.mark.parametrize("task", ["segment", "pose"])
def test_pipeline_jsonl_mqtt_and_video(built, task: str, tmp_path: Path) -> None:
    pytest.importorskip("paho.mqtt.client")
    from edge_sdk.pipeline.config import RunConfig
    from tests.integration.test_run_mqtt import Subscriber
    from tests.mosquitto_broker import Broker, mosquitto_binary

    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed")
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(11)
    for i in range(4):
        img = b.scene(rng, 160, 96)[0] if task == "segment" else b.dot_image(160, 96, 30.0 + 20 * i, 50.0)
        cv2.imwrite(str(frames / f"f{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    model = built("probs_uint8" if task == "segment" else "pose_single")
    broker = Broker(binary, tmp_path).start()
    try:
        sub = Subscriber(broker.port, "edge/#")
        try:
            jsonl = tmp_path / "out.jsonl"
            video = tmp_path / "out.avi"
            config = RunConfig.from_dict(
                {
                    "task": task,
                    "model": str(model),
                    "source": str(frames),
                    "sink": [
                        f"jsonl:{jsonl}",
                        f"mqtt://127.0.0.1:{broker.port}/edge/{{task}}?qos=1",
                        f"video:{video}",
                    ],
                    "resize": "letterbox",
                    "threshold": 0.1 if task == "pose" else 0.5,
                }
            )
            stats = config.build().run()
            assert stats.written == 4
            got = sub.wait_for(4)
        finally:
            sub.close()
    finally:
        broker.stop()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [m for _, m in got] == records
    assert {t for t, _ in got} == {f"edge/{task}"}
    for rec in records:
        assert "mask" not in rec
        assert len(json.dumps(rec)) < 3000  # small payloads: areas or keypoints, never a mask
        if task == "segment":
            assert sum(c["pixels"] for c in rec["classes"]) == 160 * 96
            assert all(set(c) == {"id", "label", "pixels", "fraction"} for c in rec["classes"])
        else:
            assert len(rec["poses"]) == 1 and len(rec["poses"][0]["keypoints"]) == 17
    if task == "pose":
        xs = [r["poses"][0]["keypoints"][0]["x"] for r in records]
        np.testing.assert_allclose(xs, [30, 50, 70, 90], atol=3)
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 4


def test_models_are_recognised_by_info(built, capsys: pytest.CaptureFixture[str]) -> None:
    for name, task in (("probs_uint8", "segmentation"), ("scan", "segmentation"), ("pose_multi", "pose")):
        assert main(["info", str(built(name)), "--json"]) == 0, name
        assert json.loads(capsys.readouterr().out)["task"] == task, name
    with Model(built("argmax64")) as m:
        assert infer_task(m) == "segmentation"


def test_custom_op_posenet_is_refused_naming_the_op(built, tmp_path: Path) -> None:
    """A model whose last op is the PoseNet decoder custom op (patched into a built model with
    TF's flatbuffer schema) fails at load with the op's name, from a path and from bytes."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    data = built("pose_single").read_bytes()
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = 32  # CUSTOM
    code.customCode = b"PosenetDecoderOp"
    code.version = 1
    m.operatorCodes.append(code)
    op = m.subgraphs[0].operators[-1]
    op.opcodeIndex = len(m.operatorCodes) - 1
    op.builtinOptionsType, op.builtinOptions = 0, None
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    path = tmp_path / "posenet.tflite"
    path.write_bytes(bytes(fb.Output()))
    for source in (path, path.read_bytes()):
        with pytest.raises(UnsupportedModelError, match=r"custom op 'PosenetDecoderOp'.*not supported"):
            PoseEstimator(source)


def test_run_command_with_a_segment_config_file(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = assets / SEG_ASSETS
    config = tmp_path / "run.json"
    config.write_text(
        json.dumps(
            {
                "task": "segment",
                "model": str(d / "deeplabv3_mnv2_dm05_pascal_quant.tflite"),
                "labels": str(d / "pascal_voc_segmentation_labels.txt"),
                "source": str(d / "bird_segmentation.bmp"),
                "sink": ["jsonl:-"],
            }
        )
    )
    assert main(["run", "--config", str(config)]) == 0
    rec = json.loads(capsys.readouterr().out.strip())
    assert set(rec) == {"source", "frame", "classes", "timing_ms"}
    assert max(rec["classes"][1:], key=lambda c: c["pixels"])["label"] == "bird"
    assert main(["run", "--config", str(config), "--task", "pose"]) == 1  # labels do not apply to pose
    assert "do not apply to task pose" in capsys.readouterr().err
