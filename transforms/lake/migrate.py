"""``newsbeam migrate``: turn a lake in newsbeam 0.1's own format into Delta tables, in place.

That format's catalog was ``_runs/*.json``: a file was live when a manifest named it and no
later manifest replaced it. Migration commits exactly those live files, where they are, to a
new Delta table per table folder (one commit each, with the lake's writer id). No data file is
moved or rewritten, and the old manifests are kept in ``_migrated/runs/``: nothing is lost.
A file a manifest replaced but a crash left on disk is not committed; ``vacuum`` removes it.

``delta-rs``'s ``convert_to_deltalake`` would commit every Parquet file in a folder, replaced
ones included, so the add actions are built from the old catalog instead.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pyarrow.parquet as pq

from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.lake.delta import WrittenFile, add_action, commit_files, ensure_table
from newsbeam.transforms.lake.publish import JOURNAL, RUNS, WRITER_ID, writer_id
from newsbeam.transforms.lake.write import is_local

LEGACY_RUNS = "_migrated/runs"
MIGRATION_SEQUENCE = 1


def legacy_manifests(output: str) -> list[str]:
    """Paths of 0.1-format manifests (they list ``files``; Delta-era run records do too, with ``table_versions``)."""
    folder = os.path.join(output, RUNS)
    if not os.path.isdir(folder):
        return []
    found = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name)) as handle:
                if "table_versions" not in json.load(handle):
                    found.append(os.path.join(folder, name))
    return found


def refuse_legacy(output: str) -> None:
    """A 0.1-format lake must be migrated first: Delta tables written beside it would hide its data."""
    if is_legacy_lake(output):
        raise ConfigError(
            f"{output} is a lake in newsbeam 0.1's format: run `newsbeam migrate --output {output}` first"
        )


def is_legacy_lake(output: str) -> bool:
    """True for a lake written by newsbeam 0.1's own format and not migrated yet.

    Cheap on purpose (``connect()`` asks it): a Delta-era lake has ``_journal/writer_id`` from its
    first commit on, and migration creates it, so only a lake without it has its ``_runs`` read.
    """
    if not is_local(output) or os.path.exists(os.path.join(output, JOURNAL, WRITER_ID)):
        return False
    return bool(legacy_manifests(output))


def _table_of(relative: str) -> str | None:
    """The table a lake-relative path belongs to (longest matching folder: ``_state/near`` before ``_state``)."""
    matches = [name for name, spec in TABLES.items() if relative.startswith(spec.folder + "/")]
    return max(matches, key=lambda name: len(TABLES[name].folder), default=None)


def live_legacy_files(output: str) -> dict[str, list[str]]:
    """The 0.1 catalog's live files per table, relative to the table folder."""
    files: set[str] = set()
    replaced: set[str] = set()
    for path in legacy_manifests(output):
        with open(path) as handle:
            manifest = json.load(handle)
        files.update(manifest.get("files", ()))
        replaced.update(manifest.get("replaces", ()))
    by_table: dict[str, list[str]] = {}
    for relative in sorted(files - replaced):
        table = _table_of(relative)
        if table is not None and os.path.exists(os.path.join(output, relative)):
            by_table.setdefault(table, []).append(relative[len(TABLES[table].folder) + 1 :])
    return by_table


def migrate(output: str) -> dict[str, int]:
    """Commit the old catalog's live files to Delta tables; returns files committed per table."""
    if not is_local(output):
        raise ConfigError(
            f"nothing to migrate at {output}: newsbeam 0.1 refused object stores (its lock did), so a lake "
            "there was written in the Delta format"
        )
    if not is_legacy_lake(output):
        raise ConfigError(f"{output} holds no newsbeam 0.1 manifests (_runs/*.json): nothing to migrate")
    staging = os.path.join(output, "_staging")
    if os.path.isdir(staging) and any(os.scandir(staging)):
        raise ConfigError(
            f"{staging} holds a run that crashed under newsbeam 0.1: run any 0.1 command on the lake once to "
            "finish or undo it, then migrate"
        )
    live = live_legacy_files(output)
    writer = writer_id(output)
    now_ms = int(time.time() * 1000)
    committed = {}
    for name, relatives in live.items():
        root = os.path.join(output, TABLES[name].folder)
        written = [
            WrittenFile(
                name, rel, os.path.getsize(os.path.join(root, rel)), pq.read_metadata(os.path.join(root, rel)).num_rows
            )
            for rel in relatives
        ]
        table = ensure_table(output, name)
        # Sequence 1, the lake's first commit: a migration interrupted and run again skips what it committed.
        commit_files(table, name, [add_action(w, now_ms) for w in written], writer, MIGRATION_SEQUENCE, "migration")
        committed[name] = len(written)
    archive = os.path.join(output, LEGACY_RUNS)
    os.makedirs(archive, exist_ok=True)
    for path in legacy_manifests(output):
        shutil.move(path, os.path.join(archive, os.path.basename(path)))
    if os.path.isdir(staging):
        os.rmdir(staging)
    return committed
