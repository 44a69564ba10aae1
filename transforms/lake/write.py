"""Write lake rows into a run's private staging area, one group of files per partition.

Rows are grouped by (table, partition) and each group is streamed into Parquet files of
at most ``TableSpec.max_rows_per_file`` rows with pyarrow. This gives few, well-sized files
(one per partition per run in the common case) instead of one file per row or per bundle.

Nothing is written under the lake's visible folders here: files land in
``DIR/_staging/<run_id>/<table folder>/<partition>/part-<run_id>-NNNN.parquet`` and become
visible only when ``transforms.lake.publish`` moves them after the whole run succeeded.
File names carry the run id, so no run can overwrite another run's file.

Paths go through Beam's ``FileSystems``, so the same code writes to local disk, gs:// or s3://.
"""

from __future__ import annotations

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


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_partition(
    output: str, run_id: str, table: str, partition: str, rows: Iterable[dict[str, Any]]
) -> list[StagedFile]:
    """Stream one partition's rows into staged Parquet files; returns what was written."""
    spec = TABLES[table]
    staged_dir = FileSystems.join(staging_root(output, run_id), spec.folder, partition)
    final_dir = FileSystems.join(output, spec.folder, partition)
    written: list[StagedFile] = []
    writer: pq.ParquetWriter | None = None
    handle: Any = None
    rows_in_file = 0

    def close() -> None:
        nonlocal writer, handle
        if writer is not None:
            writer.close()
            handle.close()
            name = file_name(run_id, len(written))
            written.append(
                StagedFile(
                    table,
                    partition,
                    FileSystems.join(staged_dir, name),
                    FileSystems.join(final_dir, name),
                    rows_in_file,
                )
            )
        writer, handle = None, None

    for chunk in _chunks(rows, ROW_GROUP_ROWS):
        while chunk:
            if writer is None:
                handle = FileSystems.create(FileSystems.join(staged_dir, file_name(run_id, len(written))))
                writer = pq.ParquetWriter(pa.PythonFile(handle, mode="w"), spec.schema, compression="zstd")
                rows_in_file = 0
            room = spec.max_rows_per_file - rows_in_file
            part, chunk = chunk[:room], chunk[room:]
            writer.write_table(pa.Table.from_pylist(part, schema=spec.schema))
            rows_in_file += len(part)
            if rows_in_file >= spec.max_rows_per_file:
                close()
    close()
    return written


class _WritePartition(beam.DoFn):  # type: ignore[misc]
    def __init__(self, output: str, run_id: str) -> None:
        self.output = output
        self.run_id = run_id

    def process(self, keyed: tuple[tuple[str, str], Iterable[dict[str, Any]]]) -> Iterator[StagedFile]:
        (table, partition), rows = keyed
        files = write_partition(self.output, self.run_id, table, partition, rows)
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
            | "KeyByPartition" >> beam.Map(lambda r: ((r.table, r.partition), r.row))
            | "GroupByPartition" >> beam.GroupByKey()
            | "WritePartitions" >> beam.ParDo(_WritePartition(self.output, self.run_id))
        )


__all__ = ["STAGING", "LakeRow", "StagedFile", "WriteLake", "staging_root", "write_partition"]
