"""newsbeam: news feeds and pages in; deduplicated, entity-tagged, story-linked Parquet out, on Apache Beam.

The public API is exactly ``__all__`` below; everything else (any module path not re-exported
here) is internal and may change in any release. See the README, "Use newsbeam as a library".

Stage transforms take and give typed ``PCollection``s. A transform with several outputs returns
a dict of tagged ``PCollection``s: ``"main"`` plus ``"dead_letter"`` (``DeadLetter`` records,
which the caller routes: nothing is dropped) or ``"duplicates"`` (``Duplicate`` records).
"""

from importlib.metadata import PackageNotFoundError, version

from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.lake_sql import connect
from newsbeam.pipeline.run import RunResult, run
from newsbeam.pipeline.stream import stream
from newsbeam.pipeline.stream_graph import StreamConfig
from newsbeam.schemas.records import (
    Article,
    DeadLetter,
    Duplicate,
    EntityRef,
    FeedEntry,
    FeedSpec,
    Mention,
    Page,
)
from newsbeam.transforms.base import DEAD_LETTER, MAIN
from newsbeam.transforms.clean.stage import CleanPages
from newsbeam.transforms.dedup.exact import DUPLICATES, DeduplicateExact
from newsbeam.transforms.dedup.stage import Deduplicate
from newsbeam.transforms.entities.stage import TagEntities
from newsbeam.transforms.fetch.pages import FetchPages
from newsbeam.transforms.lake.write import WriteLake
from newsbeam.transforms.read.feeds import ReadFeeds
from newsbeam.transforms.read.jsonl import ReadInputPages
from newsbeam.transforms.read.warc import ReadWarcPages
from newsbeam.transforms.stories.stage import AssignStories

try:
    __version__ = version("newsbeam")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

__all__ = [
    "DEAD_LETTER",
    "DUPLICATES",
    "MAIN",
    "Article",
    "AssignStories",
    "CleanPages",
    "DeadLetter",
    "Deduplicate",
    "DeduplicateExact",
    "Duplicate",
    "EntityRef",
    "FeedEntry",
    "FeedSpec",
    "FetchPages",
    "Mention",
    "Page",
    "ReadFeeds",
    "ReadInputPages",
    "ReadWarcPages",
    "RunConfig",
    "RunResult",
    "StreamConfig",
    "TagEntities",
    "WriteLake",
    "__version__",
    "connect",
    "run",
    "stream",
]
