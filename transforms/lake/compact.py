"""Compaction and retention: Delta's ``optimize`` over closed days, then ``vacuum``.

Scheduled runs add one file per partition per run; a day of 15-minute runs leaves ~100 small
files in every busy partition. ``optimize.compact`` rewrites the partitions of closed days
(``date`` before ``before``; the ``_state`` tables without a date whole) into few large files
in one commit per table. Readers of the Delta log switch to the new files at that commit.

It needs no lake lock and may run while a run writes: Delta's conflict checks decide. A run's
commit only adds files, so it never conflicts with a compaction that removed others; if the
compaction's commit loses a race (a run added files to a partition it rewrote), it is retried
on the new version.

``vacuum`` then deletes files no version newer than the retention still needs: the replaced
small files, and files of runs that died before committing. Until then, readers that glob
folders instead of reading the log see old and new files side by side (see README).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.lake.delta import open_table

DEFAULT_RETENTION_HOURS = 168
"""Delta's own default (7 days): time travel and plain-glob readers keep working for a week."""
MIN_RETENTION_HOURS = 1
"""Vacuum also deletes uncommitted files older than the retention: it must outlast any run."""
ATTEMPTS = 5


@dataclass
class TableCompaction:
    table: str
    files_before: int
    files_after: int
    files_added: int = 0
    files_removed: int = 0
    vacuumed: int = 0
    retries: int = 0


@dataclass
class CompactionReport:
    before: date
    retention_hours: int
    tables: list[TableCompaction] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"compaction of days before {self.before}, retention {self.retention_hours} h:"]
        for t in self.tables:
            lines.append(
                f"  {TABLES[t.table].folder}: {t.files_before} -> {t.files_after} files "
                f"(+{t.files_added} -{t.files_removed}), {t.vacuumed} deleted by vacuum"
                + (f", {t.retries} retries after a concurrent commit" if t.retries else "")
            )
        return "\n".join(lines)


def _optimize(table: DeltaTable, name: str, before: date) -> tuple[dict[str, int], int]:
    """One ``optimize.compact`` of the table's closed partitions, retried when a commit races it."""
    filters = [("date", "<", before.isoformat())] if "date" in TABLES[name].partition_keys else None
    for attempt in range(ATTEMPTS):
        try:
            metrics = table.optimize.compact(partition_filters=filters)  # type: ignore[arg-type]
            return {k: int(v) for k, v in metrics.items() if isinstance(v, int)}, attempt
        except CommitFailedError:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
            table.update_incremental()
    raise AssertionError("unreachable")


def compact(output: str, before: date, retention_hours: int = DEFAULT_RETENTION_HOURS) -> CompactionReport:
    """Optimize every table's closed partitions, then vacuum files older than the retention."""
    if retention_hours < MIN_RETENTION_HOURS:
        raise ConfigError(
            f"--retention-hours {retention_hours} is below {MIN_RETENTION_HOURS}: vacuum would delete files "
            "of a run that is still writing"
        )
    report = CompactionReport(before, retention_hours)
    for name in TABLES:
        table = open_table(output, name)
        if table is None:
            continue
        files_before = len(table.file_uris())
        metrics, retries = _optimize(table, name, before)
        table.update_incremental()
        vacuumed = table.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False)
        report.tables.append(
            TableCompaction(
                name,
                files_before,
                len(table.file_uris()),
                metrics.get("numFilesAdded", 0),
                metrics.get("numFilesRemoved", 0),
                len(vacuumed),
                retries,
            )
        )
    return report
