"""The constructed YOLOv8 of :mod:`detect_yolo_builder` as an ONNX file in Ultralytics' export layout.

Input ``images`` ``[1, 3, 64, 64]`` (NCHW, RGB in [0, 1]); output ``output0`` ``[1, 4+nc, N]``.
As in Ultralytics' ``Detect`` head, the box branch ends in ``dbox [1, 4, N] * strides [1, N]``
(the ``/model.22/Mul_2`` node whose layout onnx2tf gets wrong without help), then
``Concat(dbox, sigmoid-like class scores)`` on axis 1. Boxes are in input pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import detect_yolo_builder as yb


def build_onnx(path: Path, opset: int = 17) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    kernel, boxes = yb.head_weights()  # kernel rows in (gy, gx, c) order
    n = boxes.shape[0]
    nc = yb.NC
    g = yb.GRID
    # ONNX flattens the pooled NCHW map in (c, gy, gx) order
    k_chw = kernel.reshape(g, g, nc, n * nc).transpose(2, 0, 1, 3).reshape(g * g * nc, n * nc)
    # class scores come out (n, nc) interleaved: reorder columns to (nc, n) so that a reshape
    # to [1, nc, n] needs no transpose
    k_cls = k_chw.reshape(-1, n, nc).transpose(0, 2, 1).reshape(-1, nc * n)
    strides = np.full((1, n), float(yb.CELL), np.float32)
    # DFL as Ultralytics exports it: per box side, R bins -> Softmax -> 1x1 Conv (0..R-1), giving
    # the distances left/top/right/bottom (in cells) from the anchor (the box centre here)
    r = 16
    centre = (boxes[:, :2] / yb.CELL).T.reshape(1, 2, n).astype(np.float32)
    half = (boxes[:, 2:] / yb.CELL / 2).T  # (2, n): w/2, h/2 in cells (whole numbers)
    ltrb = np.concatenate([half, half], axis=0)  # (4, n)
    logits = np.full((4, r, n), -30.0, np.float32)
    for side in range(4):
        logits[side, ltrb[side].astype(int), np.arange(n)] = 10.0
    mix = (np.full((3, 3), -1.0, np.float32) + 2 * np.eye(3, dtype=np.float32)).reshape(3, 3, 1, 1)
    inits = [
        numpy_helper.from_array(mix, "mix"),
        numpy_helper.from_array(k_cls.astype(np.float32), "k_cls"),
        numpy_helper.from_array(np.zeros((1, 4 * r * n), np.float32), "k_box"),
        numpy_helper.from_array(logits.reshape(1, -1), "b_box"),
        numpy_helper.from_array(np.arange(r, dtype=np.float32).reshape(1, r, 1, 1), "dfl_w"),
        numpy_helper.from_array(centre, "anchors"),
        numpy_helper.from_array(strides, "strides"),
        numpy_helper.from_array(np.array([1, nc, n], np.int64), "cls_shape"),
        numpy_helper.from_array(np.array([1, 4, r, n], np.int64), "bins_shape"),
        numpy_helper.from_array(np.array([1, 4, n], np.int64), "box_shape"),
        numpy_helper.from_array(np.array([2, 2], np.int64), "split2"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "mix"], ["/model.0/conv"]),
        helper.make_node("Relu", ["/model.0/conv"], ["/model.0/act"]),
        helper.make_node("AveragePool", ["/model.0/act"], ["/model.1/pool"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Flatten", ["/model.1/pool"], ["/model.2/flat"]),
        helper.make_node("MatMul", ["/model.2/flat", "k_cls"], ["/model.22/cls_mm"]),
        helper.make_node("Clip", ["/model.22/cls_mm", "zero", "one"], ["/model.22/cls_clip"]),
        helper.make_node("Reshape", ["/model.22/cls_clip", "cls_shape"], ["/model.22/Sigmoid_output_0"]),
        helper.make_node("ReduceMean", ["/model.2/flat"], ["/model.22/box_in"], axes=[1], keepdims=1),
        helper.make_node("MatMul", ["/model.22/box_in", "k_box"], ["/model.22/box_mm"]),
        helper.make_node("Add", ["/model.22/box_mm", "b_box"], ["/model.22/box_add"]),
        helper.make_node("Reshape", ["/model.22/box_add", "bins_shape"], ["/model.22/dfl/Reshape_output_0"]),
        helper.make_node("Transpose", ["/model.22/dfl/Reshape_output_0"], ["/model.22/dfl/Transpose_output_0"], perm=[0, 2, 1, 3]),
        helper.make_node("Softmax", ["/model.22/dfl/Transpose_output_0"], ["/model.22/dfl/Softmax_output_0"], axis=1),
        helper.make_node("Conv", ["/model.22/dfl/Softmax_output_0", "dfl_w"], ["/model.22/dfl/conv/Conv_output_0"]),
        helper.make_node("Reshape", ["/model.22/dfl/conv/Conv_output_0", "box_shape"], ["/model.22/dfl/Reshape_1_output_0"]),
        helper.make_node("Split", ["/model.22/dfl/Reshape_1_output_0", "split2"], ["/model.22/lt", "/model.22/rb"], axis=1),
        helper.make_node("Sub", ["anchors", "/model.22/lt"], ["/model.22/x1y1"]),
        helper.make_node("Add", ["anchors", "/model.22/rb"], ["/model.22/x2y2"]),
        helper.make_node("Add", ["/model.22/x1y1", "/model.22/x2y2"], ["/model.22/Add_2"]),
        helper.make_node("Div", ["/model.22/Add_2", "two"], ["/model.22/Div_1"]),
        helper.make_node("Sub", ["/model.22/x2y2", "/model.22/x1y1"], ["/model.22/Sub_1"]),
        helper.make_node("Concat", ["/model.22/Div_1", "/model.22/Sub_1"], ["/model.22/Concat_4_output_0"], axis=1),
        helper.make_node("Mul", ["/model.22/Concat_4_output_0", "strides"], ["/model.22/Mul_2_output_0"], name="/model.22/Mul_2"),
        helper.make_node("Concat", ["/model.22/Mul_2_output_0", "/model.22/Sigmoid_output_0"], ["output0"], axis=1),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, yb.SIZE, yb.SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc, n])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
