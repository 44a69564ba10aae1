"""``--ner-model accurate``: the MiniLM encoder (``encoder.py``) as a spaCy component.

The component takes the place of the fast model's ``ner`` in the tagger's pipeline, in front of
the gazetteer ruler, so its spans go through the same ruler (gazetteer matches overwrite and keep
their ids), linking and salience as the fast model's: entity ids do not depend on the model.
The pipeline keeps the packaged fast model's tokenizer (CoNLL hyphen rules) so the ruler and the
surname rules see the same tokens either way. Character spans become token spans with
``Doc.char_span(alignment_mode="expand")``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import filter_spans

from newsbeam.transforms.entities.encoder import ACCURATE_MODEL, AccurateModel

ACCURATE = "accurate"
"""``--ner-model accurate``."""

COMPONENT = "newsbeam_accurate_ner"


class AccurateNer:
    """Sets ``doc.ents`` from the encoder's character spans; ``pipe`` batches the windows of many docs."""

    def __init__(self, model: AccurateModel, batch_size: int = 32) -> None:
        self.model = model
        self.batch_size = batch_size

    def __call__(self, doc: Doc) -> Doc:
        return self._apply(doc, self.model.spans(doc.text))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 32) -> Iterator[Doc]:
        iterator = iter(docs)
        while chunk := list(islice(iterator, batch_size)):
            for doc, spans in zip(chunk, self.model.spans_many([doc.text for doc in chunk]), strict=True):
                yield self._apply(doc, spans)

    @staticmethod
    def _apply(doc: Doc, spans: list[tuple[int, int, str]]) -> Doc:
        found = []
        for start, end, label in spans:
            span = doc.char_span(start, end, label=label, alignment_mode="expand")
            if span is not None:
                found.append(span)
        doc.ents = filter_spans(found)
        return doc


@Language.factory(COMPONENT, default_config={"path": str(ACCURATE_MODEL)})
def _make_accurate_ner(nlp: Language, name: str, path: str) -> AccurateNer:
    return AccurateNer(AccurateModel.load(Path(path)))


def accurate_pipeline(base: Path | None, weights: Path = ACCURATE_MODEL) -> Language:
    """A spaCy pipeline: ``base``'s tokenizer (the packaged fast model's, or blank English) + the encoder."""
    if not (weights / "weights.npz").is_file():
        raise FileNotFoundError(f"no accurate NER model in {weights}: run make model-accurate")
    if base is not None:
        nlp = spacy.load(base, exclude=["tok2vec", "ner", "parser", "tagger", "lemmatizer", "attribute_ruler"])
    else:
        nlp = spacy.blank("en")
    nlp.add_pipe(COMPONENT, name="ner", config={"path": str(weights)})
    return nlp
