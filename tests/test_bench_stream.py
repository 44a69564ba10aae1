"""The streaming bench's building blocks (the section itself is ``make bench-stream``)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from bench.merge import merge
from bench.report import headline, render_markdown
from bench.stream import percentiles
from bench.stream_proc import HostSite, ProcTree


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"count": 100, "p50": 50.0, "p95": 95.0, "max": 100.0, "mean": 50.5}
    assert percentiles([3.0])["p95"] == 3.0
    assert percentiles([])["p50"] is None


def test_host_site_puts_each_host_on_its_own_address_and_counts_connections() -> None:
    with HostSite(feeds=4, hosts=2, initial=1) as site:
        urls = site.feed_urls()
        assert {u.split("/")[2].split(":")[0] for u in urls} == {"127.0.0.2", "127.0.0.3"}
        before = site.connections
        with urllib.request.urlopen(urls[0], timeout=5) as response:
            assert b"<rss" in response.read()
        assert site.connections == before + 1 and site.site.polls == 1


def test_proc_tree_measures_the_child_and_what_it_started() -> None:
    busy = (
        "import subprocess, sys, time; subprocess.run([sys.executable, '-c', 'x = sum(range(10**7))']); time.sleep(0.3)"
    )
    child = subprocess.Popen([sys.executable, "-c", busy])
    tree = ProcTree(child.pid, every=0.05).start()
    child.wait()
    tree.stop()
    assert tree.cpu_seconds() > 0.1  # the grandchild's sum, seen while it ran
    assert all(p["peak_rss_mib"] > 0 for p in tree.by_process())


def test_report_renders_the_stream_section_against_its_aims() -> None:
    lat = {"count": 3, "p50": 6.0, "p95": 25.0, "max": 30.0, "mean": 9.0}
    part = {
        "published": 5,
        "published_measured": 3,
        "in_lake": 5,
        "rows": 5,
        "duplicate_rows": 0,
        "missing": [],
        "exactly_once": True,
        "latency_seconds": lat,
        "latency_by_commit_record_seconds": lat,
        "measured_seconds": 10.0,
        "cpu_seconds": 1.0,
        "cpu_seconds_by_process": {"python": 0.6, "prism": 0.4},
        "cpu_ms_per_article": 333.3,
        "feed_polls_per_second": 2.0,
        "peak_rss_mib": {"python": 600, "prism": 60, "sum_of_peaks": 660, "largest_sampled_total": 650},
    }
    report = {
        "mode": "quick",
        "date": "2024-01-01",
        "machine": {"cpus": 2, "cpu_model": "x", "python": "3.11", "load_average_at_start": [0, 0, 0]},
        "total_seconds": 1.0,
        "tagger": "gazetteer only",
        "sections": {"stream": {"setup": {"latency": {"feeds": 2, "hosts": 1, "rate": 1.0}}, "latency": part}},
    }
    report["headline"] = headline(report)
    text = render_markdown(report)
    assert "| stream latency p50 (published -> readable via connect()) | 6.0 | s | <= 10 | yes |" in text
    assert "| stream latency p95 | 25.0 | s | <= 20 | **no** |" in text
    assert "## Streaming" in text


def test_report_renders_the_websub_part_and_merge_replaces_only_that_part(tmp_path: Path) -> None:
    websub = {
        "feeds": 4,
        "pushes": 5,
        "subscribed": 4,
        "deliveries_accepted": 5,
        "push_to_lake_seconds": {"count": 5, "p50": 4.7, "p95": 5.2, "max": 5.2, "mean": 4.8},
        "not_readable_within_seconds": {"cap": 60.0, "count": 0},
        "stream_polls_during": 5,
        "commit_interval_seconds": 5.0,
        "tick_seconds": 0.5,
        "min_interval_seconds": 300.0,
    }
    base = {
        "mode": "full",
        "date": "2024-01-01",
        "machine": {"cpus": 2, "cpu_model": "x", "python": "3.11", "load_average_at_start": [0, 0, 0]},
        "total_seconds": 1.0,
        "tagger": "gazetteer only",
        "sections": {"stream": {"setup": {"latency": {"feeds": 2}}, "polling": {"kept": True}}},
    }
    target = tmp_path / "report.json"
    target.write_text(json.dumps(base))
    partial = {
        "date": "2024-02-02",
        "sections_run": ["stream"],
        "stream_parts": ["websub"],
        "sections": {"stream": {"setup": {"websub": {"feeds": 4}}, "websub": websub}},
    }
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    merge([tmp_path / "partial.json"], target)
    merged = json.loads(target.read_text())
    assert merged["sections"]["stream"]["polling"] == {"kept": True}, "the other parts stay"
    assert merged["sections"]["stream"]["websub"] == websub
    assert merged["merged_sections"]["stream.websub"]["date"] == "2024-02-02"
    text = target.with_suffix(".md").read_text()
    assert "| WebSub push -> readable via connect(), p50 / p95 | 4.7 / 5.2 | s | p50 <= 10, none lost | yes |" in text
    assert "5 stream polls (one per push expected)" in text
