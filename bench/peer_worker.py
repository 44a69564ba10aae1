"""Run one peer extractor over pages, inside that peer's own virtualenv (never newsbeam's).

Standard library only on our side, so it runs under any peer's interpreter:

    <peer venv>/bin/python bench/peer_worker.py EXTRACTOR PAGES.jsonl REPEATS

PAGES.jsonl lines: ``{"id", "url", "html", "publisher", "crawl_date"}``. Prints one JSON line:
the extractor's version, its setup time, each pass's seconds and the text of every page
(from the last pass; an exception on a page counts as empty text, like a failed extraction).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from typing import Any

Extract = Callable[[dict[str, Any]], str | None]


def news_please() -> tuple[str, Extract]:
    from newsplease import NewsPlease

    def extract(page: dict[str, Any]) -> str | None:
        article = NewsPlease.from_html(page["html"], url=page["url"], fetch_images=False)
        return getattr(article, "maintext", None)

    return version("news-please"), extract


def newspaper4k() -> tuple[str, Extract]:
    import newspaper

    def extract(page: dict[str, Any]) -> str | None:
        article = newspaper.Article(page["url"], fetch_images=False)
        article.download(input_html=page["html"])
        article.parse()
        return str(article.text)

    return version("newspaper4k"), extract


def fundus() -> tuple[str, Extract]:
    """Fundus has one hand-written parser per publisher: pages of other sites are not applicable."""
    from fundus import PublisherCollection

    publishers: dict[str, Any] = {}
    for group_name in dir(PublisherCollection):
        if group_name.startswith("_"):
            continue
        group = getattr(PublisherCollection, group_name)
        try:
            members = list(group)
        except TypeError:
            continue
        for publisher in members:
            publishers[publisher.__name__ if hasattr(publisher, "__name__") else str(publisher)] = publisher
            publishers.setdefault(getattr(publisher, "name", ""), publisher)
    by_attribute: dict[str, Any] = {}
    for group_name in dir(PublisherCollection):
        group = getattr(PublisherCollection, group_name, None)
        for attribute in dir(group):
            value = getattr(group, attribute, None)
            if hasattr(value, "parser"):
                by_attribute[attribute] = value

    def extract(page: dict[str, Any]) -> str | None:
        key = (page.get("publisher") or "").split("/")[-1]
        publisher = by_attribute.get(key) or publishers.get(key)
        if publisher is None:
            raise LookupError(f"no Fundus parser for {key}")
        crawl = datetime.fromisoformat(page["crawl_date"]) if page.get("crawl_date") else None
        parsed = publisher.parser(crawl).parse(page["html"], error_handling="suppress")
        body = parsed.get("body")
        return str(body) if body else None

    return version("fundus"), extract


EXTRACTORS = {"news-please": news_please, "newspaper4k": newspaper4k, "fundus": fundus}


def main() -> int:
    name, pages_path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    logging.disable(logging.CRITICAL)
    pages = [json.loads(line) for line in open(pages_path, encoding="utf-8") if line.strip()]
    started = time.perf_counter()
    peer_version, extract = EXTRACTORS[name]()
    setup = time.perf_counter() - started
    passes: list[float] = []
    texts: dict[str, str] = {}
    errors: dict[str, str] = {}
    for _ in range(max(1, repeats)):
        texts, errors = {}, {}
        started = time.perf_counter()
        for page in pages:
            try:
                texts[page["id"]] = extract(page) or ""
            except Exception as error:  # noqa: BLE001 - a peer failing on a page is a result, not a crash
                texts[page["id"]] = ""
                errors[page["id"]] = f"{type(error).__name__}: {error}"[:200]
        passes.append(time.perf_counter() - started)
    print(
        json.dumps(
            {"version": peer_version, "setup_seconds": setup, "passes": passes, "texts": texts, "errors": errors}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
