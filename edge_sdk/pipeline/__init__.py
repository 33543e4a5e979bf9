"""The pipeline: a source, a task and sinks on three threads (``engine``), the task adapters
(``tasks``) and the run configuration file (``config``)."""

from .engine import Pipeline, PipelineOptions, PipelineStats

__all__ = ["Pipeline", "PipelineOptions", "PipelineStats"]
