"""``--warc`` against ``--input``: pages per CPU-second, reading alone and reading + cleaning, on the same pages.

The pages are Fundus publisher pages from ``../shared/corpora/publishers`` repeated under distinct
URLs (the demo site's pages when ``../shared`` is absent), written once as JSONL records, as a
``.warc.gz`` with one gzip member per record (request + response, as Common Crawl writes them)
and as a plain ``.warc``. Reading is the stage's own function (``read_warc``, ``parse_record``),
cleaning is ``clean_page``; no Beam, so the numbers are the formats' own cost. CPU seconds are
this process's (``time.process_time``), the median of ``--repeats`` passes. When ``warcio`` is
importable (it is not a dependency), its reading of the same ``.warc.gz`` is timed too: the
measurement behind choosing FastWARC.

    .venv/bin/python bench/warc.py [--pages 300] [--repeats 3] [--quick]

Prints one JSON object on one line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import TMP, rounded
from bench.corpus import fundus
from newsbeam.schemas.records import Article, Page

SITE = Path(__file__).resolve().parents[1] / "pipeline" / "demo" / "site"
DATE = "2024-06-01T00:00:00Z"
NOW = datetime(2024, 6, 1, tzinfo=timezone.utc)


def source_pages(count: int) -> tuple[str, list[tuple[str, bytes]]]:
    """``count`` (URL, UTF-8 HTML) pairs: the corpus pages repeated, each copy under its own URL."""
    corpus = [(page.url, page.html.encode("utf-8")) for page in fundus(limit=200)]
    name = "fundus publisher pages"
    if not corpus:
        name = "demo site pages (../shared absent)"
        corpus = [
            (f"https://archive.example/{path.relative_to(SITE).as_posix()}", path.read_bytes())
            for path in sorted(SITE.rglob("*.html"))
        ]
    pages = []
    for index in range(count):
        url, html = corpus[index % len(corpus)]
        pages.append((f"{url}{'&' if '?' in url else '?'}copy={index}", html))
    return name, pages


def warc_record(kind: str, url: str, block: bytes) -> bytes:
    header = (
        f"WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\nWARC-Date: {DATE}\r\n"
        f"WARC-Target-URI: {url}\r\nContent-Type: application/http; msgtype={kind}\r\n"
        f"Content-Length: {len(block)}\r\n\r\n"
    )
    return header.encode() + block + b"\r\n\r\n"


def write_inputs(pages: Sequence[tuple[str, bytes]], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"jsonl": folder / "pages.jsonl", "warc.gz": folder / "pages.warc.gz", "warc": folder / "pages.warc"}
    with (
        paths["jsonl"].open("w", encoding="utf-8") as jsonl,
        paths["warc.gz"].open("wb") as gz,
        paths["warc"].open("wb") as plain,
    ):
        for url, html in pages:
            jsonl.write(json.dumps({"url": url, "html": html.decode("utf-8"), "fetched_at": DATE}) + "\n")
            http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
            for record in (warc_record("request", url, b"GET / HTTP/1.1\r\n\r\n"), warc_record("response", url, http)):
                gz.write(gzip.compress(record, compresslevel=6))
                plain.write(record)
    return paths


def read_jsonl(path: Path) -> Iterator[Page]:
    from newsbeam.transforms.read.jsonl import parse_record

    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield parse_record(line, NOW)


def read_warc_pages(path: Path) -> Iterator[Page]:
    from newsbeam.transforms.read.warc import read_warc

    for outcome in read_warc(str(path)):
        if isinstance(outcome, Page):
            yield outcome


def read_with_warcio(path: Path) -> Iterator[bytes]:
    """The same responses' HTML bytes through warcio (status, type and URL read; no decoding)."""
    from warcio.archiveiterator import ArchiveIterator

    with path.open("rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type == "response" and record.http_headers.get_statuscode() == "200":
                record.rec_headers.get_header("WARC-Target-URI")
                yield record.content_stream().read()


def cpu_rate(work: Callable[[], int], repeats: int) -> dict[str, Any]:
    """Items per CPU-second of ``work`` (which returns how many items it did): median of ``repeats``."""
    seconds, count = [], 0
    for _ in range(max(1, repeats)):
        started = time.process_time()
        count = work()
        seconds.append(time.process_time() - started)
    median = statistics.median(seconds)
    return {"items": count, "cpu_seconds": rounded(median, 4), "per_cpu_second": rounded(count / median)}


def cleaned(pages: Iterator[Page]) -> int:
    from newsbeam.transforms.clean.extract import clean_page
    from newsbeam.transforms.errors import ExtractError

    done: list[Article] = []
    for page in pages:
        try:
            done.append(clean_page(page))
        except ExtractError:
            pass
    return len(done)


def bench(count: int, repeats: int) -> dict[str, Any]:
    from newsbeam.transforms.clean.extract import language_identifier

    corpus, pages = source_pages(count)
    folder = TMP / "warc"
    paths = write_inputs(pages, folder)
    readers: dict[str, Callable[[Path], Iterator[Any]]] = {
        "jsonl": read_jsonl,
        "warc.gz": read_warc_pages,
        "warc": read_warc_pages,
    }
    language_identifier()  # loaded once, outside every timing
    cleaned(read_jsonl(paths["jsonl"]))  # a warm-up pass: the first pages through trafilatura cost more
    result: dict[str, Any] = {
        "pages": len(pages),
        "corpus": corpus,
        "mean_html_kib": rounded(sum(len(html) for _, html in pages) / len(pages) / 1024, 1),
        "file_mib": {name: rounded(path.stat().st_size / 2**20, 2) for name, path in paths.items()},
        "read": {},
        "read_and_clean": {},
    }
    for name, reader in readers.items():
        path = paths[name]
        result["read"][name] = cpu_rate(lambda reader=reader, path=path: sum(1 for _ in reader(path)), repeats)
        result["read_and_clean"][name] = cpu_rate(lambda reader=reader, path=path: cleaned(reader(path)), repeats)
    try:
        import warcio  # noqa: F401
    except ImportError:
        result["read"]["warc.gz (warcio)"] = {"skipped": "warcio not installed (not a dependency)"}
    else:
        gz = paths["warc.gz"]
        result["read"]["warc.gz (warcio)"] = cpu_rate(lambda: sum(1 for _ in read_with_warcio(gz)), repeats)
    jsonl = result["read_and_clean"]["jsonl"]["per_cpu_second"]
    result["warc_gz_vs_jsonl_read_and_clean"] = rounded(result["read_and_clean"]["warc.gz"]["per_cpu_second"] / jsonl)
    shutil.rmtree(folder, ignore_errors=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="60 pages, one pass")
    args = parser.parse_args(argv)
    count, repeats = (60, 1) if args.quick else (args.pages, args.repeats)
    print(json.dumps(bench(count, repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
