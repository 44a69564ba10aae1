"""Commit a finished run to the lake's Delta tables, all or nothing; recover runs that crashed.

Delta commits one table at a time, and a run writes up to nine tables. So a run is published
in four steps, with a small journal as the commit point:

1. **Begin.** ``_journal/<run_id>.started`` is written before the pipeline starts. The pipeline
   writes its Parquet files straight into the table folders (invisible: no log names them) and
   lists them in ``_journal/files/<run_id>.json``.
2. **Journal.** ``_journal/<run_id>.json`` names every file with its table, and the run's
   sequence number. It is written to a temporary name and renamed, so it exists whole or not
   at all. From this point the run *will* be published.
3. **Commit.** Each table gets one Delta commit adding the run's files, with the app transaction
   ``(writer id, sequence)``. A table that already holds that transaction is skipped, so
   replaying the journal after a crash commits nothing twice. Data tables commit first and
   ``_state`` tables last, so state never claims an article the data tables lack.
4. **Record.** ``_runs/<run_id>.json`` (the journal plus every table's version after the run,
   which ``connect(as_of=run_id)`` pins) is written, then the journal is removed.

``recover()`` runs at the start of every run, under the lake lock: a run with a journal is
rolled forward (steps 3 and 4); a run that began but has no journal is rolled back by deleting
its uncommitted files, which carry its run id in their names. A rolled-back run recorded
nothing in ``_state/``, so the next run fetches its inputs again: nothing lost, nothing twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from newsbeam.schemas.lake import SCHEMA_VERSION, TABLES
from newsbeam.transforms.lake import storage
from newsbeam.transforms.lake.crash import crash_point
from newsbeam.transforms.lake.delta import (
    WrittenFile,
    add_action,
    commit_files,
    committed_sequence,
    ensure_table,
    open_table,
    remove_action,
    table_uri,
    table_versions,
    with_new_columns,
)
from newsbeam.transforms.lake.supersede import SUPERSEDED, RemovedFile, supersede
from newsbeam.transforms.lake.write import listing_path, read_listing

JOURNAL = "_journal"
RUNS = "_runs"
WRITER_ID = "writer_id"

PUBLISH_ORDER = (
    "dead_letter",
    "duplicates",
    "stories",
    "entities",
    "articles",
    "revisions",
    "feed_state",
    "near_state",
    "story_state",
    "seen",
)
"""What articles point to comes first, then articles, then ``_state`` (which claims them)."""


@dataclass(frozen=True)
class PublishedRun:
    run_id: str
    manifest_path: str
    """The run's record, ``_runs/<run_id>.json``."""
    files: tuple[str, ...]
    """Absolute paths of the files the run added to the lake."""


def _write_atomically(path: str, payload: Mapping[str, Any]) -> None:
    storage.write_bytes(path, json.dumps(payload, indent=2, sort_keys=True, default=str).encode())


def _read_json(path: str) -> Any:
    return json.loads(storage.read_bytes(path).decode())


def _delete(paths: Iterable[str]) -> None:
    storage.delete(list(paths))


def _writer_record(output: str) -> dict[str, Any]:
    path = storage.join(output, JOURNAL, WRITER_ID)
    return dict(_read_json(path)) if storage.exists(path) else {}


def writer_id(output: str) -> str:
    """The lake's writer id (made once, kept in ``_journal/writer_id``): the app id of its commits."""
    record = _writer_record(output)
    if "writer_id" in record:
        return str(record["writer_id"])
    value = f"newsbeam-{secrets.token_hex(8)}"
    _write_atomically(storage.join(output, JOURNAL, WRITER_ID), {"writer_id": value})
    return value


def next_sequence(output: str, writer: str) -> int:
    """One more than the highest sequence this writer committed.

    Read from ``_journal/writer_id``, which each run record advances. A lake without it (older or
    migrated) is asked table by table once: the app transactions in the Delta logs are the truth.
    """
    record = _writer_record(output)
    if "last_sequence" in record:
        return int(record["last_sequence"]) + 1
    tables = (open_table(output, name) for name in TABLES)
    return 1 + max((committed_sequence(table, writer) for table in tables if table is not None), default=0)


def _advance(output: str, writer: str, sequence: int) -> None:
    """Record ``sequence`` as committed (never moving backwards)."""
    last = int(_writer_record(output).get("last_sequence", 0))
    path = storage.join(output, JOURNAL, WRITER_ID)
    _write_atomically(path, {"writer_id": writer, "last_sequence": max(last, sequence)})


def is_published(output: str, run_id: str) -> bool:
    """True once ``run_id`` is fully published (its ``_runs`` record exists): publishing it again is a no-op."""
    return bool(storage.exists(storage.join(output, RUNS, f"{run_id}.json")))


def begin_run(output: str, run_id: str) -> None:
    """Mark the run as started, so a crash before its journal is rolled back (its files deleted)."""
    _write_atomically(storage.join(output, JOURNAL, f"{run_id}.started"), {"run_id": run_id})


def publish_run(
    output: str,
    run_id: str,
    manifest: Mapping[str, Any],
    files: Iterable[WrittenFile] | None = None,
    superseded: Collection[str] = (),
) -> PublishedRun:
    """Commit every file the run wrote (``files``, default: its recorded listing) to the lake.

    ``superseded``: articles the run wrote a new version of; the same commits drop their current
    rows from ``articles`` and ``entities`` (``transforms/lake/supersede.py``).
    """
    written = list(read_listing(output, run_id) if files is None else files)
    writer = writer_id(output)
    by_table: dict[str, list[dict[str, Any]]] = {}
    for item in written:
        by_table.setdefault(item.table, []).append(dataclasses.asdict(item))
    journal = {
        **manifest,
        "run_id": run_id,
        "writer_id": writer,
        "sequence": next_sequence(output, writer),
        "schema_version": SCHEMA_VERSION,
        "committed_at_ms": int(time.time() * 1000),
        "files": by_table,
        "superseded": sorted(superseded),
    }
    _write_atomically(storage.join(output, JOURNAL, f"{run_id}.json"), journal)
    crash_point("after_journal")
    return _roll_forward(output, journal)


def _roll_forward(output: str, journal: Mapping[str, Any]) -> PublishedRun:
    run_id, writer, sequence = journal["run_id"], journal["writer_id"], int(journal["sequence"])
    superseded = journal.get("superseded", [])
    when = int(journal["committed_at_ms"])
    paths: list[str] = []
    committed = 0
    for name in PUBLISH_ORDER:
        items = [WrittenFile(**item) for item in journal["files"].get(name, ())]
        table = open_table(output, name) if superseded and name in SUPERSEDED else None
        gone: list[RemovedFile] = []
        if table is not None and committed_sequence(table, writer) < sequence:
            rewritten, gone = supersede(output, run_id, name, table, superseded)
            items += rewritten
        if not items and not gone:
            continue
        paths.extend(storage.join(table_uri(output, name), item.relative) for item in items)
        actions: list[Any] = [add_action(item, when) for item in items]
        actions += [remove_action(g.relative, g.size, g.partition_values, when) for g in gone]
        commit_files(
            with_new_columns(table, name) if table else ensure_table(output, name),
            name,
            actions,
            writer,
            sequence,
            run_id,
        )
        committed += 1
        if committed == 1:
            crash_point("mid_publish")
    record_path = storage.join(output, RUNS, f"{run_id}.json")
    record = {key: value for key, value in journal.items() if key != "files"}
    record["files"] = sorted(os.path.relpath(path, output) if storage.is_local(output) else path for path in paths)
    record["table_versions"] = table_versions(output)
    _write_atomically(record_path, record)
    _advance(output, writer, sequence)
    crash_point("after_manifest")
    _delete(
        [
            storage.join(output, JOURNAL, f"{run_id}.json"),
            storage.join(output, JOURNAL, f"{run_id}.started"),
            listing_path(output, run_id),
        ]
    )
    return PublishedRun(run_id, record_path, tuple(paths))


def _uncommitted_files(output: str, run_id: str) -> list[str]:
    """Files named for ``run_id`` under the table folders (a run that died before its journal)."""
    marker = f"part-{run_id}-"
    found: list[str] = []
    for name in TABLES:
        for entry in storage.files_under(table_uri(output, name)):
            if entry.path.rsplit("/", 1)[-1].startswith(marker):
                found.append(entry.path)
    return found


def abandon_run(output: str, run_id: str) -> int:
    """Roll back a run that failed before its journal: delete its uncommitted files; returns how many."""
    orphans = _uncommitted_files(output, run_id)
    _delete([*orphans, listing_path(output, run_id), storage.join(output, JOURNAL, f"{run_id}.started")])
    return len(orphans)


def recover(output: str) -> list[str]:
    """Finish or undo runs that died before completing; returns what was done, for the log."""
    folder = storage.join(output, JOURNAL)
    names = storage.names(folder)
    done = []
    for name in sorted(n for n in names if n.endswith(".json")):
        _roll_forward(output, _read_json(storage.join(folder, name)))
        done.append(f"run {name[: -len('.json')]} had started publishing: finished it")
    for name in sorted(n for n in names if n.endswith(".started")):
        run_id = name[: -len(".started")]
        if f"{run_id}.json" in names:
            continue
        discarded = abandon_run(output, run_id)
        done.append(f"run {run_id} died before publishing: discarded its {discarded} uncommitted files")
    return done
