import numpy as np
import pytest

from edge_sdk.quant import QuantParams, dequantize, quantize


def test_per_tensor_round_trip_matches_affine_formula():
    qp = QuantParams((0.5,), (10,))
    q = np.array([0, 10, 11, 255], np.uint8)
    np.testing.assert_allclose(dequantize(q, qp), [-5.0, 0.0, 0.5, 122.5])
    np.testing.assert_array_equal(quantize(dequantize(q, qp), qp, np.uint8), q)


def test_quantize_clips_to_dtype_range():
    qp = QuantParams((1.0,), (0,))
    np.testing.assert_array_equal(quantize([-300.0, 300.0], qp, np.int8), [-128, 127])


def test_per_channel_uses_axis():
    qp = QuantParams((1.0, 2.0, 4.0), (0, 1, 2), axis=1)
    q = np.array([[1, 1, 1], [3, 3, 3]], np.int8)
    np.testing.assert_allclose(dequantize(q, qp), [[1, 0, -4], [3, 4, 4]])


def test_unquantized_is_cast_only():
    qp = QuantParams()
    assert not qp.quantized
    np.testing.assert_array_equal(dequantize(np.array([1.5]), qp), [1.5])


def test_from_details_reads_interpreter_dict():
    d = {
        "quantization": (0.25, 3),
        "quantization_parameters": {
            "scales": np.array([0.25]),
            "zero_points": np.array([3]),
            "quantized_dimension": 0,
        },
    }
    qp = QuantParams.from_details(d)
    assert qp.scale == pytest.approx(0.25) and qp.zero_point == 3 and not qp.per_channel
    assert qp.as_dict() == {"scale": 0.25, "zero_point": 3}


def test_top_k_on_raw_quantized_scores_matches_float_order():
    from edge_sdk.tasks.runner import top_k

    raw = np.array([3, 250, 7, 250, 0, 128], np.uint8)
    qp = QuantParams((1 / 256,), (0,))
    idx = top_k(raw, 3)
    assert idx.tolist() == [1, 3, 5]  # ties (250, 250) in index order; no uint8 wrap-around
    assert idx.tolist() == top_k(dequantize(raw, qp), 3).tolist()
    assert top_k(raw, 10).tolist() == [1, 3, 5, 2, 0, 4]
    assert top_k(np.array([-1.0, 2.0], np.float32), 1).tolist() == [1]
