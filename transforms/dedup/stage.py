"""Dedup within one batch of articles, as one transform for pipelines other than newsbeam's own.

``newsbeam run`` also checks every article against the lake's earlier runs
(``CollapseIntoEarlierRuns``, ``CollapseNearIntoEarlierRuns``); a pipeline without a lake uses
this: exact copies (same canonical URL, same normalised text), then near copies (MinHash LSH).
"""

from __future__ import annotations

import apache_beam as beam

from newsbeam.transforms.base import TaggedTransform
from newsbeam.transforms.dedup.exact import DUPLICATES, DeduplicateExact
from newsbeam.transforms.dedup.near import DeduplicateNear


class Deduplicate(TaggedTransform):
    """``Article`` in; ``main`` (the kept ``Article`` of each group of copies) and ``duplicates``
    (one ``Duplicate`` per collapsed copy, naming the kept article) out.

    Grouping is per window; the near step uses global combines, so it is for batch pipelines.
    """

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        exact = articles | "Exact" >> DeduplicateExact()
        near = exact | "Near" >> DeduplicateNear()
        return {"main": near["main"], DUPLICATES: near[DUPLICATES]}
