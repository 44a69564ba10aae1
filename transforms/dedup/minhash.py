"""MinHash signatures of article bodies, LSH band keys, and a compact in-memory LSH index.

Why these choices (numbers from ``scripts/eval_near_dups.py`` on Dragnet gold texts, see its report):

* **Shingles.** Word 5-shingles of ``normalise_text`` split on ``\\w+`` runs, so punctuation and
  whitespace differences between copies do not matter. 5 words make unrelated articles share almost
  nothing (true Jaccard of a Dragnet text with its nearest *other* Dragnet text: median 0.002,
  95th percentile 0.03, max 0.20) while copies keep a lot: 1 % of the words edited -> median 0.91
  (1st percentile 0.89), 2 % -> 0.84, 5 % -> 0.66 (1st percentile 0.61), 10 % -> 0.45, a copy
  cut to 50-80 % -> 0.65 (1st percentile 0.49), an outlet's header and footer added -> 0.88.
* **Hashing.** Tokens are hashed with BLAKE2b-64 (stable across processes, unlike ``hash()``), a
  shingle hash chains its five token hashes through the splitmix64 finaliser, and permutation ``i``
  is ``fmix(shingle ^ seed_i)`` with seeds drawn from a fixed splitmix64 stream. All of it is plain
  uint64 arithmetic, so signatures are identical on every worker, run and numpy version.
* **128 permutations.** The standard error of estimated Jaccard is ``sqrt(J(1-J)/128)``: 0.042 at
  J = 0.64, small enough to verify pairs at a 0.5 threshold without a second pass over the texts.
* **Banding: 42 bands of 3 rows** (126 of the 128 values). The S-curve ``1 - (1 - J^3)^42`` puts a
  pair in a common bucket with probability 0.996 at J = 0.5, 0.9999 at J = 0.64, 0.29 at J = 0.2 and
  0.0003 at J = 0.02. Its threshold ``(1/42)^(1/3) = 0.29`` is deliberately below the 0.5 decision
  threshold: truncated copies (50 % of the text has J = 0.5) and 5 % edits (J about 0.64, tail
  down to 0.5) must *all* become candidates, and the false candidates that a low LSH threshold lets
  in are cheap because every candidate is verified on its estimated Jaccard/containment
  (``transforms/dedup/near.py``). 32x4 (threshold 0.42) already loses 13 % of pairs at J = 0.5,
  25x5 loses 6 % at J = 0.64.

The index stores the low 32 bits of each signature value (two different shingle minima agree on
them with probability 2^-32, far below the estimator's own noise), the band keys in sorted uint64
runs with a prefix directory, and evicts entries older than its horizon. ``scripts/bench_lsh.py``
on a shared 2-core machine, 1M signatures: 1.14 GiB of arrays, 1.34 GiB resident (1.93 GiB at the
peak of the last merge), 13k single verified lookups/s, 94k/s in batches of 1,000 (``query_many``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np
import numpy.typing as npt

from newsbeam.transforms.dedup.keys import normalise_text

NUM_PERM = 128
SHINGLE_WORDS = 5
BANDS = 42
ROWS = 3
DEFAULT_HORIZON = timedelta(days=7)

U64 = npt.NDArray[np.uint64]

_TOKEN = re.compile(r"\w+")
_MAX = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = 0x9E3779B97F4A7C15
_CHUNK = 4096
"""Shingles hashed against all permutations at once: caps the temporary (4096 x 128 uint64 = 4 MB)."""


def _fmix(z: U64) -> U64:
    """splitmix64 finaliser: a bijective uint64 mix with full avalanche (wraps modulo 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _seed_stream(start: int, count: int) -> U64:
    """``count`` splitmix64 outputs after ``start``: fixed constants, no RNG whose stream may change."""
    with np.errstate(over="ignore"):
        states = np.uint64(start) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
    seeds = _fmix(states)
    seeds.flags.writeable = False
    return seeds


PERMUTATION_SEEDS: U64 = _seed_stream(0x6E657773_6265616D, NUM_PERM)  # "newsbeam"
BAND_SALTS: U64 = _seed_stream(0x62616E64_73616C74, NUM_PERM)  # "bandsalt"; one per possible band


def tokens(text: str) -> list[str]:
    """Words of the normalised text: what shingles are made of."""
    return _TOKEN.findall(normalise_text(text))


@functools.lru_cache(maxsize=1 << 17)
def _word_digest(word: str) -> bytes:
    """8-byte blake2b of one word. Memoised: words follow a Zipf law, so most of an article's
    words were hashed before (half the time of ``_token_hashes``; at most ~15 MB)."""
    return hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()


def _token_hashes(words: Sequence[str]) -> U64:
    unique = list(dict.fromkeys(words))
    table = np.frombuffer(b"".join(map(_word_digest, unique)), dtype="<u8").astype(np.uint64)
    position = {w: i for i, w in enumerate(unique)}
    return table[np.fromiter(map(position.__getitem__, words), dtype=np.int64, count=len(words))]


def shingle_hashes(text: str, k: int = SHINGLE_WORDS) -> U64:
    """Sorted unique 64-bit hashes of the word ``k``-shingles; a text under ``k`` words is one shingle."""
    words = tokens(text)
    if not words:
        return np.empty(0, dtype=np.uint64)
    th = _token_hashes(words)
    width = min(k, len(th))
    count = len(th) - width + 1
    h = th[:count].copy()
    for offset in range(1, width):
        h = _fmix(h ^ (th[offset : offset + count] + np.uint64(offset)))
    return np.unique(h)


def signature_of_shingles(shingles: U64) -> U64:
    """MinHash of a set of shingle hashes: per permutation, the minimum of ``fmix(shingle ^ seed)``."""
    sig = np.full(NUM_PERM, _MAX, dtype=np.uint64)
    for start in range(0, len(shingles), _CHUNK):
        block = shingles[start : start + _CHUNK, None] ^ PERMUTATION_SEEDS[None, :]
        np.minimum(sig, _fmix(block).min(axis=0), out=sig)
    return sig


def signature(text: str) -> U64:
    """The 128-value MinHash signature of ``text``'s word 5-shingles (all max for an empty text)."""
    return signature_of_shingles(shingle_hashes(text))


def sketch(text: str) -> tuple[U64, int]:
    """Signature and shingle count: the count turns estimated Jaccard into containment."""
    shingles = shingle_hashes(text)
    return signature_of_shingles(shingles), len(shingles)


def is_empty(sig: npt.NDArray[np.integer]) -> bool:
    """True for the signature of a text without words: it matches nothing and is never indexed."""
    return bool(np.all(sig == np.iinfo(sig.dtype).max))


def band_hashes(sig: npt.NDArray[np.integer], bands: int = BANDS, rows: int = ROWS) -> U64:
    """One uint64 per band (``(n, bands)`` for a ``(n, 128)`` stack): rows chained through ``fmix``.

    Only the low 32 bits of each value count, so a full signature and the index's stored 32-bit
    copy of it fall into the same buckets.
    """
    if bands * rows > sig.shape[-1]:
        raise ValueError(f"{bands} bands x {rows} rows exceed a {sig.shape[-1]}-value signature")
    table = sig[..., : bands * rows].astype(np.uint32).astype(np.uint64).reshape(*sig.shape[:-1], bands, rows)
    h = np.broadcast_to(BAND_SALTS[:bands], table.shape[:-1]).copy()
    for row in range(rows):
        h = _fmix(h ^ table[..., row])
    return h


def band_keys(sig: U64, bands: int = BANDS, rows: int = ROWS) -> list[str]:
    """Grouping keys for Beam: ``<band>:<hash>``; texts sharing any key are candidate pairs."""
    if is_empty(sig):
        return []
    return [f"{band:02d}:{int(h):016x}" for band, h in enumerate(band_hashes(sig, bands, rows))]


def estimated_jaccard(a: npt.NDArray[np.integer], b: npt.NDArray[np.integer]) -> float:
    """Share of equal MinHash values: an unbiased estimate of the shingle sets' Jaccard similarity.

    Either side may be the index's 32-bit form; values are compared on their low 32 bits then.
    """
    if a.dtype != b.dtype:
        a, b = a.astype(np.uint32), b.astype(np.uint32)
    if is_empty(a) or is_empty(b):
        return 0.0
    return float(np.count_nonzero(a == b)) / len(a)


def containment(jaccard: float, size_a: int, size_b: int) -> float:
    """Estimated share of the smaller shingle set inside the larger one, from Jaccard and set sizes.

    ``|A & B| = J (|A| + |B|) / (1 + J)``; divided by ``min(|A|, |B|)`` and clipped to 1. A copy cut
    to half its length has Jaccard 0.5 but containment 1.0.
    """
    smaller = min(size_a, size_b)
    if smaller <= 0:
        return 0.0
    return min(1.0, jaccard * (size_a + size_b) / ((1.0 + jaccard) * smaller))


def s_curve(jaccard: float, bands: int = BANDS, rows: int = ROWS) -> float:
    """Probability that a pair with this Jaccard shares at least one band (becomes a candidate)."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


class Candidate(NamedTuple):
    """An indexed signature sharing a band with the query, with its estimated Jaccard."""

    id: str
    jaccard: float
    size: int
    time: datetime
    url: str = ""


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


@dataclass(frozen=True)
class IndexStats:
    """Size of an ``LshIndex``: entries, band pairs, bytes of its numpy arrays."""

    entries: int
    band_entries: int
    nbytes: int


Slots = npt.NDArray[np.uint32]
Owners = npt.NDArray[np.int64]


class _Run:
    """Sorted ``(key, slot)`` pairs plus a directory of offsets by the keys' top ``bits``.

    Keys are uniform hashes, so a directory bucket holds about 4 pairs and a lookup gathers the
    buckets of all query keys in a few vectorised steps, instead of a binary search per key with
    a cache miss at every step (at 1M signatures: 4.5k lookups/s with ``searchsorted``, 10k+ with
    the directory). The directory costs 4 bytes per 4 pairs.
    """

    CHUNK = 1 << 20

    def __init__(self, keys: U64, slots: Slots) -> None:
        self.keys, self.slots = keys, slots
        n = len(keys)
        self.bits = int(min(24, max(0, int(np.ceil(np.log2(max(n, 1) / 4))))))
        # counted chunk by chunk: keys are sorted, so a chunk's prefixes span a short range and
        # no temporary as large as the run is ever allocated
        directory = np.zeros((1 << self.bits) + 1, dtype=np.uint32)
        for start in range(0, n, self.CHUNK):
            chunk = keys[start : start + self.CHUNK]
            prefix = (
                (chunk >> np.uint64(64 - self.bits)).astype(np.int64) if self.bits else np.zeros(len(chunk), np.int64)
            )
            first = int(prefix[0])
            counts = np.bincount(prefix - first)
            directory[first + 1 : first + 1 + len(counts)] += counts.astype(np.uint32)
        self.directory = np.cumsum(directory, dtype=np.uint32)

    @classmethod
    def empty(cls) -> _Run:
        return cls(np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint32))

    def __len__(self) -> int:
        return len(self.keys)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.slots.nbytes + self.directory.nbytes

    def lookup(self, keys: U64) -> tuple[Owners, Slots]:
        """``(position in keys, slot)`` for every stored pair whose key is one of ``keys``."""
        if self.bits:
            prefix = (keys >> np.uint64(64 - self.bits)).astype(np.int64)
        else:
            prefix = np.zeros(len(keys), dtype=np.int64)
        lo, hi = self.directory[prefix].astype(np.int64), self.directory[prefix + 1].astype(np.int64)
        index = _ranges(lo, hi)
        owner = np.repeat(np.arange(len(keys)), hi - lo)
        hit = self.keys[index] == keys[owner]
        return owner[hit], self.slots[index[hit]]

    def merged(self, keys: U64, slots: Slots) -> _Run:
        """A new run holding this one's pairs and the sorted ``(keys, slots)``."""
        return _Run(*_merge(self.keys, self.slots, keys, slots))

    def kept(self, alive: npt.NDArray[np.bool_], remap: Slots) -> _Run:
        """Pairs of live slots only, renumbered (sorted order is preserved)."""
        keep = alive[self.slots]
        return _Run(self.keys[keep], remap[self.slots[keep]])


class _BandTable:
    """``band key -> slots`` multimap; the storage behind ``LshIndex``.

    Three tiers, so adds are cheap and lookups stay a few vectorised numpy calls: ``main`` (a
    ``_Run``), ``delta`` (a smaller ``_Run``, merged into ``main`` when it passes 1/8 of it) and
    ``pending`` (a dict for single adds, merged into ``delta`` every 64k pairs). Merges are linear
    (``searchsorted`` positions into one output array), never a full re-sort, so building costs
    amortised O(1) copies per pair and the peak is one extra copy of ``main``.
    """

    PENDING_LIMIT = 1 << 16
    DELTA_SHARE = 8

    def __init__(self) -> None:
        self.main = _Run.empty()
        self.delta = _Run.empty()
        self.pending: dict[int, list[int]] = {}
        self.pending_count = 0

    def __len__(self) -> int:
        return len(self.main) + len(self.delta) + self.pending_count

    def nbytes(self) -> int:
        return self.main.nbytes() + self.delta.nbytes() + 12 * self.pending_count

    def add(self, keys: U64, slots: Slots) -> None:
        if len(keys) >= self.PENDING_LIMIT // 16:
            self._into_delta(keys, slots)
            return
        for key, slot in zip(keys.tolist(), slots.tolist(), strict=True):
            self.pending.setdefault(key, []).append(slot)
        self.pending_count += len(keys)
        if self.pending_count >= self.PENDING_LIMIT:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        count = self.pending_count
        keys = np.fromiter((k for k, slots in self.pending.items() for _ in slots), dtype=np.uint64, count=count)
        slots = np.fromiter((s for slots in self.pending.values() for s in slots), dtype=np.uint32, count=count)
        self.pending, self.pending_count = {}, 0
        self._into_delta(keys, slots)

    def lookup(self, keys: U64) -> tuple[Owners, Slots]:
        """``(position in keys, slot)`` of every stored pair whose key is one of ``keys``."""
        parts = [run.lookup(keys) for run in (self.main, self.delta) if len(run)]
        if self.pending:
            pairs = [(i, s) for i, k in enumerate(keys.tolist()) for s in self.pending.get(k, ())]
            parts.append(
                (np.asarray([i for i, _ in pairs], dtype=np.int64), np.asarray([s for _, s in pairs], dtype=np.uint32))
            )
        if not parts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint32)
        return np.concatenate([o for o, _ in parts]), np.concatenate([s for _, s in parts])

    def keep(self, alive: npt.NDArray[np.bool_], remap: Slots) -> None:
        """Drop pairs of dead slots and renumber the rest."""
        self.flush()
        self.main, self.delta = self.main.kept(alive, remap), self.delta.kept(alive, remap)

    def _into_delta(self, keys: U64, slots: Slots) -> None:
        order = np.argsort(keys, kind="stable")
        self.delta = self.delta.merged(keys[order], slots[order])
        if len(self.delta) * self.DELTA_SHARE > max(len(self.main), self.PENDING_LIMIT * self.DELTA_SHARE):
            self.main = self.main.merged(self.delta.keys, self.delta.slots)
            self.delta = _Run.empty()


def _ranges(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """All indices in the half-open ranges ``[lo[i], hi[i])``, concatenated, without a Python loop."""
    counts = hi - lo
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    return starts + np.arange(total, dtype=np.int64)


def _merge(a_keys: U64, a_slots: Slots, b_keys: U64, b_slots: Slots) -> tuple[U64, Slots]:
    """Merge two sorted runs in linear time (b's entries go after equal keys of a)."""
    if len(a_keys) == 0:
        return b_keys, b_slots
    if len(b_keys) == 0:
        return a_keys, a_slots
    positions = np.searchsorted(a_keys, b_keys, side="right") + np.arange(len(b_keys))
    from_a = np.ones(len(a_keys) + len(b_keys), dtype=bool)
    from_a[positions] = False
    keys = np.empty(len(from_a), dtype=np.uint64)
    slots = np.empty(len(from_a), dtype=np.uint32)
    keys[positions], slots[positions] = b_keys, b_slots
    keys[from_a], slots[from_a] = a_keys, a_slots
    return keys, slots


class LshIndex:
    """MinHash LSH index of recent articles, bounded by a time horizon.

    Columnar numpy storage: 32-bit signatures (``n x 128``), shingle counts, epoch-second times,
    ids and URLs, plus a ``_BandTable`` of ``(band key, slot)`` pairs. Entries older than
    ``horizon`` before the newest time seen are never returned, and are physically dropped once
    they are a quarter of the slots (or on ``expire``), so memory follows the horizon, not the
    history. In a stream the same layout is state keyed by band key with an expiry timer.
    """

    def __init__(self, horizon: timedelta = DEFAULT_HORIZON, bands: int = BANDS, rows: int = ROWS) -> None:
        self.horizon = horizon
        self.bands = bands
        self.rows = rows
        self._sigs = np.empty((0, NUM_PERM), dtype=np.uint32)
        self._sizes = np.empty(0, dtype=np.uint32)
        self._times = np.empty(0, dtype=np.int64)
        self._ids: list[str] = []
        self._urls: list[str] = []
        self._count = 0
        self._table = _BandTable()
        self._watermark: int | None = None

    # -- size -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Live entries (inside the horizon)."""
        if self._count == 0:
            return 0
        return int(np.count_nonzero(self._times[: self._count] >= self._cutoff()))

    def stats(self) -> IndexStats:
        """Entry counts and the bytes held by the numpy arrays (ids and URLs are Python strings)."""
        arrays = self._sigs.nbytes + self._sizes.nbytes + self._times.nbytes
        return IndexStats(self._count, len(self._table), arrays + self._table.nbytes())

    # -- writing ----------------------------------------------------------------------------------

    def add(self, id: str, sig: U64, time: datetime, size: int = 0, url: str = "") -> None:
        """Index one signature (``size``: its shingle count, for containment); empty texts are skipped."""
        self.add_many([id], sig[None, :], [time], [size], [url])

    def add_many(
        self,
        ids: Sequence[str],
        sigs: npt.NDArray[np.integer],
        times: Sequence[datetime] | npt.NDArray[np.int64],
        sizes: Sequence[int] | npt.NDArray[np.integer] | None = None,
        urls: Sequence[str] | None = None,
    ) -> None:
        """Index many signatures at once (``times`` as datetimes or epoch seconds)."""
        if len(ids) == 0:
            return
        epochs = np.asarray([_epoch(t) for t in times] if isinstance(times[0], datetime) else times, dtype=np.int64)
        sig32 = np.asarray(sigs).astype(np.uint32)
        keep = ~np.all(sig32 == np.uint32(0xFFFFFFFF), axis=1)
        sizes_array = np.zeros(len(ids), dtype=np.uint32) if sizes is None else np.asarray(sizes, dtype=np.uint32)
        url_list = list(urls) if urls is not None else [""] * len(ids)
        if not keep.all():
            ids = [i for i, k in zip(ids, keep.tolist(), strict=True) if k]
            url_list = [u for u, k in zip(url_list, keep.tolist(), strict=True) if k]
            sig32, epochs, sizes_array = sig32[keep], epochs[keep], sizes_array[keep]
        if len(ids) == 0:
            return
        start, stop = self._count, self._count + len(ids)
        self._grow(stop)
        self._sigs[start:stop] = sig32
        self._sizes[start:stop] = sizes_array
        self._times[start:stop] = epochs
        self._ids.extend(ids)
        self._urls.extend(url_list)
        self._count = stop
        keys = band_hashes(sig32, self.bands, self.rows).ravel()
        self._table.add(keys, np.repeat(np.arange(start, stop, dtype=np.uint32), self.bands))
        previous = self._watermark
        newest = int(epochs.max())
        self._watermark = newest if previous is None else max(previous, newest)
        if previous is not None and self._watermark > previous:
            self._maybe_compact()

    def expire(self, now: datetime | None = None) -> int:
        """Drop entries older than ``horizon`` before ``now`` (default: the newest time seen)."""
        if now is not None:
            self._watermark = max(self._watermark or _epoch(now), _epoch(now))
        return self._compact()

    # -- reading ----------------------------------------------------------------------------------

    def query(self, sig: npt.NDArray[np.integer]) -> list[Candidate]:
        """Live entries sharing at least one band with ``sig``, with their estimated Jaccard."""
        return self.query_many(sig[None, :])[0]

    def query_many(self, sigs: npt.NDArray[np.integer]) -> list[list[Candidate]]:
        """``query`` for each row of ``sigs``, vectorised over the whole batch (much faster per row)."""
        n = len(sigs)
        results: list[list[Candidate]] = [[] for _ in range(n)]
        if self._count == 0 or n == 0:
            return results
        sig32 = np.asarray(sigs).astype(np.uint32)
        keys = band_hashes(sig32, self.bands, self.rows).ravel()
        owner, slots = self._table.lookup(keys)
        if len(slots) == 0:
            return results
        query = owner // self.bands
        pairs = np.unique(query.astype(np.uint64) << np.uint64(32) | slots.astype(np.uint64))
        query, slots = (pairs >> np.uint64(32)).astype(np.int64), (pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)
        live = (self._times[slots] >= self._cutoff()) & ~np.all(sig32[query] == np.uint32(0xFFFFFFFF), axis=1)
        query, slots = query[live], slots[live]
        sims = np.count_nonzero(self._sigs[slots] == sig32[query], axis=1) / NUM_PERM
        for q, s, j, t in zip(query.tolist(), slots.tolist(), sims.tolist(), self._times[slots].tolist(), strict=True):
            moment = datetime.fromtimestamp(t, timezone.utc)
            results[q].append(Candidate(self._ids[s], float(j), int(self._sizes[s]), moment, self._urls[s]))
        return results

    # -- persistence ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the live entries to one ``.npz`` (no pickle) for the next run's ``load``."""
        self._compact()
        n = self._count
        np.savez(
            path,
            ids=np.asarray(self._ids, dtype=np.str_),
            urls=np.asarray(self._urls, dtype=np.str_),
            sigs=self._sigs[:n],
            sizes=self._sizes[:n],
            times=self._times[:n],
            params=np.asarray([self.bands, self.rows, int(self.horizon.total_seconds())], dtype=np.int64),
        )

    @classmethod
    def load(cls, path: str | Path, horizon: timedelta | None = None) -> LshIndex:
        """An index holding what ``save`` wrote (band keys are recomputed: they depend only on sigs)."""
        with np.load(path, allow_pickle=False) as data:
            bands, rows, seconds = (int(v) for v in data["params"])
            index = cls(horizon or timedelta(seconds=seconds), bands, rows)
            ids = [str(i) for i in data["ids"]]
            if ids:
                index.add_many(ids, data["sigs"], data["times"], data["sizes"], [str(u) for u in data["urls"]])
        index._compact()
        return index

    # -- internals --------------------------------------------------------------------------------

    def _cutoff(self) -> int:
        if self._watermark is None:
            return int(np.iinfo(np.int64).min)
        return self._watermark - int(self.horizon.total_seconds())

    def _grow(self, needed: int) -> None:
        capacity = len(self._times)
        if needed <= capacity:
            return
        new = max(needed, capacity + capacity // 4, 1024)
        self._sigs = _resize(self._sigs, new)
        self._sizes = _resize(self._sizes, new)
        self._times = _resize(self._times, new)

    def _maybe_compact(self) -> None:
        if self._count and np.count_nonzero(self._times[: self._count] < self._cutoff()) * 4 > self._count:
            self._compact()

    def _compact(self) -> int:
        """Physically drop expired entries; returns how many went."""
        n = self._count
        alive = self._times[:n] >= self._cutoff()
        dropped = int(n - np.count_nonzero(alive))
        if dropped == 0:
            return 0
        remap = (np.cumsum(alive, dtype=np.int64) - 1).astype(np.uint32)
        self._table.keep(alive, remap)
        self._sigs, self._sizes, self._times = self._sigs[:n][alive], self._sizes[:n][alive], self._times[:n][alive]
        flags = alive.tolist()
        self._ids = [i for i, a in zip(self._ids, flags, strict=True) if a]
        self._urls = [u for u, a in zip(self._urls, flags, strict=True) if a]
        self._count = len(self._ids)
        return dropped


_Array = TypeVar("_Array", bound=npt.NDArray[Any])


def _resize(array: _Array, length: int) -> _Array:
    grown = np.zeros((length, *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return cast(_Array, grown)
