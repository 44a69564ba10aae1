"""Which Beam runner a run gets, and what a portable runner needs to work offline and for long.

* The default is Beam's in-process ``FnApiRunner`` (batch; the least memory).
* ``--runner PrismRunner``: Beam's portable runner, the one that streams here. Beam would
  download its binary from GitHub at run time, which fails offline, so newsbeam passes the
  binary ``make install`` built with ``go install`` (pinned to the installed Beam version).
* Every portable runner (Prism, Flink, Spark job servers) opens the job's state and message
  streams with ``--job_server_timeout`` as their gRPC deadline: at Beam's default of 300 s a
  longer job dies with ``DEADLINE_EXCEEDED``. newsbeam sets it to a day unless it is given.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Sequence

from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, PrismRunnerOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.version import __version__ as BEAM_VERSION

from newsbeam.transforms.errors import ConfigError

DEFAULT_RUNNER = "FnApiRunner"
"""Beam's in-process batch runner. ``DirectRunner`` in Beam 2.78 first tries to download the
Prism binary from the internet; we never want that on a scheduled job."""

PORTABLE_TIMEOUT = 24 * 3600
"""``--job_server_timeout`` for portable runners when not given: Beam's 300 s kills longer jobs."""

PRISM_ENV = "NEWSBEAM_PRISM"
PRISM_MODULE = "github.com/apache/beam/sdks/v2/go/cmd/prism"
PORTABLE_RUNNERS = {"PrismRunner", "PortableRunner", "FlinkRunner", "SparkRunner"}


def runner_name(options: PipelineOptions) -> str:
    runner = options.view_as(StandardOptions).runner
    return runner if isinstance(runner, str) else type(runner).__name__


def prism_binary() -> str | None:
    """The Prism binary: ``$NEWSBEAM_PRISM``, else next to this Python (the venv's bin), else on PATH."""
    candidates = [os.environ.get(PRISM_ENV), os.path.join(os.path.dirname(sys.executable), "prism")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("prism")


def install_hint() -> str:
    return (
        f"the Prism runner binary was not found (looked at ${PRISM_ENV}, {os.path.dirname(sys.executable)}/prism "
        f"and PATH). Build it with Go 1.21+: `make prism`, or `GOBIN={os.path.dirname(sys.executable)} "
        f"go install {PRISM_MODULE}@v{BEAM_VERSION}`"
    )


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from the pass-through arguments: the in-process runner by default; for a portable
    runner, the local Prism binary and a job-server timeout that outlives long jobs."""
    arguments = list(beam_args)
    options = PipelineOptions(arguments)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    name = runner_name(options)
    if name in PORTABLE_RUNNERS and not any(
        a.startswith(("--job_server_timeout", "--job-server-timeout")) for a in arguments
    ):
        options.view_as(PortableOptions).job_server_timeout = PORTABLE_TIMEOUT
    if name == "PrismRunner" and not options.view_as(PrismRunnerOptions).prism_location:
        binary = prism_binary()
        if binary is None:
            raise ConfigError(install_hint())
        options.view_as(PrismRunnerOptions).prism_location = binary
    return options


@contextlib.contextmanager
def without_state_cache() -> Iterator[None]:
    """Beam's in-process runner with its SDK state cache off, for a graph that holds keyed state.

    ``FnApiRunner``'s embedded worker always caches user state (100 MB, a module constant, no option)
    and weighs each value it caches with ``objsize``, which walks the globals of every loaded module
    on every call. With newsbeam's imports that made the keyed dedup 17x slower (100 articles: 24.2
    CPU s against 1.4 with the cache off, 2026-12-07). Prism and the other portable runners start
    their workers with the cache off (``--max_cache_memory_usage_mb`` defaults to 0).
    """
    before = worker_handlers.STATE_CACHE_SIZE_MB
    worker_handlers.STATE_CACHE_SIZE_MB = 0
    try:
        yield
    finally:
        worker_handlers.STATE_CACHE_SIZE_MB = before
