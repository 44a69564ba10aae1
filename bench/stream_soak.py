"""Memory of a long stream: ``newsbeam stream`` for ``minutes`` against a site that keeps publishing.

The horizon is set short (``horizon_seconds``, 5 minutes by default) so that in a half-hour soak the
keyed state expires several times over: with expiry working, the memory of Python and Prism levels
off once a horizon has passed; without it, it climbs with every article. Resident memory of the
stream's process tree is sampled every ``every`` seconds. "Flat" means that after the first horizon the least-squares
trend of the samples adds less than 10 % of their mean over the rest of the soak (a comparison of
thirds hid a steady climb that levelled off only at the end).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import TMP, log, rounded
from bench.stream_proc import Child, HostSite

FULL = {"minutes": 30.0, "feeds": 50, "hosts": 5, "rate": 0.5, "horizon_seconds": 300.0, "every": 30.0}
QUICK = {"minutes": 2.0, "feeds": 10, "hosts": 2, "rate": 0.5, "horizon_seconds": 30.0, "every": 10.0}


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return 0.0


def run_soak(p: dict[str, Any], work: Path | None = None) -> dict[str, Any]:
    work = work or TMP / "stream" / "soak"
    work.mkdir(parents=True, exist_ok=True)
    output = work / "lake"
    if output.exists():
        import shutil

        shutil.rmtree(output)
    feed_list = work / "feeds.txt"
    samples: list[tuple[float, float]] = []
    with HostSite(feeds=p["feeds"], hosts=p["hosts"], initial=1) as site:
        feed_list.write_text("\n".join(site.feed_urls()) + "\n")
        config = {
            "output": str(output),
            "feed_list": str(feed_list),
            "http": {"allow_private_networks": True, "min_delay": 0.0, "obey_robots": False, "host_budget_period": 300},
            "min_interval": 2.0,
            "max_interval": 10.0,
            "tick": 0.5,
            "commit_interval": 5.0,
            "status_interval": 30.0,
            "horizon_seconds": p["horizon_seconds"],
        }
        log(f"stream soak: {p['minutes']:g} min, {p['feeds']} feeds, {p['rate']}/s, horizon {p['horizon_seconds']:g} s")
        child = Child("stream", config, work)
        started = time.time()
        try:
            site.run_poisson(p["rate"], seed=5)
            while time.time() - started < p["minutes"] * 60 and child.alive():
                time.sleep(p["every"])
                total = sum(_rss_mib(pid) for pid in child.tree.members())
                samples.append((rounded(time.time() - started, 1), rounded(total, 1)))
            site.stop_publishing()
        finally:
            stopped = child.stop()
        published = len(site.published())
    return {"setup": p, "published": published, "samples_seconds_mib": samples, **verdict(samples, p), "child": stopped}


def verdict(samples: list[tuple[float, float]], p: dict[str, Any]) -> dict[str, Any]:
    """Trend of memory after the first horizon: MiB per minute, and whether it stays under 10 % (pure)."""
    after = [(t, mib) for t, mib in samples if t >= p["horizon_seconds"]]
    if len(after) < 3:
        return {"flat": False, "trend_mib_per_minute": None}
    n = len(after)
    mean_t, mean_m = sum(t for t, _ in after) / n, sum(m for _, m in after) / n
    slope = sum((t - mean_t) * (m - mean_m) for t, m in after) / sum((t - mean_t) ** 2 for t, _ in after)
    added = slope * (after[-1][0] - after[0][0])
    return {
        "mean_after_horizon_mib": rounded(mean_m, 1),
        "first_after_horizon_mib": after[0][1],
        "last_mib": after[-1][1],
        "trend_mib_per_minute": rounded(slope * 60, 2),
        "trend_added_share": rounded(added / mean_m, 3),
        "flat": added / mean_m <= 0.10,
    }
