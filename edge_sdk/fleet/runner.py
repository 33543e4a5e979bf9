"""``edge-sdk run --bundle``: run the current release of a prefix, guarded against crash loops.

At start the run is recorded in ``PREFIX/state.json``; when the previous runs never ended
cleanly (``N`` of them within ``SECONDS``, ``--crash-loop N,SECONDS``), ``current`` is first
switched back to the previous release. systemd's ``Restart=on-failure`` supplies the restarts.
A clean end (the source ended, or SIGINT/SIGTERM) clears the record.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import OptionsError
from .install import CrashLoopPolicy, Prefix, record_clean_exit, record_start
from .selftest import release_config_dict
from .update import LiveUpdater, TaggedTask, UpdateOptions, release_model_sha256


def parse_crash_loop(text: str) -> CrashLoopPolicy:
    """``"N,SECONDS"`` as a :class:`CrashLoopPolicy`.

    Raises:
        OptionsError: not two numbers.
    """
    try:
        n, s = text.split(",")
        return CrashLoopPolicy(int(n), float(s))
    except ValueError:
        raise OptionsError(f"--crash-loop must be N,SECONDS (e.g. 3,300), got {text!r}") from None


@dataclass
class FleetRun:
    """The release a run uses and what it needs to report and update."""

    prefix: Prefix
    config: dict[str, Any]
    args: argparse.Namespace
    rolled_back_to: str | None

    @classmethod
    def start(cls, args: argparse.Namespace) -> FleetRun:
        prefix = Prefix(args.bundle or None)
        rolled = record_start(prefix, parse_crash_loop(args.crash_loop))
        if rolled is not None:
            print(f"edge-sdk: crash loop detected: rolled back to release {rolled}", file=sys.stderr)
        return cls(prefix, release_config_dict(prefix.current_path()), args, rolled)

    def attach(self, pipeline: Any) -> LiveUpdater | None:
        """Tag the pipeline's records with the model sha256; build the updater if asked."""
        release = self.prefix.current_path().resolve()
        pipeline.task = TaggedTask(pipeline.task, release_model_sha256(release), release.name)
        a = self.args
        if not (a.update_dir or a.update_mqtt):
            return None
        kw: dict[str, Any] = {}
        if a.host_id:
            kw["host"] = a.host_id
        opts = UpdateOptions(
            watch_dir=a.update_dir, mqtt=a.update_mqtt, prefix=self.prefix.root, public_key=a.public_key, **kw
        )
        return LiveUpdater(pipeline, release, opts)

    def clean_exit(self) -> None:
        record_clean_exit(self.prefix)
