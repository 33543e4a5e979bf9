import numpy as np
import pytest

from edge_sdk.errors import ImageError
from edge_sdk.frame import Frame
from edge_sdk.image import as_rgb, load_image


def test_rgb_uint8_is_returned_without_copy():
    img = np.zeros((4, 5, 3), np.uint8)
    assert as_rgb(img) is img


def test_grayscale_is_replicated():
    g = np.arange(16, dtype=np.uint8).reshape(4, 4)
    out = as_rgb(g)
    assert out.shape == (4, 4, 3)
    np.testing.assert_array_equal(out[..., 0], g)
    np.testing.assert_array_equal(out[..., 2], g)


def test_rgba_drops_alpha_keeps_rgb_order():
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 0] = 200  # red
    rgba[..., 3] = 0  # fully transparent
    out = as_rgb(rgba)
    assert out.shape == (3, 3, 3) and out[0, 0, 0] == 200 and out[0, 0, 2] == 0


def test_16_bit_is_scaled_not_truncated():
    img = np.array([[0, 257, 65535, 32896]], np.uint16).repeat(2, 0)
    out = as_rgb(img)
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255, 128])


def test_bgr_needs_to_be_said():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV order
    assert Frame.from_bgr(bgr).image[0, 0].tolist() == [0, 0, 255]
    assert Frame.from_rgb(bgr).image[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((1, 1, 3), np.uint8), "1x1 pixels"),
        (np.zeros((5, 5, 2), np.uint8), "shape"),
        (np.zeros((5,), np.uint8), "shape"),
        (np.full((3, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.full((3, 3), np.nan, np.float32), "NaN"),
        (np.zeros((3, 3), np.int64), "dtype"),
        (None, "None"),
    ],
)
def test_bad_images_raise_typed_errors(image, message):
    with pytest.raises(ImageError, match=message):
        as_rgb(image)


def test_load_image_errors(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageError, match="not a decodable image"):
        load_image(tmp_path / "junk.jpg")
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "missing.jpg")


def test_load_16_bit_png(tmp_path):
    import cv2

    img = np.zeros((4, 4, 3), np.uint16)
    img[..., 2] = 65535  # red in BGR order
    cv2.imwrite(str(tmp_path / "deep.png"), img)
    out = load_image(tmp_path / "deep.png")
    assert out.dtype == np.uint8 and out[0, 0].tolist() == [255, 0, 0]
