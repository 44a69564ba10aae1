"""Open the lake in DuckDB as SQL views (used by ``newsbeam demo``, the tests and analysts).

The views list exactly the files of committed runs (``transforms.lake.catalog``), so a query
never sees a run that is still publishing or files a compaction has replaced. Partition
columns (``date``, ``entity``, ``stage``) are ordinary columns, typed as Hive readers type them.

A table with many files (``entities`` has one per entity per day) is, on a local lake, an Arrow
dataset whose files carry their partition values from the catalog: ``WHERE entity = 'wang-yi'``
then opens only that entity's files, without binding the other tens of thousands (DuckDB's own
reader opens every listed file's footer first: seconds at 50k files). Tables with fewer files use
DuckDB's reader, which scans faster. Aggregates over every entity are cheaper on
``article_entities`` (the ``entities`` list of ``articles``, a few files per day) than on
``entities``.
"""

from __future__ import annotations

import posixpath
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.lake.catalog import live_files
from newsbeam.transforms.lake.write import is_local

VIEWS = {
    "articles": "articles",
    "entities": "entities",
    "duplicates": "duplicates",
    "stories": "stories",
    "dead_letter": "dead_letters",
    "feed_state": "feed_state",
    "seen": "seen",
}

ARTICLE_ENTITIES = """
CREATE VIEW article_entities AS
SELECT article_id, date, published, source, story_id, title,
       e.slug AS entity, e.entity_id, e.name, e.type, e.salience, e.mention_count
FROM (SELECT article_id, date, published, source, story_id, title, unnest(entities) AS e FROM articles)
"""
"""Every entity of every article (not only the salient ones ``entities`` keeps), one row each."""

DATASET_FROM_FILES = 1_000
"""A table with at least this many live files is read as an Arrow dataset (see the module doc)."""


def partition_schema(table: str) -> pa.Schema:
    """The table's partition columns as Hive readers type them: ``date`` a date, the rest strings."""
    return pa.schema([(key, pa.date32() if key == "date" else pa.string()) for key in TABLES[table].partition_keys])


def partition_expression(folder: str, keys: pa.Schema) -> ds.Expression:
    """``entity=x/date=2024-05-03`` as the filter expression a dataset prunes its files with."""
    values = dict(part.split("=", 1) for part in folder.strip("/").split("/") if "=" in part)
    expression = ds.scalar(True)
    for field in keys:
        raw = values.get(field.name)
        if raw is None:
            expression &= ~ds.field(field.name).is_valid()
            continue
        value = date.fromisoformat(raw) if pa.types.is_date(field.type) else raw
        expression &= ds.field(field.name) == pa.scalar(value, field.type)
    return expression


def table_dataset(output: str, table: str, paths: list[str]) -> ds.Dataset:
    """The table's live files as one dataset, partition values parsed from their folder names."""
    spec = TABLES[table]
    keys = partition_schema(table)
    root = posixpath.join(output.rstrip("/"), spec.folder)
    partitions = [partition_expression(posixpath.dirname(path)[len(root) :], keys) for path in paths]
    schema = spec.schema
    for field in keys:
        schema = schema.append(field)
    return ds.FileSystemDataset.from_paths(
        paths, schema=schema, format=ds.ParquetFileFormat(), filesystem=pafs.LocalFileSystem(), partitions=partitions
    )


def connect(output: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per lake table (empty for a table with no rows yet)."""
    connection = duckdb.connect()
    files = live_files(output)
    for table, view in VIEWS.items():
        if table not in TABLES:
            continue
        paths = files.get(table)
        if not paths:
            empty = TABLES[table].schema.empty_table()
            for field in partition_schema(table):
                empty = empty.append_column(field, pa.array([], field.type))
            connection.register(view, empty)
        elif is_local(output) and len(paths) >= DATASET_FROM_FILES:
            connection.register(view, table_dataset(output, table, paths))
        else:
            listing = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
            connection.execute(
                f"CREATE VIEW {view} AS SELECT * FROM read_parquet([{listing}], "
                "hive_partitioning = true, union_by_name = true)"
            )
    connection.execute(ARTICLE_ENTITIES)
    return connection
