"""What is in the lake: the files named by committed run manifests, minus those replaced.

Reading through the catalog, rather than globbing folders, is what makes publication atomic
for readers: a file becomes visible when the manifest of its run is written, and stops being
visible when a later manifest (a compaction) says it replaces it, even if it is still on disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from apache_beam.io.filesystems import FileSystems

from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.lake.publish import RUNS


def manifests(output: str) -> Iterator[dict[str, Any]]:
    """Every committed run's manifest, oldest run first."""
    folder = FileSystems.join(output, RUNS)
    if not FileSystems.exists(folder):
        return
    paths = sorted(m.path for m in FileSystems.match([FileSystems.join(folder, "*.json")])[0].metadata_list)
    for path in paths:
        with FileSystems.open(path) as handle:
            yield json.loads(handle.read().decode())


def table_of(relative: str) -> str | None:
    """The table a lake-relative path belongs to (longest matching table folder)."""
    best = None
    for name, spec in TABLES.items():
        if relative.startswith(spec.folder + "/") and (best is None or len(spec.folder) > len(TABLES[best].folder)):
            best = name
    return best


def live_files(output: str) -> dict[str, list[str]]:
    """Absolute paths of the visible files of each table."""
    files: set[str] = set()
    replaced: set[str] = set()
    for manifest in manifests(output):
        files.update(manifest.get("files", ()))
        replaced.update(manifest.get("replaces", ()))
    by_table: dict[str, list[str]] = {}
    for relative in sorted(files - replaced):
        table = table_of(relative)
        if table is not None:
            by_table.setdefault(table, []).append(FileSystems.join(output, relative))
    return by_table
