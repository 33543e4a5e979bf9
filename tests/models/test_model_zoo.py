"""Models as other tools export them (issue 11), each built by the test itself.

- a full-int8 YOLO whose input quantization is not the pixel mapping (as Ultralytics' int8
  export writes it) against its float-I/O twin;
- NCHW inputs (LiteRT's PyTorch converter) against the NHWC twin, float and int8, for
  classification and detection;
- Ultralytics' embedded metadata in both forms (``metadata.json``; a dict literal attached
  as a label file), and the end-to-end ``[1, N, 6]`` head;
- a stateful model (state input and output), carried per frame and reset per source;
- ``--mean/--std`` from options, the CLI and the pipeline config;
- the COCO SSD with its four post-process outputs listed in another order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_sdk.errors import OptionsError
from edge_sdk.frame import Frame
from edge_sdk.labels import LabelMap
from edge_sdk.metadata import Normalization
from edge_sdk.model import Model
from edge_sdk.nms import box_iou
from edge_sdk.pipeline.tasks import ClassifyTask
from edge_sdk.preprocess import RangeSource
from edge_sdk.tasks.classify import Classifier, ClassifierOptions
from edge_sdk.tasks.decoders import DetectorHead
from edge_sdk.tasks.detect import Detector, DetectorOptions

from . import detect_yolo_builder as yb

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LABELS = LabelMap({0: "red", 1: "green", 2: "blue"}, "test labels")
SOURCE_SIZE = (128, 96)
OBJECTS = [(0, (8, 8, 40, 40)), (1, (56, 16, 104, 48)), (2, (16, 48, 48, 96)), (0, (96, 64, 112, 80))]
NAMES = {0: "red", 1: "green", 2: "blue"}


def _keras_yolo(nchw: bool) -> Any:
    """The constructed YOLOv8 ([1, 4+nc, N], normalized boxes), optionally behind an NCHW input."""
    import keras

    inner = yb.build_keras("v8", True)
    if not nchw:
        return inner
    inp = keras.Input((3, yb.SIZE, yb.SIZE), batch_size=1)
    return keras.Model(inp, inner(keras.layers.Permute((2, 3, 1))(inp)))


def _keras_classifier(nchw: bool) -> Any:
    """A small seeded classifier (5 classes, 32x32 RGB in [0, 1]); the NCHW twin shares weights."""
    import keras

    keras.utils.set_random_seed(3)
    conv = keras.layers.Conv2D(8, 3, strides=2, activation="relu")
    pool = keras.layers.GlobalAveragePooling2D()
    dense = keras.layers.Dense(5, activation="softmax")
    nhwc_in = keras.Input((32, 32, 3), batch_size=1)
    nhwc = keras.Model(nhwc_in, dense(pool(conv(nhwc_in))))
    if not nchw:
        return nhwc
    inp = keras.Input((3, 32, 32), batch_size=1)
    return keras.Model(inp, nhwc(keras.layers.Permute((2, 3, 1))(inp)))


def _class_calibration(nchw: bool) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.random((16, 32, 32, 3), dtype=np.float32)
    return x.transpose(0, 3, 1, 2).copy() if nchw else x


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build each named model once per session."""
    pytest.importorskip("tensorflow")
    from converters.quantize_keras import IOType, QuantizeOptions, float_tflite_from_keras, quantize_keras

    root = tmp_path_factory.mktemp("zoo")
    cache: dict[str, Path] = {}

    def calib_yolo(nchw: bool, wide: bool = False) -> np.ndarray:
        c = yb.calibration(16)
        if wide:  # inputs beyond [0, 1]: the calibrated input scale is no longer 1/255
            c[0] *= 1.6
            c[1] = c[1] - 0.3
        return c.transpose(0, 3, 1, 2).copy() if nchw else c

    def get(name: str) -> Path:
        if name in cache:
            return cache[name]
        kind, layout, io = name.split("-")  # e.g. yolo-nchw-int8
        nchw = layout == "nchw"
        keras_model = _keras_yolo(nchw) if kind == "yolo" else _keras_classifier(nchw)
        if io == "float":
            data = float_tflite_from_keras(keras_model)
        else:
            calib = calib_yolo(nchw, io.endswith("wide")) if kind == "yolo" else _class_calibration(nchw)
            t = IOType.FLOAT32 if io.startswith("fio") else IOType.INT8
            data = quantize_keras(keras_model, calib, QuantizeOptions(t, t))
        path = root / f"{name}.tflite"
        path.write_bytes(data)
        cache[name] = path
        return path

    return get


def match(got, want, *, score_tol: float = 0.03, iou: float = 0.9) -> None:
    """Same number of detections; each of ``want`` has one of ``got`` with its label, IoU and score."""
    assert len(got) == len(want), (got.as_dicts(), want.as_dicts())
    for label, score, box in zip(want.labels, want.scores, want.xyxy, strict=True):
        ious = box_iou(box[None], got.xyxy)[0]
        i = int(np.argmax(ious))
        assert ious[i] >= iou and got.labels[i] == label, (got.as_dicts(), want.as_dicts())
        assert abs(float(got.scores[i]) - float(score)) <= score_tol, (got.as_dicts(), want.as_dicts())


def check_objects(dets, min_score: float = 0.9) -> None:
    assert len(dets) == len(OBJECTS), dets.as_dicts()
    for cls, box in OBJECTS:
        ious = box_iou(np.array([box], np.float32), dets.xyxy)[0]
        i = int(np.argmax(ious))
        assert ious[i] >= 0.9 and dets.class_ids[i] == cls and dets.scores[i] >= min_score, dets.as_dicts()


# -- full int8 with a non-pixel input quantization ---------------------------------------------


def test_full_int8_yolo_with_calibrated_input_scale_matches_float_io_twin(built) -> None:
    int8 = Detector(built("yolo-nhwc-int8wide"), labels=LABELS, threshold=0.5)
    q = int8.model.input.quant
    assert int8.model.input.dtype == np.int8
    assert abs(q.scale - 1 / 255) > 0.1 / 255 and q.zero_point != -128, q  # not the pixel mapping
    assert int8.runner.value_range.source is RangeSource.FAMILY  # YOLO's [0, 1]
    twin = Detector(built("yolo-nhwc-fiowide"), labels=LABELS, threshold=0.5)
    assert twin.model.input.dtype == np.float32
    image = yb.draw(OBJECTS, SOURCE_SIZE)
    got, want = int8.detect(image), twin.detect(image)
    match(got, want)
    check_objects(got, 0.85)


def test_unknown_quantized_range_warns_once(built, caplog: pytest.LogCaptureFixture) -> None:
    """A non-pixel input quantization with nothing known: one warning naming the override."""
    path = built("yolo-nhwc-int8wide")
    with caplog.at_level("WARNING", logger="edge_sdk.preprocess"):
        Model(path)  # loading alone decides nothing
        from edge_sdk.tasks.runner import ImageRunner

        ImageRunner(Model(path))
        ImageRunner(Model(path))
    warnings = [r for r in caplog.records if "--mean/--std" in r.getMessage()]
    assert len(warnings) == 1 and "scale" in warnings[0].getMessage()


# -- NCHW inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("io", ["float", "int8"])
def test_nchw_detector_matches_nhwc_twin(built, io: str) -> None:
    nchw = Detector(built(f"yolo-nchw-{io}"), labels=LABELS, threshold=0.5)
    assert nchw.runner.format.channels_first and nchw.runner.input_size == (yb.SIZE, yb.SIZE)
    nhwc = Detector(built(f"yolo-nhwc-{io}"), labels=LABELS, threshold=0.5)
    image = yb.draw(OBJECTS, SOURCE_SIZE)
    got = nchw.detect(image)
    match(got, nhwc.detect(image), score_tol=0.02)
    check_objects(got)


@pytest.mark.parametrize("io", ["float", "int8"])
def test_nchw_classifier_matches_nhwc_twin(built, io: str) -> None:
    norm = Normalization((0.0,), (255.0,))
    a = Classifier(built(f"cls-nchw-{io}"), options=ClassifierOptions(top_k=5, normalization=norm))
    b = Classifier(built(f"cls-nhwc-{io}"), options=ClassifierOptions(top_k=5, normalization=norm))
    assert a.runner.format.channels_first and not b.runner.format.channels_first
    rng = np.random.default_rng(7)
    for _ in range(3):
        image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
        ga, gb = a.classify(image), b.classify(image)
        assert [c.id for c in ga][:1] == [c.id for c in gb][:1]
        sa = {c.id: c.score for c in ga}
        for c in gb:
            assert abs(sa[c.id] - c.score) <= (1e-5 if io == "float" else 0.02)


# -- Ultralytics metadata and the end-to-end head ------------------------------------------------


def _ultra_meta(**extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "description": "Ultralytics YOLOv8n model",
        "author": "Ultralytics",
        "stride": 32,
        "task": "detect",
        "batch": 1,
        "imgsz": [yb.SIZE, yb.SIZE],
        "names": NAMES,
        "args": {"batch": 1, "half": False, "int8": False, "nms": False},
        "channels": 3,
    }
    meta.update(extra)
    return meta


def _with_json_metadata(data: bytes, meta: dict[str, Any]) -> bytes:
    from converters.metadata_writer import pack_files

    return pack_files(data, {"metadata.json": json.dumps(meta, indent=2).encode()})


def _with_dict_literal(data: bytes, meta: dict[str, Any]) -> bytes:
    """The onnx2tf-era form: ``str(dict)`` in a member attached to output 0 as a label file."""
    from converters.metadata_writer import write_metadata

    return write_metadata(data, task="detection", labels=[str(meta)], std=(255.0,), resize="letterbox")


@pytest.mark.parametrize("form", ["json", "dict"])
def test_ultralytics_metadata_gives_names_and_task(built, tmp_path: Path, form: str) -> None:
    data = built("yolo-nchw-int8").read_bytes()
    meta = _ultra_meta()
    path = tmp_path / f"ultra_{form}.tflite"
    path.write_bytes(_with_json_metadata(data, meta) if form == "json" else _with_dict_literal(data, meta))
    model = Model(path)
    assert model.metadata.ultralytics is not None and model.metadata.ultralytics["imgsz"] == [64, 64]
    assert model.metadata.labels is not None and model.metadata.labels.labels == NAMES
    det = Detector(model, threshold=0.5)
    dets = det.detect(yb.draw(OBJECTS, SOURCE_SIZE))
    check_objects(dets)
    assert sorted(set(dets.labels)) == ["blue", "green", "red"]
    # the CLI, without --labels, prints the export's class names; info shows 3 names, not 1
    image = tmp_path / "objects.png"
    import cv2

    cv2.imwrite(str(image), cv2.cvtColor(yb.draw(OBJECTS, SOURCE_SIZE), cv2.COLOR_RGB2BGR))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "edge_sdk.cli.main", "detect", "--model", str(path), str(image)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    labels = sorted(d["label"] for d in json.loads(out.stdout.splitlines()[0])["detections"])
    assert labels == ["blue", "green", "red", "red"]
    info = subprocess.run(
        [sys.executable, "-m", "edge_sdk.cli.main", "info", "--json", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    d = json.loads(info.stdout)
    assert d["labels"]["0"] == ["red", "green", "blue"] and d["task"] == "detection"


def test_oversized_metadata_json_is_refused(built, tmp_path: Path) -> None:
    from edge_sdk.errors import MetadataError
    from edge_sdk.metadata import ULTRALYTICS_MAX_BYTES

    data = built("yolo-nhwc-float").read_bytes()
    meta = _ultra_meta(description="x" * (ULTRALYTICS_MAX_BYTES + 1))
    path = tmp_path / "big.tflite"
    path.write_bytes(_with_json_metadata(data, meta))
    with pytest.raises(MetadataError, match="expected at most"):
        Model(path)


def _keras_e2e(rows: np.ndarray, nchw: bool) -> Any:
    """A model whose output is ``rows`` ([N, 6]) whatever the image (plus 0 * image mean)."""
    import keras
    from keras import layers, ops

    shape = (3, yb.SIZE, yb.SIZE) if nchw else (yb.SIZE, yb.SIZE, 3)
    inp = keras.Input(shape, batch_size=1)
    x = layers.Flatten()(inp)
    n = rows.shape[0]
    dense = layers.Dense(
        n * 6,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(rows.reshape(-1)),
    )
    out = layers.Reshape((n, 6))(dense(x))
    out = layers.Lambda(lambda t: ops.maximum(t, -1e6))(out)
    return keras.Model(inp, out)


@pytest.mark.parametrize("normalized", [True, False])
def test_end_to_end_head(tmp_path: Path, normalized: bool) -> None:
    pytest.importorskip("tensorflow")
    from converters.quantize_keras import float_tflite_from_keras

    rows = np.zeros((300, 6), np.float32)
    rows[0] = [8, 8, 24, 40, 0.9, 2]  # input pixels
    rows[1] = [32, 16, 64, 48, 0.6, 1]
    rows[2] = [0, 0, 10, 10, 0.2, 0]  # below the threshold
    if normalized:
        rows[:, :4] /= yb.SIZE
    data = float_tflite_from_keras(_keras_e2e(rows, nchw=True))
    path = tmp_path / "e2e.tflite"
    path.write_bytes(_with_json_metadata(data, _ultra_meta(end2end=True)))
    det = Detector(path, threshold=0.5)
    assert det.decoder.head is DetectorHead.END2END and not det.decoder.needs_nms
    # 128x64 source -> letterboxed at scale 0.5, 16 px of padding above
    dets = det.detect(np.zeros((64, 128, 3), np.uint8))
    assert dets.labels == ("blue", "green")
    np.testing.assert_allclose(dets.scores, [0.9, 0.6], atol=1e-6)
    np.testing.assert_allclose(dets.xyxy, [[16, 0, 48, 48], [64, 0, 128, 64]], atol=0.01)


# -- stateful models -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running_sum(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Image [1, 8, 8, 3] + state [1, 3] -> scores [1, 2] and next state [1, 3].

    next_state = state + per-channel image mean; scores = [sum(next_state), 0].
    """
    pytest.importorskip("tensorflow")
    import keras
    from keras import layers

    from converters.quantize_keras import float_tflite_from_keras

    image = keras.Input((8, 8, 3), batch_size=1, name="image")
    state = keras.Input((3,), batch_size=1, name="state")
    nxt = layers.Add(name="next_state")([state, layers.GlobalAveragePooling2D()(image)])
    scores = layers.Dense(
        2,
        use_bias=False,
        kernel_initializer=keras.initializers.Constant(np.array([[1, 0]] * 3, np.float32)),
    )(nxt)
    path = tmp_path_factory.mktemp("state") / "running_sum.tflite"
    path.write_bytes(float_tflite_from_keras(keras.Model([image, state], [scores, nxt])))
    return path


def test_state_is_carried_per_frame_and_reset_per_source(running_sum: Path) -> None:
    model = Model(running_sum)
    assert len(model.state_pairs) == 1 and model.state_pairs[0].input.shape == (1, 3)
    assert len(model.inputs) == 1 and len(model.outputs) == 1 and model.outputs[0].shape == (1, 2)
    clf = Classifier(model, options=ClassifierOptions(top_k=1, normalization=Normalization((0.0,), (255.0,))))
    task = ClassifyTask(clf)
    frame = np.full((16, 16, 3), 51, np.uint8)  # 0.2 per channel -> +0.6 per frame
    got = [task(Frame(frame, i, source="a")).result[0].score for i in range(3)]
    np.testing.assert_allclose(got, [0.6, 1.2, 1.8], atol=1e-5)
    np.testing.assert_allclose(model.state()[0], [[0.6, 0.6, 0.6]], atol=1e-5)
    again = [task(Frame(frame, i, source="b")).result[0].score for i in range(2)]
    np.testing.assert_allclose(again, [0.6, 1.2], atol=1e-5)  # reset to zeros on the new source


def test_info_shows_state_pairs(running_sum: Path) -> None:
    from edge_sdk.cli.info import _text, describe

    d = describe(str(running_sum))
    assert len(d["state_pairs"]) == 1 and len(d["inputs"]) == 2 and len(d["outputs"]) == 2
    pair = d["state_pairs"][0]
    assert "state" in pair["input"] and pair["shape"] == [1, 3]
    assert "state " in _text(d)


# -- --mean / --std -------------------------------------------------------------------------------


def test_mean_std_everywhere(built, tmp_path: Path) -> None:
    from edge_sdk.cli.main import main
    from edge_sdk.pipeline.config import RunConfig

    path = built("cls-nhwc-float")
    image = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    norm = Normalization((127.0,), (128.0,))
    ref = Model(path).run(((image.astype(np.float32) - 127) / 128)[None])[0][0]
    clf = Classifier(path, options=ClassifierOptions(top_k=5, normalization=norm))
    got = {c.id: c.score for c in clf.classify(image)}
    np.testing.assert_allclose([got[i] for i in range(5)], ref, atol=1e-5)
    # per channel, and validated against the input's channels
    Classifier(path, options=ClassifierOptions(normalization=Normalization((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))))
    with pytest.raises(OptionsError, match="std must be > 0"):
        Normalization.from_options((0.0,), (0.0,))
    with pytest.raises(OptionsError, match="together"):
        Normalization.from_options((1.0,), None)
    with pytest.raises(OptionsError, match=r"expected 1 or 3"):
        Detector(
            built("yolo-nhwc-float"),
            options=DetectorOptions(normalization=Normalization((1.0, 2.0), (3.0, 4.0))),
        )
    # pipeline config
    cfg = RunConfig.from_dict(
        {
            "task": "classify",
            "model": str(path),
            "source": "x.png",
            "sink": "jsonl:-",
            "mean": [127],
            "std": 128,
        }
    )
    built_task = cfg.build_task()
    assert built_task.classifier.runner.value_range.normalization == norm  # type: ignore[attr-defined]
    with pytest.raises(OptionsError, match="std must be > 0"):
        RunConfig.from_dict(
            {"task": "detect", "model": str(path), "source": "x", "sink": "jsonl:-", "mean": 0, "std": -1}
        )
    # CLI
    import cv2

    img_path = tmp_path / "img.png"
    cv2.imwrite(str(img_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "edge_sdk.cli.main", "classify", "-m", str(path), "--mean", "127", "--std", "128",
         "-k", "5", str(img_path)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    scores = {c["id"]: c["score"] for c in json.loads(out.stdout)["classes"]}
    np.testing.assert_allclose([scores[i] for i in range(5)], ref, atol=1e-4)
    bad = subprocess.run(
        [sys.executable, "-m", "edge_sdk.cli.main", "classify", "-m", str(path), "--mean", "1", "--std", "0",
         str(img_path)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0 and "std must be > 0" in bad.stderr
    del main


# -- SSD output order -------------------------------------------------------------------------------


def test_permuted_ssd_outputs_give_identical_detections(assets: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from converters.interface import _dump, _load
    from edge_sdk.image import load_image

    src = assets / "detection/coco_ssd_mobilenet_v1/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
    obj = _load(src.read_bytes())
    sg = obj.subgraphs[0]
    before = list(sg.outputs)
    sg.outputs = [before[2], before[3], before[0], before[1]]  # scores, count, boxes, classes (TF2 order)
    path = tmp_path / "ssd_permuted.tflite"
    import io
    import zipfile

    from converters.metadata_writer import pack_files

    with zipfile.ZipFile(io.BytesIO(src.read_bytes())) as zf:  # the label file packed at the end
        packed = {n: zf.read(n) for n in zf.namelist()}
    path.write_bytes(pack_files(_dump(obj), packed))
    permuted = Detector(path, threshold=0.3)
    original = Detector(src, threshold=0.3)
    assert [t.name for t in permuted.model.outputs] != [t.name for t in original.model.outputs]
    for name in ("cats_and_dogs.jpg", "multi_objects.jpg"):
        image = load_image(assets / "detection" / name)
        a, b = permuted.detect(image), original.detect(image)
        assert len(b) >= 4
        assert a.labels == b.labels
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.xyxy, b.xyxy)


def test_lstm_state_names_pair_by_convention(tmp_path: Path) -> None:
    """Two states of the same shape cannot be paired by shape; Coral's LSTM-SSD names
    (``raw_inputs/init_lstm_c`` -> ``raw_outputs/lstm_c``), written into the flatbuffer, pair them."""
    pytest.importorskip("tensorflow")
    import keras
    from keras import layers

    from converters.interface import _dump, _load
    from converters.quantize_keras import float_tflite_from_keras

    image = keras.Input((8, 8, 3), batch_size=1, name="image")
    c = keras.Input((3,), batch_size=1, name="c")
    h = keras.Input((3,), batch_size=1, name="h")
    next_c = layers.Add()([c, layers.GlobalAveragePooling2D()(image)])
    next_h = layers.Add()([h, c])  # h lags c by one frame
    kernel = np.array([[1, 0]] * 3 + [[0, 1]] * 3, np.float32)
    scores = layers.Dense(2, use_bias=False, kernel_initializer=keras.initializers.Constant(kernel))(
        layers.Concatenate()([next_c, next_h])
    )
    data = float_tflite_from_keras(keras.Model([image, c, h], [scores, next_c, next_h]))
    plain = tmp_path / "plain.tflite"
    plain.write_bytes(data)
    unpaired = Model(plain)
    assert unpaired.state_pairs == () and len(unpaired.inputs) == 3  # ambiguous by shape
    # which output is next_c: run once with c = 1, h = 5 and a black image (next_c 1, next_h 6)
    interp = unpaired._interpreter
    for t in unpaired.all_inputs:
        fill = 0.0 if t.shape != (1, 3) else 1.0 if t.name.split(":")[0].endswith("c") else 5.0
        interp.set_tensor(t.index, np.full(t.shape, fill, np.float32))
    interp.invoke()
    probe = [interp.get_tensor(t.index) for t in unpaired.all_outputs]
    obj = _load(data)
    sg = obj.subgraphs[0]
    for t in unpaired.all_inputs:
        if t.shape == (1, 3):
            sg.tensors[t.index].name = f"raw_inputs/init_lstm_{t.name.split(':')[0][-1]}".encode()
    for t, value in zip(unpaired.all_outputs, probe, strict=True):
        if t.shape == (1, 3):
            sg.tensors[t.index].name = b"raw_outputs/lstm_c" if value.max() == 1 else b"raw_outputs/lstm_h"
    named = tmp_path / "lstm_named.tflite"
    named.write_bytes(_dump(obj))
    model = Model(named)
    pairs = {(p.input.name, p.output.name, p.matched_by) for p in model.state_pairs}
    assert pairs == {
        ("raw_inputs/init_lstm_c", "raw_outputs/lstm_c", "name"),
        ("raw_inputs/init_lstm_h", "raw_outputs/lstm_h", "name"),
    }
    clf = Classifier(model, options=ClassifierOptions(top_k=2, normalization=Normalization((0.0,), (255.0,))))
    frame = np.full((8, 8, 3), 51, np.uint8)  # 0.2 per channel
    got = []
    for _ in range(3):
        res = {cat.id: cat.score for cat in clf.classify(frame)}
        got.append((res[0], res[1]))
    np.testing.assert_allclose(got, [(0.6, 0.0), (1.2, 0.6), (1.8, 1.8)], atol=1e-5)  # h += previous c
