"""Run the pipeline once: build, execute on the chosen Beam runner, publish, summarise."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from newsbeam.pipeline import graph
from newsbeam.pipeline.config import RunConfig, new_run_id
from newsbeam.pipeline.parts import plan_parts
from newsbeam.pipeline.runners import DEFAULT_RUNNER, pipeline_options, runner_name, without_state_cache
from newsbeam.pipeline.summary import counters, format_summary
from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.lake.compact import DEFAULT_RETENTION_HOURS, compact
from newsbeam.transforms.lake.crash import crash_point
from newsbeam.transforms.lake.lock import RunLock
from newsbeam.transforms.lake.migrate import migrate, refuse_legacy
from newsbeam.transforms.lake.publish import PublishedRun, abandon_run, begin_run, publish_run, recover
from newsbeam.transforms.lake.state import load_feed_states
from newsbeam.transforms.lake.supersede import revised_ids
from newsbeam.transforms.lake.write import read_listing
from newsbeam.transforms.read.warc import warc_files

logger = logging.getLogger("newsbeam")

DEFAULT_PART_SIZE = 10_000
"""Records per part of a split ``--input`` on the in-process runner: about 1 GB peak per part here."""

__all__ = [
    "DEFAULT_PART_SIZE",
    "DEFAULT_RUNNER",
    "PartResult",
    "RunResult",
    "check_output",
    "part_size",
    "parts_of",
    "pipeline_options",
    "refuse_legacy",
    "run",
    "run_compaction",
    "run_migration",
]

IN_PROCESS_RUNNERS = {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner"}


@dataclass(frozen=True)
class PartResult:
    """How one part of a run went: what to look at when choosing ``--part-size``."""

    run_id: str
    records: int
    """Input records the part read."""
    seconds: float
    cpu_seconds: float
    """CPU time of this process during the part (all its threads)."""
    peak_rss_mib: float | None
    """The process's peak resident memory so far (None where the platform does not say)."""


@dataclass(frozen=True)
class RunResult:
    run_id: str
    counters: dict[str, int]
    published: tuple[PublishedRun, ...]
    """One publication per part (a run not split has one)."""
    seconds: float
    parts: tuple[PartResult, ...] = ()
    """One entry per part, in order."""

    @property
    def dead_letters(self) -> int:
        return self.counters.get("dead_letters", 0)

    @property
    def files(self) -> int:
        return sum(len(part.files) for part in self.published)

    def summary(self) -> str:
        text = format_summary(self.run_id, self.counters, self.files, self.seconds, len(self.published))
        if len(self.parts) > 1:
            text += "\n" + format_parts(self.parts)
        return text


def format_parts(parts: Sequence[PartResult]) -> str:
    """One line on the parts of a split run: their size, time and the memory they reached."""
    seconds = [part.seconds for part in parts]
    peaks = [part.peak_rss_mib for part in parts if part.peak_rss_mib is not None]
    memory = f", peak memory {max(peaks) / 1024:.2f} GiB" if peaks else ""
    return (
        f"  parts: {len(parts)} of up to {max(part.records for part in parts):,} records, "
        f"{min(seconds):.1f}-{max(seconds):.1f} s each{memory}"
    )


def peak_rss_mib() -> float | None:
    """This process's peak resident set size so far, in MiB (Linux and macOS)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


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


def part_size(config: RunConfig, options: PipelineOptions) -> int:
    """Records per part for this run; 0 means run the input whole."""
    if config.part_size is not None:
        return max(0, config.part_size)
    return DEFAULT_PART_SIZE if runner_name(options) in IN_PROCESS_RUNNERS else 0


def parts_of(config: RunConfig, options: PipelineOptions) -> list[RunConfig]:
    """The run as one config, or, for a large ``--input``, one config per part with its own run id.

    A ``--warc`` run is always one part: a WARC has no cheap record count to cut at (gzip members
    must be read to be counted), so split a large backfill by running its files in several runs.
    """
    size = part_size(config, options)
    if not config.input_pattern or config.input_slices or size == 0:
        return [config]
    parts = plan_parts(config.input_pattern, size)
    if len(parts) <= 1:
        return [config]
    return [
        dataclasses.replace(config, run_id=f"{config.run_id}-p{index:04d}", input_slices=tuple(part))
        for index, part in enumerate(parts, start=1)
    ]


def run(config: RunConfig, beam_args: Sequence[str] = ()) -> RunResult:
    """Execute one run end to end; the lake changes only if the whole pipeline succeeded.

    Under the lake's lock: finish or undo any run that crashed, read the committed state,
    run the pipeline (its files stay invisible), then commit data and state together. A large ``--input``
    runs as consecutive parts (``pipeline.parts``), each published like a run of its own, so
    a crash loses only the part in progress and the rerun skips what earlier parts published.
    """
    given = {"--feeds": config.feeds, "--input": config.input_pattern, "--warc": config.warc_pattern}
    sources = [name for name, value in given.items() if value]
    if not sources:
        raise ConfigError("nothing to read: give --feeds FILE, --input FILE.jsonl or --warc 'FILES.warc.gz'")
    if len(sources) > 1:
        raise ConfigError(f"give one of {' and '.join(sources)}, not both")
    if config.warc_pattern:
        warc_files(config.warc_pattern)  # a pattern matching nothing is a mistake, not an empty run
    check_output(config.output)
    refuse_legacy(config.output)
    options = pipeline_options(beam_args)
    clock = time.monotonic()
    with RunLock(config.output, config.run_id, config.lock_stale_after) as lock:
        notes = [*lock.notes, *recover(config.output)]
        for note in notes:
            logger.warning("%s", note)
        published: list[PublishedRun] = []
        results: list[PartResult] = []
        totals: Counter[str] = Counter()
        for part in parts_of(config, options):
            started, cpu = time.monotonic(), time.process_time()
            counted, publication = _run_part(part, options, notes)
            totals.update(counted)
            published.append(publication)
            results.append(
                PartResult(
                    part.run_id,
                    counted.get("records", 0) + counted.get("entries", 0),
                    time.monotonic() - started,
                    time.process_time() - cpu,
                    peak_rss_mib(),
                )
            )
            notes = []
    return RunResult(config.run_id, dict(totals), tuple(published), time.monotonic() - clock, tuple(results))


def _run_part(config: RunConfig, options: PipelineOptions, notes: list[str]) -> tuple[dict[str, int], PublishedRun]:
    """One Beam pipeline over the lake's committed state, written and then committed as ``config.run_id``."""
    started = datetime.now(timezone.utc)
    begin_run(config.output, config.run_id)
    feed_states = load_feed_states(config.output) if config.feeds else {}
    pipeline = beam.Pipeline(options=options)
    graph.build(pipeline, config, feed_states)
    try:
        keyed = without_state_cache() if config.dedup == "keyed" else contextlib.nullcontext()
        with keyed:
            result = pipeline.run()
            result.wait_until_finish()
        written = read_listing(config.output, config.run_id)
        revised = revised_ids(config.output, written)
    except BaseException:
        abandon_run(config.output, config.run_id)  # nothing was committed: its files go, the lake is as before
        raise
    totals = counters(result)
    crash_point("before_publish")
    manifest = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "inputs": config.describe_inputs(),
        "counters": totals,
        "recovered": notes,
    }
    return totals, publish_run(config.output, config.run_id, manifest, written, revised)


def run_migration(output: str) -> int:
    """``newsbeam migrate``: under the lock, the 0.1 lake's live files committed to Delta tables, in place."""
    with RunLock(output, f"migrate-{new_run_id()}"):
        committed = migrate(output)
    total = sum(committed.values())
    print(f"migrated {output}: {total} files committed to {len(committed)} Delta tables, none moved or rewritten")
    for name, count in sorted(committed.items()):
        print(f"  {name}: {count} files")
    return 0


def run_compaction(output: str, before: date | None = None, retention_hours: int = DEFAULT_RETENTION_HOURS) -> int:
    """``newsbeam compact``: Delta ``optimize`` of closed days, then ``vacuum``; prints what it did.

    It takes no lock: it may run while a run writes, and Delta's conflict checks decide.
    """
    check_output(output)
    refuse_legacy(output)
    day = before or datetime.now(timezone.utc).date()
    print(compact(output, day, retention_hours).summary())
    return 0
