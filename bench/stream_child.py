"""The streaming bench's child process: a stream, or a loop of batch runs, until SIGTERM.

    python bench/stream_child.py stream CONFIG.json
    python bench/stream_child.py batch CONFIG.json

A child of its own so that what it costs (CPU and memory, with the Prism runner it starts) is
measured apart from the loopback site and the lake watcher, which run in the bench's process.
``stream`` runs ``newsbeam.pipeline.stream.stream`` (SIGTERM stops it cleanly: last window
committed); ``batch`` runs ``newsbeam.pipeline.run.run`` over the feed list, a new run every
``every`` seconds (at once if the last one took longer), finishing the run in progress on SIGTERM.
Both print one JSON line at the end. With ``"profile": PATH`` in the config a sampler charges each
Python thread's CPU to its stack (``CpuSampler``) and writes the top functions to PATH at exit.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def http_config(values: dict[str, Any]) -> Any:
    from newsbeam.transforms.fetch.http import HttpConfig

    return HttpConfig(**values)


def websub_settings(values: dict[str, Any] | None) -> dict[str, Any]:
    """``StreamConfig`` fields for ``{"listen": [host, port], "public_url": URL}`` (none without it)."""
    if not values:
        return {}
    from newsbeam.transforms.websub.subscription import WebSubConfig

    host, port = values["listen"]
    return {"websub": WebSubConfig(public_url=values["public_url"]), "websub_listen": (host, int(port))}


def run_stream(config: dict[str, Any]) -> dict[str, Any]:
    from newsbeam.pipeline.stream import new_stream_id, stream
    from newsbeam.pipeline.stream_graph import StreamConfig
    from newsbeam.transforms.stream.schedules import DEFAULT_SHARDS, PollConfig

    stream_config = StreamConfig(
        output=config["output"],
        feed_list=config["feed_list"],
        stream_id=new_stream_id(),
        http=http_config(config["http"]),
        poll=PollConfig(
            min_interval=config["min_interval"],
            max_interval=config["max_interval"],
            tick=config["tick"],
            shards=config.get("shards", DEFAULT_SHARDS),
        ),
        commit_interval=config["commit_interval"],
        status_interval=config["status_interval"],
        horizon=timedelta(seconds=config.get("horizon_seconds", 7 * 86400)),
        **websub_settings(config.get("websub")),
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


def _short(filename: str) -> str:
    path = Path(filename)
    return f"{path.parent.name}/{path.name}"


class CpuSampler:
    """Where the Python threads spend CPU: every ``every`` s, each thread's CPU since the last look
    (``/proc/self/task/<tid>/schedstat``, nanoseconds) is charged to its current stack. Cheap enough
    to leave the stream's behaviour alone, unlike cProfile; C threads (gRPC core) show only in the total."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.self_ns: Counter[str] = Counter()
        self.inclusive_ns: Counter[str] = Counter()
        self.thread_ns: Counter[str] = Counter()
        self._last: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="cpu-sampler")
        self._started = time.process_time()

    @staticmethod
    def _ns(tid: int) -> int | None:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as handle:
                return int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _loop(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.every):
            frames = sys._current_frames()
            for thread in threading.enumerate():
                frame = frames.get(thread.ident or -1)
                if frame is None or thread.ident == me or thread.native_id is None:
                    continue
                now = self._ns(thread.native_id)
                if now is None:
                    continue
                spent = now - self._last.get(thread.native_id, now)
                self._last[thread.native_id] = now
                if spent <= 0:
                    continue
                names = []
                leaf = f":{frame.f_lineno}"
                walked: FrameType | None = frame
                while walked is not None:
                    code = walked.f_code
                    names.append(f"{_short(code.co_filename)}:{code.co_name}")
                    walked = walked.f_back
                self.self_ns[names[0] + leaf] += spent
                for name in set(names):
                    self.inclusive_ns[name] += spent
                self.thread_ns[thread.name.rstrip("0123456789_-")] += spent

    def start(self) -> None:
        self._thread.start()

    def write(self, path: str, top: int = 50) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        total = (time.process_time() - self._started) * 1e9
        python = sum(self.thread_ns.values()) / 1e9
        lines = [f"process CPU {total / 1e9:.1f} s; attributed to Python threads {python:.1f} s"]
        for title, counts in (("by thread", self.thread_ns), ("self", self.self_ns), ("inclusive", self.inclusive_ns)):
            lines += ["", f"## {title} (CPU s, share of process CPU)"]
            lines += [f"{ns / 1e9:8.2f} {ns / total:6.1%}  {name}" for name, ns in counts.most_common(top)]
        Path(path).write_text("\n".join(lines) + "\n")


def main() -> int:
    mode, config_path = sys.argv[1], sys.argv[2]
    config = json.loads(Path(config_path).read_text())
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    profiles = CpuSampler() if config.get("profile") else None
    if profiles is not None:
        profiles.start()
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
