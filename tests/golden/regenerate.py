"""Regenerate the golden ``*.expected.json`` files from the current code.

Usage: ``python tests/golden/regenerate.py [SECTION ...]`` (default: every section).
Review the diff before committing: a changed expected file is a changed behaviour.

Each section is a function in ``SECTIONS`` that rewrites its expected files and returns
their paths; add a section (e.g. ``"extraction"``) by adding an entry there. The tests
import the ``*_result`` helpers from this file, so the expected JSON and the comparison
can never disagree on serialisation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).resolve().parent
REPO_ROOT = GOLDEN_DIR.parents[1]
if str(REPO_ROOT) not in sys.path:  # runnable from a fresh clone without an install
    sys.path.insert(0, str(REPO_ROOT))

from newsbeam.transforms.errors import FeedParseError  # noqa: E402
from newsbeam.transforms.read.feed_parser import parse_feed  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from entities_golden import regenerate_entities  # noqa: E402
from extraction_golden import regenerate_extraction  # noqa: E402

FEEDS_DIR = GOLDEN_DIR / "feeds"
#: Every golden feed is parsed as if fetched from here, so relative links have a fixed base.
FEED_URL_BASE = "https://news.example.org/feeds/"
EXPECTED_SUFFIX = ".expected.json"


def to_jsonable(value: Any) -> Any:
    """Dataclasses to dicts, tuples to lists, datetimes to ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- feeds


def golden_feed_files() -> list[Path]:
    """The golden feed documents (everything in feeds/ except the expected files)."""
    return sorted(
        p for p in FEEDS_DIR.iterdir() if p.is_file() and not p.name.endswith(EXPECTED_SUFFIX)
    )


def feed_expected_path(feed: Path) -> Path:
    return feed.with_name(feed.name + EXPECTED_SUFFIX)


def feed_result(feed: Path) -> dict[str, Any]:
    """What ``parse_feed`` makes of a golden feed, as JSON-ready data (errors included)."""
    feed_url = FEED_URL_BASE + feed.name
    try:
        parsed = parse_feed(feed.read_bytes(), feed_url=feed_url)
    except FeedParseError as error:
        return {"feed_url": feed_url, "error": error.reason}
    result: dict[str, Any] = to_jsonable(parsed)
    return result


def regenerate_feeds() -> list[Path]:
    written = []
    for feed in golden_feed_files():
        target = feed_expected_path(feed)
        target.write_text(dump_json(feed_result(feed)), encoding="utf-8")
        written.append(target)
    return written


SECTIONS: dict[str, Callable[[], list[Path]]] = {
    "feeds": regenerate_feeds,
    "extraction": lambda: regenerate_extraction(GOLDEN_DIR),
    "entities": lambda: regenerate_entities(GOLDEN_DIR),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"one of {', '.join(SECTIONS)}; default: all")
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    for name in args.sections or list(SECTIONS):
        for path in SECTIONS[name]():
            print(f"{name}: wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
