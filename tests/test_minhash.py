"""MinHash signatures, band keys and the LSH index: stable, accurate enough, bounded."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from newsbeam.transforms.dedup.minhash import (
    BANDS,
    NUM_PERM,
    LshIndex,
    band_keys,
    containment,
    estimated_jaccard,
    s_curve,
    shingle_hashes,
    signature,
    sketch,
)

# Written for these tests (a fictional town and people).
ARTICLE = """Harbour officials in Kelmport approved a forty million dollar plan on Tuesday to deepen the north
channel, ending two years of argument over whether the port can compete for the larger container ships now
calling at its southern rivals. Mayor Ilse Varga said the vote was the most important decision the council
had taken in a decade and promised that dredging would start before the autumn storms.

The plan removes about six hundred thousand cubic metres of silt from a stretch of channel that has narrowed
every winter since the breakwater was extended. Engineers told the council that ships drawing more than
eleven metres now wait for high tide, which costs shipping lines a day on some routes and has pushed two
regular services to other harbours.

Environmental groups asked for a delay until a study of the seagrass beds east of the channel is finished.
The harbour board agreed to move the spoil to an inland site rather than dump it at sea, and to pay for
monitoring of the water quality during the work. Fishermen, who had opposed an earlier version, said they
would accept the plan if the dredgers stay out of the bay during the herring season in March.

The money comes from a regional infrastructure fund and a loan that the port will repay from higher fees on
the largest vessels. Varga said the fees would remain lower than at the competing ports along the coast."""

OTHER = """A late frost damaged most of the apricot blossom in the hill villages above Dorrach this week,
growers said on Thursday, and several orchards expect to pick less than half of last year's crop. The cold
arrived on clear nights after a warm fortnight had brought the trees into flower early.

Growers lit fires and ran fans between the rows to keep the air moving, but temperatures fell below minus
three degrees in the lower valleys where the cold air settles. The cooperative that buys most of the fruit
said it would import apricots for its jam factory for the first time in twenty years.

The regional agriculture office will survey the damage next week. Farmers can apply for support if they
lose more than a third of their harvest, a threshold that many in the valley expect to reach. Cherry trees,
which flower later, appear to have escaped, and the vineyards on the southern slopes were not yet in leaf."""

T0 = datetime(2024, 5, 6, 9, tzinfo=timezone.utc)


def edited(text: str, share: float, seed: int) -> str:
    """``share`` of the words substituted, deleted or inserted, deterministically."""
    rng = random.Random(seed)
    words = text.split()
    for _ in range(max(1, round(share * len(words)))):
        i = rng.randrange(len(words))
        operation = rng.choice(("sub", "del", "ins"))
        if operation == "sub":
            words[i] = rng.choice(("river", "market", "quietly", "seven", "council", "blue"))
        elif operation == "del":
            del words[i]
        else:
            words.insert(i, rng.choice(("also", "reportedly", "new", "local")))
    return " ".join(words)


def true_jaccard(a: str, b: str) -> float:
    x, y = set(shingle_hashes(a).tolist()), set(shingle_hashes(b).tolist())
    return len(x & y) / len(x | y)


def test_signature_is_stable_and_ignores_case_punctuation_and_spacing() -> None:
    sig = signature(ARTICLE)
    assert sig.dtype == np.uint64 and sig.shape == (NUM_PERM,)
    assert np.array_equal(sig, signature(ARTICLE))
    noisy = ARTICLE.upper().replace(",", " ,").replace("\n", "  \n\t")
    assert np.array_equal(sig, signature(noisy))


def test_signature_values_are_pinned() -> None:
    """Signatures persist in ``_state/``: a change here invalidates every stored one."""
    assert [int(v) for v in signature("one two three four five six")[:3]] == [
        6865775472110036417,
        68895137453623699,
        6250463860134850463,
    ]


def test_estimated_jaccard_tracks_true_jaccard() -> None:
    for share, seed in ((0.01, 1), (0.05, 2), (0.10, 3)):
        copy = edited(ARTICLE, share, seed)
        estimate = estimated_jaccard(signature(ARTICLE), signature(copy))
        assert abs(estimate - true_jaccard(ARTICLE, copy)) < 0.15, share
    assert estimated_jaccard(signature(ARTICLE), signature(OTHER)) < 0.05
    assert estimated_jaccard(signature(ARTICLE), signature(ARTICLE)) == 1.0


def test_empty_and_short_texts() -> None:
    empty = signature("  ,, ")
    assert band_keys(empty) == []
    assert estimated_jaccard(empty, empty) == 0.0
    short, size = sketch("Port reopens")  # fewer words than a shingle: one shingle
    assert size == 1 and len(band_keys(short)) == BANDS


def test_band_keys_collide_for_near_copies_only() -> None:
    keys = band_keys(signature(ARTICLE))
    assert len(keys) == BANDS == len(set(keys))
    assert all(len(k) == 19 and k[2] == ":" for k in keys)
    assert set(keys) & set(band_keys(signature(edited(ARTICLE, 0.05, 9))))
    assert not set(keys) & set(band_keys(signature(OTHER)))


def test_s_curve_catches_edits_and_rejects_unrelated() -> None:
    assert s_curve(0.64) > 0.999 and s_curve(0.5) > 0.99
    assert s_curve(0.05) < 0.01


def test_containment_from_jaccard_and_sizes() -> None:
    half = " ".join(ARTICLE.split()[: len(ARTICLE.split()) // 2])
    (a, na), (b, nb) = sketch(ARTICLE), sketch(half)
    j = estimated_jaccard(a, b)
    assert 0.35 < j < 0.65
    assert containment(j, na, nb) > 0.85
    assert containment(0.0, 10, 10) == 0.0 and containment(1.0, 10, 10) == 1.0


def test_index_finds_near_copies_and_forgets_after_the_horizon(tmp_path: Path) -> None:
    index = LshIndex(horizon=timedelta(days=7))
    sig, size = sketch(ARTICLE)
    index.add("kelmport", sig, T0, size, url="https://a.example/kelmport")
    other_sig, other_size = sketch(OTHER)
    index.add("frost", other_sig, T0 + timedelta(hours=1), other_size)
    found = index.query(signature(edited(ARTICLE, 0.02, 4)))
    assert [c.id for c in found] == ["kelmport"]
    assert found[0].jaccard > 0.7 and found[0].size == size and found[0].time == T0
    assert found[0].url == "https://a.example/kelmport"
    assert index.query(signature("nothing like either of the two stored articles at all")) == []

    path = tmp_path / "near.npz"
    index.save(path)
    loaded = LshIndex.load(path)
    assert [c.id for c in loaded.query(sig)] == ["kelmport"]

    # eight days later both first articles are past the 7-day horizon: never returned, and
    # dropped from memory because they are more than a quarter of the entries
    index.add("later", signature(OTHER + " update"), T0 + timedelta(days=8))
    assert index.query(sig) == []
    assert {c.id for c in index.query(other_sig)} == {"later"}
    assert index.stats().entries == len(index) == 1
    assert index.expire(T0 + timedelta(days=30)) == 1
    assert len(index) == 0 and index.query(other_sig) == []


def test_query_many_matches_query_and_memory_is_compact() -> None:
    rng = np.random.default_rng(5)
    sigs = rng.integers(0, np.iinfo(np.uint64).max, size=(3000, NUM_PERM), dtype=np.uint64, endpoint=True)
    index = LshIndex()
    index.add_many([f"id{i}" for i in range(2000)], sigs[:2000], [T0] * 2000, [100] * 2000)
    for i in range(2000, 3000):  # single adds go through the pending dict
        index.add(f"id{i}", sigs[i], T0)
    probes = sigs[::100].copy()
    probes[:, ::4] = 0  # a quarter of the values changed: still the same article
    batched = index.query_many(probes)
    assert [[c.id for c in found] for found in batched] == [[c.id for c in index.query(p)] for p in probes]
    assert [found[0].id for found in batched] == [f"id{i}" for i in range(0, 3000, 100)]
    stats = index.stats()
    assert stats.band_entries == 3000 * BANDS
    assert stats.nbytes < 3000 * 1400  # 32-bit signature + 42 band pairs + times, about 1.1 kB each


@pytest.mark.parametrize("share", [0.01, 0.02, 0.05])
def test_edit_levels_stay_above_the_decision_threshold(share: float) -> None:
    copy = edited(ARTICLE, share, 11)
    assert estimated_jaccard(signature(ARTICLE), signature(copy)) >= 0.5
