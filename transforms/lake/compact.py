"""Compaction: merge each closed partition's small per-run files into few, well-sized files.

Scheduled runs add one file per partition per run; a day of 15-minute runs leaves ~100 small
files in every busy partition. Compaction rewrites each partition of a closed day (``date``
before ``before``) into one file (more only past the table's rows-per-file cap), and merges the
``_state/`` tables, keeping only the newest row per feed.

It publishes like a run: new files are staged, then one manifest adds them and names the files
they replace. Readers that go through the catalog switch from the old files to the new ones
at that single write, so compaction is safe while they query.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.lake.catalog import live_files
from newsbeam.transforms.lake.publish import PublishedRun, publish_run
from newsbeam.transforms.lake.write import write_partition


@dataclass(frozen=True)
class CompactionPlan:
    table: str
    partition: str
    files: tuple[str, ...]
    """Lake-relative paths of the files merged into one."""


def _partition_date(partition: str) -> date | None:
    for part in partition.split("/"):
        if part.startswith("date="):
            return date.fromisoformat(part[len("date=") :])
    return None


def plan(output: str, before: date) -> list[CompactionPlan]:
    """Partitions worth compacting: closed days (and state) with more than one live file."""
    prefix = output.rstrip("/") + "/"
    plans = []
    for table, paths in sorted(live_files(output).items()):
        folder = TABLES[table].folder
        by_partition: dict[str, list[str]] = {}
        for path in paths:
            relative = path[len(prefix) :]
            partition = posixpath.dirname(relative)[len(folder) :].strip("/")
            by_partition.setdefault(partition, []).append(relative)
        for partition, files in sorted(by_partition.items()):
            day = _partition_date(partition)
            if len(files) > 1 and (day is None or day < before):
                plans.append(CompactionPlan(table, partition, tuple(sorted(files))))
    return plans


def _merged(output: str, item: CompactionPlan) -> pa.Table:
    spec = TABLES[item.table]
    tables = []
    for relative in item.files:
        with FileSystems.open(FileSystems.join(output, relative)) as handle:
            tables.append(pq.read_table(handle, schema=spec.schema))
    return pa.concat_tables(tables)


def _rows(item: CompactionPlan, table: pa.Table) -> Iterator[dict[str, object]]:
    if item.table == "feed_state":  # only the newest state of each feed matters
        newest: dict[str, dict[str, object]] = {}
        for row in table.sort_by([("last_attempt_at", "ascending")]).to_pylist():
            newest[str(row["feed_url"])] = row
        yield from (newest[url] for url in sorted(newest))
        return
    for batch in table.to_batches(max_chunksize=5_000):
        yield from batch.to_pylist()


def compact(output: str, run_id: str, before: date) -> PublishedRun | None:
    """Compact every planned partition into a new run ``run_id``; None when nothing needed it."""
    plans = plan(output, before)
    if not plans:
        return None
    replaced: list[str] = []
    for item in plans:
        write_partition(output, run_id, item.table, item.partition, _rows(item, _merged(output, item)))
        replaced.extend(item.files)
    manifest = {
        "kind": "compaction",
        "before": before.isoformat(),
        "partitions": len(plans),
        "counters": {"files_replaced": len(replaced), "partitions_compacted": len(plans)},
    }
    return publish_run(output, run_id, manifest, replaces=replaced)
