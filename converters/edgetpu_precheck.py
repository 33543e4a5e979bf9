"""Offline Edge TPU compatibility pre-check, as the converter's report uses it.

The logic lives in the runtime (:mod:`edge_sdk.edgetpu_precheck`) so that ``edge-sdk info
MODEL --edgetpu`` runs it on the device, where ``converters`` (and TensorFlow) are never
imported. This module re-exports it for the converter pipeline and its users.
"""

from __future__ import annotations

from edge_sdk.edgetpu_precheck import (
    COMPILER_VERSION,
    OP_TABLE,
    SUPPORTED_OPS,
    Fallback,
    OpPrediction,
    OpStatus,
    OpSupport,
    Placement,
    Precheck,
    check,
    check_op,
    compiled_cpu_before,
    compiled_cpu_ops,
    precheck,
    predict,
    single_subgraph_violation,
)

__all__ = [
    "COMPILER_VERSION",
    "OP_TABLE",
    "SUPPORTED_OPS",
    "Fallback",
    "OpPrediction",
    "OpStatus",
    "OpSupport",
    "Placement",
    "Precheck",
    "check",
    "check_op",
    "compiled_cpu_before",
    "compiled_cpu_ops",
    "precheck",
    "predict",
    "single_subgraph_violation",
]
