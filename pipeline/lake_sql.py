"""Open the lake in DuckDB as SQL views (used by ``newsbeam demo``, the tests and analysts).

The views list exactly the files of committed runs (``transforms.lake.catalog``), so a query
never sees a run that is still publishing or files a compaction has replaced. Hive
partitioning is on, so ``date``, ``entity`` and ``stage`` are ordinary columns.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from schemas.lake import TABLES
from transforms.lake.catalog import live_files

VIEWS = {
    "articles": "articles",
    "entities": "entities",
    "duplicates": "duplicates",
    "stories": "stories",
    "dead_letter": "dead_letters",
    "feed_state": "feed_state",
    "seen": "seen",
}


def connect(output: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per lake table (empty for a table with no rows yet)."""
    connection = duckdb.connect()
    files = live_files(output)
    for table, view in VIEWS.items():
        if table not in TABLES:
            continue
        paths = files.get(table)
        if not paths:
            spec = TABLES[table]
            empty = spec.schema.empty_table()
            for key in spec.partition_keys:
                empty = empty.append_column(key, pa.array([], pa.string()))
            connection.register(view, empty)
            continue
        listing = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
        connection.execute(
            f"CREATE VIEW {view} AS SELECT * FROM read_parquet([{listing}], "
            "hive_partitioning = true, union_by_name = true)"
        )
    return connection
