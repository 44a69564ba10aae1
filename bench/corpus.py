"""Real pages from ``../shared/corpora`` with their gold text, read in place (nothing is copied).

Two sets, both optional (a missing folder yields no pages, and the caller records a skip):

* ``dragnet``: 1,381 English news and blog pages with hand-copied main text (comments cut off);
* ``fundus``: 173 publisher pages (22 languages) with the body paragraphs the Fundus maintainers
  verified. newspaper4k's fixtures are left out: their gold is that library's own pinned output.

Pages are picked with a fixed seed, so every run and every machine benchmarks the same ones.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import tarfile
from dataclasses import dataclass
from typing import Any

from bench.common import CORPORA
from newsbeam.transforms.fetch.decode import decode_html

DRAGNET = CORPORA / "extraction" / "dragnet"
PUBLISHERS = CORPORA / "publishers"
FEEDS = CORPORA / "feeds"
COMMENTS_MARK = "!@#$%^&*()  COMMENTS"


@dataclass(frozen=True)
class CorpusPage:
    set: str
    id: str
    url: str
    html: str
    """Decoded with newsbeam's own charset logic, so every extractor gets the same characters."""
    gold: str | None
    publisher: str | None = None
    """Fundus publisher key (``group/Publisher``) for pages Fundus has a parser for."""
    crawl_date: str | None = None


def available() -> bool:
    return CORPORA.is_dir()


def dragnet(limit: int, seed: int = 3) -> list[CorpusPage]:
    """``limit`` Dragnet pages (seeded sample, test split first) with their article gold text."""
    archive = DRAGNET / "dragnet_html_and_gold.tar.xz"
    if not archive.is_file():
        return []
    index = [json.loads(line) for line in (DRAGNET / "index.jsonl").read_text().splitlines() if line.strip()]
    rng = random.Random(seed)
    rng.shuffle(index)
    index.sort(key=lambda r: r["split"] != "test")  # stable: test pages first, shuffled
    wanted = {r["html_file"]: r for r in index[:limit]}
    golds = {r["gold_file"]: r for r in index[:limit]}
    html: dict[str, bytes] = {}
    gold: dict[str, str] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name in wanted or member.name in golds:
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                data = handle.read()
                if member.name in wanted:
                    html[member.name] = data
                else:
                    gold[golds[member.name]["id"]] = data.decode("utf-8", errors="replace").split(COMMENTS_MARK)[0]
    pages = []
    for name, record in wanted.items():
        if name in html:
            text, _ = decode_html(html[name], None)
            pages.append(
                CorpusPage(
                    "dragnet", record["id"], f"https://dragnet.example/{record['id']}", text, gold.get(record["id"])
                )
            )
    return sorted(pages, key=lambda p: int(p.id) if p.id.isdigit() else 0)


def fundus(limit: int, english_only: bool = False) -> list[CorpusPage]:
    """Fundus publisher pages with their verified body text (summary + paragraphs)."""
    listing = PUBLISHERS / "pages.jsonl"
    if not listing.is_file():
        return []
    pages = []
    for line in listing.read_text().splitlines():
        record: dict[str, Any] = json.loads(line)
        if english_only and record["language"] != "en":
            continue
        raw = gzip.decompress((PUBLISHERS / record["html_path"]).read_bytes())
        expected = json.loads((PUBLISHERS / record["expected_path"]).read_text())
        body = expected.get(record["expected_version"], {}).get("body") or {}
        paragraphs = [*body.get("summary", [])]
        for section in body.get("sections", []):
            paragraphs += [*section.get("headline", []), *section.get("paragraphs", [])]
        text, _ = decode_html(raw, None)
        pages.append(
            CorpusPage(
                "fundus",
                record["html_path"],
                record["url"],
                text,
                "\n".join(paragraphs) or None,
                publisher=f"{record['group']}/{record['publisher']}",
                crawl_date=record["crawl_date"],
            )
        )
        if len(pages) >= limit:
            break
    return pages


def feed_documents() -> list[tuple[str, bytes]]:
    """Every feed document of the corpus (feedparser's test feeds, JSON Feeds, misc)."""
    if not FEEDS.is_dir():
        return []
    paths = [
        *sorted((FEEDS / "feedparser").rglob("*.xml")),
        *sorted((FEEDS / "feedparser").rglob("*.json")),
        *sorted((FEEDS / "jsonfeed").rglob("*.json")),
        *sorted((FEEDS / "misc").glob("*")),
    ]
    return [(path.relative_to(FEEDS).as_posix(), path.read_bytes()) for path in paths if path.is_file()]


_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str | None) -> list[str]:
    return _TOKEN.findall((text or "").lower())


def token_f1(predicted: str | None, gold: str | None) -> tuple[float, float, float]:
    """Bag-of-words precision, recall, F1 (the Dragnet / trafilatura benchmarks' measure)."""
    from collections import Counter

    pred, ref = Counter(tokens(predicted)), Counter(tokens(gold))
    if not ref:
        return float("nan"), float("nan"), float("nan")
    overlap = sum((pred & ref).values())
    precision = overlap / sum(pred.values()) if pred else 0.0
    recall = overlap / sum(ref.values())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
