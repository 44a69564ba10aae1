"""Reading the lake: DuckDB queries through ``connect()`` and through plain globs, and what ``connect()`` costs.

``connect()`` (``pipeline.lake_sql``) makes one ``delta_scan`` view per Delta table, so its cost
grows with the tables' logs (commits since the last checkpoint, live files); the bench times it
on its own, as the lake grows, and splits it into its parts. The glob route reads the Hive
folders with no log at all: the comparison a reader without Delta support would get.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import median, rounded

QUERY_REPEATS = 5
CONNECT_REPEATS = 5
STATS_TABLES = ("articles", "entities")
"""The tables the bench writes (the others stay empty): the ones whose logs and files it reports."""


def median_ms(connection: Any, sql: str) -> dict[str, Any]:
    """Median of up to QUERY_REPEATS timed runs after a warm-up; a query slower than a second is run once.

    At 100k articles some queries take seconds, and repeating them would cost minutes of the
    budget to refine a number that misses its aim by two orders of magnitude anyway.
    """
    started = time.perf_counter()
    rows = connection.execute(sql).fetchall()
    first = time.perf_counter() - started
    if first >= 1.0:
        return {"median_ms": rounded(first * 1000, 1), "rows": len(rows), "timed_runs": 1}
    times: list[float] = []
    while len(times) < QUERY_REPEATS and sum(times) < 3.0:
        started = time.perf_counter()
        connection.execute(sql).fetchall()
        times.append(time.perf_counter() - started)
    return {"median_ms": rounded(median(times) * 1000, 1), "rows": len(rows), "timed_runs": len(times)}


def query_sql(head: str, tail: str, day: str) -> dict[str, str]:
    """The benchmark's questions: one entity per day (frequent and tail), top entities, one day's articles."""

    def per_day(entity: str) -> str:
        return f"SELECT date, count(*) AS articles FROM entities WHERE entity = '{entity}' GROUP BY date ORDER BY date"

    top = "SELECT entity, count(*) AS articles FROM {table} GROUP BY entity ORDER BY 2 DESC LIMIT 20"
    return {
        "entity_per_day_frequent": per_day(head),
        "entity_per_day_tail": per_day(tail),
        "top_entities": top.format(table="article_entities"),
        "one_day_articles": f"SELECT article_id, title, source, published FROM articles WHERE date = '{day}'",
        "top_entities_from_entities_table": top.format(table="entities"),
    }


def _glob_connection(output: Path) -> Any:
    """Views over the Hive folders by glob: every Parquet file on disk, committed or not, log ignored."""
    import duckdb

    from newsbeam.pipeline import lake_sql

    glob = duckdb.connect()
    # date=/entity= in the pattern keep _delta_log's checkpoint Parquet files out.
    for view, pattern in (
        ("articles", "articles/date=*/*.parquet"),
        ("entities", "entities/entity=*/date=*/*.parquet"),
    ):
        glob.execute(
            f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{output / pattern}', hive_partitioning = true)"
        )
    glob.execute(lake_sql.ARTICLE_ENTITIES)
    return glob


def queries(output: Path, head: str, tail: str, day: str) -> dict[str, Any]:
    """Median milliseconds of each query through ``connect()`` and through globs, plus one diagnostic."""
    import duckdb

    from newsbeam.pipeline import lake_sql

    sql = query_sql(head, tail, day)
    result: dict[str, Any] = {
        "sql": sql,
        "note": "top_entities reads article_entities (the entities list of articles, lake_sql's view); "
        "top_entities_from_entities_table is the same question asked of the entity-partitioned table, "
        "which has one file per entity per day",
    }
    started = time.perf_counter()
    connection = lake_sql.connect(str(output))
    connect_seconds = time.perf_counter() - started
    glob = _glob_connection(output)
    for name, route in (("connect", connection), ("glob", glob)):
        result[name] = {query: median_ms(route, text) for query, text in sql.items()}
    result["connect"]["connect_ms"] = rounded(connect_seconds * 1000, 1)
    connection.close()
    glob.close()

    # Diagnostic: what reading only the entity's own folder costs (the floor for a Hive reader).
    folder = duckdb.connect()
    folder.execute(
        "CREATE VIEW entities AS SELECT * FROM read_parquet("
        f"'{output}/entities/entity={head}/*/*.parquet', hive_partitioning = true)"
    )
    result["diagnostics"] = {
        "entity_folder_glob": {"entity_per_day_frequent": median_ms(folder, sql["entity_per_day_frequent"])}
    }
    folder.close()
    return result


def connect_queries(output: Path, sql: dict[str, str], names: tuple[str, ...]) -> dict[str, Any]:
    """Some of the queries through ``connect()`` only (the lake as it is now, e.g. after many small commits)."""
    from newsbeam.pipeline import lake_sql

    connection = lake_sql.connect(str(output))
    try:
        return {name: median_ms(connection, sql[name]) for name in names}
    finally:
        connection.close()


def connect_ms(output: Path, repeats: int = CONNECT_REPEATS) -> dict[str, Any]:
    """Median milliseconds of ``connect()`` + ``close()`` (a fresh connection each time, as a dashboard opens one)."""
    from newsbeam.pipeline import lake_sql

    times: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        lake_sql.connect(str(output)).close()
        times.append(time.perf_counter() - started)
    return {
        "median_ms": rounded(median(times) * 1000, 1),
        "min_ms": rounded(min(times) * 1000, 1),
        "max_ms": rounded(max(times) * 1000, 1),
        "repeats": repeats,
    }


def _duckdb_views(output: Path) -> None:
    """What ``connect()`` does in DuckDB for the tables the bench writes: load the extension, create the views."""
    import duckdb

    from newsbeam.pipeline import lake_sql
    from newsbeam.transforms.lake.delta import table_uri

    connection = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    connection.execute(f"LOAD '{lake_sql.delta_extension()}'")
    for table in STATS_TABLES:
        connection.execute(
            f"CREATE VIEW {lake_sql.VIEWS[table]} AS SELECT * FROM delta_scan('{table_uri(str(output), table)}')"
        )
    connection.execute(lake_sql.ARTICLE_ENTITIES)
    connection.close()


def connect_breakdown(output: Path, repeats: int = CONNECT_REPEATS) -> dict[str, Any]:
    """Where ``connect()``'s time goes, each part timed on its own (medians, so the parts only roughly add up).

    The 0.1-format check (it reads every ``_runs/*.json``) and DuckDB's part (load the extension,
    one ``delta_scan`` view per table) are timed directly; the rest is connect() minus those two
    (finding which tables exist, the empty views). A delta-rs snapshot load of the two tables is
    timed too, for reference: it is what each ``open_table`` in ``publish_run`` or ``compact`` pays.
    """
    from newsbeam.transforms.lake.delta import open_table
    from newsbeam.transforms.lake.migrate import is_legacy_lake

    def timed(fn: Any) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return median(times) * 1000

    total = connect_ms(output, repeats)["median_ms"]
    legacy = timed(lambda: is_legacy_lake(str(output)))
    views = timed(lambda: _duckdb_views(output))
    return {
        "connect_ms": total,
        "legacy_format_check_ms": rounded(legacy, 1),
        "duckdb_views_ms": rounded(views, 1),
        "rest_ms": rounded(max(0.0, total - legacy - views), 1),
        "run_records": sum(1 for _ in (output / "_runs").glob("*.json")),
        "delta_rs_snapshot_load_ms": {
            name: rounded(timed(lambda name=name: open_table(str(output), name)), 1) for name in STATS_TABLES
        },
    }


def log_stats(output: Path) -> dict[str, Any]:
    """Per written table: Delta version, live files (from the log), data files on disk, checkpoints, commits."""
    from newsbeam.schemas.lake import TABLES
    from newsbeam.transforms.lake.delta import live_files, open_table

    live = live_files(str(output), STATS_TABLES)
    stats: dict[str, Any] = {}
    for name in STATS_TABLES:
        folder = output / TABLES[name].folder
        log = folder / "_delta_log"
        table = open_table(str(output), name)
        stats[name] = {
            "version": table.version() if table is not None else None,
            "live_files": len(live.get(name, [])),
            "files_on_disk": disk_files(output, name),
            "checkpoints": sorted(p.name for p in log.glob("*.checkpoint*.parquet")) if log.is_dir() else [],
            "commit_files": sum(1 for _ in log.glob("*.json")) if log.is_dir() else 0,
        }
    return stats


def disk_files(output: Path, table: str) -> int:
    """Data files in the table's folders (committed or not; ``_delta_log`` excluded)."""
    from newsbeam.schemas.lake import TABLES

    folder = output / TABLES[table].folder
    if not folder.is_dir():
        return 0
    return sum(1 for path in folder.rglob("*.parquet") if "_delta_log" not in path.parts)
