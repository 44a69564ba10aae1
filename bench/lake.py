"""The lake at scale (Delta tables): write 100k synthetic articles, compact a busy day, query, then many small commits.

Scenario (what a month of a mid-sized deployment looks like):

1. **Batch.** N articles over 30 days written as one run with the lake writer itself
   (``write_partitions`` per table and day, then ``publish_run`` with the files written:
   one Delta commit per table), write and commit timed apart.
2. **A scheduled day.** One more day arrives as 24 hourly runs (small files in every busy
   partition, as cron makes them); then ``compact`` (timed) merges that day's files with Delta
   ``optimize`` and ``vacuum``. The bench vacuums with a retention of 0 h (it lowers
   ``compact.MIN_RETENTION_HOURS`` to 0 for that call only), so the files on disk after it are the
   live ones and the glob route below reads the same files as the log.
3. **Queries** on the compacted lake, through ``pipeline.lake_sql.connect`` (DuckDB ``delta_scan``
   views) and through plain Hive globs: one entity per day (``WHERE entity = ...``) for the most
   frequent entity and a tail one, the top entities over everything, one day's articles.
4. **Small commits.** A day of one-minute runs: ``small_commits`` runs of a handful of articles
   each (their articles and entity rows, ``write_partitions`` + ``publish_run``), with ``connect()``
   timed every ``curve_every`` commits. delta-rs writes a checkpoint every ``CHECKPOINT_INTERVAL``
   commits (``delta.checkpointInterval``, which the lake's tables set to 10), so the curve shows what
   the log costs a reader between them.

Rows are built before the clock starts: this section measures the writer, the layout and the
reader, not the row building (``stages`` times that on real articles).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import lake_read, synthetic
from bench.common import TMP, log, median, rounded
from newsbeam.transforms.lake import delta

TAIL_ENTITIES = 2_000
CHECKPOINT_INTERVAL = delta.CHECKPOINT_INTERVAL
"""The tables' ``delta.checkpointInterval`` (``transforms.lake.delta``; delta-rs's default is 100)."""
COMPACTION_RETENTION_HOURS = 0
"""The bench's vacuum retention: every replaced file goes at once (the product's minimum is 1 h)."""

Groups = dict[tuple[str, str], list[tuple[str, dict[str, Any]]]]
"""(table, day) -> (partition, row) pairs: what ``WriteLake``'s GroupByKey hands each writer call."""


def _rows(items: Iterable[synthetic.SyntheticArticle], run_id: str) -> Groups:
    from newsbeam.transforms.entities.tagger import salient
    from newsbeam.transforms.lake.rows import article_row, entity_rows
    from newsbeam.transforms.lake.write import write_group

    groups: Groups = {}
    for item in items:
        article = synthetic.to_article(item)
        for row in (article_row(article, run_id), *entity_rows(article, salient(article.entities), run_id)):
            groups.setdefault((row.table, write_group(row.partition)), []).append((row.partition, row.row))
    return groups


def _write(output: str, run_id: str, groups: Groups) -> dict[str, float]:
    """Write as ``WriteLake`` does (one call per table and day), then commit the files written.

    Returns seconds per table and ``publish`` (the Delta commits and the run record). The files
    go to ``publish_run`` explicitly: direct writer calls leave no listing for it to read.
    """
    from newsbeam.transforms.lake.delta import WrittenFile
    from newsbeam.transforms.lake.publish import publish_run
    from newsbeam.transforms.lake.write import write_partitions

    seconds: dict[str, float] = {}
    written: list[WrittenFile] = []
    for (table, _day), rows in groups.items():
        started = time.perf_counter()
        written.extend(write_partitions(output, run_id, table, rows))
        seconds[table] = seconds.get(table, 0.0) + time.perf_counter() - started
    started = time.perf_counter()
    publish_run(output, run_id, {"kind": "bench"}, written)
    seconds["publish"] = time.perf_counter() - started
    return seconds


def _salient_default(name: str) -> Any:
    import inspect

    from newsbeam.transforms.entities.tagger import salient

    return inspect.signature(salient).parameters[name].default


def _disk(output: Path) -> dict[str, int]:
    return {table: lake_read.disk_files(output, table) for table in lake_read.STATS_TABLES}


def _live(output: Path) -> dict[str, int]:
    from newsbeam.transforms.lake.delta import live_files

    return {table: len(files) for table, files in live_files(str(output), lake_read.STATS_TABLES).items()}


def _moved(item: synthetic.SyntheticArticle, published: datetime, suffix: str) -> synthetic.SyntheticArticle:
    """The article moved to ``published``, with a URL of its own (so article ids do not repeat)."""
    return dataclasses.replace(item, published=published, url=f"{item.url}-{suffix}")


def _compact(output: Path, day: str) -> dict[str, Any]:
    """``compact`` of every day up to ``day``, vacuum retention 0 h; files live and on disk around it."""
    from newsbeam.transforms.lake import compact as compact_module

    live_before, disk_before = _live(output), _disk(output)
    floor = compact_module.MIN_RETENTION_HOURS
    compact_module.MIN_RETENTION_HOURS = 0  # the bench only: no run is writing, nothing to protect
    try:
        started = time.perf_counter()
        report = compact_module.compact(
            str(output), date.fromisoformat(day) + timedelta(days=1), retention_hours=COMPACTION_RETENTION_HOURS
        )
        seconds = time.perf_counter() - started
    finally:
        compact_module.MIN_RETENTION_HOURS = floor
    return {
        "seconds": rounded(seconds),
        "retention_hours": COMPACTION_RETENTION_HOURS,
        "retention_note": "vacuum with a retention of 0 h: the bench set compact.MIN_RETENTION_HOURS to 0 for "
        "this call (the product refuses less than 1 h), so replaced files are deleted at once",
        "live_files_before": live_before,
        "live_files_after": _live(output),
        "disk_files_before": disk_before,
        "disk_files_after": _disk(output),
        "tables": [dataclasses.asdict(t) for t in report.tables],
        "summary": report.summary(),
    }


def small_commits(
    output: Path, start: datetime, commits: int, per_commit: int, every: int, sql: dict[str, str]
) -> dict[str, Any]:
    """``commits`` one-minute runs of ``per_commit`` articles, ``connect()`` timed every ``every`` commits."""
    extra = list(synthetic.articles(commits * per_commit, days=1, tail=TAIL_ENTITIES, seed=123, copies=False))
    points: list[dict[str, Any]] = []
    write_times: list[float] = []
    publish_times: list[float] = []

    def point(done: int) -> None:
        since = slice(points[-1]["commits"] if points else 0, done)
        stats = lake_read.log_stats(output)
        points.append(
            {
                "commits": done,
                "connect": lake_read.connect_ms(output),
                "checkpoints": {name: len(s["checkpoints"]) for name, s in stats.items()},
                "versions": {name: s["version"] for name, s in stats.items()},
                "live_files": {name: s["live_files"] for name, s in stats.items()},
                "publish_seconds_mean": rounded(sum(publish_times[since]) / max(1, done - since.start)),
            }
        )
        log(f"lake: {done} small commits, connect() {points[-1]['connect']['median_ms']} ms")

    point(0)
    for index in range(commits):
        moment = start + timedelta(minutes=index)
        run_id = f"{moment:%Y%m%dT%H%M%S}Z-minute{index:04d}"
        chunk = [_moved(item, moment, f"m{index}") for item in extra[index * per_commit : (index + 1) * per_commit]]
        seconds = _write(str(output), run_id, _rows(chunk, run_id))
        publish_times.append(seconds.pop("publish"))
        write_times.append(sum(seconds.values()))
        if (index + 1) % every == 0 or index + 1 == commits:
            point(index + 1)
    stats = lake_read.log_stats(output)
    return {
        "commits": commits,
        "articles_per_commit": per_commit,
        "every": every,
        "what": "Each commit is one run: its articles and their entity rows written with write_partitions "
        "(one articles file, one file per entity), then publish_run (one Delta commit per table, run record)",
        "checkpoint_interval": CHECKPOINT_INTERVAL,
        "points": points,
        "write_seconds_median": rounded(median(write_times), 4),
        "publish_seconds_median": rounded(median(publish_times), 4),
        "publish_seconds_max": rounded(max(publish_times), 4) if publish_times else None,
        "total_seconds": rounded(sum(write_times) + sum(publish_times)),
        "tables_after": stats,
        "connect_breakdown_after": lake_read.connect_breakdown(output),
        "queries_after": lake_read.connect_queries(
            output, sql, ("entity_per_day_frequent", "entity_per_day_tail", "top_entities")
        ),
    }


def time_report(output: Path) -> dict[str, Any]:
    """``newsbeam report`` of the lake as it stands: the HTML page and the JSON, each timed."""
    from newsbeam.pipeline.report import write_report

    timings: dict[str, Any] = {}
    for fmt in ("html", "json"):
        target = TMP / f"lake-report.{fmt}"
        started = time.perf_counter()
        data = write_report(str(output), target, fmt)
        timings[f"{fmt}_seconds"] = rounded(time.perf_counter() - started)
        timings[f"{fmt}_bytes"] = target.stat().st_size
        target.unlink()
    timings.update(articles=data["totals"]["articles"], runs_read=len(data["runs"]))
    return timings


def run_lake(
    articles: int,
    scheduled_runs: int,
    per_run: int,
    days: int = 30,
    commits: int = 1_000,
    per_commit: int = 5,
    curve_every: int = 100,
) -> dict[str, Any]:
    """The whole lake section (see the module docstring); the scratch lake is deleted at the end."""
    output = TMP / "lake-scale"
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    log(f"lake: building rows of {articles:,} synthetic articles")
    items = list(synthetic.articles(articles, days=days, tail=TAIL_ENTITIES, copies=False))
    counts: dict[str, int] = {}
    for item in items:
        for ref in item.entities:
            counts[ref.slug] = counts.get(ref.slug, 0) + 1
    ranked = sorted(counts, key=lambda slug: (-counts[slug], slug))
    head, tail = ranked[0], ranked[len(ranked) * 3 // 4]
    groups = _rows(items, "batch")
    rows = {t: sum(len(r) for (table, _), r in groups.items() if table == t) for t in ("articles", "entities")}
    del items
    log(f"lake: writing {sum(rows.values()):,} rows in {len(groups):,} (table, day) groups")
    write = _write(str(output), "20240401T000000Z-batch", groups)
    del groups
    data_seconds = sum(v for k, v in write.items() if k != "publish")
    batch = {
        "articles": articles,
        "days": days,
        "entity_vocabulary": f"packaged gazetteer + {TAIL_ENTITIES:,} unlinked names, Zipf exponent "
        f"{synthetic.ZIPF_ENTITIES}, 2-8 entities per article, the product's salient() default cut "
        f"(top {_salient_default('top_k')}, salience >= {_salient_default('threshold')}) decides entities/ rows",
        "rows": rows,
        "files": _live(output),
        "write_seconds": {key: rounded(value) for key, value in write.items()},
        "write_data_seconds": rounded(data_seconds),
        "publish_seconds": rounded(write["publish"]),
        "write_total_seconds": rounded(sum(write.values())),
        "articles_rows_per_second": rounded(rows["articles"] / write["articles"]),
        "entities_rows_per_second": rounded(rows["entities"] / write["entities"]),
        "frequent_entity": {"slug": head, "articles": counts[head]},
        "tail_entity": {"slug": tail, "articles": counts[tail]},
    }

    # One more day, written the way cron writes it: many small runs.
    log(f"lake: {scheduled_runs} scheduled runs of {per_run} articles")
    new_day = synthetic.START + timedelta(days=days)
    extra = list(synthetic.articles(scheduled_runs * per_run, days=1, tail=TAIL_ENTITIES, seed=99, copies=False))
    scheduled: dict[str, float] = {"write": 0.0, "publish": 0.0}
    for run in range(scheduled_runs):
        chunk = [
            _moved(item, new_day + timedelta(hours=run % 24, minutes=item.index % 60), f"d{run}")
            for item in extra[run * per_run : (run + 1) * per_run]
        ]
        run_id = f"20240401T{run // 60:02d}{run % 60:02d}00Z-run{run:03d}"
        seconds = _write(str(output), run_id, _rows(chunk, run_id))
        scheduled["publish"] += seconds.pop("publish")
        scheduled["write"] += sum(seconds.values())
    scheduled_day = new_day.strftime("%Y-%m-%d")
    log("lake: compaction")
    compaction = _compact(output, scheduled_day)
    log("lake: queries after compaction")
    after = lake_read.queries(output, head, tail, scheduled_day)
    connect_at_batch = lake_read.connect_breakdown(output)
    log("lake: newsbeam report of the compacted lake")
    report_at_batch = time_report(output)

    log(f"lake: {commits} small commits of {per_commit} articles, connect() every {curve_every}")
    curve = small_commits(output, new_day + timedelta(days=1), commits, per_commit, max(1, curve_every), after["sql"])
    log("lake: newsbeam report after the small commits")
    report_after_commits = time_report(output)
    shutil.rmtree(output, ignore_errors=True)
    total = sum(scheduled.values())
    return {
        "batch": batch,
        "scheduled_day": {
            "runs": scheduled_runs,
            "articles_per_run": per_run,
            "write_seconds_total": rounded(total),
            "write_seconds_per_run": rounded(total / max(1, scheduled_runs)),
            "publish_seconds_per_run": rounded(scheduled["publish"] / max(1, scheduled_runs)),
            "compaction": compaction,
        },
        "queries": {"when": "after the scheduled day was compacted (the aims' condition)", **after},
        "connect_at_batch": {
            "when": "after the batch, the scheduled day and its compaction, before the small commits",
            **connect_at_batch,
        },
        "small_commits": curve,
        "report": {"at_batch": report_at_batch, "after_small_commits": report_after_commits},
    }
