"""Model conventions read from other tools' exports: the input range rule, NCHW preprocessing,
Ultralytics metadata (both forms, parsed safely), state-pair naming, --mean/--std checks."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import numpy as np
import pytest

from edge_sdk.errors import MetadataError, OptionsError
from edge_sdk.metadata import ULTRALYTICS_MAX_BYTES, Normalization, parse_metadata
from edge_sdk.model import _state_key
from edge_sdk.preprocess import (
    YOLO_NORMALIZATION,
    Preprocessor,
    RangeSource,
    ValueMapping,
    input_format,
    input_range,
)
from edge_sdk.quant import QuantParams

ULTRA_INT8 = QuantParams((0.0187,), (-14,))  # Ultralytics' full-int8 YOLOv8n input


def test_range_order_options_metadata_family() -> None:
    a, b = Normalization((1.0,), (2.0,)), Normalization((3.0,), (4.0,))
    dt = np.dtype(np.int8)
    assert input_range(dt, ULTRA_INT8, options=a, metadata=b, family=YOLO_NORMALIZATION).normalization == a
    r = input_range(dt, ULTRA_INT8, metadata=b, family=YOLO_NORMALIZATION)
    assert (r.normalization, r.source) == (b, RangeSource.METADATA)
    r = input_range(dt, ULTRA_INT8, family=YOLO_NORMALIZATION)
    assert (r.normalization, r.source) == (YOLO_NORMALIZATION, RangeSource.FAMILY)


def test_int8_yolo_lut_follows_the_tensor_quantization() -> None:
    fmt = input_format((1, 4, 4, 3), np.dtype(np.int8), ULTRA_INT8, value_range=input_range(
        np.dtype(np.int8), ULTRA_INT8, family=YOLO_NORMALIZATION))  # fmt: skip
    assert fmt.mapping is ValueMapping.LUT and fmt.lut is not None
    codes = fmt.lut[:, 0].view(np.int8).astype(int)
    # Ultralytics: x / 255, then x / scale + zero_point
    want = np.clip(np.round(np.arange(256) / 255 / 0.0187 - 14), -128, 127)
    np.testing.assert_array_equal(codes, want)


def test_pixel_mappings_need_no_lut_and_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge_sdk.preprocess"):
        for dt, q in (
            (np.uint8, QuantParams((1 / 128,), (128,))),
            (np.int8, QuantParams((1 / 255,), (-128,))),
        ):
            r = input_range(np.dtype(dt), q, source="plain")
            assert r.source is RangeSource.QUANTIZATION
        # metadata whose range the quantization already encodes keeps the raw fast path
        fmt = input_format((1, 4, 4, 3), np.dtype(np.uint8), QuantParams((1 / 128,), (128,)),
                           Normalization((127.5,), (127.5,)))  # fmt: skip
        assert fmt.mapping is ValueMapping.RAW
    assert not caplog.records


def test_unknown_range_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge_sdk.preprocess"):
        for _ in range(3):
            r = input_range(np.dtype(np.int8), ULTRA_INT8, source="unit-warn-once.tflite")
    assert r.source is RangeSource.ASSUMED
    msgs = [m.getMessage() for m in caplog.records]
    assert len(msgs) == 1 and "--mean/--std" in msgs[0] and "pixel - 128" in msgs[0]


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int8])
def test_nchw_input_gets_the_transposed_nhwc_values(dtype) -> None:
    q = QuantParams() if dtype == np.float32 else QuantParams((1 / 255,), (0 if dtype == np.uint8 else -128,))
    norm = Normalization((0.0,), (255.0,))
    img = np.random.default_rng(0).integers(0, 256, (10, 14, 3), dtype=np.uint8)
    a = input_format((1, 8, 6, 3), np.dtype(dtype), q, norm, normalization_is_explicit=True)
    b = input_format((1, 3, 8, 6), np.dtype(dtype), q, norm, normalization_is_explicit=True)
    assert b.channels_first and (b.height, b.width, b.channels) == (8, 6, 3)
    hwc = np.zeros((8, 6, 3), dtype)
    chw = np.zeros((3, 8, 6), dtype)
    Preprocessor(a)(img, hwc)
    Preprocessor(b)(img, chw)
    np.testing.assert_array_equal(chw, hwc.transpose(2, 0, 1))


def test_normalization_count_must_fit_channels() -> None:
    with pytest.raises(OptionsError, match="expected 1 or 1"):
        input_format(
            (1, 4, 4, 1), np.dtype(np.float32), QuantParams(), Normalization((1.0, 2.0, 3.0), (1.0,))
        )


@pytest.mark.parametrize(
    ("mean", "std", "match"),
    [((1.0,), (0.0,), "> 0"), ((1.0,), (-2.0,), "> 0"), (None, (1.0,), "together"), ((float("nan"),), (1.0,), "finite"),
     ((1.0, 2.0), (1.0, 2.0, 3.0), "counts")],
)  # fmt: skip
def test_mean_std_options_are_checked(mean, std, match) -> None:
    with pytest.raises(OptionsError, match=match):
        Normalization.from_options(mean, std)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


META = {
    "task": "detect",
    "imgsz": [320, 320],
    "stride": 32,
    "names": {0: "person", 1: "bicycle"},
    "end2end": False,
}


def test_ultralytics_metadata_json_and_dict_literal() -> None:
    as_json = parse_metadata(_zip({"metadata.json": json.dumps(META).encode()}), {}, "m")
    as_dict = parse_metadata(_zip({"temp_meta.txt": str(META).encode()}), {}, "m")
    for md in (as_json, as_dict):
        assert md.task == "detection" and md.resize == "letterbox"
        assert md.labels is not None and md.labels.labels == {0: "person", 1: "bicycle"}
        assert md.ultralytics is not None and md.ultralytics["imgsz"] == [320, 320]
        assert md.family_normalization == Normalization((0.0,), (255.0,))


def test_dict_literal_is_never_evaluated(tmp_path) -> None:
    marker = tmp_path / "pwned"
    code = f"{{'names': {{0: 'a'}}, 'x': __import__('pathlib').Path({str(marker)!r}).touch()}}"
    md = parse_metadata(_zip({"temp_meta.txt": code.encode()}), {}, "m")
    assert md.ultralytics is None and not marker.exists()


def test_oversized_members_are_not_read() -> None:
    big = str({"names": {0: "a"}, "pad": "x" * ULTRALYTICS_MAX_BYTES}).encode()
    assert parse_metadata(_zip({"temp_meta.txt": big}), {}, "m").ultralytics is None
    with pytest.raises(MetadataError, match="at most"):
        parse_metadata(_zip({"metadata.json": big}), {}, "m")


def test_state_names_pair_by_convention() -> None:
    assert _state_key("raw_inputs/init_lstm_c") == _state_key("raw_outputs/lstm_c") == "lstm_c"
    assert _state_key("serving_default_state:0") == "state"
    assert _state_key("raw_inputs/init_lstm_h") != _state_key("raw_outputs/lstm_c")
