"""The accurate NER model's runtime: tokenizer, numpy forward (against jax), windows, BIO decoding.

The numpy forward is checked against logits that ``scripts/train_ner_accurate.py --fixture``
computed with jax on a tiny random-weight model (``tests/fixtures/ner_encoder/tiny.npz``): two
independent implementations of one network. Tests of the trained weights skip when
``transforms/entities/accurate`` is absent (``make model-accurate``).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from newsbeam.transforms.entities import bio, wordpiece
from newsbeam.transforms.entities.encoder import ACCURATE_MODEL, AccurateModel, dequantise, forward, owners, prepare
from newsbeam.transforms.entities.encoder import windows as make_windows

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ner_encoder" / "tiny.npz"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "the", "zurich", ",", "-", "##s", "new", "york"]


@pytest.fixture
def tiny_wordpiece() -> wordpiece.WordPiece:
    return wordpiece.WordPiece({piece: i for i, piece in enumerate(VOCAB)})


def test_words_keep_offsets_and_split_punctuation() -> None:
    text = "Zürich's  Jean-Luc\tsaid:\n“No.”\x00 北京"
    words = wordpiece.basic_words(text)
    assert [w.text for w in words] == [
        "Zürich",
        "'",
        "s",
        "Jean",
        "-",
        "Luc",
        "said",
        ":",
        "“",
        "No",
        ".",
        "”",
        "北",
        "京",
    ]
    assert all(text[w.start : w.end] == w.text for w in words)


def test_normalise_lowercases_and_strips_accents() -> None:
    assert wordpiece.normalise("ZÜRICH Ångström café") == "zurich angstrom cafe"


def test_wordpiece_greedy_longest_match_and_unknowns(tiny_wordpiece: wordpiece.WordPiece) -> None:
    assert [VOCAB[i] for i, _ in tiny_wordpiece.pieces("unaffable")] == ["un", "##aff", "##able"]
    assert [offset for _, offset in tiny_wordpiece.pieces("unaffable")] == [0, 2, 5]
    assert tiny_wordpiece.pieces("unxyz") == ((tiny_wordpiece.unk, 0),)  # no split: the whole word is [UNK]
    long_word = "un" * 51  # 102 characters: over BERT's per-word limit even though it splits
    assert tiny_wordpiece.pieces(long_word) == ((tiny_wordpiece.unk, 0),)


def test_encode_marks_first_pieces_and_shapes(tiny_wordpiece: wordpiece.WordPiece) -> None:
    encoded = wordpiece.encode("The UNAFFABLE Zürich, New-York", tiny_wordpiece)
    assert [VOCAB[i] for i in encoded.ids] == ["the", "un", "##aff", "##able", "zurich", ",", "new", "-", "york"]
    assert encoded.first == [True, True, False, False, True, True, True, True, True]
    assert encoded.word_index == [0, 1, 1, 1, 2, 3, 4, 5, 6]
    title, upper = wordpiece.shape_id("The", 0), wordpiece.shape_id("UNAFFABLE", 0)
    assert encoded.shapes[0] == title and encoded.shapes[1] == upper and title != upper
    assert wordpiece.shape_id("the", 0) != title
    assert wordpiece.shape_id("McDonald", 2) != wordpiece.shape_id("McDonald", 1)  # "##Don" vs "##c..."


def test_shape_ids_stay_in_range() -> None:
    for word in ("a", "A", "AB", "Ab", "aB", "a1", "--", "É", "ß", "İstanbul"):
        for start in range(len(word) + 1):
            assert 0 <= wordpiece.shape_id(word, start) < wordpiece.SHAPES


def test_numpy_forward_matches_jax_on_the_fixture() -> None:
    with np.load(FIXTURE, allow_pickle=False) as stored:
        data = {name: stored[name] for name in stored.files}
    cfg = json.loads(str(data.pop("config")))
    ids, shapes, mask = data.pop("input.ids"), data.pop("input.shapes"), data.pop("input.mask")
    expected = data.pop("expected.logits")
    logits = forward(prepare(data, cfg["layers"]), ids, shapes, mask, cfg["heads"], cfg["layers"])
    valid = mask.astype(bool)
    assert np.abs(logits[valid] - expected[valid]).max() < 1e-4
    shuffled = dict(data, **{"l1.ff1.w": data["l1.ff1.w"] * 1.5})  # the check can fail: a changed weight shows
    changed = forward(prepare(shuffled, cfg["layers"]), ids, shapes, mask, cfg["heads"], cfg["layers"])
    assert np.abs(changed[valid] - expected[valid]).max() > 1e-2


def test_dequantise_scales_rows() -> None:
    stored = {
        "m": np.array([[127, -64], [1, 0]], np.int8),
        "m.scale": np.array([0.5, 2.0], np.float32),
        "v": np.array([1.5], np.float32),
    }
    out = dequantise(stored)
    assert set(out) == {"m", "v"}
    np.testing.assert_allclose(out["m"], [[63.5, -32.0], [2.0, 0.0]])
    assert out["m"].dtype == np.float32


def test_windows_cover_every_piece_with_most_context() -> None:
    assert make_windows(10, 126, 32) == [(0, 10)]
    ranges = make_windows(300, 126, 32)
    assert ranges[0] == (0, 126) and ranges[-1][1] == 300
    assert all(b[0] - a[0] == 94 for a, b in itertools.pairwise(ranges))
    best = owners(300, ranges)
    assert all(w >= 0 for w, _ in best)
    assert best[100] == (0, 100) and best[110] == (1, 16)  # 110 is more central in the second window
    for piece, (w, position) in enumerate(best):
        assert ranges[w][0] + position == piece


def test_bio_decoding_repairs_invalid_starts() -> None:
    labels = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-ORG", "I-MISC", "I-MISC"]
    assert bio.word_spans(labels) == [(0, 2, "PER"), (3, 5, "LOC"), (5, 6, "ORG"), (6, 8, "MISC")]
    offsets = [(0, 3), (4, 9), (10, 12), (13, 16), (17, 20), (21, 24), (25, 27), (28, 30)]
    assert bio.char_spans(labels, offsets)[0] == (0, 9, "PER")
    gold = [(0, 9, "PER"), (13, 20, "LOC")]
    assert bio.word_labels(offsets, gold)[:5] == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]


@pytest.fixture(scope="module")
def model() -> AccurateModel:
    if not (ACCURATE_MODEL / "weights.npz").is_file():
        pytest.skip("accurate NER model not built (make model-accurate)")
    return AccurateModel.load()


def test_trained_model_tags_obvious_entities(model: AccurateModel) -> None:
    text = "Shares of Toyota Motor Corp rose in Tokyo after Akio Tanaka, its finance chief, raised the forecast."
    found = {(text[s:e], kind) for s, e, kind in model.spans(text)}
    assert {("Toyota Motor Corp", "ORG"), ("Tokyo", "LOC"), ("Akio Tanaka", "PER")} <= found


def test_long_texts_go_through_windows(model: AccurateModel) -> None:
    sentence = "Officials in Nairobi said the United Nations sent food to Kenya after the floods."
    text = " ".join([sentence] * 40)  # about 700 pieces: six overlapping windows
    spans = model.spans_many([text, sentence])
    assert len(wordpiece.encode(text, model.tokenizer).ids) > 3 * model.config.window
    per_copy = {(text[s:e], kind) for s, e, kind in spans[1]}
    assert {("Nairobi", "LOC"), ("Kenya", "LOC")} <= per_copy
    kenya = [s for s, e, kind in spans[0] if text[s:e] == "Kenya" and kind == "LOC"]
    assert len(kenya) >= 38  # nearly every copy, including those across window edges


def test_texts_without_words_give_no_spans(model: AccurateModel) -> None:
    spans = model.spans_many(["", " \n\t ", "\x00", "Officials in Nairobi said so."])
    assert spans[:3] == [[], [], []]
    assert spans[3] == [(13, 20, "LOC")]
