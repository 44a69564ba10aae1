"""Every lake table is a Delta Lake table (delta-rs): its ``_delta_log`` says which files are in it.

Beam workers write Parquet files straight into the table's Hive folders; a file is part of the
table only once a commit adds it, so readers of the Delta log (DuckDB ``delta_scan``, Spark,
Trino, Polars) never see half a run. This module is the one place that talks to delta-rs:
table paths and schemas, the add actions of written files, idempotent commits, and the live
files of the current (or an earlier) version.

Partition columns are declared in the Delta schema (``date`` as a date, the others as
strings) and live only in the folder names and the log, never inside the files, as before.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa
from deltalake import DeltaTable, Field
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, CommitProperties, RemoveAction, Transaction

from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.lake import storage

RUN_ID_KEY = "newsbeam.run_id"
"""Commit metadata naming the run that made a commit (shown in ``DESCRIBE HISTORY``)."""
CHECKPOINT_INTERVAL = 10
"""Commits between Delta checkpoints (``delta.checkpointInterval``; delta-rs's default is 100).

Opening a table, and every ``transaction_version`` call, replays each JSON commit since the last
checkpoint, and delta-rs reads them concurrently, about one tokio blocking thread per file. A
stream commits every few seconds, so those threads never idle out: at 100 its pool grew to 84
threads in a 15-minute soak, each with its stack and allocator caches (issue 15); at 10 it stayed
at 18. A checkpoint costs one Parquet write of the table's live file list every 10 commits."""
TABLE_PROPERTIES = {"delta.checkpointInterval": str(CHECKPOINT_INTERVAL)}
"""Delta table properties every lake table gets (set on tables created before they were chosen)."""


@dataclass(frozen=True)
class WrittenFile:
    """A Parquet file a run wrote into a table's folder, not yet committed (invisible until then)."""

    table: str
    relative: str
    """Path inside the table folder, e.g. ``entity=wang-yi/date=2024-05-03/part-<run>-0000.parquet``."""
    size: int
    rows: int


def table_uri(output: str, table: str) -> str:
    return posixpath.join(output.rstrip("/"), TABLES[table].folder)


def partition_type(key: str) -> pa.DataType:
    return pa.date32() if key == "date" else pa.string()


def delta_schema(table: str) -> pa.Schema:
    """The table's Parquet schema plus its partition columns: what the Delta log declares."""
    spec = TABLES[table]
    schema = spec.schema
    for key in spec.partition_keys:
        schema = schema.append(pa.field(key, partition_type(key)))
    return schema


def partition_values(relative: str) -> dict[str, str | None]:
    """``entity=x/date=2024-05-03/part.parquet`` -> ``{"entity": "x", "date": "2024-05-03"}``."""
    values: dict[str, str | None] = {}
    for part in posixpath.dirname(relative).split("/"):
        if "=" in part:
            key, value = part.split("=", 1)
            values[key] = value
    return values


def open_table(output: str, table: str) -> DeltaTable | None:
    """The Delta table, or None when no run has created it yet."""
    try:
        return DeltaTable(table_uri(output, table))
    except TableNotFoundError:
        return None


def table_exists(output: str, table: str) -> bool:
    """Whether the table has a Delta log, without loading its snapshot (3 ms against 220 ms at 54k files)."""
    return bool(DeltaTable.is_deltatable(table_uri(output, table)))


def ensure_table(output: str, table: str) -> DeltaTable:
    """Open the table, creating it empty (schema and partitioning from ``schemas.lake``) if needed."""
    existing = open_table(output, table)
    if existing is not None:
        return with_table_properties(with_new_columns(existing, table))
    spec = TABLES[table]
    return DeltaTable.create(
        table_uri(output, table),
        delta_schema(table),
        mode="ignore",
        partition_by=list(spec.partition_keys) or None,
        name=spec.name,
        configuration=TABLE_PROPERTIES,
    )


def with_new_columns(existing: DeltaTable, table: str) -> DeltaTable:
    """``existing`` with the columns ``schemas.lake`` added since it was created (nullable: old files read null)."""
    have = {field.name for field in existing.schema().fields}
    missing = [field for field in delta_schema(table) if field.name not in have]
    if missing:
        existing.alter.add_columns([Field.from_arrow(field.with_nullable(True)) for field in missing])
    return existing


def with_table_properties(existing: DeltaTable) -> DeltaTable:
    """``existing`` with the ``TABLE_PROPERTIES`` it lacks (one metadata commit, once per table).

    A property the table already sets, to any value, is left alone: whoever set it chose it.
    """
    have = existing.metadata().configuration
    missing = {key: value for key, value in TABLE_PROPERTIES.items() if key not in have}
    if missing:
        existing.alter.set_table_properties(missing)
    return existing


def add_action(written: WrittenFile, modification_time_ms: int) -> AddAction:
    stats = json.dumps({"numRecords": written.rows})
    return AddAction(
        written.relative, written.size, partition_values(written.relative), modification_time_ms, True, stats
    )


def committed_sequence(table: DeltaTable, writer_id: str) -> int:
    """The highest run sequence number ``writer_id`` committed to this table (0: none)."""
    return table.transaction_version(writer_id) or 0


def remove_action(relative: str, size: int, partition: dict[str, str | None], deletion_time_ms: int) -> RemoveAction:
    """Remove a live file (its rows were rewritten elsewhere in the same commit)."""
    return RemoveAction(relative, True, deletion_time_ms, size, partition)


def commit_files(
    table: DeltaTable,
    name: str,
    actions: Sequence[AddAction | RemoveAction],
    writer_id: str,
    sequence: int,
    run_id: str,
) -> bool:
    """Add (and remove) ``actions`` in one commit carrying the app transaction ``(writer_id, sequence)``.

    Idempotent: when the table already holds this writer's ``sequence`` (a crash after the
    commit, then recovery), nothing is committed and False is returned.
    """
    if committed_sequence(table, writer_id) >= sequence:
        return False
    spec = TABLES[name]
    table.create_write_transaction(
        list(actions),
        mode="append",
        schema=delta_schema(name),
        partition_by=list(spec.partition_keys) or None,
        commit_properties=CommitProperties(
            app_transactions=[Transaction(writer_id, sequence)], custom_metadata={RUN_ID_KEY: run_id}
        ),
    )
    return True


def live_files(output: str, tables: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Absolute paths of the files in each table's current version."""
    found: dict[str, list[str]] = {}
    for name in tables if tables is not None else TABLES:
        table = open_table(output, name)
        if table is not None:
            found[name] = sorted(table.file_uris())
    return found


def latest_version(output: str, table: str) -> int | None:
    """The table's newest commit number, from the names in ``_delta_log`` (no snapshot loaded:
    loading one materialises every live file, 220 ms at 54k files)."""
    names = storage.names(posixpath.join(table_uri(output, table), "_delta_log"))
    versions = [int(name[:20]) for name in names if name.endswith(".json") and name[:20].isdigit()]
    return max(versions) if versions else None


def table_versions(output: str) -> dict[str, int]:
    """The newest version of every table that exists (what ``connect(as_of=...)`` pins)."""
    versions = {}
    for name in TABLES:
        version = latest_version(output, name)
        if version is not None:
            versions[name] = version
    return versions
