"""What one run needs to know, gathered from the command line into one frozen object."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

from newsbeam.pipeline.feedlist import Rejected
from newsbeam.schemas.records import FeedSpec
from newsbeam.transforms.fetch.http import HttpConfig
from newsbeam.transforms.read.jsonl import InputSlice


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC start time plus a random suffix (``20240503T101500Z-3fa9c1``)."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunConfig:
    output: str
    run_id: str = field(default_factory=new_run_id)
    feeds: tuple[FeedSpec, ...] = ()
    feed_rejects: tuple[Rejected, ...] = ()
    """Feed-list lines that are no usable feed: written as ``feeds`` dead letters, the rest is read."""
    input_pattern: str | None = None
    warc_pattern: str | None = None
    """``--warc``: WARC files (``.warc`` or ``.warc.gz``) whose HTML responses are the pages; always one part."""
    http: HttpConfig = field(default_factory=HttpConfig)
    top_entities: int = 10
    """At most this many entities per article go to the ``entities/`` table."""
    salience_threshold: float = 0.03
    """Entities below this salience stay in ``articles.entities`` but not in ``entities/``."""
    lock_stale_after: float = 6 * 3600.0
    """Seconds after which another host's lock on the lake is considered abandoned."""
    refetch: bool = False
    """Fetch entries whose URL is already in the lake's ``_state/seen`` again."""
    dedup: str = "global"
    """``global``: batch's whole-run steps (best of each group, transitive near copies); ``keyed``: the
    stream's keyed transforms (``KeyedDeduplicate``), the run as a bounded stream."""
    ner_model: str | None = None
    """spaCy pipeline for NER (name or path); None: the packaged model; "gazetteer": none."""
    part_size: int | None = None
    """Run an ``--input`` of more records as consecutive parts of this many (``pipeline.parts``);
    0: never split; None: ``DEFAULT_PART_SIZE`` on the in-process runner, never on others."""
    input_slices: tuple[InputSlice, ...] = ()
    """Set on the config of one part: the byte ranges of the input it reads."""

    def describe_inputs(self) -> dict[str, object]:
        if self.input_slices:
            return {"input": self.input_pattern, "part": [dataclasses.asdict(piece) for piece in self.input_slices]}
        if self.input_pattern:
            return {"input": self.input_pattern}
        if self.warc_pattern:
            return {"warc": self.warc_pattern}
        return {"feeds": [spec.url for spec in self.feeds]}
