"""``newsbeam report``: the numbers match the lake, layout drift is caught, hostile text never runs."""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from browser import load, needs_chromium, screenshot

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import EXIT_OK, EXIT_PARTIAL, main
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.demo.server import serve_site
from newsbeam.pipeline.report import report_data, write_report
from newsbeam.pipeline.report.charts import CHARTS
from newsbeam.pipeline.report.drift import DriftRule, judge_site
from newsbeam.pipeline.report.page import link, script_json
from newsbeam.pipeline.run import run
from newsbeam.schemas.records import FeedSpec
from newsbeam.transforms.fetch.http import HttpConfig

LOOPBACK = HttpConfig(allow_private_networks=True, min_delay=0, obey_robots=False)
VOCABULARY = (
    "council harbor ferry budget school river market bridge weather festival museum library police "
    "election court hospital railway farmers tourism housing energy water storm teachers workers union "
    "mayor board survey plan report project season summer winter island coast valley county village"
).split()
VERBS = "approved delayed announced rejected discussed funded opened closed reviewed expanded".split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(VOCABULARY) for _ in range(rng.randrange(9, 16))]
    return f"The {words[0]} {rng.choice(VERBS)} " + " ".join(words[1:]) + "."


def article_page(title: str, published: datetime, rng: random.Random, broken: bool) -> str:
    if broken:  # the site moved to client-side rendering: the HTML has no text any more
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            "<body><div id='app'></div><script src='/static/app.js'></script></body></html>"
        )
    paragraphs = "".join(f"<p>{' '.join(sentence(rng) for _ in range(4))}</p>" for _ in range(5))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta property='article:published_time' content='{published.isoformat()}'></head>"
        f"<body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{paragraphs}</article></body></html>"
    )


def publish(root: Path, outlet: str, run_number: int, broken: bool, per_run: int = 4) -> None:
    """Add ``per_run`` articles to ``outlet`` and rewrite its RSS feed with every article so far."""
    rng = random.Random(f"{outlet}-{run_number}")
    folder = root / outlet
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(per_run):
        published = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(hours=run_number * 6 + i)
        title = f"{outlet.title()} {rng.choice(VOCABULARY)} {rng.choice(VERBS)} {run_number}-{i}"
        (folder / f"{run_number}-{i}.html").write_text(article_page(title, published, rng, broken))
        (folder / f"{run_number}-{i}.meta").write_text(json.dumps({"title": title, "published": published.isoformat()}))
    items = []
    for meta in sorted(folder.glob("*.meta")):
        info = json.loads(meta.read_text())
        when = datetime.fromisoformat(info["published"]).strftime("%a, %d %b %Y %H:%M:%S +0000")
        items.append(
            f"<item><title>{info['title']}</title><link>{{{{BASE}}}}/{outlet}/{meta.stem}.html</link>"
            f"<guid>{outlet}-{meta.stem}</guid><pubDate>{when}</pubDate>"
            f"<description>{info['title']}: a short summary.</description></item>"
        )
    (folder / "rss.xml").write_text(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>{outlet.title()}</title>"
        f"<link>{{{{BASE}}}}/{outlet}/</link>{''.join(items)}</channel></rss>"
    )


def test_a_site_whose_template_changes_is_flagged_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    site, output = tmp_path / "site", tmp_path / "lake"
    site.mkdir()
    with serve_site(site) as server:
        outlets = ("changing", "steady", "gone")  # "gone" has no feed: a failing one
        feeds = tuple(FeedSpec(url=f"{server.base_url}/{outlet}/rss.xml") for outlet in outlets)
        for number in range(4):
            publish(site, "changing", number, broken=number >= 2)
            publish(site, "steady", number, broken=False)
            run(RunConfig(output=str(output), feeds=feeds, http=LOOPBACK))
    data = report_data(str(output))
    verdicts = {d["site"]: d for d in data["drift"]}
    assert verdicts["Changing"]["drifted"], verdicts["Changing"]
    assert (
        verdicts["Changing"]["recent_signals"]["feed_text"] == 8 and verdicts["Changing"]["earlier_broken_share"] == 0
    )
    assert not verdicts["Steady"]["drifted"] and verdicts["Steady"]["recent_broken_share"] == 0, verdicts["Steady"]
    assert verdicts["Changing"]["pages"] == verdicts["Steady"]["pages"] == 16
    assert len(data["runs"]) == 4 and [r["articles"] for r in data["runs"]] == [8, 8, 8, 8]
    health = {feed["feed_url"].split("/")[-2]: feed for feed in data["feeds"]}
    assert health["gone"]["failing"] and health["gone"]["last_status"] == 404 and health["gone"]["polls"] == 4
    assert not health["steady"]["failing"] and health["steady"]["articles"] == 16
    assert health["steady"]["median_fetch_ms"] is not None and health["steady"]["median_fetch_ms"] >= 0
    # Published every hour or so until 1 November 21:00: stale a month later, not an hour later.
    assert health["steady"]["stale"] and health["changing"]["stale"]
    soon = report_data(str(output), now=datetime(2026, 11, 1, 22, tzinfo=timezone.utc))
    assert not any(feed["stale"] for feed in soon["feeds"])


def test_the_drift_rule_needs_history_and_a_real_rise() -> None:
    good = [(3000, True, True, "page", "en")] * 8
    assert judge_site(good[:6], DriftRule()) is None, "too few pages to judge"
    broken = [(200, True, True, "feed", "en")] * 8
    assert judge_site(good + broken, DriftRule())["drifted"]
    always_short = [(200, False, False, "page", "en")] * 16
    assert not judge_site(always_short, DriftRule())["drifted"], (
        "a site that never had titles or dates is its own normal"
    )
    one_bad = good + good[:7] + broken[:1]
    assert not judge_site(one_bad, DriftRule())["drifted"], "one bad page in eight is not drift"


def test_report_numbers_match_the_lake_and_json_format(tmp_path: Path) -> None:
    output = tmp_path / "lake"
    records = tmp_path / "in.jsonl"
    rng = random.Random(3)
    lines = [
        json.dumps(
            {
                "url": f"https://a{i % 3}.example/{i}",
                "source": f"Outlet {i % 3}",
                "text": " ".join(sentence(rng) for _ in range(8)),
            }
        )
        for i in range(12)
    ]
    records.write_text("\n".join([*lines, "{not json"]) + "\n")
    assert main(["run", "--input", str(records), "--output", str(output)]) == EXIT_PARTIAL
    target = tmp_path / "report.json"
    assert main(["report", "--output", str(output), "--to", str(target), "--format", "json"]) == EXIT_OK
    data = json.loads(target.read_text())
    con = lake_sql.connect(str(output))
    articles, letters = con.execute(
        "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM dead_letters)"
    ).fetchall()[0]
    assert data["totals"]["articles"] == articles == 12 and data["totals"]["dead_letters"] == letters == 1
    assert sum(row["articles"] for row in data["articles_per_hour"]) == 12
    assert {row["source"] for row in data["articles_per_hour"]} == {"Outlet 0", "Outlet 1", "Outlet 2"}
    assert data["dead_letters"][0]["stage"] == "read" and data["dead_letters"][0]["count"] == 1
    assert [r["articles"] for r in data["runs"]] == [12] and data["runs"][0]["dead_letters"] == 1


def test_escaping_helpers() -> None:
    assert "<" not in script_json({"t": "</script><script>x</script>"})
    assert json.loads(script_json({"t": "</script>&"})) == {"t": "</script>&"}
    assert link("javascript:alert(1)") == "javascript:alert(1)"
    assert (
        link('https://x.example/"><b>')
        == '<a href="https://x.example/&quot;&gt;&lt;b&gt;" rel="noopener noreferrer">https://x.example/&quot;&gt;&lt;b&gt;</a>'
    )


PWN = "document.body.setAttribute('data-pwned', '{}')"
PAYLOADS = {
    "script": f"<script>{PWN.format('script')}</script>",
    "close": f"</script><script>{PWN.format('close')}</script>",
    "handler": f'<img src=x onerror="{PWN.format("handler")}">',
    "svg": f'<svg onload="{PWN.format("svg")}"></svg>',
}


@needs_chromium
def test_hostile_lake_text_never_runs_in_the_browser_and_every_chart_renders(tmp_path: Path) -> None:
    output = tmp_path / "lake"
    rng = random.Random(5)
    hostile = " ".join(PAYLOADS.values())
    records = [
        {
            "url": f"https://evil.example/{i}",
            "title": f"{hostile} {i}",
            "source": f"{PAYLOADS['handler']} {i % 2}",
            "text": " ".join(sentence(rng) for _ in range(8)),
        }
        for i in range(6)
    ]
    records.append({"url": f"javascript:{PWN.format('jsurl')}", "title": hostile, "text": "x"})
    lines = [json.dumps(r) for r in records] + [hostile]  # the last line is no JSON: a dead letter with it as excerpt
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    main(["run", "--input", str(source), "--output", str(output)])
    con = lake_sql.connect(str(output))
    planted = con.execute(
        "SELECT (SELECT count(*) FROM articles WHERE title LIKE '%<script>%' AND source LIKE '%onerror%'),"
        " (SELECT count(*) FROM dead_letters WHERE reason LIKE '%javascript:%' OR excerpt LIKE '%<script>%')"
    ).fetchall()[0]
    assert planted[0] == 6 and planted[1] >= 1, f"the payloads must reach the lake to test anything: {planted}"
    page = tmp_path / "report.html"
    write_report(str(output), page)
    dom, console = load(page)
    assert not re.search(r"<body[^>]*data-pwned", dom), "a planted script or handler ran"
    assert 'href="javascript:' not in dom.lower()
    assert console == [], console
    for name in CHARTS:
        chart = re.search(rf'<div[^>]*data-chart="{name}"[^>]*>(.*?)</div>\s*<script', dom, re.S)
        assert chart and ("<svg" in chart.group(1) or "<canvas" in chart.group(1)), f"chart {name} did not render"
    assert screenshot(page, "report-hostile.png").stat().st_size > 10_000


@needs_chromium
def test_demo_lake_report_renders_in_the_browser(tmp_path: Path) -> None:
    from newsbeam.pipeline.demo.server import SITE_ROOT, materialise_feed_list
    from newsbeam.pipeline.feedlist import load_feed_list

    output = tmp_path / "lake"
    with serve_site(SITE_ROOT) as server:
        feeds = tuple(load_feed_list(materialise_feed_list(SITE_ROOT, server.base_url, tmp_path / "feeds.opml")))
        run(RunConfig(output=str(output), feeds=feeds, http=LOOPBACK))
    page = tmp_path / "report.html"
    assert main(["report", "--output", str(output), "--to", str(page)]) == EXIT_OK
    dom, console = load(page)
    assert console == [], console
    rendered = re.findall(r'data-chart="(\w+)"[^>]*><div class="plot-container', dom)
    assert sorted(rendered) == sorted(CHARTS)
    copies = report_data(str(output))["duplicates"]
    assert [(row["articles"], row["exact"], row["near"]) for row in copies] == [(17, 1, 1)], copies
    assert copies[0]["near_share"] == round(1 / 19, 4)
    assert screenshot(page, "report-demo.png").stat().st_size > 10_000


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_report_of_an_empty_lake_still_writes(tmp_path: Path, fmt: str) -> None:
    output = tmp_path / "lake"
    output.mkdir()
    target = tmp_path / f"r.{fmt}"
    write_report(str(output), target, fmt)
    assert target.stat().st_size > 0


def test_a_feed_state_table_from_before_fetch_latency_gains_the_column(tmp_path: Path) -> None:
    """A lake written before ``last_fetch_ms`` existed: its old files still load, new rows carry latency."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from newsbeam.schemas.lake import FEED_STATE, TABLES
    from newsbeam.transforms.lake.delta import table_uri
    from newsbeam.transforms.lake.state import load_feed_states

    output = tmp_path / "lake"
    old_schema = pa.schema([field for field in FEED_STATE if field.name != "last_fetch_ms"])
    old_row = {name: None for name in old_schema.names} | {
        "feed_url": "https://old.example/feed",
        "etag": '"v1"',
        "last_status": 200,
        "consecutive_failures": 0,
        "last_attempt_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
        "schema_version": 1,
        "run_id": "old",
    }
    write_deltalake(
        table_uri(str(output), "feed_state"),
        pa.Table.from_pylist([old_row], schema=old_schema),
        name=TABLES["feed_state"].name,
    )
    before = report_data(str(output))  # read before any commit added the column: it shows as null
    assert [(f["feed_url"], f["last_fetch_ms"]) for f in before["feeds"]] == [("https://old.example/feed", None)]
    site = tmp_path / "site"
    publish(site, "steady", 0, broken=False)
    with serve_site(site) as server:
        run(RunConfig(output=str(output), feeds=(FeedSpec(url=f"{server.base_url}/steady/rss.xml"),), http=LOOPBACK))
    states = load_feed_states(str(output))
    assert (
        states["https://old.example/feed"].etag == '"v1"' and states["https://old.example/feed"].last_fetch_ms is None
    )
    new = [state for url, state in states.items() if "steady" in url]
    assert len(new) == 1 and new[0].last_fetch_ms is not None
    con = lake_sql.connect(str(output))
    latencies = dict(con.execute("SELECT feed_url, last_fetch_ms FROM feed_state").fetchall())
    assert latencies.pop("https://old.example/feed") is None and all(ms is not None for ms in latencies.values())
