"""Scaling shape and peak memory: end-to-end runs at 1k, 10k, 100k synthetic articles.

A run larger than newsbeam's part size (10,000 records on the in-process runner) runs as parts,
and each part's time is reported: the first part is a 10,000-article run on an empty lake, the
later ones show whether the cost per article grows as the lake does. The full profile therefore
runs 1k and 100k only, and reads its 10k point off the 100k run's first part.

Inputs are ``--input`` records with ``text`` (cleaning skipped: at ~10-20 pages/s per core,
trafilatura alone would take hours at 100k; its cost per page is measured on real pages in
``stages``). Everything after cleaning runs: exact and near dedup, entities, stories, lake rows,
Parquet, publication. Per-article cost should stay flat as the batch grows; where it does not,
the growth from one size to the next says so. The largest run is also the peak-RSS measurement
of a 100k batch.

A run is stopped at ``cap_seconds`` so the benchmark keeps its time budget; a stopped run is
reported as such, with the memory it had reached (a lower bound) and a projection.
"""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Sequence
from typing import Any

from bench import synthetic
from bench.common import TMP, last_json_line, log, rounded, run_child
from bench.e2e import CHILD, RUNNER


def run_scaling(
    sizes: Sequence[int], cap_seconds: float, ner_model: str | None = "gazetteer", part_size: int | None = None
) -> dict[str, Any]:
    """``ner_model`` "gazetteer" (the default here) keeps the runs inside the budget: a statistical model
    costs the same per token at every size (``stages`` measures it), so the shape is about the rest."""
    runs: list[dict[str, Any]] = []
    for n in sizes:
        path = synthetic.write_jsonl(TMP, n)
        output = TMP / f"lake-scale-{n}"
        shutil.rmtree(output, ignore_errors=True)
        projected = _projection(runs, n)
        log(
            f"scaling: {n:,} articles (cap {cap_seconds:.0f} s"
            + (f", projected {projected:.0f} s)" if projected else ")")
        )
        args = [sys.executable, str(CHILD), "e2e", "--input", str(path), "--output", str(output)]
        if ner_model:
            args += ["--ner-model", ner_model]
        if part_size:
            args += ["--part-size", str(part_size)]
        child = run_child(args, timeout=cap_seconds)
        shutil.rmtree(output, ignore_errors=True)
        entry: dict[str, Any] = {"articles": n, **child.as_dict()}
        if projected:
            entry["projected_seconds"] = rounded(projected)
        if child.returncode != 0:
            stopped = child.timed_out
            entry["finished"] = False
            entry["why"] = (
                f"stopped at the {cap_seconds:.0f} s cap (max_rss_mib is what it had reached: a lower bound)"
                if stopped
                else f"failed with exit code {child.returncode}: {child.stderr[-800:]}"
            )
            runs.append(entry)
            continue
        result = last_json_line(child.stdout)
        seconds = float(result["run_seconds"])
        entry.update(
            finished=True,
            run_seconds=rounded(seconds),
            ms_per_article=rounded(seconds / n * 1000),
            cpu_ms_per_article=rounded(child.cpu_seconds / n * 1000),
            articles_per_cpu_second=rounded(n / child.cpu_seconds),
            files=result["files"],
            counters=result["counters"],
        )
        if len(result.get("parts", [])) > 1:
            entry["parts"] = [_part(part) for part in result["parts"]]
        runs.append(entry)
    finished = [r for r in runs if r.get("finished")]
    growth = None
    if len(finished) >= 2:
        growth = rounded(finished[-1]["ms_per_article"] / finished[0]["ms_per_article"])
    return {
        "what": "newsbeam run --input (records with text: cleaning skipped) over synthetic articles spread "
        f"over 30 days; {RUNNER}; fresh lake each; entities: "
        + ("the packaged default tagger" if not ner_model else f"--ner-model {ner_model}"),
        "ner_model": ner_model or "default",
        "part_size": part_size or "newsbeam's default (10,000 on the in-process runner)",
        "runs": runs,
        "per_article_growth_smallest_to_largest_finished": growth,
    }


def _part(part: dict[str, Any]) -> dict[str, Any]:
    records = max(1, int(part["records"]))
    return {
        "run_id": part["run_id"],
        "records": part["records"],
        "seconds": rounded(part["seconds"]),
        "ms_per_article": rounded(part["seconds"] / records * 1000),
        "cpu_ms_per_article": rounded(part["cpu_seconds"] / records * 1000),
        "peak_rss_mib_so_far": rounded(part["peak_rss_mib"]) if part.get("peak_rss_mib") is not None else None,
    }


def _projection(runs: list[dict[str, Any]], n: int) -> float | None:
    """Seconds for ``n`` articles, extrapolating the per-article cost's growth between the last two runs."""
    done = [r for r in runs if r.get("finished")]
    if not done:
        return None
    last = done[-1]
    per = last["run_seconds"] / last["articles"]
    if len(done) >= 2:
        before = done[-2]
        ratio = per / (before["run_seconds"] / before["articles"])
        steps = math.log(n / last["articles"]) / math.log(last["articles"] / before["articles"])
        per *= max(1.0, ratio) ** max(0.0, steps)
    return per * n
