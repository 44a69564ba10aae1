"""Train newsbeam's statistical NER on CoNLL-2003 and package it as ``transforms/entities/model``.

Why our own model: no pretrained English spaCy pipeline can be installed here, so ``make model``
trains a small CNN (``scripts/ner_config.cfg``) from ``../shared/corpora/ner/conll2003`` and the
result is committed; workers load it with ``spacy.load`` and never need ``../shared``.

Steps, all reproducible (CPU, fixed seed, fixed data order):

1. ``convert``: CoNLL train/dev -> DocBin files under ``build/ner/`` (gitignored; the corpus
   text must not enter the package). Each article is one Doc whose text is what a reader would
   get as *raw text* (see ``render``); spaCy re-tokenises that text while training
   (``gold_preproc = false``), so the model learns from the tokens it will see in production.
2. ``train``: ``spacy train`` with the config; ``model-best`` is chosen by dev ``ents_f``
   (dev text re-tokenised too, so selection is on raw text).
3. ``package``: ``model-best`` -> ``transforms/entities/model`` (tokenizer rules included).
4. ``evaluate``: dev P/R/F1 per type, on gold tokens and on raw text (``--eval-only`` does
   just this for any pipeline directory).

The tokenizer keeps ASCII-hyphen compounds whole, as CoNLL does ("Jean-Luc", "AL-AIN",
"Richmond-based"; see ``conll_tokenizer``). What matters, measured on dev raw text, is that
training and inference tokenise alike: this model fed spaCy's default (hyphen-splitting)
tokenizer loses about 2.3 F1, and a model trained on CoNLL's own tokens loses 1.5 on raw text.
So load the model with the tokenizer saved in it and do not swap it.

Raw text for evaluation: ``spaces`` (tokens joined by one space, sentences by newlines) is the
honest baseline; ``news`` also glues punctuation the way articles print it (``_news_spaces``).

Run: ``make model``, or ``python scripts/train_ner.py [--set KEY=VALUE ...]``; measure any
pipeline with ``--eval-only [MODEL] [--ruler before|after|fill] [--tokenizer tagger]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import spacy
from spacy.lang.char_classes import ALPHA, HYPHENS
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, DocBin
from spacy.util import compile_infix_regex

from newsbeam.transforms.entities.bio import word_spans

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "ner" / "conll2003"
DEFAULT_BUILD = REPO / "build" / "ner"
DEFAULT_OUTPUT = REPO / "transforms" / "entities" / "model"
DEFAULT_CONFIG = Path(__file__).resolve().with_name("ner_config.cfg")

LABELS = ("LOC", "MISC", "ORG", "PER")
TOKENIZER_CALLBACK = "newsbeam.conll_tokenizer.v1"
"""Name of the ``[initialize.before_init]`` callback in the config (see ``register_callbacks``).
Only training needs it: the rules it sets are saved with the tokenizer, so ``spacy.load``
of the packaged model does not."""
TAGGER_TOKENIZER_CALLBACK = "newsbeam.tagger_tokenizer.v1"
"""Alternative ``before_init``: train with the gazetteer tagger's tokenizer instead."""

Mode = Literal["gold", "spaces", "news"]
"""How a CoNLL article is turned into input: ``gold`` = its own tokens (a pre-tokenised Doc);
``spaces`` = raw text, tokens joined by one space; ``news`` = raw text with the no-space rules
of ``_news_spaces`` ("Smith, who", "(Reuters)", "it's")."""

NO_SPACE_BEFORE = frozenset(
    {",", ".", ";", ":", "?", "!", ")", "]", "}", "%", "'s", "'", "n't", "'re", "'ve", "'ll", "'d", "'m"}
)
NO_SPACE_AFTER = frozenset({"(", "[", "{", "$"})

# The default English infix that splits a hyphen between letters (or digit and letter), and the
# one that splits between digits; CoNLL keeps "Jean-Luc", "10-year", "6-4" and "1996-08-22" whole.
_LETTER_HYPHEN = rf"(?<=[{ALPHA}0-9])(?:{HYPHENS})(?=[{ALPHA}])"
_DIGIT_HYPHEN = r"(?<=[0-9])[+\-\*^](?=[0-9-])"
_DASH = r"(?<=[{a}0-9])(?:{h})(?=[{a}])".format(a=ALPHA, h=HYPHENS.replace("-|", "", 1))
"""The letter rule without the plain ASCII hyphen: dashes ("war\u2014and", "~") still split."""
_DIGIT_OPERATOR = r"(?<=[0-9])[+\*^](?=[0-9-])"


# --------------------------------------------------------------------------------------------
# CoNLL reading and rendering


@dataclass(frozen=True)
class Sentence:
    """One CoNLL sentence: tokens and their IOB2 tags."""

    words: tuple[str, ...]
    tags: tuple[str, ...]


Article = tuple[Sentence, ...]


def read_conll(path: Path) -> list[Article]:
    """Articles of a CoNLL-2003 file (gzip or plain): ``-DOCSTART-`` starts one, blank lines end sentences."""
    opener = gzip.open if path.suffix == ".gz" else open
    articles: list[Article] = []
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []

    def end_sentence() -> None:
        if words:
            sentences.append(Sentence(tuple(words), tuple(tags)))
            words.clear()
            tags.clear()

    def end_article() -> None:
        end_sentence()
        if sentences:
            articles.append(tuple(sentences))
            sentences.clear()

    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            columns = line.split()
            if not columns:
                end_sentence()
            elif columns[0] == "-DOCSTART-":
                end_article()
            else:
                words.append(columns[0])
                tags.append(columns[-1])
    end_article()
    return articles


def _news_spaces(words: Sequence[str]) -> list[bool]:
    """Whether each token is followed by a space in news-style text ("Smith, who" not "Smith , who")."""
    spaces = [True] * len(words)
    open_quote = False
    for i, word in enumerate(words):
        lower = word.lower()
        if i > 0 and (lower in NO_SPACE_BEFORE or (word == '"' and open_quote)):
            spaces[i - 1] = False
        if word in NO_SPACE_AFTER:
            spaces[i] = False
        if word == '"':
            if not open_quote:
                spaces[i] = False
            open_quote = not open_quote
    if words:
        spaces[-1] = False
    return spaces


@dataclass(frozen=True)
class Rendered:
    """A text made from CoNLL sentences, its tokens (with spaces, for a gold Doc) and entity char spans."""

    words: list[str]
    spaces: list[bool]
    tags: list[str]
    entities: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(w + (" " if s else "") for w, s in zip(self.words, self.spaces, strict=True))


def render(sentences: Iterable[Sentence], mode: Mode) -> Rendered:
    """One text from ``sentences``, separated by newline tokens (tagged O), as ``mode`` spaces them.

    ``gold`` renders like ``spaces``; the difference is only whether the evaluator tokenises the
    text or builds the Doc from ``words``.
    """
    words: list[str] = []
    spaces: list[bool] = []
    tags: list[str] = []
    entities: list[tuple[int, int, str]] = []
    offset = 0
    for sentence in sentences:
        if words:
            words.append("\n")
            spaces.append(False)
            tags.append("O")
            offset += 1
        sentence_spaces = _news_spaces(sentence.words) if mode == "news" else [True] * len(sentence.words)
        sentence_spaces[-1] = False
        starts = []
        for word, space in zip(sentence.words, sentence_spaces, strict=True):
            starts.append(offset)
            offset += len(word) + space
        for start, end, label in word_spans(sentence.tags):
            last = end - 1
            entities.append((starts[start], starts[last] + len(sentence.words[last]), label))
        words.extend(sentence.words)
        spaces.extend(sentence_spaces)
        tags.extend(sentence.tags)
    return Rendered(words, spaces, tags, entities)


def _units(articles: Sequence[Article], unit: Literal["article", "sentence"]) -> list[Article]:
    """Articles as evaluation units: whole articles, or one sentence each."""
    if unit == "article":
        return list(articles)
    return [(sentence,) for article in articles for sentence in article]


# --------------------------------------------------------------------------------------------
# Tokenizer


def conll_tokenizer(nlp: Language) -> Language:
    """Make ``nlp``'s tokenizer keep ASCII hyphen compounds whole, as CoNLL tokens are.

    Removes the infix splits of "-" between letters/digits ("Jean-Luc", "AL-AIN", "10-year",
    "1996-08-22"); dashes ("\u2013", "\u2014", "--") between words still split, since news uses
    them as punctuation. Used as the config's ``before_init`` callback, so training and the
    packaged tokenizer agree.
    """
    tokenizer = nlp.tokenizer
    assert isinstance(tokenizer, Tokenizer)
    infixes: list[str | re.Pattern[str]] = []
    for pattern in nlp.Defaults.infixes or ():
        if pattern == _LETTER_HYPHEN:
            infixes.append(_DASH)
        elif pattern == _DIGIT_HYPHEN:
            infixes.append(_DIGIT_OPERATOR)
        else:
            infixes.append(pattern)
    if _DASH not in infixes or _DIGIT_OPERATOR not in infixes:
        raise RuntimeError("spaCy's English infix rules changed; update conll_tokenizer")
    tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    return nlp


def tagger_tokenizer(nlp: Language) -> Language:
    """Give ``nlp`` the gazetteer tagger's tokenizer: default infixes (hyphens split) + "U.S.-led" split.

    Not the packaged choice; kept so a model trained with it (``TAGGER_TOKENIZER_CALLBACK``) can
    be compared: splitting lets the gazetteer match "US" in "US-backed".
    """
    from newsbeam.transforms.entities.tagger import _ABBREVIATION_HYPHEN

    tokenizer = nlp.tokenizer
    assert isinstance(tokenizer, Tokenizer)
    tokenizer.infix_finditer = compile_infix_regex([*(nlp.Defaults.infixes or ()), _ABBREVIATION_HYPHEN]).finditer
    return nlp


def register_callbacks() -> None:
    """Register the config's tokenizer callbacks (training only; loading needs nothing)."""
    spacy.registry.callbacks.register(TOKENIZER_CALLBACK, func=lambda: conll_tokenizer)
    spacy.registry.callbacks.register(TAGGER_TOKENIZER_CALLBACK, func=lambda: tagger_tokenizer)


def token_agreement(nlp: Language, articles: Sequence[Article], mode: Mode) -> tuple[float, float]:
    """Share of gold tokens the tokenizer reproduces, and of gold entities whose edges are token edges.

    The second number caps recall on raw text: an entity that starts or ends inside a token
    cannot be predicted exactly.
    """
    same_tokens = total_tokens = aligned = total_entities = 0
    for article in articles:
        rendered = render(article, mode)
        doc = nlp.make_doc(rendered.text)
        gold = set()
        offset = 0
        for word, space in zip(rendered.words, rendered.spaces, strict=True):
            if word != "\n":
                gold.add((offset, offset + len(word)))
            offset += len(word) + space
        predicted = {(t.idx, t.idx + len(t)) for t in doc if not t.is_space}
        same_tokens += len(gold & predicted)
        total_tokens += len(gold)
        starts = {t.idx for t in doc}
        ends = {t.idx + len(t) for t in doc}
        aligned += sum(1 for s, e, _ in rendered.entities if s in starts and e in ends)
        total_entities += len(rendered.entities)
    return same_tokens / total_tokens, aligned / total_entities


# --------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class Counts:
    """True positives, false positives and false negatives of exact (start, end, label) matches."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Scores:
    """Per-label and overall counts of one evaluation."""

    per_label: dict[str, Counts] = field(default_factory=lambda: {label: Counts() for label in LABELS})
    seconds: float = 0.0
    tokens: int = 0

    @property
    def overall(self) -> Counts:
        total = Counts()
        for counts in self.per_label.values():
            total.tp += counts.tp
            total.fp += counts.fp
            total.fn += counts.fn
        return total

    def add(self, gold: Iterable[tuple[int, int, str]], predicted: Iterable[tuple[int, int, str]]) -> None:
        gold_set, predicted_set = set(gold), set(predicted)
        for start, end, label in gold_set | predicted_set:
            counts = self.per_label.setdefault(label, Counts())
            key = (start, end, label)
            if key in gold_set and key in predicted_set:
                counts.tp += 1
            elif key in gold_set:
                counts.fn += 1
            else:
                counts.fp += 1

    def table(self, title: str) -> str:
        lines = [f"{title}\n{'type':<8}{'P':>8}{'R':>8}{'F1':>8}{'gold':>8}"]
        rows = [*sorted(self.per_label.items()), ("ALL", self.overall)]
        for label, c in rows:
            lines.append(f"{label:<8}{c.precision:>8.4f}{c.recall:>8.4f}{c.f1:>8.4f}{c.tp + c.fn:>8d}")
        if self.seconds:
            lines.append(f"({self.tokens} tokens in {self.seconds:.1f} s: {self.tokens / self.seconds:,.0f} tokens/s)")
        return "\n".join(lines)


def evaluate(
    nlp: Language,
    articles: Sequence[Article],
    mode: Mode,
    *,
    unit: Literal["article", "sentence"] = "article",
    batch_size: int = 64,
) -> Scores:
    """Dev P/R/F1 of ``nlp`` with exact char-span + type matching.

    ``gold`` feeds CoNLL's own tokens (a Doc built from the words); ``spaces``/``news`` feed raw
    text through the pipeline's tokenizer, which is what ``newsbeam run --input`` does.
    """
    rendered = [render(article, mode) for article in _units(articles, unit)]
    if mode == "gold":
        inputs: Iterator[Doc | str] = (Doc(nlp.vocab, words=r.words, spaces=r.spaces) for r in rendered)
    else:
        inputs = (r.text for r in rendered)
    scores = Scores()
    started = time.perf_counter()
    for doc, item in zip(nlp.pipe(inputs, batch_size=batch_size), rendered, strict=True):
        scores.tokens += len(doc)
        scores.add(item.entities, ((e.start_char, e.end_char, e.label_) for e in doc.ents))
    scores.seconds = time.perf_counter() - started
    return scores


# --------------------------------------------------------------------------------------------
# Converting, training, packaging


def to_docbin(nlp: Language, articles: Sequence[Article], modes: Sequence[Mode]) -> DocBin:
    """Gold Docs (CoNLL tokens, sentences, entities), one per article and mode, text spaced as ``mode``.

    Sentence starts are stored so ``gold_preproc = true`` (train on CoNLL's own tokens, one
    sentence per example) can be tried from the same files.
    """
    docbin = DocBin(attrs=["ENT_IOB", "ENT_TYPE", "SENT_START"], store_user_data=False)
    for mode in modes:
        for article in articles:
            rendered = render(article, mode)
            starts: list[bool | int | None] = [
                i == 0 or rendered.words[i - 1] == "\n" for i in range(len(rendered.words))
            ]
            doc = Doc(nlp.vocab, words=rendered.words, spaces=rendered.spaces, ents=rendered.tags, sent_starts=starts)
            docbin.add(doc)
    return docbin


def convert(corpus: Path, build: Path, train_modes: Sequence[Mode]) -> tuple[Path, Path]:
    """Write ``train.spacy`` (rendered as ``train_modes``) and ``dev.spacy`` (spaces) into ``build``."""
    nlp = spacy.blank("en")
    build.mkdir(parents=True, exist_ok=True)
    train_path, dev_path = build / "train.spacy", build / "dev.spacy"
    to_docbin(nlp, read_conll(corpus / "train.txt.gz"), train_modes).to_disk(train_path)
    to_docbin(nlp, read_conll(corpus / "valid.txt.gz"), ["spaces"]).to_disk(dev_path)
    return train_path, dev_path


def train(config: Path, train_path: Path, dev_path: Path, output: Path, overrides: dict[str, str]) -> Path:
    """``spacy train`` on CPU; returns the ``model-best`` directory (best dev ``ents_f``)."""
    from spacy.cli.train import train as spacy_train

    register_callbacks()
    settings: dict[str, object] = {"paths.train": str(train_path), "paths.dev": str(dev_path)}
    for key, value in overrides.items():
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    spacy_train(config, output, use_gpu=-1, overrides=settings)
    return output / "model-best"


def package(model_best: Path, output: Path) -> None:
    """Copy the selected pipeline into the package, with a meta that says what it is."""
    nlp = spacy.load(model_best)
    nlp.meta.update(
        {
            "name": "newsbeam_ner",
            "version": "0.1.0",
            "description": "CNN NER (PER, ORG, LOC, MISC) trained by scripts/train_ner.py on CoNLL-2003 "
            "English train, selected on its dev set; tokenizer keeps hyphen compounds whole.",
            "sources": [{"name": "CoNLL-2003 (Reuters RCV1)", "url": "https://www.clips.uantwerpen.be/conll2003/ner/"}],
        }
    )
    if output.exists():
        shutil.rmtree(output)
    nlp.to_disk(output)


def directory_size(path: Path) -> int:
    """Bytes on disk of every file under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def with_variant(
    nlp: Language, ruler: Literal["none", "before", "after", "fill"], tokenizer: Literal["model", "tagger"]
) -> Language:
    """``nlp`` changed the way the tagger might combine it, for measuring (never packaged).

    ``ruler``: the packaged gazetteer as an ``entity_ruler`` in front of the model (the model
    respects its spans), after it with ``overwrite_ents`` (the tagger's seam), or after it
    only filling gaps (``fill``: model spans win overlaps).
    ``tokenizer="tagger"``: the tagger's tokenizer (default infixes + "U.S.-led" split).
    """
    from newsbeam.transforms.entities.gazetteer import default_gazetteer

    if tokenizer == "tagger":
        tagger_tokenizer(nlp)
    if ruler != "none":
        where = {"before": "ner"} if ruler == "before" else {"after": "ner"}
        overwrite = ruler == "after"
        entity_ruler = nlp.add_pipe(
            "entity_ruler",
            config={"phrase_matcher_attr": "ORTH", "overwrite_ents": overwrite, "validate": False},
            **where,  # type: ignore[arg-type]
        )
        entity_ruler.add_patterns(default_gazetteer().patterns())  # type: ignore[attr-defined]
    return nlp


def report(
    model: Path,
    corpus: Path,
    *,
    ruler: Literal["none", "before", "after", "fill"] = "none",
    tokenizer: Literal["model", "tagger"] = "model",
) -> dict[str, float]:
    """Print dev scores on gold tokens and raw text (and tokenizer agreement); return the F1s."""
    nlp = with_variant(spacy.load(model), ruler, tokenizer)
    dev = read_conll(corpus / "valid.txt.gz")
    results: dict[str, float] = {}
    for mode in ("spaces", "news"):
        tokens, entities = token_agreement(nlp, dev, mode)
        print(f"tokenizer on {mode} text: {tokens:.4f} of gold tokens, {entities:.4f} of entities token-aligned")
    modes: tuple[Mode, ...] = ("gold", "spaces", "news")
    for mode in modes:
        scores = evaluate(nlp, dev, mode)
        print(scores.table(f"\ndev, {mode} ({'CoNLL tokens' if mode == 'gold' else 'raw text'})"))
        results[mode] = scores.overall.f1
    print(f"\nmodel {model}: {directory_size(model) / 1e6:.1f} MB on disk; ruler={ruler}, tokenizer={tokenizer}")
    print("F1 " + "  ".join(f"{mode}={f1:.4f}" for mode, f1 in results.items()))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder with train.txt.gz, valid.txt.gz")
    parser.add_argument("--build", type=Path, default=DEFAULT_BUILD, help="DocBins and training output")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the packaged model goes")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument(
        "--train-text",
        choices=["spaces", "news", "both"],
        default="both",
        help="how training articles are spaced as raw text ('both': each article once per style)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--no-package", action="store_true", help="train and evaluate, leave the package alone")
    parser.add_argument("--eval-only", type=Path, nargs="?", const=DEFAULT_OUTPUT, metavar="MODEL")
    parser.add_argument(
        "--ruler", choices=["none", "before", "after", "fill"], default="none", help="eval: add the gazetteer"
    )
    parser.add_argument("--tokenizer", choices=["model", "tagger"], default="model", help="eval: swap the tokenizer")
    args = parser.parse_args(argv)

    if not (args.corpus / "train.txt.gz").is_file():
        print(f"CoNLL-2003 not found in {args.corpus}", file=sys.stderr)
        return 2
    if args.eval_only is not None:
        report(args.eval_only, args.corpus, ruler=args.ruler, tokenizer=args.tokenizer)
        return 0

    overrides = dict(item.split("=", 1) for item in args.set)
    modes: list[Mode] = ["spaces", "news"] if args.train_text == "both" else [args.train_text]
    train_path, dev_path = convert(args.corpus, args.build, modes)
    started = time.perf_counter()
    model_best = train(args.config, train_path, dev_path, args.build / "training", overrides)
    print(f"training took {time.perf_counter() - started:.0f} s")
    model = model_best
    if not args.no_package:
        package(model_best, args.output)
        model = args.output
    report(model, args.corpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
