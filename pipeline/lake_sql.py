"""Open the lake in DuckDB as SQL views (used by ``newsbeam demo``, the tests and analysts).

Every view reads the Hive folders with ``hive_partitioning=true``, so ``date``, ``entity``
and ``stage`` are ordinary columns.
"""

from __future__ import annotations

import glob
import os

import duckdb

from schemas.lake import TABLES

VIEWS = {
    "articles": "articles",
    "entities": "entities",
    "duplicates": "duplicates",
    "dead_letter": "dead_letters",
}


def table_glob(output: str, table: str) -> str:
    spec = TABLES[table]
    depth = "/".join("*" for _ in spec.partition_keys)
    return os.path.join(output, spec.folder, depth, "*.parquet")


def connect(output: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per lake table that has files."""
    connection = duckdb.connect()
    for table, view in VIEWS.items():
        pattern = table_glob(output, table)
        if not glob.glob(pattern):
            continue
        connection.execute(
            f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{pattern}', "
            "hive_partitioning = true, union_by_name = true)"
        )
    return connection
