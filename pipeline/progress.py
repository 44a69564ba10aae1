"""The live progress of a run: a tqdm line on a terminal, a log line every N seconds elsewhere.

The bar counts inputs whose text is ready (extracted from the page, taken from the feed or given
in the input) against the inputs known so far: the records of ``--input`` (counted in the
background, so a large input starts at once), or the entries the feeds have listed so far. A
``--warc`` run has no total. The postfix carries what comes after cleaning and what failed:
articles tagged, duplicates and dead letters. Counts come from ``transforms/progress.py``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import IO

from apache_beam.io.filesystems import FileSystems
from tqdm import tqdm

from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.parts import input_files
from newsbeam.transforms import progress

READY = ("extracted", "text_from_feed", "text_from_input")


def count_records(pattern: str) -> int:
    """Non-blank lines of the ``--input`` files (one JSON record each), read as the run reads them."""
    total = 0
    for path in input_files(pattern):
        with FileSystems.open(path) as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def snapshot_line(counts: Mapping[str, int], total: int | None, elapsed: float) -> str:
    """One plain progress line from counter totals (pure): what the log gets every N seconds."""
    ready = sum(counts.get(name, 0) for name in READY)
    rate = ready / elapsed if elapsed > 0 else 0.0
    known = f"{ready:,}/{total:,}" if total else f"{ready:,}"
    eta = ""
    if total and rate > 0 and ready < total:
        eta = f", ETA {int((total - ready) / rate)} s"
    return (
        f"progress: {known} inputs cleaned, {rate:.1f}/s{eta}; "
        f"{counts.get('articles_tagged', 0):,} tagged, {counts.get('duplicates', 0):,} duplicates, "
        f"{counts.get('dead_letters', 0):,} dead letters, {elapsed:.0f} s"
    )


class Progress:
    """Shows a run's progress while the ``with`` block runs it."""

    def __init__(
        self,
        config: RunConfig,
        interval: float = 30.0,
        stream: IO[str] | None = None,
        terminal: bool | None = None,
    ) -> None:
        self.config = config
        self.interval = interval
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.board = progress.Board()
        self.records: int | None = None
        self.stopped = threading.Event()
        self.threads: list[threading.Thread] = []

    def total(self, counts: Mapping[str, int]) -> int | None:
        if self.config.input_pattern:
            return self.records
        if self.config.feeds:
            return counts.get("entries", 0) - counts.get("entries_already_seen", 0) or None
        return None

    def __enter__(self) -> Progress:
        progress.attach(self.board)
        if self.config.input_pattern:
            self._start(self._count)
        self._start(self._bar if self.terminal else self._log)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=10)
        progress.detach(self.board)

    def _start(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name="newsbeam-progress", daemon=True)
        thread.start()
        self.threads.append(thread)

    def _count(self) -> None:
        try:
            self.records = count_records(str(self.config.input_pattern))
        except Exception:  # noqa: BLE001 - the run reports an unreadable input; the bar just has no total
            self.records = None

    def _bar(self) -> None:
        bar = tqdm(total=None, unit=" inputs", file=self.stream, dynamic_ncols=True, desc="newsbeam", leave=True)
        try:
            while True:
                stopping = self.stopped.wait(0.5)
                counts = self.board.snapshot()
                total = self.total(counts)
                if total and bar.total != total:
                    bar.total = total
                bar.n = sum(counts.get(name, 0) for name in READY)
                bar.set_postfix(
                    tagged=counts.get("articles_tagged", 0),
                    duplicates=counts.get("duplicates", 0),
                    dead_letters=counts.get("dead_letters", 0),
                    refresh=False,
                )
                bar.refresh()
                if stopping:
                    return
        finally:
            bar.close()

    def _log(self) -> None:
        started = time.monotonic()
        while True:
            stopping = self.stopped.wait(self.interval)
            counts = self.board.snapshot()
            moment = datetime.now(timezone.utc).strftime("%H:%M:%S")
            line = snapshot_line(counts, self.total(counts), time.monotonic() - started)
            print(f"{moment} newsbeam {self.config.run_id} {line}", file=self.stream, flush=True)
            if stopping:
                return
