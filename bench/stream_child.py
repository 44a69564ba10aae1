"""The streaming bench's child process: a stream, or a loop of batch runs, until SIGTERM.

    python bench/stream_child.py stream CONFIG.json
    python bench/stream_child.py batch CONFIG.json

A child of its own so that what it costs (CPU and memory, with the Prism runner it starts) is
measured apart from the loopback site and the lake watcher, which run in the bench's process.
``stream`` runs ``newsbeam.pipeline.stream.stream`` (SIGTERM stops it cleanly: last window
committed); ``batch`` runs ``newsbeam.pipeline.run.run`` over the feed list, a new run every
``every`` seconds (at once if the last one took longer), finishing the run in progress on SIGTERM.
Both print one JSON line at the end. With ``"profile": PATH`` in the config every Python thread
is profiled (cProfile on thread CPU time, one profiler per thread, merged at exit) and the top functions written to PATH.
"""

from __future__ import annotations

import cProfile
import io
import json
import logging
import pstats
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def http_config(values: dict[str, Any]) -> Any:
    from newsbeam.transforms.fetch.http import HttpConfig

    return HttpConfig(**values)


def run_stream(config: dict[str, Any]) -> dict[str, Any]:
    from newsbeam.pipeline.stream import new_stream_id, stream
    from newsbeam.pipeline.stream_graph import StreamConfig
    from newsbeam.transforms.stream.poll import PollConfig

    stream_config = StreamConfig(
        output=config["output"],
        feed_list=config["feed_list"],
        stream_id=new_stream_id(),
        http=http_config(config["http"]),
        poll=PollConfig(min_interval=config["min_interval"], max_interval=config["max_interval"], tick=config["tick"]),
        commit_interval=config["commit_interval"],
        status_interval=config["status_interval"],
    )

    def report(line: str) -> None:
        print(f"{time.time():.3f} {line}", flush=True)

    rc = stream(stream_config, [], report=report)  # SIGTERM sets the driver's stop event
    return {"returncode": rc, "stream_id": stream_config.stream_id}


def run_batches(config: dict[str, Any]) -> dict[str, Any]:
    from newsbeam.pipeline.config import RunConfig
    from newsbeam.pipeline.feedlist import load_feed_list
    from newsbeam.pipeline.run import run

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    feeds = tuple(load_feed_list(Path(config["feed_list"])))
    http = http_config(config["http"])
    runs: list[dict[str, Any]] = []
    while not stop.is_set():
        started = time.time()
        result = run(RunConfig(output=config["output"], feeds=feeds, http=http))
        runs.append(
            {
                "started": round(started, 3),
                "seconds": round(result.seconds, 3),
                "entries": result.counters.get("entries", 0),
                "articles": result.counters.get("rows_articles", 0),
            }
        )
        print(f"{time.time():.3f} run {result.run_id}: {result.seconds:.2f} s, {result.counters}", flush=True)
        stop.wait(max(0.0, started + config["every"] - time.time()))
    return {"returncode": 0, "runs": runs}


class ThreadProfiles:
    """cProfile for every thread started after ``install`` (Beam's SDK worker threads included)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start(self, *args: Any) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU time of the thread, not wall time
        with self._lock:
            self.profiles.append(profile)
        profile.enable()  # replaces this hook in this thread

    def install(self) -> None:
        threading.setprofile(self._start)
        self._start()

    def write(self, path: str, top: int = 60) -> None:
        for profile in self.profiles:
            profile.disable()
        usable = [p for p in self.profiles if p.getstats()]
        if not usable:
            return
        stats = pstats.Stats(usable[0])
        for profile in usable[1:]:
            stats.add(profile)
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        Path(path).write_text(out.getvalue())


def main() -> int:
    mode, config_path = sys.argv[1], sys.argv[2]
    config = json.loads(Path(config_path).read_text())
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    profiles = ThreadProfiles() if config.get("profile") else None
    if profiles is not None:
        profiles.install()
    started = time.time()
    if mode == "stream":
        result = run_stream(config)
    elif mode == "batch":
        result = run_batches(config)
    else:
        raise SystemExit(f"unknown mode {mode}")
    if profiles is not None:
        profiles.write(config["profile"])
    print(json.dumps({**result, "seconds": round(time.time() - started, 3)}), flush=True)
    return int(result["returncode"])


if __name__ == "__main__":
    raise SystemExit(main())
