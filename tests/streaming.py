"""Helpers for tests that run ``newsbeam stream`` for real: a child process on Prism, a lake to watch."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from newsbeam.pipeline import lake_sql
from newsbeam.transforms.lake.crash import CRASH_ENV

FAST = [
    "--min-interval", "1", "--max-interval", "3", "--commit-interval", "2", "--tick", "0.5",
    "--status-interval", "2", "--allow-private-networks", "--no-robots", "--min-delay", "0",
]  # fmt: skip


def start_stream(
    feeds: Path, output: Path | str, log: Path, extra: Sequence[str] = (), crash_at: str | None = None
) -> subprocess.Popen[bytes]:
    """``newsbeam stream`` in its own process group (so a kill takes Prism with it), output to ``log``.

    ``crash_at`` names a crash point (``transforms.lake.crash``) where the stream SIGKILLs itself.
    """
    command = [sys.executable, "-m", "newsbeam", "stream", "--feeds", str(feeds), "--output", str(output), *FAST]
    env = {key: value for key, value in os.environ.items() if key != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    with open(log, "ab") as sink:
        return subprocess.Popen(
            [*command, *extra], stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the stream and everything it started (Prism, its workers): no chance to clean up."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the whole group is already gone
        pass
    process.wait(timeout=30)


def urls_in_lake(output: Path) -> list[str]:
    """Every article URL the lake's committed tables hold (duplicates kept: the test counts them)."""
    if not (output / "articles" / "_delta_log").is_dir():
        return []
    con = lake_sql.connect(str(output))
    return [str(row[0]) for row in con.execute("SELECT url FROM articles").fetchall()]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


class WorkerPool:
    """Beam's Python SDK worker pool (``worker_pool_main``) on a free loopback port, for
    ``--environment_type=EXTERNAL``: the workers a Flink or Dataflow deployment would run beside the job.

    Started in its own process group with this venv's ``python`` first on PATH (the pool starts
    workers with ``python``); ``kill()`` takes the pool and its workers down like a lost machine.
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def args(self) -> list[str]:
        return ["--environment_type=EXTERNAL", f"--environment_config=localhost:{self.port}"]

    def start(self) -> WorkerPool:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        env.pop(CRASH_ENV, None)
        command = [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={self.port}"]
        with open(self.log, "ab") as sink:
            self.process = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.2)
        raise AssertionError(f"worker pool did not listen on {self.port}: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process)
            self.process = None

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


CRASHES = ("mid_publish", "after_journal", None, None)
"""Twice inside a window's publish (after its first table's commit; after its journal), twice anywhere."""


def kill_and_restart(
    tmp_path: Path,
    site: Any,
    runner_args: Callable[[], list[str]],
    on_kill: Callable[[], None] = lambda: None,
    crashes: Sequence[str | None] = CRASHES,
) -> tuple[Counter[str], set[str], str]:
    """The kill scenario: a site that keeps publishing, a stream killed once per ``crashes`` item (at that
    crash point, or at a random moment for None), then a last start that catches up and stops on SIGTERM.

    ``runner_args`` gives the Beam arguments of each start; ``on_kill`` runs after each kill (e.g. to
    restart a worker pool). Returns the lake's URL counts, the published URLs and the stream's log.
    """
    output, feeds, log = tmp_path / "lake", tmp_path / "feeds.txt", tmp_path / "stream.log"
    rng = random.Random(11)
    feeds.write_text("\n".join(site.feed_urls()) + "\n")
    site.run_poisson(rate=1.5, seed=3)
    for crash_at in crashes:
        process = start_stream(feeds, output, log, runner_args(), crash_at=crash_at)
        try:
            if crash_at:
                process.wait(timeout=90)
            else:
                wait_for(lambda: "started on" in log.read_text(errors="replace"), 60, "the stream to start", log)
                time.sleep(rng.uniform(3, 12))
        finally:
            kill_group(process)
            on_kill()
        assert process.returncode == -signal.SIGKILL, f"{crash_at or 'random'}: {process.returncode}"
    site.stop_publishing()
    published = {e.url for e in site.published()}
    process = start_stream(feeds, output, log, runner_args())
    try:
        wait_for(lambda: set(urls_in_lake(output)) >= published, 120, "every published entry", log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            kill_group(process)
    return Counter(urls_in_lake(output)), published, log.read_text(errors="replace")
