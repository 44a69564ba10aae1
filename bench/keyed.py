"""``newsbeam run --dedup keyed`` against the default ``--dedup global``: the same input, two runs.

The keyed dedup is the stream's (``KeyedDeduplicate``): about 45 keyed messages per article through
Beam's state API, where the global steps combine a run's band hashes in numpy blocks. This section
measures what that costs a batch run end to end (each run a fresh process on a fresh lake, synthetic
articles with 4 % near and 1 % exact copies) and whether the two write the same numbers of articles
and duplicates.
"""

from __future__ import annotations

from typing import Any

from bench import e2e, synthetic
from bench.common import TMP, log, rounded

MODES = ("global", "keyed")


def measure(articles: int) -> dict[str, Any]:
    """Both runs over ``articles`` synthetic records; CPU and time per article, peak RSS and row counts."""
    source = synthetic.write_jsonl(TMP / "synthetic", articles)
    runs: dict[str, Any] = {}
    for mode in MODES:
        log(f"keyed: newsbeam run --dedup {mode} on {articles:,} articles")
        result = e2e.run_once(source, f"dedup-{mode}", dedup=mode)
        counters = result["counters"]
        runs[mode] = {
            "run_seconds": result["run_seconds"],
            "cpu_seconds": result["cpu_seconds"],
            "cpu_ms_per_article": rounded(1000 * result["cpu_seconds"] / articles),
            "max_rss_mib": result["max_rss_mib"],
            "articles_written": counters.get("rows_articles", counters.get("articles_tagged")),
            "duplicates": counters.get("duplicates"),
        }
    same = all(runs["keyed"][k] == runs["global"][k] for k in ("articles_written", "duplicates"))
    return {
        "articles": articles,
        "runner": e2e.RUNNER,
        "runs": runs,
        "keyed_over_global_cpu": rounded(runs["keyed"]["cpu_seconds"] / runs["global"]["cpu_seconds"]),
        "same_counts": same,
    }
