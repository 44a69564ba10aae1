"""B-cubed precision, recall and F1 of a clustering against gold clusters.

B³ (Bagga & Baldwin 1998) scores every item: precision is the share of its predicted cluster that
is in its gold cluster, recall the share of its gold cluster that is in its predicted cluster;
both are averaged over items. Unlike pairwise scores it does not let one huge cluster dominate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping


def bcubed(predicted: Mapping[str, str], gold: Mapping[str, str]) -> tuple[float, float, float]:
    """(precision, recall, F1) over the items of ``gold`` (items missing from ``predicted`` are singletons)."""
    if not gold:
        return 1.0, 1.0, 1.0
    labels = {item: predicted.get(item, f"\0singleton:{item}") for item in gold}
    pairs = Counter((labels[item], gold[item]) for item in gold)
    predicted_sizes = Counter(labels.values())
    gold_sizes = Counter(gold.values())
    precision = recall = 0.0
    for item in gold:
        both = pairs[(labels[item], gold[item])]
        precision += both / predicted_sizes[labels[item]]
        recall += both / gold_sizes[gold[item]]
    precision /= len(gold)
    recall /= len(gold)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return round(precision, 4), round(recall, 4), round(f1, 4)
