"""The run summary: Beam counters of the ``newsbeam`` namespace, printed for a person."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from newsbeam.transforms.base import METRICS_NAMESPACE

# (label, counter names summed) in the order a person reads a run.
SUMMARY_LINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("feeds ok", ("feeds_ok",)),
    ("feeds failed", ("feeds_failed",)),
    ("feed entries", ("entries",)),
    ("input records", ("records",)),
    ("pages fetched", ("pages_fetched",)),
    ("pages failed", ("pages_failed",)),
    ("extracted from page", ("extracted",)),
    ("text from feed (fallback)", ("text_from_feed",)),
    ("text given as input", ("text_from_input",)),
    ("duplicates collapsed", ("duplicates",)),
    ("articles tagged", ("articles_tagged",)),
    ("entity mentions", ("mentions",)),
    ("rows written: articles", ("rows_articles",)),
    ("rows written: entities", ("rows_entities",)),
    ("rows written: duplicates", ("rows_duplicates",)),
    ("rows written: dead letters", ("rows_dead_letter",)),
    ("dead letters", ("dead_letters",)),
)


def counters(result: Any) -> dict[str, int]:
    """All newsbeam counters of a finished pipeline result (committed values where known)."""
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    totals: dict[str, int] = {}
    for metric in query["counters"]:
        value = metric.committed if metric.committed is not None else metric.attempted
        totals[metric.key.metric.name] = totals.get(metric.key.metric.name, 0) + int(value or 0)
    return totals


def format_summary(run_id: str, totals: Mapping[str, int], files: int, seconds: float, parts: int = 1) -> str:
    width = max(len(label) for label, _ in SUMMARY_LINES)
    in_parts = f" in {parts} parts (each published as its own run)" if parts > 1 else ""
    lines = [f"newsbeam run {run_id} finished in {seconds:.1f} s{in_parts}, {files} files published"]
    for label, names in SUMMARY_LINES:
        lines.append(f"  {label:<{width}}  {sum(totals.get(name, 0) for name in names):>8}")
    return "\n".join(lines)
