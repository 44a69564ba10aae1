"""The streaming section: ``newsbeam stream`` on Prism against a live loopback site, and its batch baseline.

Three measurements, each with the site (``stream_proc.HostSite``: ``bench.livesite.LiveSite`` with
one loopback address per host) and a lake watcher in this process, and the work in a child
(``bench/stream_child.py``) whose CPU and memory, Prism's included, are read from ``/proc``:

* ``latency``: ``feeds`` feeds on ``hosts`` hosts, entries published on a Poisson schedule for
  ``seconds``. An entry's latency is the moment its row was first seen through
  ``lake_sql.connect`` (a watcher opens a fresh connection every ``watch_every`` seconds and
  lists ``articles.url``; the time taken is when that query returned, an upper bound) minus
  ``Entry.appeared``. Also given: the same from the window's ``_runs/<run_id>.json``
  ``committed_at_ms`` (stamped when publication starts, so a lower bound). Exactly once:
  every URL published (initial entries included) is in ``articles`` once.
* ``batch``: the same site and schedule, ``newsbeam run --feeds`` (``pipeline.run.run`` in a loop,
  one process) started every ``every`` seconds, or at once when the previous run took longer.
* ``polling``: ``feeds`` feeds on ``hosts`` hosts polled every ``interval`` seconds
  (``min_interval = max_interval``), so the demand (feeds / interval) is above what is measured
  and the rate is the stream's capacity. Sustained polls/s from the site's own count over the
  steady period; CPU ms per poll from the child's CPU (Python + Prism).

CPU per article is the child's CPU over the measured period (from the first Poisson entry until
every entry was seen in the lake) over the articles published in it: polling, 304s, commits and
idle ticks included, since that is what the articles cost at this rate.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import stream_websub
from bench.common import TMP, log, rounded, skipped
from bench.stream_proc import WATCH_EVERY, Child, HostSite, LakeWatcher

FULL: dict[str, Any] = {
    "latency": {
        "feeds": 200,
        "hosts": 20,
        "initial": 1,
        "rate": 1.0,
        "seconds": 300,
        "min_interval": 2.0,
        "max_interval": 10.0,
        "tick": 0.5,
        "commit_interval": 5.0,
        "every": 2.0,
    },
    "polling": {
        "feeds": 10_000,
        "hosts": 100,
        "initial": 0,
        "rate": 0.5,
        "interval": 5.0,
        "seconds": 120,
        "tick": 1.0,
        "shards": 32,  # PollConfig's default
        "commit_interval": 10.0,
        "settle": 5.0,
    },
    "websub": stream_websub.FULL,
}
QUICK: dict[str, Any] = {
    "latency": {**FULL["latency"], "feeds": 20, "hosts": 4, "seconds": 10, "max_interval": 5.0},
    "batch_seconds": 8,
    "polling": {
        **FULL["polling"],
        "feeds": 1_000,
        "hosts": 10,
        "seconds": 20,
        "commit_interval": 3.0,
        "settle": 2.0,
        "rate": 1.0,
    },
    "websub": stream_websub.QUICK,
}
WARM_UP_CAP = 300.0
"""Seconds a stream or the first batch run may take to bring the initial entries to the lake."""
DRAIN_CAP = 120.0
"""Seconds after the last publication within which every entry must be in the lake."""
HTTP = {"allow_private_networks": True, "min_delay": 0.0, "obey_robots": False, "host_budget_period": 300.0}


def percentiles(values: Sequence[float]) -> dict[str, Any]:
    """p50, p95 (nearest rank) and max, in seconds."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)

    def rank(p: int) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * p / 100) - 1))]

    return {
        "count": len(ordered),
        "p50": rounded(rank(50), 2),
        "p95": rounded(rank(95), 2),
        "max": rounded(ordered[-1], 2),
        "mean": rounded(sum(ordered) / len(ordered), 2),
    }


def lake_contents(output: Path) -> tuple[Counter[str], dict[str, str], dict[str, float]]:
    """Rows per URL of ``articles``, each URL's run id, and each run's ``committed_at_ms`` (as seconds)."""
    from newsbeam.pipeline.lake_sql import connect

    connection = connect(str(output))
    try:
        rows = connection.execute("SELECT url, run_id FROM articles").fetchall()
    finally:
        connection.close()
    committed: dict[str, float] = {}
    for path in (output / "_runs").glob("*.json"):
        record = json.loads(path.read_text())
        committed[record["run_id"]] = int(record["committed_at_ms"]) / 1000
    return Counter(url for url, _ in rows), {url: run for url, run in rows}, committed


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: rounded(after[name] - before.get(name, 0.0), 2) for name in sorted(after)}


def _windows(output: Path) -> int:
    """Windows (runs) the stream has committed so far: their ``_runs`` records."""
    return len(list((output / "_runs").glob("*.json")))


def _fresh(work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    (work / "lake").mkdir(parents=True)
    return work / "lake"


def run_latency(kind: str, p: dict[str, Any], work: Path, seconds: float | None = None) -> dict[str, Any]:
    """One latency run: ``kind`` is ``stream`` or ``batch``; see the module docstring."""
    output = _fresh(work)
    duration = float(seconds or p["seconds"])
    feed_list = work / "feeds.txt"
    with HostSite(feeds=p["feeds"], hosts=p["hosts"], initial=p["initial"]) as site:
        feed_list.write_text("\n".join(site.feed_urls()) + "\n")
        config = {
            "output": str(output),
            "feed_list": str(feed_list),
            "http": HTTP if kind == "stream" else {k: v for k, v in HTTP.items() if k != "host_budget_period"},
            **{k: p[k] for k in ("min_interval", "max_interval", "tick", "commit_interval", "every")},
            "status_interval": 10.0,
        }
        log(f"stream: {kind} latency, {p['feeds']} feeds / {p['hosts']} hosts, {p['rate']}/s for {duration:g} s")
        started = time.time()
        child = Child(kind, config, work)
        watcher = LakeWatcher(output).start()
        result: dict[str, Any] = {"kind": kind}
        try:
            initial = {e.url for e in site.published()}
            warm = watcher.wait_for(initial, WARM_UP_CAP, child.alive)
            if warm is None:
                raise RuntimeError(
                    f"the {len(initial)} initial entries were not all in the lake within {WARM_UP_CAP} s"
                )
            result["warm_up_seconds"] = rounded(time.time() - started, 1)
            t0, cpu0 = time.time(), child.tree.cpu_by_name()
            polls0, not_modified0 = site.site.polls, site.site.not_modified
            site.run_poisson(p["rate"], seed=11)
            deadline = t0 + duration
            while time.time() < deadline and child.alive():
                time.sleep(0.5)
            site.stop_publishing()
            measured = [e for e in site.published() if e.appeared >= t0]
            drained = watcher.wait_for({e.url for e in measured}, DRAIN_CAP, child.alive)
            t1, cpu1 = time.time(), child.tree.cpu_by_name()
            polls, not_modified = site.site.polls - polls0, site.site.not_modified - not_modified0
            processes = child.tree.by_process()
            max_total_rss = child.tree.max_total_rss
        finally:
            stopped = child.stop()
            watcher.stop()
        counts, run_of, committed = lake_contents(output)
        published = {e.url for e in site.published()}
    seen = [watcher.seen[e.url] - e.appeared for e in measured if e.url in watcher.seen]
    by_commit = [committed[run_of[e.url]] - e.appeared for e in measured if run_of.get(e.url) in committed]
    in_lake = len(published & counts.keys())
    cpu = sum(cpu1.values()) - sum(cpu0.values())
    result |= {
        "published": len(published),
        "published_measured": len(measured),
        "in_lake": in_lake,
        "rows": sum(counts.values()),
        "duplicate_rows": sum(c - 1 for c in counts.values() if c > 1),
        "missing": sorted(published - counts.keys())[:10],
        "unexpected": sorted(counts.keys() - published)[:10],
        "exactly_once": in_lake == len(published) and sum(counts.values()) == len(published),
        "drained_seconds": None if drained is None else rounded(drained, 1),
        "not_readable_in_time": len(measured) - len(seen),
        "latency_seconds": percentiles(seen),
        "latency_by_commit_record_seconds": percentiles(by_commit),
        "measured_seconds": rounded(t1 - t0, 1),
        "cpu_seconds": rounded(cpu, 2),
        "cpu_seconds_by_process": _delta(cpu0, cpu1),
        "cpu_ms_per_article": rounded(cpu * 1000 / len(measured), 1) if measured else None,
        "feed_polls": polls,
        "feed_polls_per_second": rounded(polls / (t1 - t0), 1),
        "not_modified_share": rounded(not_modified / polls, 3) if polls else None,
        "processes": processes,
        "peak_rss_mib": {
            "python": sum(x["peak_rss_mib"] for x in processes if x["name"] != "prism"),
            "prism": sum(x["peak_rss_mib"] for x in processes if x["name"] == "prism"),
            "sum_of_peaks": rounded(sum(x["peak_rss_mib"] for x in processes), 1),
            "largest_sampled_total": rounded(max_total_rss / 2**20, 1),
        },
        "watcher": {
            "looks": watcher.looks,
            "median_look_seconds": rounded(sorted(watcher.look_seconds)[len(watcher.look_seconds) // 2], 3)
            if watcher.look_seconds
            else None,
            "errors": dict(watcher.errors),
        },
        "child": stopped,
    }
    if kind == "batch":
        runs = stopped.get("runs") or []
        times = sorted(r["seconds"] for r in runs)
        result["batch_runs"] = len(runs)
        result["median_run_seconds"] = times[len(times) // 2] if times else None
        result["child"] = {k: v for k, v in stopped.items() if k != "runs"}
    return result


def run_polling(p: dict[str, Any], work: Path, profile: str | None = None) -> dict[str, Any]:
    """Feeds polled as fast as the stream can: sustained polls/s and CPU per poll (see the module docstring)."""
    output = _fresh(work)
    feed_list = work / "feeds.txt"
    feeds, interval = p["feeds"], p["interval"]
    log(f"stream: polling {feeds:,} feeds / {p['hosts']} hosts every {interval:g} s for {p['seconds']} s")
    with HostSite(feeds=feeds, hosts=p["hosts"], initial=p["initial"]) as site:
        feed_list.write_text("\n".join(site.feed_urls()) + "\n")
        config = {
            "output": str(output),
            "feed_list": str(feed_list),
            "http": HTTP,
            "min_interval": interval,
            "max_interval": interval,
            "tick": p["tick"],
            "shards": p["shards"],
            "commit_interval": p["commit_interval"],
            "status_interval": 10.0,
            "every": 0,
            "profile": profile,
        }
        started = time.time()
        child = Child("stream", config, work)
        watcher = LakeWatcher(output).start()
        result: dict[str, Any] = {}
        try:
            while site.site.polls < feeds and child.alive() and time.time() - started < WARM_UP_CAP:
                time.sleep(0.5)
            result["first_round_seconds"] = rounded(time.time() - started, 1)
            site.run_poisson(p["rate"], seed=13)
            time.sleep(p["settle"])  # past the first round's tail
            own0 = sum(os.times()[:2])
            t0, cpu0 = time.time(), child.tree.cpu_by_name()
            polls0, not_modified0, connections0 = site.site.polls, site.site.not_modified, site.connections
            windows0 = _windows(output)
            timeline: list[tuple[float, int]] = []
            while time.time() < t0 + p["seconds"] and child.alive():
                time.sleep(5)
                timeline.append((rounded(time.time() - t0, 1), site.site.polls - polls0))
            t1, cpu1, own1 = time.time(), child.tree.cpu_by_name(), sum(os.times()[:2])
            polls, not_modified = site.site.polls - polls0, site.site.not_modified - not_modified0
            connections = site.connections - connections0
            processes = child.tree.by_process()
            windows = _windows(output) - windows0
            grace = interval + p["commit_interval"] + 5  # a poll, a window, and 5 s for page, clean and commit
            entries = [e for e in site.published() if t0 <= e.appeared <= t1 - grace]
            readable = [watcher.seen[e.url] - e.appeared for e in entries if e.url in watcher.seen]
        finally:
            stopped = child.stop()
            watcher.stop()
    rate = polls / (t1 - t0)
    cpu = sum(cpu1.values()) - sum(cpu0.values())
    per_poll = cpu / polls if polls else float("nan")
    steps = [b[1] - a[1] for a, b in zip([(0.0, 0), *timeline], timeline, strict=False)]
    return {
        **result,
        "feeds": feeds,
        "hosts": p["hosts"],
        "interval_seconds": interval,
        "demand_polls_per_second": rounded(feeds / interval, 1),
        "steady_seconds": rounded(t1 - t0, 1),
        "polls": polls,
        "polls_per_second": rounded(rate, 1),
        "min_5s_polls_per_second": rounded(min(steps) / 5, 1) if steps else None,
        "not_modified_share": rounded(not_modified / polls, 3) if polls else None,
        "new_connections_per_poll": rounded(connections / polls, 3) if polls else None,
        "cpu_seconds": rounded(cpu, 2),
        "cpu_seconds_by_process": _delta(cpu0, cpu1),
        "cores_used": rounded(cpu / (t1 - t0), 2),
        "cpu_ms_per_poll": rounded(per_poll * 1000, 3),
        "polls_per_cpu_second": rounded(1 / per_poll, 1) if polls else None,
        "site_cpu_seconds": rounded(own1 - own0, 2),
        "commit_interval_seconds": p["commit_interval"],
        "publish_rate": p["rate"],
        "windows_committed": windows,
        "windows_expected": int((t1 - t0) // p["commit_interval"]),
        "entry_grace_seconds": grace,
        "entries_published": len(entries),
        "entries_readable": len(readable),
        "entry_latency_seconds": percentiles(readable),
        # Overloaded on purpose (every feed due every 5 s): polls then come round slower than the grace,
        # so "still committing" means windows keep coming and nine entries in ten made it in time.
        "committing": windows >= (t1 - t0) // p["commit_interval"] // 2 and len(readable) >= 0.9 * len(entries),
        "timeline": timeline,
        "processes": processes,
        "child": stopped,
    }


def run_stream_section(
    params: dict[str, Any], parts: Sequence[str] = ("latency", "batch", "cadence", "polling", "websub")
) -> dict[str, Any]:
    """The whole section: stream latency, batch baseline, polling at scale (each failure recorded, the rest run)."""
    from newsbeam.pipeline.runners import install_hint, prism_binary

    if prism_binary() is None:
        return skipped(install_hint())
    latency = params["latency"]
    section: dict[str, Any] = {
        "setup": {
            "latency": latency,
            "polling": params["polling"],
            "websub": params.get("websub"),
            "http": HTTP,
            "hosts": "one loopback address per host (bench/stream_proc.HostSite), so per-host limits apply per host",
            "latency_measure": f"first look through lake_sql.connect() (fresh connection every {WATCH_EVERY} s) "
            "that lists the URL, minus Entry.appeared; by_commit_record: _runs/<run_id>.json committed_at_ms",
        }
    }
    work = TMP / "stream"
    jobs = {
        "latency": lambda: run_latency("stream", latency, work / "latency"),
        "batch": lambda: run_latency("batch", latency, work / "batch", params.get("batch_seconds")),
        "polling": lambda: run_polling(params["polling"], work / "polling"),
        # The same site with the stream polling every feed as often as the loop does, committing as often.
        "cadence": lambda: run_latency(
            "stream",
            {**latency, "min_interval": latency["every"], "max_interval": latency["every"], "commit_interval": 2.0},
            work / "cadence",
        ),
        "websub": lambda: stream_websub.run_websub(params["websub"], work / "websub", HTTP),
    }
    for name in parts:
        load = os.getloadavg()[0]
        try:
            section[name] = jobs[name]()
            section[name]["load_average_1min"] = [rounded(load, 2), rounded(os.getloadavg()[0], 2)]
        except Exception as error:  # noqa: BLE001 - one part failing leaves the others' numbers
            import traceback

            log(f"stream: {name} failed:\n{traceback.format_exc()}")
            section[name] = {"error": f"{type(error).__name__}: {error}"}
    return section
