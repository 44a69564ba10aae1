"""Feed parsing: golden files, error cases, XML safety, and a sweep over the shared feed corpus."""

from __future__ import annotations

import importlib.util
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from lxml import etree

from newsbeam.transforms.errors import FeedParseError
from newsbeam.transforms.read.feed_parser import html_to_text, parse_feed

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
FEED_URL = "https://news.example.org/feeds/main.xml"


def _load_regenerate() -> ModuleType:
    """The golden script owns serialisation; import it by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("golden_regenerate", GOLDEN_DIR / "regenerate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regenerate = _load_regenerate()
GOLDEN_FEEDS = regenerate.golden_feed_files()


def rss(items: str, channel_extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Test Channel</title>'
        f"<link>https://t.example/</link>{channel_extra}{items}</channel></rss>"
    ).encode()


# --------------------------------------------------------------------------- golden files


def test_golden_set_covers_the_formats() -> None:
    formats = {regenerate.feed_result(path).get("format") for path in GOLDEN_FEEDS}
    assert {"rss20", "atom10", "rss10", "json11"} <= formats
    assert len(GOLDEN_FEEDS) >= 7


@pytest.mark.parametrize("feed", GOLDEN_FEEDS, ids=lambda p: p.name)
def test_golden_feed_matches_expected(feed: Path) -> None:
    expected_path = regenerate.feed_expected_path(feed)
    assert expected_path.exists(), f"missing {expected_path.name}: run `make golden`"
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert regenerate.feed_result(feed) == expected


def test_golden_rss20_content_encoded_is_plain_text_without_scripts() -> None:
    parsed = parse_feed((GOLDEN_DIR / "feeds/rss20_content_encoded.xml").read_bytes(), feed_url=FEED_URL)
    first = parsed.entries[0]
    assert first.title == "Ferry timetable changes from Monday"
    assert first.authors == ("Mirela Voss",)
    assert first.content is not None and "trackReader" not in first.content and "color" not in first.content
    assert "<" not in first.content and "\n\n" in first.content  # paragraphs kept as blank lines
    assert first.published == datetime(2024, 3, 11, 7, 15, tzinfo=UTC)
    assert parsed.entries[1].authors == ("Tomas Ferreira", "Aiko Brandt")
    assert [identity for identity, _ in parsed.skipped] == ["gazette-podcast-10"]


def test_golden_atom_resolves_xml_base_against_feed_url() -> None:
    feed_url = "https://news.example.org/feeds/atom.xml"
    parsed = parse_feed((GOLDEN_DIR / "feeds/atom10_xml_base.xml").read_bytes(), feed_url=feed_url)
    assert [e.link for e in parsed.entries] == [
        "https://news.example.org/newsroom/2024/05/glacier-survey",  # feed xml:base="/newsroom/"
        "https://blog.northwind.example/posts/comet-watch",  # entry xml:base overrides
    ]
    assert parsed.entries[1].authors == ("Science Desk",)  # inherited from the feed (RFC 4287)


def test_golden_legacy_encodings_declared_in_prolog() -> None:
    cp1252 = parse_feed((GOLDEN_DIR / "feeds/rss_cp1252.xml").read_bytes(), feed_url=FEED_URL)
    assert cp1252.title == "Le Petit Café — “Nouvelles” du quartier"
    assert cp1252.entries[0].title == "Crème brûlée à 4,50 € : la recette dévoilée"
    latin1 = parse_feed((GOLDEN_DIR / "feeds/atom_iso8859_1.xml").read_bytes(), feed_url=FEED_URL)
    assert latin1.entries[0].authors == ("Åse Høgberg",)


def test_golden_malformed_feed_is_bozo_with_entries() -> None:
    parsed = parse_feed((GOLDEN_DIR / "feeds/rss_malformed_recoverable.xml").read_bytes(), feed_url=FEED_URL)
    assert parsed.bozo_reason and "not well-formed" in parsed.bozo_reason
    assert parsed.entries[0].link == "https://ridgeline-weekly.example.com/trails?area=north&season=spring"


# --------------------------------------------------------------------------- not a feed


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hi</p></body></html>", "HTML page"),
        (b"<html><body><h1>Feeds moved</h1></body></html>", "HTML page"),
        (b'<?xml version="1.0"?><urlset><url><loc>https://t.example/a</loc></url></urlset>', "sitemap"),
        (b'<?xml version="1.0"?><catalog><book/></catalog>', "<catalog>"),
        (b"", "empty"),
        (b"  \r\n\t ", "empty"),
        (b"\x1f\x8b\x08\x00rest-of-gzip", "gzip"),
        (b'{"name": "not a feed"}', "JSON Feed"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00\x00garbage\x00\x00", "not a feed"),
    ],
)
def test_not_a_feed_raises_actionable_error(body: bytes, needle: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(body, feed_url="https://x.example/feed.xml")
    assert caught.value.reason.startswith("https://x.example/feed.xml is not a feed")
    assert needle in caught.value.reason


def test_body_is_never_treated_as_a_path_or_url(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss("<item><title>leaked</title><link>https://t.example/l</link></item>"))
    with pytest.raises(FeedParseError):
        parse_feed(str(secret).encode(), feed_url=FEED_URL)


def test_well_formed_feed_without_items_is_not_an_error() -> None:
    parsed = parse_feed(rss(""), feed_url=FEED_URL)
    assert (parsed.format, parsed.title, parsed.entries, parsed.bozo_reason) == (
        "rss20",
        "Test Channel",
        (),
        None,
    )


# --------------------------------------------------------------------------- XML safety


def _billion_laughs(*, one_line: bool, markup: bool, depth: int = 10) -> str:
    wrap = ("<b>", "</b>") if markup else ("", "")
    declarations = [f'<!ENTITY lol0 "{wrap[0]}lol{wrap[1]}">'] + [
        f'<!ENTITY lol{i} "{wrap[0]}' + f"&lol{i - 1};" * 10 + f'{wrap[1]}">' for i in range(1, depth)
    ]
    sep = "" if one_line else "\n"
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [{sep}{sep.join(declarations)}{sep}]>\n'
        '<rss version="2.0"><channel><title>Laughs</title><item><title>Boom</title>'
        f"<description>&lol{depth - 1};</description><link>https://t.example/boom</link></item>"
        "</channel></rss>"
    )


@pytest.mark.parametrize("one_line", [False, True], ids=["multi-line", "one-line"])
@pytest.mark.parametrize("markup", [False, True], ids=["text", "markup-in-values"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_billion_laughs_neither_expands_nor_hangs(one_line: bool, markup: bool, encoding: str) -> None:
    body = _billion_laughs(one_line=one_line, markup=markup).encode(encoding)
    started = time.perf_counter()
    parsed = parse_feed(body, feed_url=FEED_URL)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0  # undefended, the markup variant costs expat ~5 s before its guard trips
    assert [e.link for e in parsed.entries] == ["https://t.example/boom"]
    text = parsed.entries[0].summary or ""
    assert text.count("lol") <= 2 and len(text) < 100
    assert parsed.bozo_reason and f"removed {10 if markup else 9} unsafe entity" in parsed.bozo_reason


def test_external_and_parameter_entities_are_dropped(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    body = (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n'
        f'<!ENTITY xxe SYSTEM "file://{secret}">\n'
        f'<!ENTITY % pe SYSTEM "file://{secret}">\n'
        '<!ENTITY outlet "Harbour Gazette">\n]>\n'
        '<rss version="2.0"><channel><title>&outlet;</title>'
        "<item><title>A</title><description>x &xxe; y</description>"
        "<link>https://t.example/a</link></item></channel></rss>"
    ).encode()
    parsed = parse_feed(body, feed_url=FEED_URL)
    assert "TOP-SECRET-VALUE" not in repr(parsed)
    assert parsed.title == "Harbour Gazette"  # short literal entities still work
    assert parsed.bozo_reason and "removed 1 unsafe" in parsed.bozo_reason  # the parameter entity is routine


def test_short_character_entities_still_expand() -> None:
    doctype = b'<!DOCTYPE rss [<!ENTITY nbsp "&#160;"> <!ENTITY co "Acme"> <!ENTITY unused "a &#38; b">]>'
    item = b"<item><title>A&nbsp;B &co;</title><link>https://t.example/a</link></item>"
    body = rss(item.decode()).replace(b"<rss", doctype + b"\n<rss", 1)
    parsed = parse_feed(body, feed_url=FEED_URL)
    assert parsed.entries[0].title == "A B Acme"
    assert parsed.bozo_reason and "removed 1 unsafe" in parsed.bozo_reason  # text mixed with a reference


def test_doctype_without_internal_subset_is_left_alone() -> None:
    body = rss("<item><title>Old</title><link>https://t.example/o</link></item>").replace(
        b"<rss", b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd">\n<rss', 1
    )
    parsed = parse_feed(body, feed_url=FEED_URL)
    assert parsed.bozo_reason is None and len(parsed.entries) == 1


def test_unterminated_doctype_is_refused() -> None:
    with pytest.raises(FeedParseError, match="DOCTYPE"):
        parse_feed(b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "b">', feed_url=FEED_URL)


# --------------------------------------------------------------------------- options and fields


def test_options_headers_and_link_resolution() -> None:
    items = "".join(
        f"<item><title>T{i}</title><link>/story/{i}</link><guid isPermaLink='false'>g{i}</guid></item>"
        for i in range(5)
    )
    parsed = parse_feed(
        rss(items),
        feed_url="https://redirected.example/feed",
        headers={"Content-Location": "https://cdn.example/feeds/x.xml"},
        source="Given Name",
        max_entries=3,
        fetch_pages=False,
    )
    assert [e.link for e in parsed.entries] == [f"https://cdn.example/story/{i}" for i in range(3)]
    assert {(e.source, e.fetch_page, e.feed_url) for e in parsed.entries} == {
        ("Given Name", False, "https://redirected.example/feed")
    }


def test_content_type_charset_decides_encoding() -> None:
    body = rss("<item><title>Zürich Straße</title><link>https://t.example/z</link></item>")
    latin1 = body.replace(b'encoding="utf-8"', b"").decode().encode("iso-8859-1")
    parsed = parse_feed(latin1, feed_url=FEED_URL, headers={"Content-Type": "text/xml; charset=ISO-8859-1"})
    assert parsed.entries[0].title == "Zürich Straße"


def test_source_falls_back_to_host_and_skips_unusable_links() -> None:
    body = (
        b'<rss version="2.0"><channel><item><title>Mail</title><link>mailto:desk@t.example</link></item>'
        b"<item><title>Script</title><link>javascript:alert(1)</link>"
        b"<guid isPermaLink='false'>js-1</guid></item>"
        b"<item><title>Fine</title><link>http://t.example/fine</link></item></channel></rss>"
    )
    parsed = parse_feed(body, feed_url="https://feeds.t.example/all")
    assert parsed.title is None
    assert [(e.link, e.source) for e in parsed.entries] == [("http://t.example/fine", "feeds.t.example")]
    assert [identity for identity, _ in parsed.skipped] == ["item1", "js-1"]
    assert "mailto:desk@t.example" in parsed.skipped[0][1]


def test_json_feed_version_1_and_dates() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1",
            "title": "J",
            "author": {"name": "Feed Author"},
            "items": [
                {"id": "1", "url": "https://j.example/1", "date_published": "2024-01-02T03:04:05+02:00"},
                {"id": "2", "url": "https://j.example/2", "date_published": "yesterday"},
                "not an object",
            ],
        }
    ).encode()
    parsed = parse_feed(body, feed_url="https://j.example/feed.json")
    assert parsed.format == "json1"
    assert [e.published for e in parsed.entries] == [datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC), None]
    assert parsed.entries[0].authors == ("Feed Author",)
    assert parsed.skipped == (("item3", "entry 3 of https://j.example/feed.json is not a JSON object; skipped"),)


def test_html_to_text() -> None:
    html = (
        "<div><h1>Head</h1><p>One <b>bold</b>\n  word &amp; more</p><script>bad()</script>"
        "<style>p{}</style><!-- note --><ul><li>a</li><li>b</li></ul>x<br>y</div>tail"
    )
    assert html_to_text(html) == "Head\n\nOne bold word & more\n\na\nb\n\nx\ny\n\ntail"
    assert html_to_text("<pre>line 1\nline 2</pre>") == "line 1\nline 2"
    assert html_to_text("no markup\n at   all") == "no markup at all"
    assert html_to_text("") == ""


# --------------------------------------------------------------------------- shared corpus


def _manifest(feeds_dir: Path) -> list[dict[str, object]]:
    with (feeds_dir / "feedparser_manifest.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _headers(lines: object) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines if isinstance(lines, list) else []:
        name, _, value = str(line).partition(":")
        key = name.strip()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return headers


def _item_count_and_link(body: bytes) -> tuple[int, bool] | None:
    """Items/entries in a well-formed document and whether one has an absolute alternate link."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return None
    items = [el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname in ("item", "entry")]
    has_link = any(
        etree.QName(child).localname == "link"
        and child.get("rel", "alternate") == "alternate"
        and (child.get("href") or child.text or "").strip().startswith(("http://", "https://"))
        for item in items
        for child in item
        if isinstance(child.tag, str)
    )
    return len(items), has_link


@pytest.mark.shared
def test_feedparser_corpus_sample_parses_or_raises_feed_parse_error(shared_dir: Path) -> None:
    feeds_dir = shared_dir / "corpora" / "feeds"
    if not (feeds_dir / "feedparser_manifest.jsonl").is_file():
        pytest.skip("feed corpus not present")
    rows = sorted(_manifest(feeds_dir), key=lambda row: str(row["path"]))
    sample = rows[:: max(1, len(rows) // 150)][:150]
    outcomes = {"parsed": 0, "feed_parse_error": 0}
    problems: list[str] = []
    for row in sample:
        body = (feeds_dir / str(row["path"])).read_bytes()
        try:
            parsed = parse_feed(
                body, feed_url=f"https://corpus.example/{row['path']}", headers=_headers(row["http_headers"])
            )
        except FeedParseError:
            outcomes["feed_parse_error"] += 1
            continue
        except Exception as error:  # noqa: BLE001 - the assertion is that nothing else escapes
            problems.append(f"{row['path']}: {type(error).__name__}: {error}")
            continue
        outcomes["parsed"] += 1
        shape = _item_count_and_link(body)
        if row["expect_bozo"] is False and str(row["format"] or "").startswith(("rss", "atom", "rdf")) and shape:
            items, has_link = shape
            if len(parsed.entries) + len(parsed.skipped) != items:
                problems.append(f"{row['path']}: {items} items but {parsed.entries=} {parsed.skipped=}")
            if has_link and not parsed.entries:
                problems.append(f"{row['path']}: has an item link but no entries came out")
    assert problems == []
    assert len(sample) == 150
    assert outcomes["parsed"] >= 140, outcomes


@pytest.mark.shared
def test_jsonfeed_corpus_parses_or_raises_feed_parse_error(shared_dir: Path) -> None:
    json_dir = shared_dir / "corpora" / "feeds" / "jsonfeed"
    if not json_dir.is_dir():
        pytest.skip("JSON Feed corpus not present")
    files = sorted(json_dir.rglob("*.json"))
    assert files
    for path in files:
        try:
            parsed = parse_feed(path.read_bytes(), feed_url=f"https://corpus.example/{path.name}")
        except FeedParseError:
            continue
        assert parsed.format.startswith("json")
        assert all(e.link.startswith(("http://", "https://")) for e in parsed.entries)
        if "invalid" not in path.parts:
            assert parsed.entries, path.name
