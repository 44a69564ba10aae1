"""Keyed deduplication as one transform: the stream's, and ``newsbeam run --dedup keyed``'s.

Exact copies by canonical URL, then by content hash (``FirstArticle``), then near copies by LSH band
(``NearDuplicates``), every step keyed state with an expiry timer at the horizon and the lake's own
state (seen URLs and texts, the near-duplicate index) consulted beside it. A batch run through this
transform is the stream over a bounded input: the same keys, the same state, the same decisions.

What batch's global steps (``DeduplicateExact`` + ``DeduplicateNear``) do differently, and why they
stay the default for ``run``: they see the whole run at once, so they keep the best article of a
group (not the first to arrive) and join near copies transitively; and in Beam's in-process runner
they cost about a third of the keyed steps (``bench/report.md``, "keyed dedup").
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

import apache_beam as beam

from newsbeam.transforms.base import MAIN, TaggedTransform
from newsbeam.transforms.dedup.exact import DUPLICATES
from newsbeam.transforms.dedup.minhash import DEFAULT_HORIZON, LshIndex
from newsbeam.transforms.lake.state import SeenState
from newsbeam.transforms.stream.first import FirstArticle, text_key, url_key
from newsbeam.transforms.stream.near import NearDuplicates
from newsbeam.transforms.stream.near_messages import DEFAULT_SETTLE


class KeyedDeduplicate(TaggedTransform):
    """Cleaned articles in; ``main`` the first of each exact and near group, ``duplicates`` the rest.

    ``load_seen`` and ``load_index`` read what the lake already holds (called once per worker process).
    """

    def __init__(
        self,
        load_seen: Callable[[], SeenState],
        load_index: Callable[[], LshIndex],
        horizon: timedelta = DEFAULT_HORIZON,
        settle: float = DEFAULT_SETTLE,
    ) -> None:
        super().__init__()
        self.load_seen = load_seen
        self.load_index = load_index
        self.horizon = horizon
        self.settle = settle

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        seconds = self.horizon.total_seconds()
        first = functools.partial(FirstArticle, load_seen=self.load_seen, horizon=seconds)
        by_url = (
            articles
            | "KeyByUrl" >> beam.Map(url_key)
            | "FirstByUrl" >> beam.ParDo(first("exact_url")).with_outputs(DUPLICATES, main=MAIN)
        )
        by_text = (
            by_url[MAIN]
            | "KeyByText" >> beam.Map(text_key)
            | "FirstByText" >> beam.ParDo(first("exact_text")).with_outputs(DUPLICATES, main=MAIN)
        )
        near = by_text[MAIN] | "NearDuplicates" >> NearDuplicates(self.load_index, self.horizon, self.settle)
        duplicates = (by_url[DUPLICATES], by_text[DUPLICATES], near[DUPLICATES]) | "AllDuplicates" >> beam.Flatten()
        return {MAIN: near[MAIN], DUPLICATES: duplicates}
