"""Memory of a long stream: ``newsbeam stream`` for ``minutes`` against a site that keeps publishing.

The horizon is set short (``horizon_seconds``, 5 minutes by default) so that in a half-hour soak the
keyed state expires several times over: with expiry working, the memory of Python and Prism levels
off once a horizon has passed; without it, it climbs with every article. Resident memory of the
stream's process tree is sampled every ``every`` seconds. "Flat" means the mean of the last third of
the samples is within 10 % of the mean of the middle third (both after the first horizon).
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
    after = [mib for t, mib in samples if t >= p["horizon_seconds"]]
    third = max(1, len(after) // 3)
    middle, last = after[third : 2 * third] or after, after[-third:]
    growth = (sum(last) / len(last)) / (sum(middle) / len(middle)) - 1 if middle and last else None
    return {
        "setup": p,
        "published": published,
        "samples_seconds_mib": samples,
        "middle_third_mean_mib": rounded(sum(middle) / len(middle), 1) if middle else None,
        "last_third_mean_mib": rounded(sum(last) / len(last), 1) if last else None,
        "growth_last_vs_middle": rounded(growth, 3) if growth is not None else None,
        "flat": growth is not None and growth <= 0.10,
        "child": stopped,
    }
