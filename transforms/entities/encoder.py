"""The accurate NER model at runtime: MiniLM-L6 fine-tuned on CoNLL-2003, run with numpy alone.

``scripts/train_ner_accurate.py`` (jax, ``make model-accurate``) writes ``transforms/entities/accurate/``:
``config.json`` (sizes, labels, window), ``vocab.txt`` and ``weights.npz`` (matrices int8 per row
with float32 scales, see ``dequantise``). This module is the numpy twin of that script's
``forward`` (keep them in step; ``tests/test_ner_encoder.py`` checks them against each other on a
fixture the script wrote). No new runtime dependency: numpy is already one of newsbeam's.

Long texts go through overlapping windows (``window`` pieces including [CLS]/[SEP], consecutive
windows sharing ``overlap`` pieces); each piece takes its prediction from the window where it
has the most context on both sides. A word's label is read on its first piece, and BIO labels
become character spans with ``bio.char_spans`` (an ``I-`` that continues nothing starts a span).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsbeam.transforms.entities import bio, wordpiece

ACCURATE_MODEL = Path(__file__).resolve().parent / "accurate"
"""Where ``make model-accurate`` puts the packaged weights."""

Params = dict[str, np.ndarray]
Span = tuple[int, int, str]


def dequantise(stored: Mapping[str, np.ndarray]) -> Params:
    """int8 matrices (``NAME`` + per-row ``NAME.scale``) -> float32; float arrays as they are."""
    out: Params = {}
    for name, value in stored.items():
        if name.endswith(".scale"):
            continue
        scale = stored.get(name + ".scale")
        array = value.astype(np.float32)
        out[name] = array * scale.astype(np.float32)[:, None] if scale is not None else array
    return out


def prepare(params: Params, layers: int) -> Params:
    """Linear weights transposed once to [in, out] (stored [out, in], as BERT stores them)."""
    ready = dict(params)
    for i in range(layers):
        for part in ("qkv", "o", "ff1", "ff2"):
            ready[f"l{i}.{part}.w"] = np.ascontiguousarray(params[f"l{i}.{part}.w"].T)
    ready["head.w"] = np.ascontiguousarray(params["head.w"].T)
    return ready


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(var + 1e-12) * g + b


def _gelu(x: np.ndarray) -> np.ndarray:
    """The tanh approximation, as in training (``jax.nn.gelu(approximate=True)``)."""
    return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608028654) * (x + np.float32(0.044715) * x * x * x)))


def forward(p: Params, ids: np.ndarray, shapes: np.ndarray, mask: np.ndarray, heads: int, layers: int) -> np.ndarray:
    """Label logits [batch, length, labels] for piece ids, shape ids and a 0/1 mask (``prepare``d params)."""
    batch, length = ids.shape
    x = p["emb.word"][ids] + p["emb.pos"][:length][None] + p["emb.type"] + p["emb.shape"][shapes]
    x = _layer_norm(x, p["emb.ln.g"], p["emb.ln.b"])
    hidden = x.shape[-1]
    size = hidden // heads
    bias = ((1.0 - mask[:, None, None, :].astype(np.float32)) * np.float32(-1e4)).astype(np.float32)
    scale = np.float32(1.0 / np.sqrt(size))
    for i in range(layers):
        qkv = x @ p[f"l{i}.qkv.w"] + p[f"l{i}.qkv.b"]
        # [3, batch, heads, length, size], contiguous: numpy's stacked matmul only uses BLAS on such blocks
        q, k, v = np.ascontiguousarray(qkv.reshape(batch, length, 3, heads, size).transpose(2, 0, 3, 1, 4))
        scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = _layer_norm(x + context @ p[f"l{i}.o.w"] + p[f"l{i}.o.b"], p[f"l{i}.ln1.g"], p[f"l{i}.ln1.b"])
        inner = _gelu(x @ p[f"l{i}.ff1.w"] + p[f"l{i}.ff1.b"])
        x = _layer_norm(x + inner @ p[f"l{i}.ff2.w"] + p[f"l{i}.ff2.b"], p[f"l{i}.ln2.g"], p[f"l{i}.ln2.b"])
    logits: np.ndarray = x @ p["head.w"] + p["head.b"]
    return logits


def windows(count: int, room: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, end)`` piece ranges of at most ``room`` pieces covering ``count``, overlapping by ``overlap``."""
    if count <= room:
        return [(0, count)]
    step = max(1, room - overlap)
    out = []
    start = 0
    while True:
        end = min(start + room, count)
        out.append((start, end))
        if end == count:
            return out
        start += step


def owners(count: int, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """For each piece, ``(window index, position in it)`` of the window giving it the most context."""
    best: list[tuple[int, int]] = [(-1, -1)] * count
    margin = [-1] * count
    for w, (start, end) in enumerate(ranges):
        for piece in range(start, end):
            room = min(piece - start, end - 1 - piece)
            if room > margin[piece]:
                margin[piece] = room
                best[piece] = (w, piece - start)
    return best


@dataclass(frozen=True)
class Config:
    """The sizes a trained model was built with (``config.json``)."""

    heads: int
    layers: int
    window: int
    labels: tuple[str, ...]
    overlap: int = 32


class AccurateModel:
    """Tokeniser + weights; ``spans_many`` tags texts, windows of all texts batched together.

    Load once per process (``AccurateModel.load``, about a second: 23 MB of int8 made float32).
    """

    def __init__(self, params: Params, config: Config, tokenizer: wordpiece.WordPiece, batch_size: int = 16) -> None:
        if config.labels != bio.LABELS:
            raise ValueError(f"model labels {config.labels} are not {bio.LABELS}")
        self.params = prepare(params, config.layers)
        self.config = config
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    @classmethod
    def load(cls, directory: Path = ACCURATE_MODEL) -> AccurateModel:
        """The model in ``directory`` (``config.json``, ``vocab.txt``, ``weights.npz``)."""
        meta = json.loads((directory / "config.json").read_text())
        with np.load(directory / "weights.npz", allow_pickle=False) as stored:
            params = dequantise({name: stored[name] for name in stored.files})
        config = Config(meta["heads"], meta["layers"], meta["window"], tuple(meta["labels"]))
        return cls(params, config, wordpiece.WordPiece(wordpiece.read_vocab(directory / "vocab.txt")))

    def spans(self, text: str) -> list[Span]:
        """Entity ``(start, end, type)`` character spans of one text."""
        return self.spans_many([text])[0]

    def spans_many(self, texts: Sequence[str]) -> list[list[Span]]:
        """``spans`` for many texts; their windows share batches."""
        room = self.config.window - 2
        encoded = [wordpiece.encode(text, self.tokenizer) for text in texts]
        jobs: list[tuple[int, int, int]] = []  # (text, start, end) per window
        plans = []
        for index, item in enumerate(encoded):
            ranges = windows(len(item.ids), room, self.config.overlap)
            plans.append((len(jobs), owners(len(item.ids), ranges)))
            jobs.extend((index, start, end) for start, end in ranges if end > start)
        labels_of: list[np.ndarray] = []
        for first in range(0, len(jobs), self.batch_size):
            labels_of.extend(
                self._predict([self._window(encoded[t], s, e) for t, s, e in jobs[first : first + self.batch_size]])
            )
        out = []
        for item, (base, owner) in zip(encoded, plans, strict=True):
            word_labels = ["O"] * len(item.words)
            for piece, (w, position) in enumerate(owner):
                if item.first[piece]:
                    word_labels[item.word_index[piece]] = bio.LABELS[int(labels_of[base + w][position])]
            out.append(bio.char_spans(word_labels, [(w.start, w.end) for w in item.words]))
        return out

    def _window(self, item: wordpiece.Encoded, start: int, end: int) -> tuple[list[int], list[int]]:
        ids = [self.tokenizer.cls, *item.ids[start:end], self.tokenizer.sep]
        return ids, [0, *item.shapes[start:end], 0]

    def _predict(self, rows: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        """Best label per piece (without [CLS]/[SEP]) of each window in one padded batch."""
        length = max(len(ids) for ids, _ in rows)
        ids = np.full((len(rows), length), self.tokenizer.pad, np.int64)
        shapes = np.zeros((len(rows), length), np.int64)
        mask = np.zeros((len(rows), length), np.int64)
        for row, (piece_ids, shape_ids) in enumerate(rows):
            ids[row, : len(piece_ids)] = piece_ids
            shapes[row, : len(piece_ids)] = shape_ids
            mask[row, : len(piece_ids)] = 1
        logits = forward(self.params, ids, shapes, mask, self.config.heads, self.config.layers)
        best = logits.argmax(-1)
        return [best[row, 1 : len(piece_ids) - 1] for row, (piece_ids, _) in enumerate(rows)]
