"""Publish a finished run: move its staged files into the lake, then write its manifest.

Runs on the driver after the Beam pipeline has finished, so a run that fails part-way
leaves only a ``_staging/<run_id>/`` folder that readers never look at (folders starting
with ``_`` are hidden from Hive-style readers such as Spark and Trino, and DuckDB globs
over ``articles/`` never reach them). The manifest ``_runs/<run_id>.json`` is written last.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apache_beam.io.filesystems import FileSystems

from schemas.lake import SCHEMA_VERSION, TABLES
from transforms.lake.write import staging_root

RUNS = "_runs"
# Order of publication: the tables articles point to come first, articles last.
_PUBLISH_ORDER = ("_dead_letter", "duplicates", "entities", "articles")


@dataclass(frozen=True)
class PublishedRun:
    run_id: str
    manifest_path: str
    files: tuple[str, ...]


def _is_local(path: str) -> bool:
    return "://" not in path


def _order(relative: str) -> tuple[int, str]:
    folder = relative.split("/", 1)[0]
    return (_PUBLISH_ORDER.index(folder) if folder in _PUBLISH_ORDER else -1, relative)


def staged_relative_paths(output: str, run_id: str) -> list[str]:
    """Staged files of a run, relative to its staging root, in publication order."""
    root = staging_root(output, run_id)
    if not FileSystems.exists(root):
        return []
    matches = FileSystems.match([FileSystems.join(root, "**")])[0].metadata_list
    prefix = root.rstrip("/") + "/"
    return sorted((m.path[len(prefix) :] for m in matches if m.path.startswith(prefix)), key=_order)


def publish_run(output: str, run_id: str, manifest: Mapping[str, Any]) -> PublishedRun:
    """Move every staged file of ``run_id`` into place and write the run's manifest."""
    relative = staged_relative_paths(output, run_id)
    root = staging_root(output, run_id)
    sources = [FileSystems.join(root, rel) for rel in relative]
    targets = [FileSystems.join(output, rel) for rel in relative]
    if _is_local(output):
        for directory in sorted({os.path.dirname(t) for t in targets}):
            os.makedirs(directory, exist_ok=True)
    if sources:
        FileSystems.rename(sources, targets)

    record = {
        **manifest,
        "run_id": run_id,
        "schema_version": SCHEMA_VERSION,
        "tables": {name: spec.folder for name, spec in TABLES.items()},
        "files": relative,
    }
    manifest_path = FileSystems.join(output, RUNS, f"{run_id}.json")
    temporary = FileSystems.join(root, "manifest.json")
    with FileSystems.create(temporary) as handle:
        handle.write(json.dumps(record, indent=2, sort_keys=True, default=str).encode())
    if _is_local(output):
        os.makedirs(os.path.dirname(manifest_path), exist_ok=True)
    FileSystems.rename([temporary], [manifest_path])
    FileSystems.delete([root])
    return PublishedRun(run_id, manifest_path, tuple(targets))
