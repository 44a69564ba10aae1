"""Run the pipeline once: build, execute on the chosen Beam runner, publish, summarise."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline import graph
from pipeline.config import RunConfig, new_run_id
from pipeline.summary import counters, format_summary
from transforms.errors import ConfigError
from transforms.lake.compact import compact
from transforms.lake.crash import crash_point
from transforms.lake.lock import RunLock
from transforms.lake.publish import PublishedRun, publish_run, recover
from transforms.lake.state import load_state

logger = logging.getLogger("newsbeam")

DEFAULT_RUNNER = "FnApiRunner"
"""Beam's in-process batch runner. ``DirectRunner`` in Beam 2.77 first tries to download
the Prism binary from the internet; we never want that on a scheduled job."""


@dataclass(frozen=True)
class RunResult:
    run_id: str
    counters: dict[str, int]
    published: PublishedRun
    seconds: float

    @property
    def dead_letters(self) -> int:
        return self.counters.get("dead_letters", 0)

    def summary(self) -> str:
        return format_summary(self.run_id, self.counters, len(self.published.files), self.seconds)


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from the pass-through arguments, defaulting to the in-process runner."""
    options = PipelineOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    return options


def check_output(output: str) -> None:
    """Fail before any work if a local output folder cannot be created or written."""
    if "://" in output:
        return
    try:
        os.makedirs(output, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create output folder {output}: {error.strerror}") from None
    if not os.access(output, os.W_OK):
        raise ConfigError(f"output folder {output} is not writable")


def run(config: RunConfig, beam_args: Sequence[str] = ()) -> RunResult:
    """Execute one run end to end; the lake changes only if the whole pipeline succeeded.

    Under the lake's lock: finish or undo any run that crashed, read the committed state,
    run the pipeline into staging, then publish data and state together.
    """
    if not config.feeds and not config.input_pattern:
        raise ConfigError("nothing to read: give --feeds FILE or --input FILE.jsonl")
    check_output(config.output)
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    with RunLock(config.output, config.run_id, config.lock_stale_after) as lock:
        notes = [*lock.notes, *recover(config.output)]
        for note in notes:
            logger.warning("%s", note)
        state = load_state(config.output)
        pipeline = beam.Pipeline(options=pipeline_options(beam_args))
        graph.build(pipeline, config, state)
        result = pipeline.run()
        result.wait_until_finish()
        totals = counters(result)
        crash_point("before_publish")
        manifest = {
            "started_at": started.isoformat(),
            "finished_at": datetime.now(timezone.utc).isoformat(),
            "inputs": config.describe_inputs(),
            "counters": totals,
            "recovered": notes,
        }
        published = publish_run(config.output, config.run_id, manifest)
    return RunResult(config.run_id, totals, published, time.monotonic() - clock)


def run_compaction(output: str, before: date | None = None) -> int:
    """``newsbeam compact``: under the lock, merge closed partitions; prints what it did."""
    check_output(output)
    run_id = new_run_id()
    day = before or datetime.now(timezone.utc).date()
    with RunLock(output, run_id):
        for note in recover(output):
            logger.warning("%s", note)
        published = compact(output, run_id, day)
    if published is None:
        print(f"nothing to compact before {day}")
    else:
        print(f"compaction {run_id}: wrote {len(published.files)} files; manifest {published.manifest_path}")
    return 0
