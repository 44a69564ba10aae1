"""``--warc``: WARC responses in, the same pages as ``--input`` out; broken bytes are dead letters at file@offset.

The WARCs are written here by hand (a WARC record is a header block, a Content-Length and the
bytes), one gzip member per record as Common Crawl writes them or plain, so each test can
break exactly one record and check that the records after it are still read.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import apache_beam as beam
import pytest
from test_graph_types import is_loose, output_types

from newsbeam.pipeline import graph, lake_sql
from newsbeam.pipeline.cli import EXIT_FATAL, EXIT_USAGE, build_parser, config_from_args, main
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.run import pipeline_options, run
from newsbeam.schemas.records import DeadLetter, Page
from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.fetch.decode import decode_html
from newsbeam.transforms.read.warc import Outcome, ReadWarcFile, Rejected, Skipped, read_warc

SITE = Path(__file__).resolve().parents[1] / "pipeline" / "demo" / "site"
BASE = "https://archive.example"
DATE = "2024-05-15T08:30:00Z"
FETCHED = datetime(2024, 5, 15, 8, 30, tzinfo=timezone.utc)


def http_block(body: bytes, status: str = "200 OK", content_type: str | None = "text/html; charset=utf-8") -> bytes:
    headers = f"HTTP/1.1 {status}\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "")
    return headers.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def warc_record(kind: str, url: str | None, block: bytes, *, length: int | None = None, http: bool = True) -> bytes:
    """One WARC/1.1 record; ``length`` overrides a true Content-Length (to make it lie)."""
    content_type = f"application/http; msgtype={kind}" if http else "application/warc-fields"
    lines = [
        "WARC/1.1",
        f"WARC-Type: {kind}",
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>",
        f"WARC-Date: {DATE}",
        *([f"WARC-Target-URI: {url}"] if url else []),
        f"Content-Type: {content_type}",
        f"Content-Length: {len(block) if length is None else length}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


def member(record: bytes, gz: bool) -> bytes:
    return gzip.compress(record, mtime=0) if gz else record


def write_warc(path: Path, pieces: list[bytes]) -> list[int]:
    """Write the pieces one after another; returns the byte offset of each."""
    offsets, at = [], 0
    for piece in pieces:
        offsets.append(at)
        at += len(piece)
    path.write_bytes(b"".join(pieces))
    return offsets


def synthetic_html(number: int) -> bytes:
    words = " ".join(f"word{number}x{i}" for i in range(300))
    return f"<html><head><title>Page {number}</title></head><body><p>{words}</p></body></html>".encode()


def response(number: int, gz: bool) -> bytes:
    return member(warc_record("response", f"{BASE}/{number}", http_block(synthetic_html(number))), gz)


def split(outcomes: list[Outcome]) -> tuple[list[Page], Counter[str], list[Rejected]]:
    pages = [o for o in outcomes if isinstance(o, Page)]
    skipped = Counter(o.reason for o in outcomes if isinstance(o, Skipped))
    return pages, skipped, [o for o in outcomes if isinstance(o, Rejected)]


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_http_200_html_responses_become_pages_and_the_rest_is_counted(tmp_path: Path, gz: bool) -> None:
    path = tmp_path / ("a.warc.gz" if gz else "a.warc")
    cp1252 = "<html><body><p>Caf\u00e9 \u201cquoted\u201d \u2013 na\u00efve</p></body></html>".encode("cp1252")
    records = [
        warc_record("warcinfo", None, b"software: test\r\n", http=False),
        warc_record("request", f"{BASE}/0", b"GET /0 HTTP/1.1\r\nHost: archive.example\r\n\r\n"),
        warc_record("response", f"{BASE}/0", http_block(synthetic_html(0))),
        warc_record("metadata", f"{BASE}/0", b"fetchTimeMs: 12\r\n", http=False),
        warc_record("response", f"{BASE}/1", http_block(cp1252, content_type="text/html; charset=windows-1252")),
        warc_record("response", f"{BASE}/gone", http_block(b"<html>gone</html>", status="404 Not Found")),
        warc_record("response", f"{BASE}/moved", http_block(b"", status="301 Moved Permanently")),
        warc_record("response", f"{BASE}/logo.png", http_block(b"\x89PNG\r\n\x1a\n", content_type="image/png")),
        warc_record("response", f"{BASE}/a.pdf", http_block(b"%PDF-1.7", content_type="application/pdf")),
        warc_record(
            "response", "dns:archive.example", b"20240515083000\r\narchive.example. 60 IN A 10.0.0.1", http=False
        ),
        warc_record("revisit", f"{BASE}/0", http_block(b"")),
        warc_record("response", f"{BASE}/2", http_block(synthetic_html(2), content_type=None)),
    ]
    offsets = write_warc(path, [member(record, gz) for record in records])
    pages, skipped, rejected = split(list(read_warc(str(path))))
    assert rejected == []
    assert [page.url for page in pages] == [f"{BASE}/0", f"{BASE}/1", f"{BASE}/2"]
    assert [page.feed_url for page in pages] == [f"{path}@{offsets[i]}" for i in (2, 4, 11)]
    assert {page.fetched_at for page in pages} == {FETCHED}
    assert "Caf\u00e9 \u201cquoted\u201d \u2013 na\u00efve" in str(pages[1].html), "decoded by the HTTP charset"
    assert "word0x299" in str(pages[0].html) and pages[0].content_type == "text/html"
    assert skipped == Counter(
        {"warcinfo": 1, "request": 1, "metadata": 1, "revisit": 1, "status": 2, "not_html": 2, "not_http": 1}
    )


def broken(case: str, gz: bool) -> bytes:
    """Record 1 of the file, broken as ``case`` says."""
    block = http_block(synthetic_html(1))
    if case in ("truncated", "truncated_at_end"):
        whole = response(1, gz)
        return whole[: len(whole) // 2]
    if case == "content_length_too_long":
        return member(warc_record("response", f"{BASE}/1", block, length=len(block) + 500), gz)
    if case == "content_length_too_short":
        return member(warc_record("response", f"{BASE}/1", block, length=len(block) - 500), gz)
    if case == "no_body":
        return member(warc_record("response", f"{BASE}/1", http_block(b"")), gz)
    if case == "no_status_line":
        return member(warc_record("response", f"{BASE}/1", b"not http at all\r\n\r\n<html>x</html>"), gz)
    if case == "bad_content_encoding":
        raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\nnot gzip"
        return member(warc_record("response", f"{BASE}/1", raw), gz)
    assert case == "not_a_record"
    return b"these bytes are no WARC record\r\n" * 4


CASES = {
    "truncated": "",
    "truncated_at_end": "",
    "content_length_too_long": "Content-Length",
    "content_length_too_short": "Content-Length",
    "no_body": "has no body",
    "no_status_line": "no HTTP status line",
    "bad_content_encoding": "unreadable HTTP response",
    "not_a_record": "no WARC header",
}


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_record_is_one_dead_letter_at_its_offset_and_the_rest_is_read(
    tmp_path: Path, case: str, gz: bool
) -> None:
    path = tmp_path / ("b.warc.gz" if gz else "b.warc")
    good = {number: response(number, gz) for number in (0, 2, 3)}
    order = [0, 2, 3, 1] if case == "truncated_at_end" else [0, 1, 2, 3]
    offsets = dict(zip(order, write_warc(path, [good.get(n) or broken(case, gz) for n in order]), strict=True))
    pages, skipped, rejected = split(list(read_warc(str(path))))
    assert [(r.offset, CASES[case] in r.error.reason) for r in rejected] == [(offsets[1], True)]
    assert str(path) in rejected[0].error.reason
    assert [(page.url, page.feed_url) for page in pages] == [
        (f"{BASE}/{n}", f"{path}@{offsets[n]}") for n in sorted(good)
    ], "the records before and after the broken one are all read"
    assert skipped == Counter()


def test_a_file_that_is_no_warc_is_one_dead_letter_and_an_empty_one_none(tmp_path: Path) -> None:
    html = tmp_path / "page.warc"
    html.write_bytes(synthetic_html(7) * 3)
    pages, _, rejected = split(list(read_warc(str(html))))
    assert pages == [] and [r.offset for r in rejected] == [0]
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    assert list(read_warc(str(empty))) == []


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_blank_lines_or_nul_padding_after_the_last_record_are_no_dead_letter(tmp_path: Path, gz: bool) -> None:
    for number, padding in enumerate((b"\r\n\r\n", b"\x00" * 512)):
        path = tmp_path / f"{number}.warc"
        write_warc(path, [response(0, gz), response(1, gz), padding])
        pages, _, rejected = split(list(read_warc(str(path))))
        assert (len(pages), rejected) == (2, [])


def test_a_warc_gzipped_whole_is_read_with_offsets_into_the_inflated_file(tmp_path: Path) -> None:
    path = tmp_path / "whole.warc.gz"
    plain = [response(n, gz=False) for n in range(3)]
    path.write_bytes(gzip.compress(b"".join(plain)))
    pages, _, rejected = split(list(read_warc(str(path))))
    assert rejected == []
    assert [page.feed_url for page in pages] == [f"{path}@{at}" for at in (0, len(plain[0]), len(plain[0]) * 2)]


def test_a_file_that_cannot_be_opened_is_one_dead_letter(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.warc.gz")
    outputs = list(ReadWarcFile().process(missing))
    assert len(outputs) == 1 and outputs[0].tag == "dead_letter"
    letter: DeadLetter = outputs[0].value
    assert (letter.stage, letter.input_id) == ("warc", f"{missing}@0") and "cannot be read" in letter.reason


def test_warc_is_exclusive_with_the_other_inputs_and_must_match_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["run", "--warc", "x/*.warc.gz", "--output", str(tmp_path)])
    config = config_from_args(args, None)
    assert (config.warc_pattern, config.input_pattern) == ("x/*.warc.gz", None)
    assert config.describe_inputs() == {"warc": "x/*.warc.gz"}
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--warc", "a.warc", "--input", "a.jsonl", "--output", str(tmp_path)])
    assert exit_info.value.code == EXIT_USAGE and "not allowed with" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="not both"):
        run(RunConfig(output=str(tmp_path / "lake"), warc_pattern="a.warc", input_pattern="a.jsonl"))
    pattern = str(tmp_path / "none" / "*.warc.gz")
    assert main(["run", "--warc", pattern, "--output", str(tmp_path / "lake")]) == EXIT_FATAL
    assert "matches no file" in capsys.readouterr().err


def test_warc_graph_builds_with_the_type_check_on(tmp_path: Path) -> None:
    pipeline = beam.Pipeline(options=pipeline_options([]))
    graph.build(pipeline, RunConfig(output=str(tmp_path / "lake"), warc_pattern=str(tmp_path / "*.warc.gz")), {})
    types = output_types(pipeline)
    assert {key: hint for key, hint in types.items() if is_loose(hint)} == {}
    assert (types[("ReadWarc", "main")], types[("ReadWarc", "dead_letter")]) == (Page, DeadLetter)
    assert types[("SkipSeen", "None")] == Page


# --- whole runs: provenance in the lake, and the same lake as the JSONL path ---------------------------------------


def site_pages() -> list[tuple[str, bytes]]:
    """The demo site's pages (synthetic news, one of them windows-1252), as URL and raw bytes."""
    pages = []
    for page in sorted(SITE.rglob("*.html")):
        raw = page.read_bytes().replace(b"{{BASE}}", BASE.encode())
        pages.append((f"{BASE}/{page.relative_to(SITE).as_posix()}", raw))
    return pages


def publisher_pages(shared: Path, limit: int) -> list[tuple[str, bytes]]:
    """English pages of ``corpora/publishers`` (real publisher HTML), as URL and raw bytes."""
    root = shared / "corpora" / "publishers"
    rows = [json.loads(line) for line in (root / "pages.jsonl").read_text().splitlines()]
    chosen = [row for row in rows if row["language"] == "en"][:limit]
    return [(row["url"], gzip.decompress((root / row["html_path"]).read_bytes())) for row in chosen]


def write_both(pages: list[tuple[str, bytes]], folder: Path) -> tuple[Path, Path]:
    """The same pages as a JSONL ``--input`` and as a ``.warc.gz`` of responses (with request records)."""
    folder.mkdir()
    jsonl, warc = folder / "pages.jsonl", folder / "pages.warc.gz"
    pieces = []
    with jsonl.open("w", encoding="utf-8") as out:
        for url, raw in pages:
            html, codec = decode_html(raw, None)
            out.write(json.dumps({"url": url, "html": html, "fetched_at": DATE}) + "\n")
            pieces.append(member(warc_record("request", url, b"GET / HTTP/1.1\r\n\r\n"), True))
            block = http_block(raw, content_type=f"text/html; charset={codec}")
            pieces.append(member(warc_record("response", url, block), True))
    write_warc(warc, pieces)
    return jsonl, warc


ARTICLE_COLUMNS = (
    "article_id, url, canonical_url, fetched_url, fetched_at, source, title, authors, published, language, "
    "description, sitename, tags, image, text, text_source, content_hash, story_id, duplicate_urls, "
    "list_transform(entities, lambda e: e.entity_id), len(mentions)"
)


def snapshot(output: Path) -> dict[str, list[tuple[object, ...]]]:
    """The lake's content, run ids and write times aside (``feed_url`` is compared on its own)."""
    con = lake_sql.connect(str(output))
    queries = {
        "articles": f"SELECT {ARTICLE_COLUMNS} FROM articles",
        "entities": "SELECT entity, CAST(date AS VARCHAR), article_id, round(salience, 9) FROM entities",
        "duplicates": "SELECT url, canonical_article_id, kind, similarity FROM duplicates",
        "dead_letters": "SELECT stage, input_id, reason FROM dead_letters",
        "seen": "SELECT canonical_url, article_id FROM seen",
        "stories": "SELECT story_id, article_count FROM stories",
    }
    return {name: sorted(map(tuple, con.execute(sql).fetchall()), key=repr) for name, sql in queries.items()}


def assert_same_lake(pages: list[tuple[str, bytes]], tmp_path: Path) -> None:
    jsonl, warc = write_both(pages, tmp_path / "in")
    from_jsonl = run(RunConfig(output=str(tmp_path / "jsonl"), input_pattern=str(jsonl), part_size=0))
    from_warc = run(RunConfig(output=str(tmp_path / "warc"), warc_pattern=str(warc)))
    assert from_warc.counters["records"] == from_jsonl.counters["records"] == len(pages)
    assert from_warc.counters["warc_skipped_request"] == len(pages)
    expected = snapshot(tmp_path / "jsonl")
    assert len(expected["articles"]) >= len(pages) // 2
    assert snapshot(tmp_path / "warc") == expected
    offsets = lake_sql.connect(str(tmp_path / "warc")).execute("SELECT feed_url FROM articles").fetchall()
    assert offsets and all(str(feed_url).startswith(f"{warc}@") for (feed_url,) in offsets)


def test_a_warc_backfill_writes_the_same_lake_as_the_same_pages_in_jsonl(tmp_path: Path) -> None:
    assert_same_lake(site_pages(), tmp_path)


@pytest.mark.shared
def test_publisher_pages_from_warc_write_the_same_lake_as_from_jsonl(shared_dir: Path, tmp_path: Path) -> None:
    assert_same_lake(publisher_pages(shared_dir, limit=8), tmp_path)


def test_a_warc_run_keeps_file_and_offset_in_articles_and_dead_letters(tmp_path: Path) -> None:
    folder = tmp_path / "crawl"
    folder.mkdir()
    good, bad = folder / "a.warc.gz", folder / "b.warc"
    good_offsets = write_warc(good, [response(n, gz=True) for n in range(3)])
    offsets = write_warc(
        bad, [response(10, gz=False), broken("content_length_too_long", False), response(11, gz=False)]
    )
    output = tmp_path / "lake"
    result = run(RunConfig(output=str(output), warc_pattern=str(folder / "*.warc*")))
    assert (result.counters["warc_files"], result.counters["records"], result.dead_letters) == (2, 5, 1)
    con = lake_sql.connect(str(output))
    feed_urls = sorted(row[0] for row in con.execute("SELECT feed_url FROM articles").fetchall())
    assert feed_urls == sorted([f"{good}@{at}" for at in good_offsets] + [f"{bad}@{offsets[0]}", f"{bad}@{offsets[2]}"])
    letters = con.execute("SELECT stage, input_id, reason FROM dead_letters").fetchall()
    assert [(stage, input_id) for stage, input_id, _ in letters] == [("warc", f"{bad}@{offsets[1]}")]
    manifest = json.loads(next((output / "_runs").glob("*.json")).read_text())
    assert manifest["inputs"] == {"warc": str(folder / "*.warc*")}
