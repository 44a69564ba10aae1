"""Feed lists: every format loads to the same specs, and every mistake names file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsbeam.pipeline.feedlist import Rejected, load_feed_list, read_feed_list, rejected_dead_letter
from newsbeam.schemas.records import FeedSpec
from newsbeam.transforms.errors import ConfigError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "feedlists"

GAZETTE = "https://gazette.example.com/rss.xml"
VALLEY = "https://valley-post.example.net/rss"
NORTHWIND = "https://northwind.example/newsroom/atom.xml"
KESTREL = "https://kestrel.example.io/feed.json"

WITH_OPTIONS = [
    FeedSpec(url=GAZETTE),
    FeedSpec(url=VALLEY, source="The Valley Post"),
    FeedSpec(url=NORTHWIND, fetch_pages=False, max_entries=20),
    FeedSpec(url=KESTREL, source="Kestrel Tech Notes", fetch_pages=True, max_entries=5),
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_nested_opml() -> None:
    assert load_feed_list(FIXTURES / "nested.opml") == [
        FeedSpec(url=GAZETTE, source="Harbour Town Gazette"),
        FeedSpec(url=VALLEY, source="The Valley Post"),  # no title: text
        FeedSpec(url=NORTHWIND, source="Northwind Science Desk"),  # title wins over text
        FeedSpec(url=KESTREL),  # the duplicate gazette outline is dropped
    ]


def test_plain_text() -> None:
    assert load_feed_list(FIXTURES / "feeds.txt") == [
        FeedSpec(url=GAZETTE),
        FeedSpec(url=VALLEY),
        FeedSpec(url=NORTHWIND),
        FeedSpec(url=KESTREL + "#top"),  # '#' inside a URL is a fragment, not a comment
    ]


@pytest.mark.parametrize("name", ["feeds.yaml", "feeds.toml"])
def test_yaml_and_toml_with_options(name: str) -> None:
    assert load_feed_list(FIXTURES / name) == WITH_OPTIONS


def test_format_detected_from_content(tmp_path: Path) -> None:
    opml = write(tmp_path, "subscriptions", (FIXTURES / "nested.opml").read_text(encoding="utf-8"))
    toml = write(tmp_path, "feeds.conf", (FIXTURES / "feeds.toml").read_text(encoding="utf-8"))
    yml = write(tmp_path, "feeds.cfg", (FIXTURES / "feeds.yaml").read_text(encoding="utf-8"))
    assert [s.url for s in load_feed_list(opml)] == [GAZETTE, VALLEY, NORTHWIND, KESTREL]
    assert load_feed_list(toml) == WITH_OPTIONS
    assert load_feed_list(yml) == WITH_OPTIONS


def test_toml_inline_array(tmp_path: Path) -> None:
    path = write(tmp_path, "f.toml", f'feeds = ["{GAZETTE}", {{ url = "{VALLEY}", max_entries = 3 }}]\n')
    assert load_feed_list(path) == [FeedSpec(url=GAZETTE), FeedSpec(url=VALLEY, max_entries=3)]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "f.txt",
            "# top\nhttps://ok.example/a\nftp://files.example/feed.xml\n",
            ["f.txt:3:", "not an http(s) URL"],
        ),
        ("f.txt", "https://ok.example/a https://ok.example/b\n", ["f.txt:1:", "one URL per line"]),
        ("f.txt", "gazette.example.com/rss.xml\n", ["f.txt:1:", "no scheme", "https://gazette.example.com"]),
        ("f.txt", "https:///no-host\n", ["f.txt:1:", "no valid host"]),
        ("f.txt", "# only comments\n\n", ["no feeds"]),
        (
            "f.yaml",
            "feeds:\n  - https://ok.example/a\n  - url: https://ok.example/b\n    fetchpages: false\n",
            ["f.yaml:3:", "unknown key 'fetchpages'", "did you mean 'fetch_pages'"],
        ),
        (
            "f.yaml",
            "feeds:\n  - url: https://ok.example/a\n    max_entries: ten\n",
            ["f.yaml:2:", "max_entries"],
        ),
        ("f.yaml", "feeds:\n  - url: https://ok.example/a\n    max_entries: 0\n", ["max_entries", ">= 1"]),
        (
            "f.yaml",
            "feeds:\n  - url: https://ok.example/a\n    fetch_pages: maybe\n",
            ["fetch_pages", "true or false"],
        ),
        ("f.yaml", "feeds:\n  - source: No URL\n", ["f.yaml:2:", "no 'url'"]),
        ("f.yaml", "feeds:\n  - [https://ok.example/a]\n", ["f.yaml:2:", "got a list"]),
        ("f.yaml", "feeds: https://ok.example/a\n", ["'feeds' must be a list"]),
        ("f.yaml", "- https://ok.example/a\n", ["expected a YAML mapping"]),
        (
            "f.yaml",
            "feeds:\n  - https://ok.example/a\nfeed_options: {}\n",
            ["unknown top-level key(s) feed_options"],
        ),
        (
            "f.yaml",
            "feeds:\n  - url: https://ok.example/a\n   source: bad indent\n",
            ["f.yaml:3:", "not valid YAML"],
        ),
        (
            "f.yaml",
            "feeds:\n  - url: https://ok.example/a\n    source: 12\n",
            ["'source' must be non-empty text"],
        ),
        (
            "f.toml",
            '[[feeds]]\nurl = "https://ok.example/a"\n\n[[feeds]]\nurl = "javascript:alert(1)"\n',
            ["f.toml:4:", "not an http(s) URL"],
        ),
        (
            "f.toml",
            '[[feeds]]\nurl = "https://ok.example/a"\nmax_entries = "5"\n',
            ["f.toml:1:", "max_entries"],
        ),
        ("f.toml", '[[feeds]\nurl = "x"\n', ["not valid TOML", "line 1"]),
        (
            "f.opml",
            '<opml version="2.0"><body><outline xmlUrl="https://ok.example/a">\n</body></opml>',
            ["f.opml:2:", "not well-formed"],
        ),
        (
            "f.opml",
            '<opml version="2.0"><body>\n<outline text="x"\n xmlUrl="file:///etc/passwd"/></body></opml>',
            ["f.opml:3:", "xmlUrl", "not an http(s) URL"],
        ),
        ("f.xml", '<rss version="2.0"><channel/></rss>', ["<rss>, not <opml>"]),
        ("f.opml", '<opml version="2.0"><body><outline text="Empty folder"/></body></opml>', ["no feeds"]),
    ],
)
def test_errors_name_file_line_and_fix(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as caught:
        load_feed_list(path)
    for needle in expected:
        assert needle in caught.value.reason
    assert str(path) in caught.value.reason


def test_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read feed list"):
        load_feed_list(tmp_path / "absent.txt")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("https://ok.example/a\n# café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.txt:2: .*UTF-8"):
        load_feed_list(latin1)


def test_opml_entities_neither_leak_nor_expand(tmp_path: Path) -> None:
    secret = write(tmp_path, "secret.txt", "https://leaked.example/")
    external = write(
        tmp_path,
        "external.opml",
        f'<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        '<opml version="2.0"><head><title>&xxe;</title></head>'
        '<body><outline text="News" xmlUrl="https://ok.example/a"/></body></opml>',
    )
    specs = load_feed_list(external)
    assert specs == [FeedSpec(url="https://ok.example/a", source="News")]
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = write(
        tmp_path,
        "bomb.opml",
        f'<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY l0 "lol">{laughs}]>\n'
        '<opml version="2.0"><body><outline text="&l9;" xmlUrl="https://ok.example/a"/></body></opml>',
    )
    with pytest.raises(ConfigError, match="not well-formed XML"):
        load_feed_list(bomb)  # libxml2's amplification limit refuses it at once


def test_a_bad_entry_is_rejected_with_its_line_and_the_rest_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path, "f.txt", f"{GAZETTE}\nfile:///etc/passwd\nhttps://a.example/x https://b.example/y\n{VALLEY}\n"
    )
    feeds = read_feed_list(path)
    assert [spec.url for spec in feeds.specs] == [GAZETTE, VALLEY]
    assert [line.where for line in feeds.rejected] == [f"{path}:2", f"{path}:3"]
    assert "not an http(s) URL" in feeds.rejected[0].reason and feeds.rejected[0].value == "file:///etc/passwd"
    assert "one URL per line" in feeds.rejected[1].reason
    with pytest.raises(ConfigError, match=r"f\.txt:2: "):
        load_feed_list(path)  # the strict form still stops at the first


def test_bad_yaml_and_opml_entries_are_rejected_one_by_one(tmp_path: Path) -> None:
    yml = write(tmp_path, "f.yaml", f"feeds:\n  - {GAZETTE}\n  - url: {VALLEY}\n    sourse: Valley\n")
    feeds = read_feed_list(yml)
    assert [spec.url for spec in feeds.specs] == [GAZETTE]
    assert feeds.rejected[0].where == f"{yml}:3" and "did you mean 'source'" in feeds.rejected[0].reason
    opml = write(
        tmp_path,
        "f.opml",
        f'<opml version="2.0"><body>\n<outline xmlUrl="{GAZETTE}"/>\n<outline xmlUrl="javascript:x"/>\n</body></opml>',
    )
    feeds = read_feed_list(opml)
    assert [spec.url for spec in feeds.specs] == [GAZETTE] and feeds.rejected[0].where == f"{opml}:3"


def test_a_list_with_no_usable_feed_stays_fatal(tmp_path: Path) -> None:
    path = write(tmp_path, "f.txt", "file:///etc/passwd\nftp://x.example/feed\n")
    with pytest.raises(ConfigError, match=r"f\.txt:1: .*and 1 more.*no usable feed"):
        read_feed_list(path)


def test_a_rejected_line_becomes_a_feeds_dead_letter() -> None:
    letter = rejected_dead_letter(Rejected("feeds.txt:7", "url 'file:///x' is not an http(s) URL", "file:///x"))
    assert (letter.stage, letter.input_id, letter.excerpt) == ("feeds", "feeds.txt:7", "file:///x")
    assert letter.reason.startswith("feed-list entry skipped: url 'file:///x'") and "fix or remove" in letter.reason
