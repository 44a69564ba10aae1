"""``make bench``: speed, memory and scale of newsbeam, against its peers and against its aims.

    .venv/bin/python bench/run.py            # full: ~25 min on 2 cores (estimate), writes bench/report.{json,md}
    .venv/bin/python bench/run.py --quick    # CI: < 3 min, writes bench/report-quick.{json,md}
    .venv/bin/python bench/run.py --only fetch,lake   # some sections: bench/tmp/report-partial.*
    .venv/bin/python bench/run.py --only lake --lake-commits 200   # fewer small commits in the lake curve

Sections (see each module): ``stages`` (per-stage throughput on real pages), ``e2e`` (the same
pages through the whole pipeline: plumbing overhead), ``peers`` (news-please, newspaper4k, Fundus
on the same pages), ``fetch`` (1,000 pages over 50 loopback hosts), ``lake`` (100k articles in
Delta tables: write and commit, compaction, DuckDB queries, ``connect()`` over 1,000 small
commits), ``memory`` (LSH index at 1M signatures), ``scaling`` (1k/10k/100k end to end; the 100k
run is the batch peak-RSS measurement), ``stream`` (``newsbeam stream`` on Prism against a live
loopback site: latency to the lake, a batch-loop baseline, polling at 10,000 feeds; ~16 min; not
in ``--quick`` unless named: ``make bench-stream-quick``; ``--stream-parts websub`` runs one part,
e.g. the WebSub push-to-lake latency).

Machines are shared and noisy: every time is a median over repeats, and the numbers to trust
are ratios measured in the same run. Parts that need ``../shared`` are skipped when it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    corpus,
    e2e,
    fetch,
    keyed,
    lake,
    memory,
    ner_models,
    peers,
    scaling,
    stages,
    stream,
    stream_soak,
    stream_state,
    warc,
)
from bench.common import BENCH, TMP, log, rounded, skipped
from bench.report import headline, render_markdown

SECTIONS = (
    "stages", "e2e", "peers", "fetch", "lake", "memory", "scaling", "keyed", "ner_models", "warc", "stream",
    "stream_state", "soak",
)  # fmt: skip

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "repeats": 3,
        "dragnet_pages": 150,
        "fundus_pages": 50,
        "peer_repeats": 1,
        "fetch_hosts": 50,
        "fetch_pages_per_host": 20,
        "fetch_configs": {
            "defaults": ({}, 1),
            "aim": ({"max_workers": 64, "per_host": 1, "min_delay": 0.2}, 3),
        },
        "lake_articles": 100_000,
        "lake_days": 30,
        "lake_scheduled_runs": 24,
        "lake_articles_per_run": 150,
        "lake_small_commits": 1_000,  # a day of one-minute runs: connect() timed every 100
        "lake_articles_per_commit": 5,
        "lake_curve_every": 100,
        "lsh_signatures": 1_000_000,
        "lsh_queries": 2_000,
        "scaling_sizes": (1_000, 100_000),  # the 10k point is the 100k run's first part (see bench/scaling.py)
        "scaling_cap_seconds": 900,
        "warc_pages": 300,
        "warc_repeats": 3,
        "keyed_articles": 10_000,
        "ner_pages": 30,
        "ner_repeats": 3,
        "stream": stream.FULL,
        "stream_state_articles": 100_000,
        "soak": stream_soak.FULL,
    },
    "quick": {
        "repeats": 2,
        "dragnet_pages": 40,
        "fundus_pages": 10,
        "peer_repeats": 1,
        "fetch_hosts": 10,
        "fetch_pages_per_host": 10,
        "fetch_configs": {
            "defaults": ({}, 1),
            "aim": ({"max_workers": 64, "per_host": 1, "min_delay": 0.2}, 1),
        },
        "lake_articles": 1_000,
        "lake_days": 7,
        "lake_scheduled_runs": 4,
        "lake_articles_per_run": 25,
        "lake_small_commits": 30,
        "lake_articles_per_commit": 3,
        "lake_curve_every": 10,
        "lsh_signatures": 100_000,
        "lsh_queries": 1_000,
        "scaling_sizes": (200, 1_000),
        "scaling_cap_seconds": 90,
        "scaling_part_size": 500,  # so CI runs the parts path too
        "warc_pages": 40,
        "warc_repeats": 1,
        "keyed_articles": 1_000,
        "ner_pages": 5,
        "ner_repeats": 1,
        "stream_state_articles": 2_000,
        "soak": stream_soak.QUICK,
        "stream": stream.QUICK,  # about 85 s; left out of --quick (CI) unless --only names it
    },
}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def run_stages_and_e2e(profile: dict[str, Any], wanted: set[str], report: dict[str, Any]) -> None:
    repeats = profile["repeats"]
    pages: list[corpus.CorpusPage] = []
    if corpus.available():
        pages = corpus.dragnet(profile["dragnet_pages"]) + corpus.fundus(profile["fundus_pages"])
    report["pages"] = {
        "dragnet": sum(p.set == "dragnet" for p in pages),
        "fundus": sum(p.set == "fundus" for p in pages),
        "source": "../shared/corpora/extraction/dragnet (seeded sample, test split first) + publishers (Fundus)",
    }
    texts: dict[str, str] = {}
    if "stages" in wanted or "e2e" in wanted or "peers" in wanted:
        log("stages: feeds")
        result: dict[str, Any] = {"feeds": stages.bench_feeds(repeats)}
        if not pages:
            result["pages"] = skipped("../shared/corpora not found: no real pages for the page stages")
        else:
            lines = stages.input_records(pages)
            result["read"] = stages.bench_read(lines, repeats)
            log(f"stages: clean {len(pages)} pages x {repeats}")
            result["clean"], articles = stages.bench_clean(pages, repeats)
            texts = {a.url: a.text for a in articles}
            result["dedup_keys"] = stages.bench_dedup_keys(articles, repeats)
            log("stages: minhash, near dup, entities, stories, rows, parquet")
            result["minhash"] = stages.bench_minhash([a.text for a in articles], repeats)
            result["near_dup"] = stages.bench_near(articles, repeats)
            result["entities"], tagged = stages.bench_ner(articles, repeats)
            result["stories"] = stages.bench_stories(tagged, repeats)
            result.update(stages.bench_rows_and_parquet(tagged, repeats))
        report["sections"]["stages"] = result
    if "e2e" in wanted:
        if not pages:
            report["sections"]["e2e"] = skipped("../shared/corpora not found")
        else:
            path = e2e.write_lines(TMP / "e2e-pages.jsonl", stages.input_records(pages))
            pages_run = e2e.repeated(path, "pages", repeats)
            one = e2e.write_lines(
                TMP / "e2e-one.jsonl",
                [json.dumps({"url": "https://one.example/a", "text": "Kenya and Japan agreed. Talks continue."})],
            )
            fixed = e2e.run_once(one, "one")
            report["sections"]["e2e"] = {
                "what": f"newsbeam run --input on the same {len(pages)} real pages (html), fresh lake per run",
                "pages": len(pages),
                **pages_run,
                "articles_per_cpu_second": rounded(len(pages) / pages_run["median_cpu_seconds"]),
                "pages_per_second_wall": rounded(len(pages) / pages_run["median_run_seconds"]),
                "fixed_cost_run_seconds": fixed["run_seconds"],
                "fixed_cost_what": "the same run over one text record: Beam graph, model loads, lock, publication",
            }
    if "peers" in wanted:
        if not pages:
            report["sections"]["peers"] = skipped("../shared/corpora not found")
        else:
            clean = report["sections"]["stages"]["clean"]
            report["sections"]["peers"] = peers.run_peers(
                pages, texts, [clean["median_seconds"]], profile["peer_repeats"]
            )
            e2e_section = report["sections"].get("e2e", {})
            if "pages_per_second_wall" in e2e_section:
                report["sections"]["peers"]["newsbeam_pipeline"] = {
                    "extractor": "newsbeam full pipeline (run --input, every stage, lake published)",
                    "pages": len(pages),
                    "pages_per_second": e2e_section["pages_per_second_wall"],
                }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, no peers: < 3 minutes (CI)")
    parser.add_argument("--only", help=f"comma-separated sections among {', '.join(SECTIONS)}")
    parser.add_argument("--skip", help="comma-separated sections to leave out")
    parser.add_argument("--peers", action="store_true", help="run the peers section in --quick mode too")
    parser.add_argument("--scaling-cap", type=float, help="seconds before a scaling run is stopped")
    parser.add_argument(
        "--scaling-ner-model",
        default="gazetteer",
        help="--ner-model of the scaling runs (default: gazetteer, to fit the budget; 'default' = the packaged model)",
    )
    parser.add_argument(
        "--lake-commits", type=int, help="small commits in the lake section's connect() curve (full: 1000, ~6 min)"
    )
    parser.add_argument(
        "--stream-parts",
        help="comma-separated parts of the stream section (latency, batch, cadence, polling, websub; default all); "
        "bench.merge then replaces only those parts",
    )
    parser.add_argument("--report", type=Path, help="where to write the JSON report (markdown beside it)")
    args = parser.parse_args(argv)

    profile_name = "quick" if args.quick else "full"
    profile = dict(PROFILES[profile_name])
    if args.scaling_cap:
        profile["scaling_cap_seconds"] = args.scaling_cap
    if args.lake_commits is not None:
        profile["lake_small_commits"] = args.lake_commits
    wanted = set(SECTIONS)
    if args.quick and not args.peers:
        wanted.discard("peers")
    if args.quick:
        wanted -= {"stream", "soak"}  # minutes each: CI's quick bench names them with --only if it wants them
    if args.only:
        wanted = {s.strip() for s in args.only.split(",")} & set(SECTIONS)
    if args.skip:
        wanted -= {s.strip() for s in args.skip.split(",")}
    report_path = args.report or BENCH / ("report-quick.json" if args.quick else "report.json")
    if not args.report and (args.only or args.skip):
        report_path = TMP / "report-partial.json"  # a partial run never replaces a committed report

    TMP.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": profile_name,
        "sections_run": [s for s in SECTIONS if s in wanted],
        "machine": machine(),
        "profile": {k: v for k, v in profile.items() if k != "fetch_configs"},
        "tagger": stages.tagger_description()[0],
        "sections": {},
    }
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any) -> None:
        """Run one part; a failure is recorded in the report and the others still run (15 minutes are precious)."""
        begun = time.perf_counter()
        try:
            fn()
        except Exception:  # noqa: BLE001 - the report says what failed; the rest of the benchmark goes on
            log(f"{name} failed:\n{traceback.format_exc()}")
            report.setdefault("errors", {})[name] = traceback.format_exc(limit=5)
        finally:
            timings[name] = rounded(time.perf_counter() - begun, 1)

    timed("stages+e2e+peers", lambda: run_stages_and_e2e(profile, wanted, report))
    if "fetch" in wanted:
        log("fetch")
        configs = profile["fetch_configs"]

        def do_fetch() -> None:
            section: dict[str, Any] = {}
            for name, (overrides, repeats) in configs.items():
                log(f"fetch: {name} {overrides or '(HttpConfig defaults)'}")
                part = fetch.run_fetch(
                    profile["fetch_hosts"], profile["fetch_pages_per_host"], 0.1, {name: overrides}, repeats
                )
                section.update({k: v for k, v in part.items() if k != name} | {name: part[name]})
            report["sections"]["fetch"] = section

        timed("fetch", do_fetch)
    if "lake" in wanted:
        timed(
            "lake",
            lambda: report["sections"].__setitem__(
                "lake",
                lake.run_lake(
                    profile["lake_articles"],
                    profile["lake_scheduled_runs"],
                    profile["lake_articles_per_run"],
                    days=profile["lake_days"],
                    commits=profile["lake_small_commits"],
                    per_commit=profile["lake_articles_per_commit"],
                    curve_every=profile["lake_curve_every"],
                ),
            ),
        )
    if "memory" in wanted:
        log(f"memory: LSH index at {profile['lsh_signatures']:,} signatures")
        timed(
            "memory",
            lambda: report["sections"].__setitem__(
                "memory", {"lsh_index": memory.run_lsh(profile["lsh_signatures"], profile["lsh_queries"])}
            ),
        )
    if "scaling" in wanted:
        timed(
            "scaling",
            lambda: report["sections"].__setitem__(
                "scaling",
                scaling.run_scaling(
                    profile["scaling_sizes"],
                    profile["scaling_cap_seconds"],
                    None if args.scaling_ner_model == "default" else args.scaling_ner_model,
                    profile.get("scaling_part_size"),
                ),
            ),
        )
    if "keyed" in wanted:
        timed("keyed", lambda: report["sections"].__setitem__("keyed", keyed.measure(profile["keyed_articles"])))
    if "ner_models" in wanted:
        timed(
            "ner_models",
            lambda: report["sections"].__setitem__(
                "ner_models", ner_models.measure(profile["ner_pages"], profile["ner_repeats"])
            ),
        )
    if "warc" in wanted:
        if corpus.available():
            timed(
                "warc",
                lambda: report["sections"].__setitem__(
                    "warc", warc.bench(profile["warc_pages"], profile["warc_repeats"])
                ),
            )
        else:
            report["sections"]["warc"] = skipped("../shared corpora absent")
    if "stream_state" in wanted:
        timed(
            "stream_state",
            lambda: report["sections"].__setitem__(
                "stream_state", stream_state.measure(profile["stream_state_articles"])
            ),
        )
    if "soak" in wanted:
        timed("soak", lambda: report["sections"].__setitem__("soak", stream_soak.run_soak(profile["soak"])))
    if "stream" in wanted:
        parts = [p.strip() for p in args.stream_parts.split(",")] if args.stream_parts else None
        if parts:
            report["stream_parts"] = parts
        timed(
            "stream",
            lambda: report["sections"].__setitem__(
                "stream", stream.run_stream_section(profile["stream"], *([parts] if parts else []))
            ),
        )
    report["section_seconds"] = timings
    report["total_seconds"] = rounded(time.perf_counter() - started, 1)
    report["headline"] = headline(report)
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    report_path.with_suffix(".md").write_text(render_markdown(report))
    log(f"wrote {report_path} and {report_path.with_suffix('.md')} in {report['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
