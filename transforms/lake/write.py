"""Write lake rows into a run's private staging area, one group of files per partition.

Rows are grouped by (table, day) in Beam, and each group is split by partition and streamed
into Parquet files of at most ``TableSpec.max_rows_per_file`` rows with pyarrow. This gives
few, well-sized files (one per partition per run in the common case) instead of one file per
row or per bundle. Grouping by day rather than by partition keeps the shuffle to a few keys:
a day's ``entities/`` rows span thousands of ``entity=`` partitions.

Nothing is written under the lake's visible folders here: files land in
``DIR/_staging/<run_id>/<table folder>/<partition>/part-<run_id>-NNNN.parquet`` and become
visible only when ``transforms.lake.publish`` moves them after the whole run succeeded.
File names carry the run id, so no run can overwrite another run's file.

Paths go through Beam's ``FileSystems``, so the same code writes to gs:// or s3://; local
paths take a direct route (no Python file wrapper), which matters at one file per partition.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.lake import TABLES
from transforms.base import counter
from transforms.lake.crash import crash_point
from transforms.lake.rows import LakeRow

ROW_GROUP_ROWS = 5_000
STAGING = "_staging"


@dataclass(frozen=True)
class StagedFile:
    table: str
    partition: str
    staged_path: str
    final_path: str
    rows: int


def staging_root(output: str, run_id: str) -> str:
    return FileSystems.join(output, STAGING, run_id)


def file_name(run_id: str, index: int) -> str:
    return f"part-{run_id}-{index:04d}.parquet"


def is_local(path: str) -> bool:
    """A plain filesystem path (no ``scheme://``): written and moved with ``os`` directly."""
    return "://" not in path


def write_group(name: str) -> str:
    """The Beam grouping key part of a partition: its ``date=`` folder, or the whole partition without one.

    ``entity=wang-yi/date=2024-05-03`` and ``entity=china/date=2024-05-03`` are written by one
    call, so a run has one group per table and day, not one per entity.
    """
    for part in name.split("/"):
        if part.startswith("date="):
            return part
    return name


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _PartitionFiles:
    """The staged files of one partition of one run, rolling over at the table's rows-per-file cap."""

    def __init__(self, output: str, run_id: str, table: str, partition: str) -> None:
        self.spec = TABLES[table]
        self.run_id = run_id
        self.table, self.partition = table, partition
        self.staged_dir = FileSystems.join(staging_root(output, run_id), self.spec.folder, partition)
        self.final_dir = FileSystems.join(output, self.spec.folder, partition)
        self.written: list[StagedFile] = []
        self.writer: pq.ParquetWriter | None = None
        self.handle: Any = None
        self.rows_in_file = 0

    def _open(self) -> None:
        path = FileSystems.join(self.staged_dir, file_name(self.run_id, len(self.written)))
        sink: Any = path
        if is_local(path):
            os.makedirs(self.staged_dir, exist_ok=True)
        else:
            self.handle = FileSystems.create(path)
            sink = pa.PythonFile(self.handle, mode="w")
        self.writer = pq.ParquetWriter(sink, self.spec.schema, compression=self.spec.compression)
        self.rows_in_file = 0

    def write(self, rows: list[dict[str, Any]]) -> None:
        while rows:
            if self.writer is None:
                self._open()
            assert self.writer is not None
            room = self.spec.max_rows_per_file - self.rows_in_file
            part, rows = rows[:room], rows[room:]
            self.writer.write_table(pa.Table.from_pylist(part, schema=self.spec.schema))
            self.rows_in_file += len(part)
            if self.rows_in_file >= self.spec.max_rows_per_file:
                self.close()

    def close(self) -> list[StagedFile]:
        if self.writer is not None:
            self.writer.close()
            if self.handle is not None:
                self.handle.close()
            name = file_name(self.run_id, len(self.written))
            self.written.append(
                StagedFile(
                    self.table,
                    self.partition,
                    FileSystems.join(self.staged_dir, name),
                    FileSystems.join(self.final_dir, name),
                    self.rows_in_file,
                )
            )
        self.writer, self.handle = None, None
        return self.written


def write_partition(
    output: str, run_id: str, table: str, partition: str, rows: Iterable[dict[str, Any]]
) -> list[StagedFile]:
    """Stream one partition's rows into staged Parquet files; returns what was written."""
    files = _PartitionFiles(output, run_id, table, partition)
    for chunk in _chunks(rows, ROW_GROUP_ROWS):
        files.write(chunk)
    return files.close()


def write_partitions(
    output: str, run_id: str, table: str, rows: Iterable[tuple[str, dict[str, Any]]]
) -> list[StagedFile]:
    """Write ``(partition, row)`` pairs of one table, each partition into its own staged files."""
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for partition, row in rows:
        by_partition.setdefault(partition, []).append(row)
    written: list[StagedFile] = []
    for partition in sorted(by_partition):
        written.extend(write_partition(output, run_id, table, partition, by_partition.pop(partition)))
    return written


class _WriteGroup(beam.DoFn):  # type: ignore[misc]
    def __init__(self, output: str, run_id: str) -> None:
        self.output = output
        self.run_id = run_id

    def process(self, keyed: tuple[tuple[str, str], Iterable[tuple[str, dict[str, Any]]]]) -> Iterator[StagedFile]:
        (table, _group), rows = keyed
        files = write_partitions(self.output, self.run_id, table, rows)
        crash_point("during_write")
        for staged in files:
            counter(f"rows_{table}").inc(staged.rows)
            counter("files_written").inc()
            yield staged


class WriteLake(beam.PTransform):  # type: ignore[misc]
    """``LakeRow`` in; ``StagedFile`` out (one per Parquet file staged for this run)."""

    def __init__(self, output: str, run_id: str) -> None:
        super().__init__()
        self.output = output
        self.run_id = run_id

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return (
            rows
            | "KeyByTableAndDay" >> beam.Map(lambda r: ((r.table, write_group(r.partition)), (r.partition, r.row)))
            | "GroupByTableAndDay" >> beam.GroupByKey()
            | "WritePartitions" >> beam.ParDo(_WriteGroup(self.output, self.run_id))
        )


__all__ = [
    "STAGING",
    "LakeRow",
    "StagedFile",
    "WriteLake",
    "is_local",
    "staging_root",
    "write_group",
    "write_partition",
    "write_partitions",
]
