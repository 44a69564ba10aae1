"""``newsbeam stream``: one long-running Beam pipeline on a streaming runner (Prism by default).

The driver takes the lake's lock for the stream's life, finishes or undoes what a killed
predecessor left (``recover``), starts the pipeline and then only watches it: every
``status_interval`` it prints the stream's counters (Beam metrics, so Flink and Dataflow show
them too) and refreshes the lock. SIGTERM or SIGINT stops it cleanly: it writes the stop marker,
the source stops polling, the committer commits what it holds and marks the stream drained,
and the driver cancels the job and exits 0. Prism has no checkpoints: a stream that dies any
other way (SIGKILL, a lost machine) restarts from the lake, which holds every committed window
and nothing else.

With ``--websub-callback`` the driver also serves the WebSub callback (``pipeline/websub.py``) for
the stream's life, and its counts join the status line; pushes reach the pipeline as markers in
the stream's storage area, which the source reads every tick.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import datetime, timezone
from types import FrameType
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.runner import PipelineResult, PipelineState

from newsbeam.pipeline.run import check_output
from newsbeam.pipeline.runners import pipeline_options, runner_name
from newsbeam.pipeline.stream_graph import StreamConfig, build_stream
from newsbeam.pipeline.websub import CallbackServer
from newsbeam.transforms.base import METRICS_NAMESPACE
from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.lake.lock import RunLock
from newsbeam.transforms.lake.migrate import refuse_legacy
from newsbeam.transforms.lake.publish import recover
from newsbeam.transforms.stream.commit import drained_path, mark, marked_at, stop_path
from newsbeam.transforms.stream.heap import cap_mmap_threshold

logger = logging.getLogger("newsbeam")

STREAM_RUNNER = "PrismRunner"
BATCH_ONLY_RUNNERS = {"FnApiRunner", "BundleBasedDirectRunner"}
DRAIN_GRACE = 20.0
"""Seconds beyond one commit interval that a stop waits for the last window."""
STATUS_COUNTERS = (
    ("feeds_polled", "feeds polled"),
    ("feeds_not_modified", "304"),
    ("feeds_failed", "failed"),
    ("entries_new", "new entries"),
    ("articles_committed", "articles committed"),
    ("windows_committed", "windows"),
    ("dead_letters", "dead letters"),
)
WEBSUB_COUNTERS = (
    ("websub_subscribed", "subscribed"),
    ("websub_renewed", "renewed"),
    ("websub_pushes", "pushes"),
    ("websub_pushes_refused", "refused"),
)
"""Shown only when the stream serves a WebSub callback (pushes are the driver's own counts)."""


def new_stream_id(now: datetime | None = None) -> str:
    """Sortable with batch run ids (UTC start first), unique per start of a stream."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment:%Y%m%dT%H%M%SZ}-stream-{secrets.token_hex(3)}"


def stream_options(beam_args: Sequence[str]) -> Any:
    """Beam options for a stream: Prism unless another runner is named, always ``--streaming``."""
    arguments = list(beam_args)
    if not any(a.startswith("--runner") for a in arguments):
        arguments.append(f"--runner={STREAM_RUNNER}")
    options = pipeline_options(arguments)
    name = runner_name(options)
    if name in BATCH_ONLY_RUNNERS:
        raise ConfigError(f"{name} runs batch pipelines only; stream on PrismRunner (the default), Flink or Dataflow")
    options.view_as(StandardOptions).streaming = True
    return options


def live_counters(result: PipelineResult) -> dict[str, int]:
    """The job's newsbeam counters and gauges now. PortableRunner's result caches its first
    metrics answer; a running stream needs a fresh one each time, so the cache is dropped."""
    if hasattr(result, "_metrics"):
        result._metrics = None
    try:
        query = result.metrics().query()
    except Exception:  # noqa: BLE001 - a status line is not worth failing a stream for
        return {}
    values: dict[str, int] = {}
    for item in query.get("counters", []):
        if item.key.metric.namespace == METRICS_NAMESPACE:
            name = item.key.metric.name
            values[name] = values.get(name, 0) + int(item.committed or item.attempted or 0)
    for item in query.get("gauges", []):
        if item.key.metric.namespace == METRICS_NAMESPACE and item.committed is not None:
            values[item.key.metric.name] = int(item.committed.value)
    return values


def status_line(stream_id: str, values: dict[str, int], websub: bool = False) -> str:
    parts = [f"{label} {values.get(name, 0):,}" for name, label in STATUS_COUNTERS]
    lag = values.get("uncommitted_lag_ms", 0) / 1000
    line = f"stream {stream_id}: " + ", ".join(parts) + f", oldest wait in the last window {lag:.1f} s"
    if websub:
        line += "; WebSub " + ", ".join(f"{label} {values.get(name, 0):,}" for name, label in WEBSUB_COUNTERS)
    return line


class StopSignal:
    """SIGTERM and SIGINT set an event instead of killing the driver (restored on exit)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def stream(
    config: StreamConfig,
    beam_args: Sequence[str] = (),
    stop: threading.Event | None = None,
    report: Callable[[str], None] = print,
) -> int:
    """Run the stream until ``stop`` is set (SIGTERM/SIGINT set it); 0 after a clean stop."""
    check_output(config.output)
    refuse_legacy(config.output)
    if not os.path.isfile(config.feed_list):
        raise ConfigError(f"feed list {config.feed_list} not found")
    options = stream_options(beam_args)
    cap_mmap_threshold()  # before the pipeline: its workers run in this process on Prism (stream.heap)
    with ExitStack() as context:
        lock = context.enter_context(RunLock(config.output, config.stream_id, config.lock_stale_after))
        signals = context.enter_context(StopSignal())
        for note in [*lock.notes, *recover(config.output)]:
            logger.warning("%s", note)
        stop = stop or signals.event
        if stop is not signals.event:
            signals.event = stop
        callback = None
        if config.websub is not None and config.websub_listen is not None:
            # Before the pipeline: the stream's key must exist when the first poll subscribes.
            callback = context.enter_context(
                CallbackServer(config.websub_listen, config.output, config.stream_id, config.http.max_bytes)
            )
            host, port = callback.address
            report(f"WebSub callback on {host}:{port}, hubs call {config.websub.public_url}")
        pipeline = beam.Pipeline(options=options)
        build_stream(pipeline, config)
        result = pipeline.run()
        report(f"stream {config.stream_id} started on {runner_name(options)}, writing {config.output}")
        try:
            return _watch(config, result, stop, lock, report, callback)
        finally:
            if not PipelineState.is_terminal(result.state):
                result.cancel()


def _watch(
    config: StreamConfig,
    result: PipelineResult,
    stop: threading.Event,
    lock: RunLock,
    report: Callable[[str], None],
    callback: CallbackServer | None = None,
) -> int:
    def status() -> str:
        values = live_counters(result)
        if callback is not None:
            values.update(callback.snapshot())
        return status_line(config.stream_id, values, websub=callback is not None)

    while not stop.wait(config.status_interval):
        if PipelineState.is_terminal(result.state):
            report(f"stream {config.stream_id} ended: the job is {result.state}")
            return 1
        report(status())
        lock.touch()
    report(f"stream {config.stream_id}: stopping; polling stopped, committing what is held")
    mark(stop_path(config.output, config.stream_id))
    deadline = time.monotonic() + config.commit_interval * 2 + DRAIN_GRACE
    drained = drained_path(config.output, config.stream_id)
    while marked_at(drained) is None and time.monotonic() < deadline:
        if PipelineState.is_terminal(result.state):
            break
        time.sleep(0.2)
    clean = marked_at(drained) is not None
    report(status())
    result.cancel()
    report(
        f"stream {config.stream_id} stopped"
        + ("" if clean else " before its last window was confirmed (the next start re-polls what was held)")
    )
    return 0
