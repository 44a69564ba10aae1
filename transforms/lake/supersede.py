"""Keep ``articles`` at one row per article: a revision's commit drops the version it replaces.

A run that wrote revisions (``revisions`` rows with ``version`` > 1, staged like all its files)
names those articles in its journal. When the journal is committed, the ``articles`` and
``entities`` commits each first look, in the snapshot they commit on, for the live files holding
those articles' rows (for ``entities`` only the ``entity=<slug>/date=<day>`` partitions the old
article row names), rewrite each such file without those rows, and commit the rewritten files as
adds and the old files as removes together with the run's own files: ONE Delta commit per table
with the run's app transaction. Readers see the old version or the new one, never both or neither,
and a replayed journal commits nothing twice (``transforms/lake/publish.py``).

The rewrite happens at commit time, not when the journal is written, so it always works on the
files the commit removes: a ``newsbeam compact`` that rewrote those files in between (it takes no
lock) cannot leave the old row, or other rows twice, in the table. If one commits during the
rewrite itself, Delta's conflict check fails the commit and the next run finishes the journal.

Rewritten files are named ``part-<run_id>-rev-NNNN.parquet``; a replay writes the same names again.
Corrections are rare, so rewriting a whole file (one partition's rows of one earlier run) is cheap
enough; a run without revisions reads only its own few staged ``revisions`` files here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.lake import storage
from newsbeam.transforms.lake.delta import WrittenFile, open_table, table_uri
from newsbeam.transforms.lake.revisions import read_table

SUPERSEDED = ("entities", "articles")
"""The tables holding rows of an article's current version (``stories`` and ``_state`` keep history)."""


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
        table = read_table(storage.join(folder, item.relative), ["article_id", "version"])
        later = table.filter(pc.greater(table.column("version"), 1))
        ids.update(str(value) for value in later.column("article_id").to_pylist())
    return frozenset(ids)


def live(table: DeltaTable, name: str) -> list[LiveFile]:
    """The table's live files with sizes and partition values, from its Delta log."""
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
    """``table`` in the table's current schema: columns added since the file was written read as nulls,
    and a file another Delta writer rewrote (string views, large lists) reads as ours."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _write(output: str, name: str, relative: str, table: pa.Table) -> WrittenFile:
    spec = TABLES[name]
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=spec.compression)
    data = sink.getvalue().to_pybytes()
    storage.write_bytes(storage.join(table_uri(output, name), relative), data)
    return WrittenFile(name, relative, len(data), table.num_rows)


def _holding(
    output: str, name: str, files: Iterable[LiveFile], wanted: pa.Array
) -> Iterator[tuple[LiveFile, pa.Table, pa.ChunkedArray]]:
    """(file, its rows, mask of the rows of ``wanted`` articles) for each file holding any (id column read first)."""
    folder = table_uri(output, name)
    for live_file in files:
        path = storage.join(folder, live_file.relative)
        if pc.any(pc.is_in(_ids(read_table(path, ["article_id"])), value_set=wanted)).as_py():
            table = _conform(read_table(path), TABLES[name].schema)
            yield live_file, table, pc.is_in(table.column("article_id"), value_set=wanted)


def _ids(table: pa.Table) -> pa.ChunkedArray:
    """The ``article_id`` column as plain strings (a file another Delta writer rewrote may hold string views)."""
    return table.column("article_id").cast(pa.string())


def drop_rows(
    output: str, run_id: str, name: str, files: Iterable[LiveFile], ids: Collection[str]
) -> tuple[list[WrittenFile], list[RemovedFile]]:
    """Rewrite every file of ``files`` holding rows of ``ids`` without them: (rewritten, removed)."""
    written: list[WrittenFile] = []
    removed: list[RemovedFile] = []
    for live_file, table, mask in _holding(output, name, files, pa.array(sorted(ids), pa.string())):
        kept = table.filter(pc.invert(mask))
        removed.append(RemovedFile(name, live_file.relative, live_file.size, live_file.partition_values))
        if kept.num_rows:
            relative = rewritten_name(live_file.relative, run_id, len(written))
            written.append(_write(output, name, relative, kept))
    return written, removed


def entity_partitions(output: str, articles: DeltaTable, ids: Collection[str]) -> set[tuple[str, str]]:
    """(entity slug, day) of every entity of the live ``articles`` rows of ``ids``: where their
    ``entities`` rows are (a salient entity's row is under the article's own ``date``)."""
    partitions: set[tuple[str, str]] = set()
    for live_file, table, mask in _holding(output, "articles", live(articles, "articles"), pa.array(sorted(ids))):
        for row in table.filter(mask).select(["entities"]).to_pylist():
            partitions.update((str(e["slug"]), str(live_file.partition_values["date"])) for e in row["entities"] or ())
    return partitions


def supersede(
    output: str, run_id: str, name: str, table: DeltaTable, ids: Collection[str]
) -> tuple[list[WrittenFile], list[RemovedFile]]:
    """The adds and removes that drop the current rows of ``ids`` from ``table`` (``articles`` or
    ``entities``; other tables hold no article versions). ``entities`` must be done while
    ``articles`` still holds the old rows (``publish.PUBLISH_ORDER`` commits it first)."""
    if not ids or name not in SUPERSEDED:
        return [], []
    files = live(table, name)
    if name == "entities":
        articles = open_table(output, "articles")
        partitions = entity_partitions(output, articles, ids) if articles is not None else set()
        files = [f for f in files if (f.partition_values["entity"], f.partition_values["date"]) in partitions]
    return drop_rows(output, run_id, name, files, ids)
