"""Leave-one-topic-out cross-validation of story assignment, over several arrival orders.

One split says little: the parameters fitted on ECB+ topics 1-10 lost 0.05 B³ F1 on topics 11-45.
Here each topic is held out in turn: the configuration (from a grid) with the best mean F1 on the
other topics' articles is chosen, and the held-out topic's articles are scored under it. Every
configuration clusters the whole pool (all topics together, as in production: other topics are
the background the IDF and the false candidates come from) once per arrival order, and B³ is
computed per article over the whole pool, so a held-out article merged into another topic's story
loses precision too. The report gives the held-out F1 of every fold (mean over orders) and of
every order (pooled over folds): the spread over folds and over orders.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

ItemScores = dict[str, tuple[float, float]]
"""Per item: (B³ precision, B³ recall) of that item."""


def item_bcubed(predicted: Mapping[str, str], gold: Mapping[str, str]) -> ItemScores:
    """Each gold item's own B³ precision and recall (items missing from ``predicted`` are singletons)."""
    labels = {item: predicted.get(item, f"\0singleton:{item}") for item in gold}
    pairs = Counter((labels[item], gold[item]) for item in gold)
    predicted_sizes = Counter(labels.values())
    gold_sizes = Counter(gold.values())
    return {
        item: (
            pairs[(labels[item], gold[item])] / predicted_sizes[labels[item]],
            pairs[(labels[item], gold[item])] / gold_sizes[gold[item]],
        )
        for item in gold
    }


def subset_score(scores: ItemScores, items: Sequence[str]) -> tuple[float, float, float]:
    """(P, R, F1) averaged over ``items`` only."""
    if not items:
        return 1.0, 1.0, 1.0
    precision = sum(scores[i][0] for i in items) / len(items)
    recall = sum(scores[i][1] for i in items) / len(items)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def shuffled(items: Sequence[Any], seed: int) -> list[Any]:
    """``items`` in the arrival order of ``seed`` (the same order for every configuration)."""
    order = list(items)
    random.Random(seed).shuffle(order)
    return order


def loto_cv(
    runs: Mapping[str, Sequence[ItemScores]],
    topic_of: Mapping[str, str],
    prefer: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Leave-one-topic-out over precomputed runs: ``runs[config][order]`` are per-item B³ scores.

    For each held-out topic the config with the best mean (over orders) F1 on the other topics is
    chosen (ties: the first in ``runs``' order), then scored on the held-out topic's items.

    With ``prefer`` (config -> how conservative it is, e.g. its threshold) the choice is instead
    the most conservative config whose training F1 is within the best one's spread over arrival
    orders (its population standard deviation): closer than that, configs differ by no more
    than reshuffling the same articles does, and the one that merges less is the safer bet on
    topics it was not fitted to (the issue: over-merging is the loss).
    """
    configs = list(runs)
    orders = len(runs[configs[0]])
    topics = sorted(set(topic_of.values()), key=_topic_key)
    items_of = {t: sorted(i for i, tt in topic_of.items() if tt == t) for t in topics}
    folds = []
    chosen_of: dict[str, str] = {}
    for held in topics:
        train = [i for t in topics if t != held for i in items_of[t]]

        def train_f1s(config: str, train: list[str] = train) -> list[float]:
            return [subset_score(runs[config][o], train)[2] for o in range(orders)]

        def train_f1(config: str) -> float:
            return statistics.fmean(train_f1s(config))

        chosen = max(configs, key=lambda c: (train_f1(c), -configs.index(c)))
        if prefer is not None:
            floor = train_f1(chosen) - statistics.pstdev(train_f1s(chosen))
            near = [c for c in configs if train_f1(c) >= floor]
            chosen = max(near, key=lambda c: (prefer[c], train_f1(c), -configs.index(c)))
        chosen_of[held] = chosen
        held_scores = [subset_score(runs[chosen][o], items_of[held]) for o in range(orders)]
        folds.append(
            {
                "held_out_topic": held,
                "chosen": chosen,
                "train_f1": round(train_f1(chosen), 4),
                "held_out_f1": round(statistics.fmean(s[2] for s in held_scores), 4),
                "held_out_f1_by_order": [round(s[2], 4) for s in held_scores],
            }
        )
    by_order = []
    for o in range(orders):
        pooled: ItemScores = {}
        for held in topics:
            pooled.update({i: runs[chosen_of[held]][o][i] for i in items_of[held]})
        p, r, f = subset_score(pooled, sorted(pooled))
        by_order.append({"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)})
    fold_f1 = [f["held_out_f1"] for f in folds]
    order_f1 = [o["f1"] for o in by_order]
    return {
        "held_out_f1_mean": round(statistics.fmean(order_f1), 4),
        "held_out_precision_mean": round(statistics.fmean(o["precision"] for o in by_order), 4),
        "held_out_recall_mean": round(statistics.fmean(o["recall"] for o in by_order), 4),
        "spread_over_folds": _spread(fold_f1),
        "spread_over_orders": _spread(order_f1),
        "by_order": by_order,
        "folds": folds,
    }


def in_sample(runs: Mapping[str, Sequence[ItemScores]]) -> dict[str, dict[str, float]]:
    """Each config's F1 over all items (mean over orders, with its min and max): the fitted figure."""
    table = {}
    for config, per_order in runs.items():
        f1s = [subset_score(s, sorted(s))[2] for s in per_order]
        ps = [subset_score(s, sorted(s))[0] for s in per_order]
        table[config] = {
            "f1_mean": round(statistics.fmean(f1s), 4),
            "f1_min": round(min(f1s), 4),
            "f1_max": round(max(f1s), 4),
            "precision_mean": round(statistics.fmean(ps), 4),
        }
    return table


def run_grid(
    grid: Mapping[str, Callable[[int], Mapping[str, str]]],
    gold: Mapping[str, str],
    seeds: Sequence[int],
) -> dict[str, list[ItemScores]]:
    """``grid[config](seed)`` clusters the pool in arrival order ``seed``: per-item scores of each."""
    return {name: [item_bcubed(cluster(seed), gold) for seed in seeds] for name, cluster in grid.items()}


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 4),
        "stdev": round(statistics.pstdev(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def _topic_key(topic: str) -> tuple[int, str]:
    return (int(topic), topic) if topic.isdigit() else (10**9, topic)
