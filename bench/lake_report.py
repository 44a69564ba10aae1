"""The lake section of the report: its headline rows against their aims, and its markdown.

The lake moved from newsbeam 0.1's own table format to Delta tables. The last figures of the
old format are kept here as constants (copied from the committed reports of 2026-11-21, not
re-measured: the old code is gone), and shown beside the new ones when the sizes match.
"""

from __future__ import annotations

from typing import Any

from bench.common import dig, headline_row, markdown_table

WRITE_AIM_S = 35
ENTITY_PER_DAY_AIM_MS = 50
TOP_ENTITIES_AIM_MS = 100
CONNECT_AIM_MS = 200
REPORT_AIM_S = 10
QUERY_AIMS: dict[str, int | None] = {
    "entity_per_day_frequent": ENTITY_PER_DAY_AIM_MS,
    "entity_per_day_tail": ENTITY_PER_DAY_AIM_MS,
    "top_entities": TOP_ENTITIES_AIM_MS,
    "one_day_articles": None,
    "top_entities_from_entities_table": None,
}

PREVIOUS: dict[tuple[int, int], dict[str, Any]] = {
    (100_000, 24): {
        "label": "0.1 format (report of 2026-11-21)",
        "write_total_seconds": 34.667,
        "write_seconds": {"articles": 3.367, "entities": 30.542, "publish": 0.758},
        "connect_ms": 1266.4,
        "queries": {
            "connect": {
                "entity_per_day_frequent": 17.9,
                "entity_per_day_tail": 15.8,
                "top_entities": 36.5,
                "one_day_articles": 15.3,
                "top_entities_from_entities_table": 12546.5,
            },
            "glob": {
                "entity_per_day_frequent": 1335.5,
                "entity_per_day_tail": 1054.0,
                "top_entities": 34.9,
                "one_day_articles": 12.2,
                "top_entities_from_entities_table": 3933.5,
            },
        },
        "compaction_seconds": 6.912,
        "entity_files_before_compaction": 60_121,
        "entity_files_after_compaction": 56_186,
    },
    (1_000, 4): {
        "label": "0.1 format (report-quick of 2026-11-21)",
        "write_total_seconds": 0.784,
        "write_seconds": {"articles": 0.065, "entities": 0.692, "publish": 0.027},
        "connect_ms": 72.2,
        "queries": {
            "connect": {
                "entity_per_day_frequent": 5.5,
                "entity_per_day_tail": 4.5,
                "top_entities": 4.2,
                "one_day_articles": 2.2,
                "top_entities_from_entities_table": 244.3,
            },
            "glob": {
                "entity_per_day_frequent": 32.6,
                "entity_per_day_tail": 31.0,
                "top_entities": 4.4,
                "one_day_articles": 1.6,
                "top_entities_from_entities_table": 115.3,
            },
        },
        "compaction_seconds": 0.201,
        "entity_files_before_compaction": 1_792,
        "entity_files_after_compaction": 1_717,
    },
}
"""0.1 figures by (articles, scheduled runs). 0.1's ``connect()`` listed the catalog's files (the
"catalog" route of those reports); its files were counted on disk; its compaction rewrote the
closed days' files into new ones and published them as a run (no vacuum step)."""


def previous(lake: dict[str, Any]) -> dict[str, Any] | None:
    """The 0.1 figures measured at the same sizes as this run, if any."""
    key = (dig(lake, "batch", "articles"), dig(lake, "scheduled_day", "runs"))
    return PREVIOUS.get(key)  # type: ignore[arg-type]


def _was(old: dict[str, Any] | None, value: Any, unit: str) -> str:
    return f"{old['label']}: {value} {unit}" if old and value is not None else ""


def _aim(value: Any, aim: int | None) -> tuple[str, bool | None]:
    if aim is None or not isinstance(value, int | float):
        return "", None
    return f"<= {aim}", value <= aim


def _checkpoints(tables: dict[str, Any]) -> str:
    counts = {name: len(t.get("checkpoints", [])) for name, t in tables.items()}
    if not any(counts.values()):
        return "no checkpoint yet in " + " or ".join(counts)
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def headline_rows(lake: dict[str, Any]) -> list[dict[str, Any]]:
    """The lake's rows of the report's headline: each aim of the Delta lake, with the 0.1 figure in the note."""
    rows: list[dict[str, Any]] = []
    batch = lake.get("batch")
    if not batch:
        return rows
    old = previous(lake)
    add = rows.append
    total = batch["write_total_seconds"]
    aim, ok = _aim(total, WRITE_AIM_S)
    written = batch["write_seconds"]
    add(
        headline_row(
            f"lake write {batch['articles']:,} articles (write + Delta commits)",
            total,
            "s",
            aim,
            ok,
            "; ".join(
                part
                for part in (
                    f"write {batch['write_data_seconds']} s (articles {written['articles']}, "
                    f"entities {written['entities']}) + commit (publish) {batch['publish_seconds']} s",
                    _was(old, old and old["write_total_seconds"], "s"),
                )
                if part
            ),
        )
    )
    for route, label in (("connect", "connect()"), ("glob", "plain glob, comparison")):
        for query, query_aim in QUERY_AIMS.items():
            ms = dig(lake, "queries", route, query, "median_ms")
            if ms is None:
                continue
            aim, ok = _aim(ms, query_aim if route == "connect" else None)
            add(
                headline_row(
                    f"query {query} ({label})", ms, "ms", aim, ok, _was(old, dig(old, "queries", route, query), "ms")
                )
            )
    if at_batch := lake.get("connect_at_batch"):
        ms = at_batch["connect_ms"]
        aim, ok = _aim(ms, CONNECT_AIM_MS)
        add(
            headline_row(
                f"connect() at {batch['articles']:,} articles",
                ms,
                "ms",
                aim,
                ok,
                "median of 5, after the compaction"
                + (f"; {_was(old, old['connect_ms'], 'ms (one call)')}" if old else ""),
            )
        )
    commits = lake.get("small_commits") or {}
    if points := commits.get("points"):
        last = points[-1]
        ms = last["connect"]["median_ms"]
        aim, ok = _aim(ms, CONNECT_AIM_MS)
        worst = max(points, key=lambda p: p["connect"]["median_ms"])
        add(
            headline_row(
                f"connect() after {last['commits']:,} small commits of {commits['articles_per_commit']} articles",
                ms,
                "ms",
                aim,
                ok,
                f"checkpoints: {_checkpoints(commits.get('tables_after', {}))}; worst point of the curve "
                f"{worst['connect']['median_ms']} ms after {worst['commits']:,} commits",
            )
        )
    if compaction := dig(lake, "scheduled_day", "compaction"):
        live0, live1 = compaction["live_files_before"], compaction["live_files_after"]
        disk0, disk1 = compaction["disk_files_before"], compaction["disk_files_after"]
        was = ""
        if old:
            was = (
                f"; {old['label']}: {old['compaction_seconds']} s, {old['entity_files_before_compaction']:,} -> "
                f"{old['entity_files_after_compaction']:,} entity files on disk"
            )
        add(
            headline_row(
                f"compaction of a day of {lake['scheduled_day']['runs']} runs (optimize + vacuum 0 h)",
                compaction["seconds"],
                "s",
                note=f"entity files live {live0.get('entities', 0):,} -> {live1.get('entities', 0):,}, on disk "
                f"{disk0.get('entities', 0):,} -> {disk1.get('entities', 0):,}{was}",
            )
        )
    for when, label in (
        ("at_batch", "the compacted lake"),
        ("after_small_commits", "the lake after the small commits"),
    ):
        if report := dig(lake, "report", when):
            aim, ok = _aim(report["html_seconds"], REPORT_AIM_S)
            add(
                headline_row(
                    f"newsbeam report of {label} ({report['articles']:,} articles)",
                    report["html_seconds"],
                    "s",
                    aim,
                    ok,
                    f"HTML {report['html_bytes'] / 1e6:.1f} MB (plotly.js inlined), {report['runs_read']} run records "
                    f"read; --format json {report['json_seconds']} s",
                )
            )
    return rows


def _side_by_side(lake: dict[str, Any], old: dict[str, Any] | None) -> list[list[Any]]:
    batch, sched = lake["batch"], lake["scheduled_day"]
    compaction = sched.get("compaction", {})

    def row(measure: str, was: Any, now: Any, aim: int | None = None) -> list[Any]:
        text, ok = _aim(now, aim)
        return [measure, "" if was is None else was, now, text, "" if ok is None else ("yes" if ok else "**no**")]

    rows = [row("lake write, total (s)", old and old["write_total_seconds"], batch["write_total_seconds"], WRITE_AIM_S)]
    for key in ("articles", "entities", "publish"):
        name = "commit (publish)" if key == "publish" else f"write {key}"
        rows.append(row(f"  {name} (s)", dig(old, "write_seconds", key), batch["write_seconds"].get(key)))
    for route, label in (("connect", "connect()"), ("glob", "plain glob")):
        for query, aim in QUERY_AIMS.items():
            rows.append(
                row(
                    f"{query}, {label} (ms)",
                    dig(old, "queries", route, query),
                    dig(lake, "queries", route, query, "median_ms"),
                    aim if route == "connect" else None,
                )
            )
    rows.append(
        row(
            f"connect() at {batch['articles']:,} articles (ms)",
            old and old["connect_ms"],
            dig(lake, "connect_at_batch", "connect_ms"),
            CONNECT_AIM_MS,
        )
    )
    rows.append(
        row("compaction of the scheduled day (s)", old and old["compaction_seconds"], compaction.get("seconds"))
    )
    for when, label in (("at_batch", "compacted lake"), ("after_small_commits", "after the small commits")):
        report = dig(lake, "report", when) or {}
        if report:
            articles = report.get("articles", 0)
            rows.append(
                row(
                    f"newsbeam report, {label}, {articles:,} articles (s)",
                    None,
                    report.get("html_seconds"),
                    REPORT_AIM_S,
                )
            )
    for when in ("before", "after"):
        rows.append(
            row(
                f"entity files on disk {when} compaction",
                dig(old, f"entity_files_{when}_compaction"),
                dig(compaction, f"disk_files_{when}", "entities"),
            )
        )
    return rows


def markdown(lake: dict[str, Any]) -> list[str]:
    """The report's Lake section: old format beside new, the compaction, the connect() curve."""
    batch = lake.get("batch")
    if not batch:
        return []
    old = previous(lake)
    sched = lake["scheduled_day"]
    compaction = sched.get("compaction", {})
    out = ["", "## Lake (Delta tables)", ""]
    out.append(
        f"{batch['articles']:,} articles over {batch['days']} days ({batch['entity_vocabulary']}): "
        f"{batch['rows']['entities']:,} entity rows in {batch['files']['entities']:,} files; write "
        f"{batch['write_data_seconds']} s, Delta commits (publish_run) {batch['publish_seconds']} s. "
        f"A scheduled day of {sched['runs']} runs of {sched['articles_per_run']} articles "
        f"({sched['write_seconds_per_run']} s per run, of which commit {sched.get('publish_seconds_per_run')} s)."
    )
    header = old["label"] if old else "0.1 format (no figure at these sizes)"
    out += ["", markdown_table(["measure", header, "Delta (this run)", "aim", "met"], _side_by_side(lake, old))]
    if compaction:
        out += [
            "",
            f"Compaction ({compaction['seconds']} s): {compaction['retention_note']}. Live files (Delta log) "
            f"{compaction['live_files_before']} -> {compaction['live_files_after']}; files on disk "
            f"{compaction['disk_files_before']} -> {compaction['disk_files_after']}.",
            "",
            "```",
            compaction.get("summary", ""),
            "```",
        ]
    q = lake.get("queries", {})
    if q.get("note"):
        out.append(f"\nQueries {q.get('when', '')}. {q['note']}.")
    folder = dig(q, "diagnostics", "entity_folder_glob", "entity_per_day_frequent", "median_ms")
    if folder is not None:
        out.append(f"\nDiagnostic: a glob of the frequent entity's own folder only: {folder} ms.")
    out += _curve(lake)
    return out


def _breakdown(part: dict[str, Any]) -> str:
    loads = ", ".join(f"{name} {ms} ms" for name, ms in part.get("delta_rs_snapshot_load_ms", {}).items())
    return (
        f"{part['connect_ms']} ms = 0.1-format check {part['legacy_format_check_ms']} ms ({part['run_records']:,} "
        f"run records in _runs, not read once _journal/writer_id exists) + DuckDB extension and delta_scan views "
        f"{part['duckdb_views_ms']} ms "
        f"+ the rest (which tables exist, empty views) {part['rest_ms']} ms; parts timed apart. "
        f"A delta-rs snapshot load (open_table, as publish_run and compact do): {loads}"
    )


def _checkpoint_files(table: str, stats: dict[str, Any]) -> str:
    files = stats.get("checkpoints", [])
    if not files:
        return f"{table} none"
    return f"{table} {len(files)} (`_delta_log/{files[0]}`" + (f" to `{files[-1]}`)" if len(files) > 1 else ")")


def _curve(lake: dict[str, Any]) -> list[str]:
    commits = lake.get("small_commits") or {}
    points = commits.get("points") or []
    if not points:
        return []
    out = [
        "",
        f"### connect() as small commits accumulate ({commits['commits']:,} runs of "
        f"{commits['articles_per_commit']} articles: a day of one-minute runs)",
        "",
        f"{commits['what']}. Write {commits['write_seconds_median']} s and commit "
        f"{commits['publish_seconds_median']} s per run (medians; slowest commit {commits['publish_seconds_max']} s). "
        f"delta-rs writes a checkpoint every {commits['checkpoint_interval']} commits of a table.",
        "",
    ]
    rows = [
        [
            p["commits"],
            p["connect"]["median_ms"],
            f"{p['connect']['min_ms']}-{p['connect']['max_ms']}",
            " / ".join(str(v) for v in p["checkpoints"].values()),
            " / ".join(str(v) for v in p["versions"].values()),
            " / ".join(f"{v:,}" for v in p["live_files"].values()),
            p["publish_seconds_mean"] if p["commits"] else "",
        ]
        for p in points
    ]
    names = " / ".join(points[0]["versions"])
    out.append(
        markdown_table(
            [
                "small commits",
                f"connect() ms (median, aim <= {CONNECT_AIM_MS})",
                "min-max",
                f"checkpoints ({names})",
                f"table versions ({names})",
                f"live files ({names})",
                "mean commit s since previous row",
            ],
            rows,
        )
    )
    tables = commits.get("tables_after", {})
    out += ["", "Checkpoints at the end: " + "; ".join(_checkpoint_files(n, t) for n, t in tables.items()) + "."]
    if at_batch := lake.get("connect_at_batch"):
        out.append(f"\nconnect() at the batch lake: {_breakdown(at_batch)}.")
    if after := commits.get("connect_breakdown_after"):
        out.append(f"\nconnect() after the small commits: {_breakdown(after)}.")
    if queries := commits.get("queries_after"):
        text = ", ".join(f"{name} {value['median_ms']} ms" for name, value in queries.items())
        out.append(f"\nQueries through connect() after the small commits (not compacted): {text}.")
    return out
