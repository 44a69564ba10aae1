"""Keep ``articles`` at one row per article: a revision's commit drops the version it replaces.

A run that wrote revisions (``revisions`` rows with ``version`` > 1, staged like all its files)
finds the live files of ``articles`` holding those articles, and of ``entities`` holding their
salient entities (only the ``entity=<slug>/date=<day>`` partitions the old row names), rewrites
each such file without those rows, and lists the old files as removed. The journal then carries
the rewritten files as adds and the old ones as removes, so each table gets ONE Delta commit with
the run's app transaction: readers see the old version or the new one, never both or neither, and
a replayed journal commits nothing twice (``transforms/lake/publish.py``).

Rewritten files are named ``part-<run_id>-rev-NNNN.parquet``: a run that dies before its journal
is rolled back by name like any other of its files. Corrections are rare, so rewriting a whole
file (one partition's rows of one earlier run) is cheap enough; a run without revisions reads
only its own few staged ``revisions`` files here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.lake import storage
from newsbeam.transforms.lake.delta import WrittenFile, open_table, table_uri
from newsbeam.transforms.lake.revisions import _read


@dataclass(frozen=True)
class RemovedFile:
    """A live file a run's commit removes from its table (its rows, minus the superseded ones, were rewritten)."""

    table: str
    relative: str
    """The path as the Delta log names it, inside the table folder."""
    size: int
    partition_values: dict[str, str | None]


@dataclass(frozen=True)
class LiveFile:
    relative: str
    size: int
    partition_values: dict[str, str | None]


def revised_ids(output: str, written: Iterable[WrittenFile]) -> frozenset[str]:
    """Articles the run wrote a new version of (``version`` > 1 in its staged ``revisions`` files)."""
    ids: set[str] = set()
    folder = table_uri(output, "revisions")
    for item in written:
        if item.table != "revisions":
            continue
        table = _read(storage.join(folder, item.relative), ["article_id", "version"])
        later = table.filter(pc.greater(table.column("version"), 1))
        ids.update(str(value) for value in later.column("article_id").to_pylist())
    return frozenset(ids)


def live(output: str, name: str) -> list[LiveFile]:
    """The table's live files with sizes and partition values, from its Delta log."""
    table = open_table(output, name)
    if table is None:
        return []
    keys = TABLES[name].partition_keys
    rows = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    return [
        LiveFile(str(r["path"]), int(r["size_bytes"]), {k: _text(r.get(f"partition.{k}")) for k in keys}) for r in rows
    ]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def rewritten_name(relative: str, run_id: str, index: int) -> str:
    folder = posixpath.dirname(relative)
    name = f"part-{run_id}-rev-{index:04d}.parquet"
    return f"{folder}/{name}" if folder else name


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in the table's current schema (columns added since the file was written read as nulls)."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _write(output: str, name: str, relative: str, table: pa.Table) -> WrittenFile:
    spec = TABLES[name]
    sink = pa.BufferOutputStream()
    pq.write_table(_conform(table, spec.schema), sink, compression=spec.compression)
    data = sink.getvalue().to_pybytes()
    storage.write_bytes(storage.join(table_uri(output, name), relative), data)
    return WrittenFile(name, relative, len(data), table.num_rows)


def drop_rows(
    output: str, run_id: str, name: str, files: Iterable[LiveFile], ids: Collection[str]
) -> tuple[list[WrittenFile], list[RemovedFile], list[dict[str, object]]]:
    """Rewrite every file of ``files`` holding rows of ``ids`` without them.

    Returns (rewritten files, removed files, the dropped rows with their file's partition values).
    """
    wanted = pa.array(sorted(ids), pa.string())
    written: list[WrittenFile] = []
    removed: list[RemovedFile] = []
    dropped: list[dict[str, object]] = []
    folder = table_uri(output, name)
    for live_file in files:
        path = storage.join(folder, live_file.relative)
        if not pc.any(pc.is_in(_read(path, ["article_id"]).column("article_id"), value_set=wanted)).as_py():
            continue
        table = _read(path)
        mask = pc.is_in(table.column("article_id"), value_set=wanted)
        dropped.extend({**row, **live_file.partition_values} for row in table.filter(mask).to_pylist())
        kept = table.filter(pc.invert(mask))
        removed.append(RemovedFile(name, live_file.relative, live_file.size, live_file.partition_values))
        if kept.num_rows:
            relative = rewritten_name(live_file.relative, run_id, len(written))
            written.append(_write(output, name, relative, kept))
    return written, removed, dropped


def supersede(output: str, run_id: str, ids: Collection[str]) -> tuple[list[WrittenFile], list[RemovedFile]]:
    """Rewrite the ``articles`` and ``entities`` files holding the current rows of ``ids`` without them."""
    if not ids:
        return [], []
    written, removed, old_rows = drop_rows(output, run_id, "articles", live(output, "articles"), ids)
    partitions = {
        (str(entity["slug"]), str(row["date"]))
        for row in old_rows
        for entity in (row.get("entities") or [])  # type: ignore[attr-defined]
    }
    entity_files = [
        f for f in live(output, "entities") if (f.partition_values["entity"], f.partition_values["date"]) in partitions
    ]
    more, gone, _ = drop_rows(output, run_id, "entities", entity_files, ids)
    return written + more, removed + gone
