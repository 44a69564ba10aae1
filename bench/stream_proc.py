"""Helpers of the streaming bench: a LiveSite whose hosts are distinct to the client, and /proc meters.

``HostSite`` is ``bench.livesite.LiveSite`` with each host on its own loopback address
(127.0.0.2, 127.0.0.3, ...; Linux routes all of 127/8 to ``lo``). LiveSite puts every host on
127.0.0.1 (one port each), and newsbeam's politeness keys hosts by name without the port
(``fetch.concurrent.host_key``), so to newsbeam a plain LiveSite is one host: ``per_host``
requests at a time and one ``host_budget`` shared by every feed. With distinct addresses the
client sees ``hosts`` sites, as it would on the internet.

``Child`` runs ``bench/stream_child.py`` in a session of its own and stops it with SIGTERM;
``LakeWatcher`` records when each article URL first became readable through ``lake_sql.connect``.
``ProcTree`` measures a child process and everything it started (the stream's Python driver,
its in-process SDK worker threads, and the Prism runner binary) from ``/proc``: CPU seconds,
current and peak resident memory per process. psutil is not a dependency; ``/proc`` is enough.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.common import BENCH, REPO, last_json_line, rounded
from bench.livesite import LiveSite, _handler, _Site

WATCH_EVERY = 0.5
"""Seconds between the lake watcher's looks."""
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class _AddressedSite(_Site):
    def base(self, feed: int) -> str:
        host = self.host_of(feed)
        return f"http://{address(host)}:{self.ports[host]}"


def address(host: int) -> str:
    if not 0 <= host < 250:
        raise ValueError("at most 250 loopback hosts (127.0.0.2-127.0.0.251)")
    return f"127.0.0.{2 + host}"


class _CountingServer(ThreadingHTTPServer):
    """Counts the TCP connections it accepts (one handler thread each): keep-alive reuse, seen from the site."""

    connections = 0
    lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with _CountingServer.lock:
            _CountingServer.connections += 1
        super().process_request(request, client_address)


class HostSite(LiveSite):
    """``LiveSite`` with host ``h`` on 127.0.0.(2+h): as many hosts to the client as to the site."""

    def __init__(self, feeds: int = 1, hosts: int = 1, initial: int = 0) -> None:
        super().__init__(feeds, hosts, initial)
        self.site = _AddressedSite(hosts=hosts, feeds=feeds)

    @property
    def connections(self) -> int:
        """TCP connections accepted so far by every host of every ``HostSite`` in this process."""
        return _CountingServer.connections

    def _server(self, host: int) -> ThreadingHTTPServer:
        return _CountingServer((address(host), 0), _handler(self.site, host))


def _stat(pid: int) -> tuple[int, int, float, int] | None:
    """(ppid, session, CPU seconds incl. reaped children, RSS bytes) of ``pid``; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid 4, session 6, utime 14, stime 15, cutime 16, cstime 17, rss 24
    cpu = sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK
    return int(fields[1]), int(fields[3]), cpu, int(fields[21]) * PAGE


def _peak_rss(pid: int) -> int:
    """``VmHWM``: the process's own peak resident set, in bytes (0 if unknown)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return "?"


class ProcTree:
    """CPU and memory of process ``root`` and its descendants, sampled in a background thread.

    A descendant's CPU is kept after it exits (its last sample), so a short-lived helper is not lost.
    """

    def __init__(self, root: int, every: float = 1.0) -> None:
        self.root = root
        self.every = every
        self._cpu: dict[int, float] = {}
        self._names: dict[int, str] = {}
        self._peaks: dict[int, int] = {}
        self.max_total_rss = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="proctree")

    def start(self) -> ProcTree:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def members(self) -> list[int]:
        """``root`` and its live descendants (by parent pid, so a process that left the session counts too)."""
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (stat := _stat(int(entry))) is not None:
                parents[int(entry)] = stat[0]
        tree, frontier = {self.root}, [self.root]
        while frontier:
            parent = frontier.pop()
            for pid, ppid in parents.items():
                if ppid == parent and pid not in tree:
                    tree.add(pid)
                    frontier.append(pid)
        return sorted(pid for pid in tree if pid in parents)

    def sample(self) -> None:
        total_rss = 0
        for pid in self.members():
            stat = _stat(pid)
            if stat is None:
                continue
            with self._lock:
                self._cpu[pid] = stat[2]
                self._names.setdefault(pid, _name(pid))
                self._peaks[pid] = max(self._peaks.get(pid, 0), _peak_rss(pid))
            total_rss += stat[3]
        with self._lock:
            self.max_total_rss = max(self.max_total_rss, total_rss)

    def cpu_seconds(self) -> float:
        """CPU of the whole tree so far (sampled now)."""
        self.sample()
        with self._lock:
            return sum(self._cpu.values())

    def cpu_by_name(self) -> dict[str, float]:
        """CPU so far per process name (``python``, ``prism``), sampled now: take two and subtract."""
        self.sample()
        totals: dict[str, float] = {}
        with self._lock:
            for pid, cpu in self._cpu.items():
                name = self._names.get(pid, "?")
                totals[name] = totals.get(name, 0.0) + cpu
        return totals

    def by_process(self) -> list[dict[str, Any]]:
        """Per process: name, CPU seconds, peak RSS MiB (``VmHWM``), as last sampled."""
        with self._lock:
            return [
                {
                    "pid": pid,
                    "name": self._names.get(pid, "?"),
                    "cpu_seconds": round(self._cpu[pid], 2),
                    "peak_rss_mib": round(self._peaks.get(pid, 0) / 2**20, 1),
                }
                for pid in sorted(self._cpu)
            ]


class LakeWatcher:
    """When each URL of ``articles`` was first readable through ``lake_sql.connect`` (fresh connection each look)."""

    def __init__(self, output: Path, every: float = WATCH_EVERY) -> None:
        self.output = output
        self.every = every
        self.seen: dict[str, float] = {}
        self.looks = 0
        self.errors: Counter[str] = Counter()
        self.look_seconds: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="lake-watcher")

    def start(self) -> LakeWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        from newsbeam.pipeline.lake_sql import connect

        while not self._stop.is_set():
            began = time.time()
            if (self.output / "_runs").is_dir():
                try:
                    connection = connect(str(self.output))
                    try:
                        urls = connection.execute("SELECT DISTINCT url FROM articles").fetchall()
                    finally:
                        connection.close()
                    now = time.time()
                    for (url,) in urls:
                        self.seen.setdefault(url, now)
                    self.looks += 1
                    self.look_seconds.append(now - began)
                except Exception as error:  # noqa: BLE001 - a look that fails is counted; the next one retries
                    self.errors[type(error).__name__] += 1
            self._stop.wait(max(0.0, began + self.every - time.time()))

    def wait_for(self, urls: set[str], cap: float, alive: Any) -> float | None:
        """Seconds until every URL of ``urls`` was seen (None: not within ``cap`` or the child died)."""
        started = time.time()
        while time.time() - started < cap:
            if urls <= self.seen.keys():
                return time.time() - started
            if not alive():
                return None
            time.sleep(0.2)
        return None


class Child:
    """``bench/stream_child.py MODE`` in a session of its own, measured from ``/proc`` while it runs."""

    def __init__(self, mode: str, config: dict[str, Any], work: Path) -> None:
        path = work / f"{mode}-config.json"
        path.write_text(json.dumps(config))
        self.out_path, self.err_path = work / f"{mode}.out", work / f"{mode}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(BENCH / "stream_child.py"), mode, str(path)],
                stdout=out,
                stderr=err,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                start_new_session=True,
            )
        self.tree = ProcTree(self.process.pid).start()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 120.0) -> dict[str, Any]:
        """SIGTERM, wait for the clean stop; then nothing of its session is left running."""
        began = time.time()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        stop_seconds = time.time() - began
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever it started and left behind (its own group)
        except (ProcessLookupError, PermissionError):
            pass
        self.tree.stop()
        stdout = self.out_path.read_text(errors="replace")
        try:
            result = last_json_line(stdout)
        except ValueError:
            tail = self.err_path.read_text(errors="replace")[-1500:]
            result = {"error": f"no result line; exit {self.process.returncode}; stderr tail: {tail}"}
        status = [line for line in stdout.splitlines() if " stream " in line and "polled" in line]
        return {
            **result,
            "exit_code": self.process.returncode,
            "stop_seconds": rounded(stop_seconds, 1),
            "last_status": status[-1].split(" ", 1)[1] if status else None,
        }
