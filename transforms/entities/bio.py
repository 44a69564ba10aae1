"""BIO labels on words -> entity spans, shared by the accurate model's runtime and its training.

Standard library only (``scripts/train_ner_accurate.py`` runs in a venv without newsbeam's
dependencies). A word labelled ``I-X`` that does not continue an ``X`` span starts one: a model
trained on IOB2 sometimes misses the ``B-``, and dropping the entity would lose more than
treating the ``I-`` as a start (the usual ``seqeval`` convention).
"""

from __future__ import annotations

from collections.abc import Sequence

TYPES = ("PER", "ORG", "LOC", "MISC")
LABELS = ("O", *(f"{prefix}-{kind}" for kind in TYPES for prefix in ("B", "I")))
"""Label ids: 0 = O, then B-/I- per type, in ``TYPES`` order."""
LABEL_IDS = {label: index for index, label in enumerate(LABELS)}


def word_spans(labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """``(first word, end word, type)`` per entity of a BIO label sequence (invalid ``I-`` starts one)."""
    spans: list[tuple[int, int, str]] = []
    start, kind = -1, ""
    for i, label in enumerate([*labels, "O"]):
        prefix, _, this = label.partition("-")
        if start >= 0 and (prefix != "I" or this != kind):
            spans.append((start, i, kind))
            start = -1
        if prefix == "B" or (prefix == "I" and start < 0):
            start, kind = i, this
    return spans


def char_spans(labels: Sequence[str], offsets: Sequence[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """``(start, end, type)`` character spans, given each word's ``(start, end)`` in the text."""
    return [(offsets[first][0], offsets[end - 1][1], kind) for first, end, kind in word_spans(labels)]


def word_labels(offsets: Sequence[tuple[int, int]], entities: Sequence[tuple[int, int, str]]) -> list[str]:
    """Gold BIO labels of words from character-span entities (for training and tests).

    A word inside an entity is ``B-`` if it starts where the entity starts, else ``I-``.
    """
    labels = ["O"] * len(offsets)
    ordered = sorted(entities)
    j = 0
    for i, (start, end) in enumerate(offsets):
        while j < len(ordered) and ordered[j][1] <= start:
            j += 1
        if j < len(ordered) and ordered[j][0] <= start and end <= ordered[j][1]:
            labels[i] = ("B-" if start == ordered[j][0] else "I-") + ordered[j][2]
    return labels
