"""Write lake rows into the lake's Delta tables' folders, one group of files per partition.

Rows are grouped by (table, day) in Beam, and each group is split by partition and streamed
into Parquet files of at most ``TableSpec.max_rows_per_file`` rows with pyarrow. This gives
few, well-sized files (one per partition per run in the common case) instead of one file per
row or per bundle. Grouping by day rather than by partition keeps the shuffle to a few keys:
a day's ``entities/`` rows span thousands of ``entity=`` partitions.

Before the shuffle, each bundle turns its rows into Arrow batches (``RowBatch``: Arrow IPC
bytes, one per (table, day) and up to ``BATCH_ROWS`` rows), so the shuffle moves a few
byte strings instead of encoding every row dict and its datetimes one by one (that was about
a sixth of a run's CPU). Files are still written only after the shuffle, by one call per
(table, day), so a retried bundle never leaves a file behind and names stay deterministic.

Files land where they will stay, ``DIR/<table folder>/<partition>/part-<run_id>-NNNN.parquet``,
and are invisible until ``transforms.lake.publish`` adds them to the table's Delta log after
the whole run succeeded (a reader of the log never sees an uncommitted file). File names carry
the run id, so no run can overwrite another run's file, and a run that died before committing
is cleaned up by name.

Paths go through ``transforms.lake.storage``, so the same code writes to s3://, gs:// or az://
(a file is built in memory and PUT whole); local paths are written directly, which matters at one
file per partition.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.transforms.window import GlobalWindows

from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.base import counter
from newsbeam.transforms.lake import storage
from newsbeam.transforms.lake.crash import crash_point
from newsbeam.transforms.lake.delta import WrittenFile
from newsbeam.transforms.lake.rows import LakeRow

ROW_GROUP_ROWS = 5_000
LISTINGS = "_journal/files"
"""Under the lake: one JSON per run listing the files its pipeline wrote."""
BATCH_ROWS = 20_000
"""Rows a bundle buffers before it sends its batches on: bounds the writer's memory per bundle."""
DICTIONARY_MIN_ROWS = 256
"""Files started with fewer rows are written without dictionary encoding: a one-entity-one-day
file holds a handful of rows, and building dictionaries for it cost a quarter of its write time."""
PARTITION_COLUMN = "__partition"
"""Column carrying each row's partition inside a ``RowBatch`` (never written to the lake)."""

RowBatch = tuple[tuple[str, str], bytes]
"""((table, day group), Arrow IPC stream of the rows plus ``PARTITION_COLUMN``)."""


def file_name(run_id: str, index: int) -> str:
    return f"part-{run_id}-{index:04d}.parquet"


is_local = storage.is_local


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


def file_size(path: str) -> int:
    if is_local(path):
        return os.path.getsize(path)
    entry = storage.head(path)
    assert entry is not None, f"{path} was just written"
    return entry.size


class _PartitionFiles:
    """The files of one partition of one run, rolling over at the table's rows-per-file cap."""

    def __init__(self, output: str, run_id: str, table: str, partition: str) -> None:
        self.spec = TABLES[table]
        self.run_id = run_id
        self.table, self.partition = table, partition
        folder = storage.join(output, self.spec.folder)
        self.dir = storage.join(folder, partition) if partition else folder
        self.written: list[WrittenFile] = []
        self.writer: pq.ParquetWriter | None = None
        self.handle: Any = None
        self.rows_in_file = 0

    def _open(self, rows: int) -> None:
        path = storage.join(self.dir, file_name(self.run_id, len(self.written)))
        sink: Any = path
        if is_local(path):
            os.makedirs(self.dir, exist_ok=True)
        else:
            self.handle = pa.BufferOutputStream()  # PUT whole on close: an object store has no append
            sink = self.handle
        self.writer = pq.ParquetWriter(
            sink, self.spec.schema, compression=self.spec.compression, use_dictionary=rows >= DICTIONARY_MIN_ROWS
        )
        self.rows_in_file = 0

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (the table's schema), in row groups of at most ``ROW_GROUP_ROWS``."""
        while table.num_rows:
            if self.writer is None:
                self._open(table.num_rows)
            assert self.writer is not None
            room = self.spec.max_rows_per_file - self.rows_in_file
            part, table = table.slice(0, room), table.slice(room)
            self.writer.write_table(part, row_group_size=ROW_GROUP_ROWS)
            self.rows_in_file += part.num_rows
            if self.rows_in_file >= self.spec.max_rows_per_file:
                self.close()

    def close(self) -> list[WrittenFile]:
        if self.writer is not None:
            self.writer.close()
            name = file_name(self.run_id, len(self.written))
            path = storage.join(self.dir, name)
            if self.handle is not None:
                storage.write_bytes(path, self.handle.getvalue().to_pybytes())
            relative = f"{self.partition}/{name}" if self.partition else name
            size = file_size(path)
            self.written.append(WrittenFile(self.table, relative, size, self.rows_in_file))
        self.writer, self.handle = None, None
        return self.written


def write_partition(
    output: str, run_id: str, table: str, partition: str, rows: Iterable[dict[str, Any]]
) -> list[WrittenFile]:
    """Stream one partition's rows into uncommitted Parquet files; returns what was written."""
    files = _PartitionFiles(output, run_id, table, partition)
    schema = files.spec.schema
    for chunk in _chunks(rows, ROW_GROUP_ROWS):
        files.write(pa.Table.from_pylist(chunk, schema=schema))
    return files.close()


def to_batch(table: str, pairs: Iterable[tuple[str, dict[str, Any]]]) -> pa.Table:
    """``(partition, row)`` pairs of one table as an Arrow table: its schema plus ``PARTITION_COLUMN``."""
    partitions: list[str] = []
    rows: list[dict[str, Any]] = []
    for partition, row in pairs:
        partitions.append(partition)
        rows.append(row)
    batch = pa.Table.from_pylist(rows, schema=TABLES[table].schema)
    return batch.append_column(PARTITION_COLUMN, pa.array(partitions, pa.string()))


def encode_batch(batch: pa.Table) -> bytes:
    """A ``to_batch`` table as Arrow IPC stream bytes (what the shuffle carries)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as stream:
        stream.write_table(batch)
    return bytes(sink.getvalue().to_pybytes())


def decode_batch(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(payload).read_all()


def write_batches(output: str, run_id: str, table: str, batches: Iterable[pa.Table]) -> list[WrittenFile]:
    """Write ``to_batch`` tables of one table, each partition into its own files.

    Rows are stably sorted by partition, so each partition is one contiguous slice written at
    once, in the order its rows arrived.
    """
    parts = [batch for batch in batches if batch.num_rows]
    if not parts:
        return []
    merged = pa.concat_tables(parts)
    merged = merged.take(pc.sort_indices(merged, sort_keys=[(PARTITION_COLUMN, "ascending")]))
    partitions = merged.column(PARTITION_COLUMN).to_pylist()
    data = merged.drop_columns([PARTITION_COLUMN])
    written: list[WrittenFile] = []
    start = 0
    for partition, run in groupby(partitions):
        size = sum(1 for _ in run)
        files = _PartitionFiles(output, run_id, table, partition)
        files.write(data.slice(start, size))
        written.extend(files.close())
        start += size
    return written


def write_partitions(
    output: str, run_id: str, table: str, rows: Iterable[tuple[str, dict[str, Any]]]
) -> list[WrittenFile]:
    """Write ``(partition, row)`` pairs of one table, each partition into its own files."""
    return write_batches(output, run_id, table, [to_batch(table, rows)])


class _BatchRows(beam.DoFn):  # type: ignore[misc]
    """Buffers a bundle's rows per (table, day) and emits them as ``RowBatch`` es.

    Batches are emitted in the global window: the lake is written by batch pipelines only.
    """

    def __init__(self, max_rows: int = BATCH_ROWS) -> None:
        self.max_rows = max_rows

    def start_bundle(self) -> None:
        self._buffers: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
        self._buffered = 0

    def process(self, row: LakeRow) -> Iterator[RowBatch]:
        self._buffers.setdefault((row.table, write_group(row.partition)), []).append((row.partition, row.row))
        self._buffered += 1
        if self._buffered >= self.max_rows:
            yield from self._flush()

    def finish_bundle(self) -> Iterator[Any]:
        for batch in self._flush():
            yield GlobalWindows.windowed_value(batch)

    def _flush(self) -> Iterator[RowBatch]:
        buffers, self._buffers, self._buffered = self._buffers, {}, 0
        for key in sorted(buffers):
            yield key, encode_batch(to_batch(key[0], buffers.pop(key)))


class _WriteGroup(beam.DoFn):  # type: ignore[misc]
    def __init__(self, output: str, run_id: str) -> None:
        self.output = output
        self.run_id = run_id

    def process(self, keyed: tuple[tuple[str, str], Iterable[bytes]]) -> Iterator[WrittenFile]:
        (table, _group), payloads = keyed
        files = write_batches(self.output, self.run_id, table, (decode_batch(p) for p in payloads))
        crash_point("during_write")
        for written in files:
            counter(f"rows_{table}").inc(written.rows)
            counter("files_written").inc()
            yield written


def listing_path(output: str, run_id: str) -> str:
    """Where a run's pipeline records the files it wrote: what the driver then commits."""
    return storage.join(output, LISTINGS, f"{run_id}.json")


def record_listing(files: list[WrittenFile], output: str, run_id: str) -> int:
    """Write the run's file list (one JSON, rewritten whole if the step is retried)."""
    path = listing_path(output, run_id)
    payload = json.dumps([dataclasses.asdict(f) for f in sorted(files, key=lambda f: (f.table, f.relative))])
    storage.write_bytes(path, payload.encode())
    return len(files)


def read_listing(output: str, run_id: str) -> list[WrittenFile]:
    """The files a run's pipeline wrote (empty when it never got that far)."""
    path = listing_path(output, run_id)
    if not storage.exists(path):
        return []
    return [WrittenFile(**item) for item in json.loads(storage.read_bytes(path).decode())]


class WriteLake(beam.PTransform):  # type: ignore[misc]
    """``LakeRow`` in; ``WrittenFile`` out, one per Parquet file written (uncommitted) for this run.

    The run's file list is also recorded (``listing_path``) for the driver, which commits the
    files to the tables' Delta logs (``transforms.lake.publish``).
    """

    def __init__(self, output: str, run_id: str) -> None:
        super().__init__()
        self.output = output
        self.run_id = run_id

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        written = (
            rows
            | "BatchByTableAndDay" >> beam.ParDo(_BatchRows())
            | "GroupByTableAndDay" >> beam.GroupByKey()
            | "WritePartitions" >> beam.ParDo(_WriteGroup(self.output, self.run_id))
        )
        _ = (
            written
            | "AllWrittenFiles" >> beam.combiners.ToList()
            | "RecordListing" >> beam.Map(record_listing, self.output, self.run_id)
        )
        return written


__all__ = [
    "LISTINGS",
    "LakeRow",
    "WriteLake",
    "WrittenFile",
    "is_local",
    "listing_path",
    "read_listing",
    "record_listing",
    "write_batches",
    "write_group",
    "write_partition",
    "write_partitions",
]
