"""Workstation-side conversion: trained float model -> calibrated full-integer int8 TFLite.

This is the only package that imports TensorFlow. The device runtime (``edge_sdk``) never
imports it.
"""
