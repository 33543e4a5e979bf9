"""The pipeline: a source, a task and sinks on three threads (``engine``), its options and
counters (``options``), the task adapters (``tasks``) and the run configuration file
(``config``)."""

from .engine import Pipeline
from .options import PipelineOptions, PipelineStats

__all__ = ["Pipeline", "PipelineOptions", "PipelineStats"]
