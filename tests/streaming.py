"""Helpers for tests that run ``newsbeam stream`` for real: a child process on Prism, a lake to watch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from newsbeam.pipeline import lake_sql
from newsbeam.transforms.lake.crash import CRASH_ENV

FAST = [
    "--min-interval", "1", "--max-interval", "3", "--commit-interval", "2", "--tick", "0.5",
    "--status-interval", "2", "--allow-private-networks", "--no-robots", "--min-delay", "0",
]  # fmt: skip


def start_stream(
    feeds: Path, output: Path, log: Path, extra: Sequence[str] = (), crash_at: str | None = None
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
