"""Live counts for the progress line: the run's counters as they happen, inside this process.

Beam's in-process runner gives no metrics until the pipeline has finished, so ``counter()``
(``transforms/base.py``) also adds to every ``Board`` attached here. A board sees the steps that
run in this process: the in-process runner and Prism's loopback workers; a remote worker's counts
reach the summary through Beam's metrics only. This registry is the one piece of process-wide
state in newsbeam: it is how the step threads and the progress thread meet, and it is empty
unless a run shows progress.
"""

from __future__ import annotations

import threading
from collections import Counter

_LOCK = threading.Lock()
_BOARDS: list[Board] = []


class Board:
    """Counter totals since ``attach``; read with ``snapshot`` from any thread."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def add(self, name: str, value: int) -> None:
        self._counts[name] += value

    def snapshot(self) -> dict[str, int]:
        with _LOCK:
            return dict(self._counts)


def attach(board: Board) -> None:
    with _LOCK:
        _BOARDS.append(board)


def detach(board: Board) -> None:
    with _LOCK:
        if board in _BOARDS:
            _BOARDS.remove(board)


def note(name: str, value: int) -> None:
    """Count ``value`` more of ``name`` on every attached board (nothing when none is)."""
    if not _BOARDS:
        return
    with _LOCK:
        for board in _BOARDS:
            board.add(name, value)
