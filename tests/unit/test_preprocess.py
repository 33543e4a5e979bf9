import numpy as np
import pytest

from edge_sdk.metadata import ColorSpace, Normalization
from edge_sdk.preprocess import Preprocessor, ResizeMode, Transform, ValueMapping, input_format
from edge_sdk.quant import QuantParams


def _fmt(shape=(1, 8, 8, 3), dtype=np.uint8, quant=None, norm=None, explicit=False):
    return input_format(
        shape, np.dtype(dtype), quant or QuantParams(), norm, normalization_is_explicit=explicit
    )


def test_stretch_transform_round_trips_points():
    t = Transform.plan((640, 480), (320, 320), ResizeMode.STRETCH)
    assert t.scale_x == pytest.approx(0.5) and t.scale_y == pytest.approx(320 / 480)
    np.testing.assert_allclose(t.to_source([[160, 160]]), [[320, 240]])


def test_letterbox_transform_pads_the_short_side():
    t = Transform.plan((640, 320), (320, 320), ResizeMode.LETTERBOX)
    assert (t.offset_x, t.offset_y) == (0.0, 80.0)
    # The input's top-left of the image area maps to the source origin; boxes are clipped.
    boxes = t.boxes_to_source([[0, 80, 320, 240], [-10, 0, 10, 320]])
    np.testing.assert_allclose(boxes[0], [0, 0, 640, 320])
    np.testing.assert_allclose(boxes[1], [0, 0, 20, 320])


def test_center_crop_transform_maps_centre_region():
    t = Transform.plan((400, 200), (100, 100), ResizeMode.CENTER_CROP)
    np.testing.assert_allclose(t.to_source([[0, 0], [100, 100]]), [[100, 0], [300, 200]])


def test_normalized_boxes():
    t = Transform.plan((200, 100), (10, 10), ResizeMode.STRETCH)
    np.testing.assert_allclose(
        t.boxes_to_source([[0.1, 0.2, 0.5, 1.0]], normalized=True), [[20, 20, 100, 100]]
    )


def test_uint8_input_is_written_directly_by_resize():
    fmt = _fmt(quant=QuantParams((1 / 128,), (128,)), norm=Normalization((127.5,), (127.5,)))
    assert fmt.mapping is ValueMapping.RAW
    img = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    dst = np.zeros((8, 8, 3), np.uint8)
    Preprocessor(fmt)(img, dst)
    import cv2

    np.testing.assert_array_equal(dst, cv2.resize(img, (8, 8), interpolation=cv2.INTER_LINEAR))


def test_int8_input_uses_shifted_lut():
    fmt = _fmt(dtype=np.int8, quant=QuantParams((1 / 255,), (-128,)))
    img = np.full((8, 8, 3), 200, np.uint8)
    dst = np.zeros((8, 8, 3), np.int8)
    Preprocessor(fmt)(img, dst)
    assert (dst == 72).all()


def test_explicit_normalization_for_quantized_input_builds_lut():
    # The model wants [-1, 1] quantized with scale 1/127.5 and zero point 0 (int8).
    qp = QuantParams((1 / 127.5,), (0,))
    fmt = _fmt(dtype=np.int8, quant=qp, norm=Normalization((127.5,), (127.5,)), explicit=True)
    assert fmt.mapping is ValueMapping.LUT
    img = np.zeros((8, 8, 3), np.uint8)
    img[:4] = 255
    dst = np.zeros((8, 8, 3), np.int8)
    Preprocessor(fmt)(img, dst)
    assert dst[0, 0, 0] == 127 and dst[7, 0, 0] in (-128, -127)  # -127.5 rounds either way in float32


def test_float_input_normalizes():
    fmt = _fmt(dtype=np.float32, norm=Normalization((127.5,), (127.5,)))
    img = np.full((8, 8, 3), 255, np.uint8)
    dst = np.zeros((8, 8, 3), np.float32)
    Preprocessor(fmt)(img, dst)
    np.testing.assert_allclose(dst, 1.0)


def test_grayscale_model_gets_luma():
    fmt = _fmt(shape=(1, 8, 8, 1))
    assert fmt.color is ColorSpace.GRAYSCALE
    img = np.zeros((8, 8, 3), np.uint8)
    img[..., 1] = 255  # pure green
    dst = np.zeros((8, 8, 1), np.uint8)
    Preprocessor(fmt)(img, dst)
    assert abs(int(dst[0, 0, 0]) - 150) <= 1  # 0.587 * 255


def test_letterbox_pads_with_value():
    fmt = _fmt()
    img = np.full((4, 8, 3), 255, np.uint8)
    dst = np.zeros((8, 8, 3), np.uint8)
    t = Preprocessor(fmt, ResizeMode.LETTERBOX, pad_value=114)(img, dst)
    assert t.offset_y == 2 and (dst[0] == 114).all() and (dst[4] == 255).all()


@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 8, 8, 3), (1, 8, 8, 4), (1, 10)])
def test_non_image_inputs_are_rejected(shape):
    from edge_sdk.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="expected an image input"):
        _fmt(shape=shape)
