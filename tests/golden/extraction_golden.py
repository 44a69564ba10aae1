"""Golden cases for the cleaning stage (fundus style): HTML in, expected article fields out.

Layout, under ``<golden root>/extraction/``, per case ``<name>``:

* ``<name>.html``: a page written for this repository (no third-party text);
* ``<name>.page.json``: the rest of the ``Page``: ``url``, ``fetched_url``, ``fetched_at``,
  optional ``source``, ``feed_url`` and ``entry`` (a ``FeedEntry`` as JSON);
* ``<name>.expected.json``: what ``clean_page`` must produce, either the article fields in
  ``GOLDEN_FIELDS`` or ``{"error": "ExtractError", "reason": ...}``.

``regenerate_extraction`` rewrites the expected files from the current code: review the diff
before committing it, a changed golden is a changed behaviour.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

GOLDEN_DIR = Path(__file__).resolve().parent
REPO_ROOT = GOLDEN_DIR.parents[1]
if str(REPO_ROOT) not in sys.path:  # runnable from a fresh clone without an install
    sys.path.insert(0, str(REPO_ROOT))

from newsbeam.schemas.records import Article, FeedEntry, Page  # noqa: E402
from newsbeam.transforms.clean.extract import clean_page  # noqa: E402
from newsbeam.transforms.errors import ExtractError  # noqa: E402

CASES_DIR = "extraction"

#: Article fields pinned by the goldens: the ones cleaning decides (ids and hashes follow
#: from canonical_url and text and are tested in test_keys.py).
GOLDEN_FIELDS = (
    "title",
    "authors",
    "published",
    "language",
    "canonical_url",
    "text_source",
    "source",
    "sitename",
    "description",
    "image",
    "tags",
    "text",
)


class ExtractionCase(NamedTuple):
    """One golden page: the input ``Page`` and the expected outcome (None until generated).

    A NamedTuple, not a dataclass, so the module also works when imported by file path.
    """

    name: str
    page: Page
    expected_path: Path
    expected: dict[str, Any] | None


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _entry(data: dict[str, Any] | None) -> FeedEntry | None:
    if data is None:
        return None
    return FeedEntry(
        feed_url=data["feed_url"],
        link=data["link"],
        guid=data.get("guid"),
        title=data.get("title"),
        summary=data.get("summary"),
        content=data.get("content"),
        published=_datetime(data.get("published")),
        authors=tuple(data.get("authors", ())),
        tags=tuple(data.get("tags", ())),
        source=data.get("source"),
    )


def _page(html_path: Path) -> Page:
    spec = json.loads(html_path.with_name(html_path.name.removesuffix(".html") + ".page.json").read_text())
    return Page(
        url=spec["url"],
        fetched_url=spec.get("fetched_url", spec["url"]),
        fetched_at=datetime.fromisoformat(spec["fetched_at"]),
        html=html_path.read_text(encoding="utf-8"),
        title=spec.get("title"),
        published=_datetime(spec.get("published")),
        source=spec.get("source"),
        feed_url=spec.get("feed_url"),
        entry=_entry(spec.get("entry")),
        fetch_error=spec.get("fetch_error"),
    )


def load_cases(root: Path) -> list[ExtractionCase]:
    """All cases under ``root/extraction`` (``root`` is the ``tests/golden`` directory)."""
    cases = []
    for html_path in sorted((root / CASES_DIR).glob("*.html")):
        name = html_path.name.removesuffix(".html")
        expected_path = html_path.with_name(f"{name}.expected.json")
        expected = json.loads(expected_path.read_text()) if expected_path.exists() else None
        cases.append(ExtractionCase(name, _page(html_path), expected_path, expected))
    return cases


def article_fields(article: Article) -> dict[str, Any]:
    """The golden view of an article: JSON types, datetimes as ISO strings."""
    fields: dict[str, Any] = {}
    for name in GOLDEN_FIELDS:
        value = getattr(article, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        fields[name] = value
    return fields


def outcome(page: Page) -> dict[str, Any]:
    """What cleaning makes of ``page``, in the shape of an expected file."""
    try:
        return article_fields(clean_page(page))
    except ExtractError as error:
        return {"error": type(error).__name__, "reason": error.reason}


def regenerate_extraction(root: Path) -> list[Path]:
    """Rewrite every ``<name>.expected.json`` under ``root/extraction``; return the files written."""
    written = []
    for case in load_cases(root):
        text = json.dumps(outcome(case.page), ensure_ascii=False, indent=2) + "\n"
        case.expected_path.write_text(text, encoding="utf-8")
        written.append(case.expected_path)
    return written


if __name__ == "__main__":
    for path in regenerate_extraction(GOLDEN_DIR):
        print(path)
