"""BERT's uncased tokenizer (basic split + WordPiece) in pure Python, with character offsets.

Why our own: the accurate NER model (``encoder.py``) must tokenise exactly as it was trained
(``scripts/train_ner_accurate.py``) and the runtime may not depend on ``tokenizers`` or
``transformers``. This follows ``BertTokenizer`` with ``do_lower_case=True``: control characters
dropped, whitespace splits, every punctuation character and CJK ideograph is a word of its own,
words are lower-cased and stripped of accents, then split greedily into the longest vocabulary
pieces ("##" marks a continuation); a word longer than ``MAX_WORD_CHARS`` or with no split is
``[UNK]``.

Each word keeps its ``(start, end)`` in the original text, so labels on words become character
spans, and a *shape* id from its original casing (the encoder is uncased; see ``shape_id``).
This module imports nothing outside the standard library, so the training venv can use it too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

UNK = "[UNK]"
CLS = "[CLS]"
SEP = "[SEP]"
PAD = "[PAD]"
MAX_WORD_CHARS = 100
"""BERT's ``max_input_chars_per_word``: a longer word is one ``[UNK]``."""

SHAPES = 12
"""Number of shape ids: 6 word shapes x (piece starts with an upper-case letter or not)."""
_LOWER, _TITLE, _UPPER, _MIXED, _DIGIT, _OTHER = range(6)


@dataclass(frozen=True)
class Word:
    """One basic token: its span in the original text and its normalised (lower-case) form."""

    start: int
    end: int
    text: str


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def normalise(text: str) -> str:
    """Lower case, accents stripped (NFD, combining marks dropped): BERT's uncased form."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(char for char in decomposed if unicodedata.category(char) != "Mn")


def basic_words(text: str) -> list[Word]:
    """Words of ``text`` as BERT's basic tokenizer splits them, with their original offsets."""
    words: list[Word] = []
    start = -1

    def close(end: int) -> None:
        nonlocal start
        if start >= 0:
            words.append(Word(start, end, text[start:end]))
            start = -1

    for i, char in enumerate(text):
        code = ord(char)
        if code == 0 or code == 0xFFFD or _is_control(char) or _is_whitespace(char):
            close(i)
        elif _is_punctuation(char) or _is_cjk(code):
            close(i)
            words.append(Word(i, i + 1, char))
        elif start < 0:
            start = i
    close(len(text))
    return words


def shape_id(word: str, piece_start: int) -> int:
    """Casing class of ``word`` (original text) for its piece starting at ``piece_start``.

    Word classes: lower, Title, UPPER, MiXed, has a digit, other (punctuation); doubled by
    whether the piece's first character is upper case. Pieces of one word share its class, so
    "McDonald" is mixed throughout while "##don" is still told apart from "##Don".
    """
    letters = [c for c in word if c.isalpha()]
    if any(c.isdigit() for c in word):
        kind = _DIGIT
    elif not letters:
        kind = _OTHER
    elif all(c.islower() for c in letters):
        kind = _LOWER
    elif all(c.isupper() for c in letters):
        kind = _UPPER if len(letters) > 1 else _TITLE
    elif letters[0].isupper() and all(c.islower() for c in letters[1:]):
        kind = _TITLE
    else:
        kind = _MIXED
    upper = piece_start < len(word) and word[piece_start].isupper()
    return kind * 2 + int(upper)


def read_vocab(path: Path) -> dict[str, int]:
    """``vocab.txt`` (one piece per line) -> piece id by line number."""
    with path.open(encoding="utf-8") as handle:
        return {line.rstrip("\n"): index for index, line in enumerate(handle)}


class WordPiece:
    """Greedy longest-match-first WordPiece over a BERT vocabulary."""

    def __init__(self, vocab: Mapping[str, int]) -> None:
        self.vocab = dict(vocab)
        self.unk = self.vocab[UNK]
        self.cls = self.vocab[CLS]
        self.sep = self.vocab[SEP]
        self.pad = self.vocab[PAD]
        self._cache: dict[str, tuple[tuple[int, int], ...]] = {}

    def pieces(self, word: str) -> tuple[tuple[int, int], ...]:
        """``(piece id, offset in the normalised word)`` per piece of one normalised word."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        result = self._split(word)
        if len(self._cache) < 200_000:
            self._cache[word] = result
        return result

    def _split(self, word: str) -> tuple[tuple[int, int], ...]:
        if len(word) > MAX_WORD_CHARS:
            return ((self.unk, 0),)
        out: list[tuple[int, int]] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = -1
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece, -1)
                if found >= 0:
                    break
                end -= 1
            if found < 0:
                return ((self.unk, 0),)
            out.append((found, start))
            start = end
        return tuple(out)


@dataclass(frozen=True)
class Encoded:
    """A text as wordpieces: ids, shape ids, and for each piece the index of its word (or -1).

    ``first`` marks the first piece of each word (where the word's label is read).
    """

    words: list[Word]
    ids: list[int]
    shapes: list[int]
    word_index: list[int]
    first: list[bool]


def encode(text: str, wordpiece: WordPiece) -> Encoded:
    """``text`` -> words and pieces (no [CLS]/[SEP]; windows add them, see ``encoder.windows``)."""
    words = basic_words(text)
    ids: list[int] = []
    shapes: list[int] = []
    word_index: list[int] = []
    first: list[bool] = []
    for index, word in enumerate(words):
        norm = normalise(word.text)
        if not norm:  # a lone combining mark: BERT drops it; keep the word as [UNK]
            pieces: Iterable[tuple[int, int]] = ((wordpiece.unk, 0),)
        else:
            pieces = wordpiece.pieces(norm)
        same_length = len(norm) == len(word.text)
        for n, (piece, offset) in enumerate(pieces):
            ids.append(piece)
            shapes.append(shape_id(word.text, offset if same_length else 0))
            word_index.append(index)
            first.append(n == 0)
    return Encoded(words, ids, shapes, word_index, first)
