"""The numbers of ``newsbeam report``: one JSON-ready dict, read from the lake through DuckDB.

Every section is a small SQL query over ``lake_sql.connect`` views (plus the run records in
``_runs/``), so the report reads only what it shows and stays fast on a large lake. Layout drift
and feed staleness are judged here (``drift.py`` holds the rule), not in the page, so the JSON
(``--format json``) carries the same flags the page shows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import duckdb

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.report.drift import DriftRule, site_drift
from newsbeam.transforms.lake import storage
from newsbeam.transforms.lake.publish import RUNS

MAX_RUNS = 500
"""Run records read (the newest): a stream commits a window every 30 s, and the page plots these."""
TOP = 15
EXAMPLES = 3


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, map(_plain, row), strict=True)) for row in cursor.fetchall()]


def _plain(value: Any) -> Any:
    """JSON-ready: times as ISO text, everything else as DuckDB gave it."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def run_records(output: str, limit: int = MAX_RUNS) -> list[dict[str, Any]]:
    """The newest ``limit`` run (or stream window) records: id, start, duration and counters."""
    folder = storage.join(output, RUNS)
    names = sorted(n for n in storage.names(folder) if n.endswith(".json"))[-limit:] if storage.exists(folder) else []
    records = []
    for name in names:
        try:
            record = json.loads(storage.read_bytes(storage.join(folder, name)).decode())
        except (OSError, ValueError):
            continue  # a record being written right now, or not ours: the lake tables still count
        started, finished = record.get("started_at"), record.get("finished_at")
        duration = None
        if started and finished:
            duration = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
        counters = record.get("counters") or {}
        records.append(
            {
                "run_id": record.get("run_id", name.removesuffix(".json")),
                "started_at": started or finished,
                "duration_s": round(duration, 2) if duration is not None else None,
                "counters": counters if isinstance(counters, dict) else {},
            }
        )
    return records


def runs_section(con: duckdb.DuckDBPyConnection, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run: when, how long, articles committed and dead letters (counted in the tables)."""
    articles = dict(con.execute("SELECT run_id, count(*) FROM articles GROUP BY 1").fetchall())
    letters = dict(con.execute("SELECT run_id, count(*) FROM dead_letters GROUP BY 1").fetchall())
    return [
        {
            "run_id": r["run_id"],
            "started_at": r["started_at"],
            "duration_s": r["duration_s"],
            "articles": int(articles.get(r["run_id"], 0)),
            "dead_letters": int(letters.get(r["run_id"], 0)),
        }
        for r in records
    ]


def articles_per_hour(con: duckdb.DuckDBPyConnection, top: int = 8) -> list[dict[str, Any]]:
    """Articles fetched per hour, by source (the ``top`` busiest sources, the rest as "other")."""
    return _rows(
        con,
        """
        WITH busiest AS (SELECT coalesce(source, '?') AS source FROM articles GROUP BY 1 ORDER BY count(*) DESC LIMIT ?)
        SELECT date_trunc('hour', a.fetched_at) AS hour,
               CASE WHEN b.source IS NULL THEN 'other' ELSE coalesce(a.source, '?') END AS source,
               count(*) AS articles
        FROM articles a LEFT JOIN busiest b ON coalesce(a.source, '?') = b.source
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        [top],
    )


def feed_health(con: duckdb.DuckDBPyConnection, now: datetime) -> list[dict[str, Any]]:
    """Per feed: its newest state, 304 share, and staleness against its own publishing rate.

    An article's moment is its publication time (its fetch time when it has none, or a later one):
    a feed's usual gap is how often it publishes, not how often newsbeam happened to run.
    """
    feeds = _rows(
        con,
        """
        WITH states AS (
            SELECT feed_url,
                   arg_max(last_status, last_attempt_at) AS last_status,
                   arg_max(last_error, last_attempt_at) AS last_error,
                   arg_max(consecutive_failures, last_attempt_at) AS consecutive_failures,
                   max(last_attempt_at) AS last_attempt_at,
                   max(last_success_at) AS last_success_at,
                   avg(CASE WHEN last_status = 304 THEN 1.0 ELSE 0.0 END) AS not_modified_share,
                   arg_max(last_fetch_ms, last_attempt_at) AS last_fetch_ms,
                   CAST(median(last_fetch_ms) AS INTEGER) AS median_fetch_ms,
                   count(*) AS polls
            FROM feed_state GROUP BY 1),
        entries AS (
            SELECT feed_url, count(*) AS articles, min(moment) AS first_new, max(moment) AS last_new
            FROM (SELECT feed_url, least(coalesce(published, fetched_at), fetched_at) AS moment FROM articles)
            GROUP BY 1)
        SELECT s.*, coalesce(e.articles, 0) AS articles, e.first_new, e.last_new
        FROM states s LEFT JOIN entries e USING (feed_url) ORDER BY s.feed_url
        """,
    )
    for feed in feeds:
        feed["failing"] = bool(feed["consecutive_failures"]) or (feed["last_status"] or 0) >= 400
        feed["not_modified_share"] = round(float(feed["not_modified_share"] or 0.0), 3)
        feed.update(staleness(feed, now))
    return feeds


def staleness(feed: dict[str, Any], now: datetime, factor: float = 3.0) -> dict[str, Any]:
    """Hours since the feed's last new article, its usual gap, and whether it is ``factor`` x overdue."""
    if not feed.get("last_new"):
        return {"hours_since_new": None, "usual_gap_hours": None, "stale": False}
    last = datetime.fromisoformat(feed["last_new"])
    since = (now - last).total_seconds() / 3600
    usual = None
    if feed["articles"] >= 3 and feed.get("first_new"):
        span = (last - datetime.fromisoformat(feed["first_new"])).total_seconds() / 3600
        usual = span / (feed["articles"] - 1)
    stale = usual is not None and usual > 0 and since > factor * max(usual, 0.25)
    return {
        "hours_since_new": round(since, 2),
        "usual_gap_hours": round(usual, 2) if usual is not None else None,
        "stale": stale,
    }


def dead_letters(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Dead letters by stage and reason (first 120 characters), with a few examples each."""
    return _rows(
        con,
        f"""
        SELECT stage, error_type, left(reason, 120) AS reason, count(*) AS count,
               list(input_id ORDER BY occurred_at DESC)[1:{EXAMPLES}] AS examples
        FROM dead_letters GROUP BY 1, 2, 3 ORDER BY count DESC, stage, reason LIMIT 50
        """,
    )


def top_of_day(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The lake's newest day: its busiest entities and stories."""
    day = con.execute("SELECT max(CAST(fetched_at AS DATE)) FROM articles").fetchall()[0][0]
    if day is None:
        return {"day": None, "entities": [], "stories": []}
    entities = _rows(
        con,
        """
        SELECT any_value(e.name) AS name, e.type, count(DISTINCT e.article_id) AS articles
        FROM article_entities e JOIN articles a USING (article_id)
        WHERE CAST(a.fetched_at AS DATE) = ? GROUP BY e.entity_id, e.type ORDER BY articles DESC, name LIMIT ?
        """,
        [day, TOP],
    )
    stories = _rows(
        con,
        """
        SELECT a.story_id, count(*) AS articles, count(DISTINCT a.source) AS sources,
               arg_min(a.title, a.fetched_at) AS title
        FROM articles a WHERE CAST(a.fetched_at AS DATE) = ? AND a.story_id IS NOT NULL
        GROUP BY 1 ORDER BY articles DESC, a.story_id LIMIT ?
        """,
        [day, TOP],
    )
    return {"day": day.isoformat(), "entities": entities, "stories": stories}


def duplicate_rates(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per run: articles kept, exact and near duplicates, and the share of inputs that were copies."""
    rows = _rows(
        con,
        """
        WITH kept AS (SELECT run_id, count(*) AS articles FROM articles GROUP BY 1),
        copies AS (
            SELECT run_id, count(*) FILTER (WHERE kind LIKE 'exact%') AS exact,
                   count(*) FILTER (WHERE kind = 'near') AS near
            FROM duplicates GROUP BY 1)
        SELECT run_id, coalesce(articles, 0) AS articles, coalesce(exact, 0) AS exact, coalesce(near, 0) AS near
        FROM kept FULL JOIN copies USING (run_id) ORDER BY run_id
        """,
    )
    for row in rows:
        total = row["articles"] + row["exact"] + row["near"]
        for kind in ("exact", "near"):
            row[f"{kind}_share"] = round(row[kind] / total, 4) if total else 0.0
        row["duplicate_share"] = round((row["exact"] + row["near"]) / total, 4) if total else 0.0
    return rows


def report_data(output: str, now: datetime | None = None, rule: DriftRule | None = None) -> dict[str, Any]:
    """Everything the report shows, as one JSON-ready dict."""
    now = now or datetime.now(timezone.utc)
    con = lake_sql.connect(output)
    try:
        totals = con.execute(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM duplicates), "
            "(SELECT count(*) FROM dead_letters), (SELECT count(DISTINCT story_id) FROM articles)"
        ).fetchall()[0]
        records = run_records(output)
        return {
            "lake": output,
            "generated_at": now.isoformat(),
            "totals": dict(zip(("articles", "duplicates", "dead_letters", "stories"), totals, strict=True)),
            "runs": runs_section(con, records),
            "articles_per_hour": articles_per_hour(con),
            "feeds": feed_health(con, now),
            "drift": site_drift(con, rule or DriftRule()),
            "dead_letters": dead_letters(con),
            "today": top_of_day(con),
            "duplicates": duplicate_rates(con),
        }
    finally:
        con.close()
