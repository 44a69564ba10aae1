"""Near-duplicate dedup: LSH candidates, verified pairs, clusters, one canonical article per cluster.

The decision (``near_similarity``) is made on MinHash estimates only, never on the texts:

* **Jaccard >= 0.5** on word 5-shingles. A copy with 5 % of its words edited keeps 0.66 (1st
  percentile 0.61; the estimate's standard error at 128 permutations is 0.04), 1 % keeps 0.91.
  Different Dragnet articles that share an LSH band have estimated Jaccard median 0.13, 95th
  percentile 0.22, maximum 0.38 (8,761 pairs), so 0.5 leaves three standard errors on both sides.
* **or containment >= 0.7** of the smaller shingle set in the larger one, when the smaller holds
  at least 40 % of the larger's shingles and at least 50 shingles. This catches copies cut short
  (a 50 % truncation has Jaccard 0.5 but containment 1.0) and copies wrapped in another outlet's
  boilerplate, while a paragraph quoted inside another article (a small share of it, or too few
  shingles to be sure) is not taken for a copy.

``scripts/eval_near_dups.py`` sweeps both thresholds (``threshold_sweep`` in its report): at 0.5 /
0.7 no different-article pair is merged and recall is 1.0 up to 5 % edits, 0.999 for truncation;
10 % edits (Jaccard about 0.45) are mostly *not* merged (recall 0.18). Lowering the Jaccard
threshold to 0.45 buys 10 % edits 0.53 with no false pair on Dragnet, but halves the margin to
the different-article tail; we keep 0.5 because a wrongly merged article disappears from
``articles`` while a missed copy only leaves a duplicate row.

Pairs found in any shared band bucket and verified are joined by union-find (``clusters``); each
cluster keeps one article by the exact-dedup rule (``transforms.dedup.exact.canonical_sort_key``:
earliest published, then richest metadata) and records every other member as a ``Duplicate`` of
kind ``near`` whose ``similarity`` is its score against the kept article (Jaccard, or containment
when that was higher). Union-find is transitive: a chain A~B~C with A !~ C still becomes one
cluster, which is what re-fetched, repeatedly updated articles need; the recorded similarity to
the kept article shows how far each member drifted.

In Beam (``DeduplicateNear``), connected components are resolved by collecting the *verified*
edges in one global union-find combiner (partial results are reduced to a spanning forest, so an
accumulator never holds more than one edge per clustered article). That is exact and cheap because
only copies produce edges: a day with 10k near-copies is 10k edges, well under a megabyte. The
alternative, for an edge set too large for one worker, is bounded min-label propagation (each
round: key edges by node, take the smallest label in the neighbourhood, re-key): one shuffle per
round, and a chain longer than the number of rounds stays split, which is a missed merge rather
than a wrong one. Unbounded streams use the ``LshIndex`` instead (state keyed by band key,
expiring at the horizon): an arriving article queries the bands, is verified against the
candidates' signatures, and collapses into the earliest match (``CollapseNearIntoEarlierRuns``
does exactly this against earlier runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any, Literal

import apache_beam as beam
import numpy as np
import numpy.typing as npt
from apache_beam.pvalue import TaggedOutput

from newsbeam.schemas.records import Article, Duplicate, MinHashSketch
from newsbeam.transforms.base import TaggedTransform, counter
from newsbeam.transforms.dedup.exact import (
    DUPLICATES,
    Absorbed,
    DuplicateOutput,
    as_duplicate,
    canonical_sort_key,
    collapse,
    duplicate_output,
)
from newsbeam.transforms.dedup.minhash import (
    BANDS,
    DEFAULT_HORIZON,
    ROWS,
    Candidate,
    LshIndex,
    band_hashes,
    containment,
    estimated_jaccard,
    is_empty,
    sketch,
)

JACCARD_THRESHOLD = 0.5
CONTAINMENT_THRESHOLD = 0.7
MIN_SIZE_RATIO = 0.4
MIN_CONTAINED_SHINGLES = 50
MAX_ALL_PAIRS = 200
"""A band bucket with more members than this is verified along a sliding window, not all pairs."""
WINDOW = 32

KIND = "near"


@dataclass(frozen=True)
class Sketch:
    """What near-dup needs of an article: id, MinHash signature, shingle count."""

    id: str
    sig: npt.NDArray[np.uint64]
    size: int


@dataclass(frozen=True, order=True)
class Pair:
    """A verified near-duplicate pair, ``a < b``."""

    a: str
    b: str
    similarity: float


def article_sketch(article: Article) -> Sketch:
    """The article's sketch (its body only: titles differ between outlets' copies).

    The one carried on the article (``with_sketch``) when there is one: hashing the text is
    most of near-dedup's cost, so it is done once per article.
    """
    if article.minhash is not None:
        return from_record(article.article_id, article.minhash)
    sig, size = sketch(article.text)
    return Sketch(article.article_id, sig, size)


def to_record(s: Sketch) -> MinHashSketch:
    """The sketch as the plain bytes an article carries and Beam shuffles (no numpy pickling)."""
    return MinHashSketch(s.sig.astype("<u8").tobytes(), s.size)


def from_record(article_id: str, record: MinHashSketch) -> Sketch:
    """The sketch of ``to_record``, for ``article_id``."""
    return Sketch(article_id, np.frombuffer(record.signature, dtype="<u8"), record.shingles)


def with_sketch(article: Article, sketch_: Sketch | None = None) -> Article:
    """``article`` carrying its MinHash sketch for the later near-dedup and state steps."""
    if article.minhash is not None:
        return article
    return dataclasses.replace(article, minhash=to_record(sketch_ or article_sketch(article)))


def decide(jaccard: float, size_a: int, size_b: int) -> float | None:
    """The near-duplicate decision from an estimated Jaccard and shingle counts (module docstring).

    Returns the similarity to record (Jaccard, or containment when that was the deciding and
    higher score), or ``None`` when the two are different articles.
    """
    if jaccard >= JACCARD_THRESHOLD:
        return max(jaccard, _contained(jaccard, size_a, size_b) or 0.0)
    return _contained(jaccard, size_a, size_b)


def _contained(jaccard: float, size_a: int, size_b: int) -> float | None:
    smaller, larger = sorted((size_a, size_b))
    if smaller < MIN_CONTAINED_SHINGLES or smaller < MIN_SIZE_RATIO * larger:
        return None
    score = containment(jaccard, size_a, size_b)
    return score if score >= CONTAINMENT_THRESHOLD else None


def near_similarity(a: Sketch, b: Sketch) -> float | None:
    """``decide`` for two sketches."""
    if is_empty(a.sig) or is_empty(b.sig):
        return None
    return decide(estimated_jaccard(a.sig, b.sig), a.size, b.size)


def verified_pairs(members: Sequence[Sketch]) -> list[Pair]:
    """Near-duplicate pairs among the members of one candidate group (e.g. a band bucket).

    All pairs up to ``MAX_ALL_PAIRS`` members; beyond that (a bucket flooded by some shared
    template text) each member is compared with the next ``WINDOW`` members in id order, which
    keeps the work linear and still links every member of a large copy cluster through its
    neighbours.
    """
    ordered = sorted({m.id: m for m in members}.values(), key=lambda m: m.id)
    if len(ordered) <= MAX_ALL_PAIRS:
        candidates: Iterable[tuple[Sketch, Sketch]] = combinations(ordered, 2)
    else:
        candidates = ((x, y) for i, x in enumerate(ordered) for y in ordered[i + 1 : i + 1 + WINDOW])
    pairs = []
    for x, y in candidates:
        score = near_similarity(x, y)
        if score is not None:
            pairs.append(Pair(x.id, y.id, score))
    return pairs


def clusters(pairs: Iterable[Pair | tuple[str, str]]) -> dict[str, str]:
    """Union-find over pairs: each id that is in a pair mapped to its cluster's root (the min id)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for pair in pairs:
        a, b = (pair.a, pair.b) if isinstance(pair, Pair) else pair
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def candidate_groups(sketches: Sequence[Sketch], bands: int = BANDS, rows: int = ROWS) -> Iterator[list[Sketch]]:
    """Band buckets with at least two members: the in-memory twin of the Beam ``GroupByKey``."""
    buckets: dict[tuple[int, int], list[Sketch]] = {}
    for s in sketches:
        if is_empty(s.sig):
            continue
        for band, key in enumerate(band_hashes(s.sig, bands, rows).tolist()):
            buckets.setdefault((band, key), []).append(s)
    yield from (group for group in buckets.values() if len(group) > 1)


def find_near_duplicates(sketches: Sequence[Sketch]) -> tuple[dict[str, str], list[Pair]]:
    """A batch, in memory: cluster roots (ids in some cluster only) and the verified pairs."""
    pairs: dict[tuple[str, str], Pair] = {}
    for group in candidate_groups(sketches):
        for pair in verified_pairs(group):
            pairs.setdefault((pair.a, pair.b), pair)
    found = sorted(pairs.values())
    return clusters(found), found


def collapse_cluster(members: Sequence[Absorbed], sketches: Mapping[str, Sketch]) -> Absorbed:
    """Keep one article of a near-duplicate cluster and absorb the others as kind ``near``.

    Uses ``exact.collapse`` (same keep rule, earlier duplicates re-pointed), then sets each new
    near duplicate's ``similarity`` to its score against the kept article, and keeps the URLs
    the members had already absorbed (their exact copies) in ``duplicate_urls``.
    """
    kept, duplicates = collapse(members, KIND)
    kept_sketch = sketches.get(kept.article_id)
    by_url = {article.url: article for article, _ in members}
    scored = []
    for d in duplicates:
        member = by_url.get(d.url)
        if d.kind == KIND and member is not None and kept_sketch is not None and member.article_id in sketches:
            other = sketches[member.article_id]
            score = near_similarity(kept_sketch, other)
            if score is None:  # joined through a chain, not directly: record the plain estimate
                score = estimated_jaccard(kept_sketch.sig, other.sig)
            d = dataclasses.replace(d, similarity=round(score, 4))
        scored.append(d)
    urls = dict.fromkeys([*kept.duplicate_urls, *(u for a, _ in members for u in a.duplicate_urls if u != kept.url)])
    return dataclasses.replace(kept, duplicate_urls=tuple(urls)), tuple(scored)


def best_previous_match(candidates: Iterable[Candidate], size: int) -> tuple[Candidate, float] | None:
    """The indexed article (from earlier runs) a new article collapses into, if any.

    Among verified candidates the earliest indexed time wins (the article published first),
    then the higher similarity, then the id, so the choice does not depend on query order.
    """
    verified = [(c, s) for c in candidates if (s := decide(c.jaccard, c.size, size)) is not None]
    if not verified:
        return None
    return min(verified, key=lambda cs: (cs[0].time, -cs[1], cs[0].id))


def previous_duplicate(article: Article, match: Candidate, similarity: float, canonical_url: str) -> Duplicate:
    """``article`` recorded as a near copy of an article an earlier run wrote."""
    return dataclasses.replace(
        as_duplicate(article, article, KIND),
        canonical_article_id=match.id,
        canonical_url=canonical_url,
        similarity=round(similarity, 4),
    )


def index_time(article: Article) -> datetime:
    """The time an article is indexed under: published, else fetched (what the horizon counts from)."""
    return article.published or article.fetched_at


# ------------------------------------------------------------------------------------------------
# Beam
# ------------------------------------------------------------------------------------------------


@beam.typehints.with_input_types(tuple[str, str])
@beam.typehints.with_output_types(dict[str, str])
class _UnionFind(beam.CombineFn):  # type: ignore[misc]
    """Verified edges in, ``{id: root}`` out (ids without an edge are absent)."""

    def create_accumulator(self) -> list[tuple[str, str]]:
        return []

    def add_input(self, acc: list[tuple[str, str]], edge: tuple[str, str]) -> list[tuple[str, str]]:
        acc.append(edge)
        return acc

    def merge_accumulators(self, accs: Iterable[list[tuple[str, str]]]) -> list[tuple[str, str]]:
        # keep only a spanning forest of each partial set: bounded by the number of ids
        merged = clusters(edge for acc in accs for edge in acc)
        return [(node, root) for node, root in merged.items() if node != root]

    def extract_output(self, acc: list[tuple[str, str]]) -> dict[str, str]:
        return clusters(acc)


KeyedSketch = tuple[str, MinHashSketch]
"""(article_id, its sketch): what the near-dup steps move around instead of whole articles."""

Redirect = tuple[str, tuple[str, str]]
"""(absorbed article_id, (kept article_id, kept canonical URL)): where its exact copies now point."""
RedirectOutput = TaggedOutput[Literal["redirects"], Redirect]
ClusteredOutput = TaggedOutput[Literal["clustered"], tuple[str, Article]]


def redirect_output(absorbed_id: str, kept_id: str, kept_url: str) -> RedirectOutput:
    """On the ``redirects`` output: copies that pointed at ``absorbed_id`` now point at the kept article."""
    return TaggedOutput("redirects", (absorbed_id, (kept_id, kept_url)))


def _keyed_sketch(article: Article) -> KeyedSketch:
    return article.article_id, article.minhash or to_record(article_sketch(article))


def bucket_pairs(ids: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Candidate pairs among one band bucket's ids, in id order: all pairs up to ``MAX_ALL_PAIRS``
    members, else each id with the next ``WINDOW`` (as in ``verified_pairs``)."""
    ordered = sorted(set(ids))
    if len(ordered) <= MAX_ALL_PAIRS:
        yield from combinations(ordered, 2)
    else:
        yield from ((x, y) for i, x in enumerate(ordered) for y in ordered[i + 1 : i + 1 + WINDOW])


def buckets(hashes: npt.NDArray[np.uint64]) -> Iterator[list[int]]:
    """Row numbers of each run of equal values in ``hashes`` that has two rows or more."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ends = np.append(starts[1:], len(ordered))
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if end - start > 1:
            yield order[start:end].tolist()


class _Bands:
    """Accumulator of ``CandidatePairs``: article ids and their band hashes, in numpy blocks."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.blocks: list[npt.NDArray[np.uint64]] = []

    def compact(self) -> _Bands:
        if len(self.blocks) > 1:
            self.blocks = [np.concatenate(self.blocks)]
        return self


@beam.typehints.with_input_types(KeyedSketch)
@beam.typehints.with_output_types(list[tuple[str, str]])
class CandidatePairs(beam.CombineFn):  # type: ignore[misc]
    """(id, sketch) in; one sorted list of the distinct id pairs sharing an LSH band bucket out.

    What a ``GroupByKey`` on ``(band, hash)`` keys gives, without shuffling 42 keyed elements per
    article: a bundle's accumulator is its ids and an ``(n, BANDS)`` array of their band hashes,
    and a band's buckets are the runs of equal hashes once sorted.
    """

    def create_accumulator(self) -> _Bands:
        return _Bands()

    def add_input(self, acc: _Bands, keyed: KeyedSketch) -> _Bands:
        sig = from_record(*keyed).sig
        if not is_empty(sig):
            acc.ids.append(keyed[0])
            acc.blocks.append(band_hashes(sig)[None, :])
        return acc

    def merge_accumulators(self, accs: Iterable[_Bands]) -> _Bands:
        merged = _Bands()
        for acc in accs:
            merged.ids.extend(acc.ids)
            merged.blocks.extend(acc.blocks)
        return merged.compact()

    def compact(self, acc: _Bands) -> _Bands:
        return acc.compact()

    def extract_output(self, acc: _Bands) -> list[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        for column in np.concatenate(acc.blocks).T if acc.blocks else ():
            for bucket in buckets(column):
                pairs.update(bucket_pairs(acc.ids[row] for row in bucket))
        return sorted(pairs)


def _is_candidate(keyed: KeyedSketch, candidates: Container[str]) -> bool:
    return keyed[0] in candidates


def _verify(pair: tuple[str, str], sketches: Mapping[str, MinHashSketch]) -> Iterator[tuple[str, str]]:
    a, b = (from_record(article_id, sketches[article_id]) for article_id in pair)
    if near_similarity(a, b) is not None:
        yield pair


def _pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return pairs


def _ids_of(pairs: list[tuple[str, str]]) -> set[str]:
    return {i for pair in pairs for i in pair}


def _route(article: Article, roots: Mapping[str, str]) -> Iterator[Article | ClusteredOutput]:
    root = roots.get(article.article_id)
    if root is None:
        yield article
    else:
        yield beam.pvalue.TaggedOutput("clustered", (root, article))


def _collapse_group(keyed: tuple[str, Iterable[Article]]) -> Iterator[Article | DuplicateOutput | RedirectOutput]:
    members = sorted(keyed[1], key=canonical_sort_key)
    sketches = {a.article_id: article_sketch(a) for a in members}
    kept, duplicates = collapse_cluster([(a, ()) for a in members], sketches)
    counter("duplicates_near").inc(len(duplicates))
    counter("duplicates").inc(len(duplicates))
    yield kept
    for d in duplicates:
        yield duplicate_output(d)
    for a in members:
        if a.article_id != kept.article_id:
            yield redirect_output(a.article_id, kept.article_id, kept.canonical_url)


def _repoint(duplicate: Duplicate, redirects: Mapping[str, tuple[str, str]]) -> Duplicate:
    target = redirects.get(duplicate.canonical_article_id)
    if target is None:
        return duplicate
    return dataclasses.replace(duplicate, canonical_article_id=target[0], canonical_url=target[1])


class DeduplicateNear(TaggedTransform):
    """``{"main": kept articles, "duplicates": their exact copies}`` in, the same shape out.

    Steps: (id, sketch) per article (the sketch the article carries, see ``with_sketch``) -> the
    distinct id pairs sharing an LSH band bucket, from one global combine of band hashes
    (``CandidatePairs``: 8 bytes per band in numpy blocks, not 42 keyed elements per article) ->
    verified on the sketches of the candidate articles (side input: only articles that landed in
    a shared bucket) -> one global union-find -> articles in a cluster grouped by root and
    collapsed -> exact duplicates of absorbed articles re-pointed at the kept one. Whole
    articles are never shuffled for the matching, only ids, band hashes and candidates' sketches.

    Batch only (global combines); streaming uses ``LshIndex`` state keyed by band (see module).
    Cross-run matching against ``_state/`` is ``CollapseNearIntoEarlierRuns``, applied before this.
    """

    def expand(self, inputs: Mapping[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        articles, exact_duplicates = inputs["main"], inputs[DUPLICATES]
        keyed_sketches = articles | "SketchById" >> beam.Map(_keyed_sketch)
        candidate_pairs = keyed_sketches | "CandidatePairs" >> beam.CombineGlobally(CandidatePairs())
        pairs = candidate_pairs | "Pairs" >> beam.FlatMap(_pairs)
        candidate_ids = candidate_pairs | "CandidateIds" >> beam.Map(_ids_of)
        sketches = keyed_sketches | "SketchCandidates" >> beam.Filter(
            _is_candidate, candidates=beam.pvalue.AsSingleton(candidate_ids)
        )
        roots = (
            pairs
            | "Verify" >> beam.FlatMap(_verify, sketches=beam.pvalue.AsDict(sketches))
            | "UnionFind" >> beam.CombineGlobally(_UnionFind())
        )
        routed = articles | "Route" >> beam.FlatMap(_route, roots=beam.pvalue.AsSingleton(roots)).with_outputs(
            "clustered", main="single"
        )
        collapsed = (
            routed["clustered"]
            | "GroupByCluster" >> beam.GroupByKey()
            | "CollapseCluster" >> beam.FlatMap(_collapse_group).with_outputs(DUPLICATES, "redirects", main="kept")
        )
        repointed = exact_duplicates | "Repoint" >> beam.Map(
            _repoint, redirects=beam.pvalue.AsDict(collapsed["redirects"])
        )
        return {
            "main": (routed["single"], collapsed["kept"]) | "AllKept" >> beam.Flatten(),
            DUPLICATES: (repointed, collapsed[DUPLICATES]) | "AllDuplicates" >> beam.Flatten(),
        }


# ------------------------------------------------------------------------------------------------
# Across runs: signatures of recent kept articles persist in ``_state/``
# ------------------------------------------------------------------------------------------------


def state_row(article: Article, sketch_: Sketch | None = None) -> dict[str, Any]:
    """One ``_state/near`` row for a kept article: enough to rebuild its index entry next run.

    ``signature`` is the index's 32-bit form, 128 little-endian uint32 (512 bytes).
    """
    s = sketch_ or article_sketch(article)
    return {
        "article_id": article.article_id,
        "canonical_url": article.canonical_url,
        "indexed_at": index_time(article),
        "shingles": s.size,
        "signature": s.sig.astype("<u4").tobytes(),
    }


def index_from_state(rows: Iterable[Mapping[str, Any]], horizon: timedelta = DEFAULT_HORIZON) -> LshIndex:
    """An ``LshIndex`` of ``state_row`` rows (rows older than the horizon are dropped on load)."""
    index = LshIndex(horizon=horizon)
    rows = list(rows)
    if rows:
        sigs = np.stack([np.frombuffer(r["signature"], dtype="<u4") for r in rows]).astype(np.uint32)
        index.add_many(
            [str(r["article_id"]) for r in rows],
            sigs,
            [r["indexed_at"] for r in rows],
            [int(r["shingles"]) for r in rows],
            [str(r["canonical_url"]) for r in rows],
        )
        index.expire()
    return index


class _AgainstEarlierRuns(beam.DoFn):  # type: ignore[misc]
    def __init__(self, load_index: Callable[[], LshIndex]) -> None:
        self.load_index = load_index
        self.index: LshIndex | None = None

    def setup(self) -> None:
        self.index = self.load_index()

    def process(self, article: Article) -> Iterator[Article | DuplicateOutput | RedirectOutput]:
        assert self.index is not None
        s = article_sketch(article)
        match = None
        if not is_empty(s.sig):
            candidates = [c for c in self.index.query(s.sig) if c.id != article.article_id]  # not a revision's past
            match = best_previous_match(candidates, s.size)
        if match is None:
            yield with_sketch(article, s)
            return
        candidate, similarity = match
        counter("duplicates").inc()
        counter("duplicates_near").inc()
        yield duplicate_output(previous_duplicate(article, candidate, similarity, candidate.url))
        yield redirect_output(article.article_id, candidate.id, candidate.url)


class CollapseNearIntoEarlierRuns(TaggedTransform):
    """``{"main", "duplicates"}`` in and out: near copies of recent earlier-run articles collapse into them.

    ``load_index`` builds the index of earlier runs once per worker (e.g. ``functools.partial(
    index_from_state, rows)`` or ``functools.partial(LshIndex.load, path)``); it is called in
    ``setup`` so the index is never pickled into the pipeline graph. The earlier article is
    already in the lake, so it stays canonical whatever the publication dates say; the new copy
    becomes a ``near`` duplicate pointing at it, and so do the exact copies it had absorbed.
    """

    def __init__(self, load_index: Callable[[], LshIndex]) -> None:
        super().__init__()
        self.load_index = load_index

    def expand(self, inputs: Mapping[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        result = inputs["main"] | "NearEarlierRuns" >> beam.ParDo(_AgainstEarlierRuns(self.load_index)).with_outputs(
            DUPLICATES, "redirects", main="main"
        )
        repointed = inputs[DUPLICATES] | "RepointToEarlierRuns" >> beam.Map(
            _repoint, redirects=beam.pvalue.AsDict(result["redirects"])
        )
        return {
            "main": result["main"],
            DUPLICATES: (repointed, result[DUPLICATES]) | "WithEarlierRunCopies" >> beam.Flatten(),
        }
