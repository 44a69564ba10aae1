"""The benchmark's own building blocks, fast enough for ``make test`` (the full bench is ``make bench``)."""

from __future__ import annotations

import sys
from collections import Counter

from bench import synthetic
from bench.common import run_child
from bench.corpus import token_f1
from bench.fetch import run_fetch
from bench.report import headline, render_markdown


def test_synthetic_articles_are_deterministic_with_a_zipf_head_and_true_offsets() -> None:
    first = list(synthetic.articles(1500, days=3))
    again = list(synthetic.articles(1500, days=3))
    assert [a.text for a in first] == [a.text for a in again]
    assert len({a.url for a in first}) == len(first)
    per_entity = Counter(ref.slug for a in first for ref in a.entities)
    top, count = per_entity.most_common(1)[0]
    assert top == "united-states" and count > 0.15 * len(first), "a few entities are very frequent"
    assert sum(1 for c in per_entity.values() if c <= 2) > len(per_entity) / 3, "and most are rare"
    assert any(a.copy_of is not None for a in first), "near and exact copies are part of the mix"
    for article in first[:200]:
        for mention in article.mentions:
            assert article.text[mention.start : mention.end] == mention.text
    assert [a.published for a in first] == sorted(a.published for a in first)


def test_token_f1() -> None:
    assert token_f1("a b c", "a b c") == (1.0, 1.0, 1.0)
    precision, recall, f1 = token_f1("a b", "a b c d")
    assert (precision, recall) == (1.0, 0.5) and round(f1, 3) == 0.667
    assert token_f1("", "a")[2] == 0.0


def test_fetch_bench_checks_limits_at_the_servers() -> None:
    result = run_fetch(3, 4, 0.05, {"aim": {"max_workers": 8, "per_host": 1, "min_delay": 0.1}}, 1)
    part = result["aim"]
    assert part["ok"] == 12 and part["requests_per_host"] == 5  # robots.txt + 4 pages
    assert part["in_flight_limit_respected"] and part["rate_limit_respected"]
    assert part["median_wall_seconds"] >= part["theoretical_floor_seconds"] * 0.9


def test_child_measurement_is_the_child_alone() -> None:
    child = run_child([sys.executable, "-c", "x = bytearray(200 * 1024 * 1024); print('{\"ok\": 1}')"])
    assert child.returncode == 0 and child.max_rss_mib >= 200
    assert child.stdout.strip() == '{"ok": 1}'


def test_report_renders_whatever_sections_ran() -> None:
    report = {
        "mode": "quick",
        "date": "2024-01-01",
        "machine": {"cpus": 2, "cpu_model": "x", "python": "3.11", "load_average_at_start": [0, 0, 0]},
        "total_seconds": 1.0,
        "tagger": "gazetteer only",
        "sections": {"fetch": run_fetch(2, 2, 0.01, {"aim": {"max_workers": 4, "per_host": 1, "min_delay": 0.05}}, 1)},
    }
    report["headline"] = headline(report)
    text = render_markdown(report)
    assert "fetch 4 pages / 2 hosts: aim" in text and "| yes |" in text
