"""The report's headline (numbers against their aims, the biggest costs per article) and its markdown.

The JSON report holds everything; the markdown is the short version a person reads first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import lake_report, stream_report
from bench.common import dig, headline_row, markdown_table, rounded

PLUMBING_AIM = 1.10


def costs_per_article(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Milliseconds per input page of each stage (stage work over the pages that entered the run),
    plus the plumbing: end-to-end time not spent in any stage's own work."""
    stages = dig(report, "sections", "stages") or {}
    pages = dig(report, "sections", "e2e", "pages") or dig(stages, "clean", "items")
    if not pages or "clean" not in stages:
        return []
    keys = {
        "read JSONL": "read",
        "clean (trafilatura)": "clean",
        "near dup (MinHash + LSH)": "near_dup",
        "entities (spaCy)": "entities",
        "stories": "stories",
        "lake rows": "rows",
        "Parquet write": "parquet",
    }
    parts = {name: dig(stages, key, "median_seconds") for name, key in keys.items()}
    parts["stage setup (models)"] = (dig(stages, "clean", "setup_seconds") or 0) + (
        dig(stages, "entities", "setup_seconds") or 0
    )
    parts[WARM_UP] = sum(_warm_up(stages.get(key) or {}) for key in keys.values())
    costs = [
        {"cost": name, "ms_per_page": rounded(seconds / pages * 1000)} for name, seconds in parts.items() if seconds
    ]
    total = sum(seconds for seconds in parts.values() if seconds)
    run = dig(report, "sections", "e2e", "median_run_seconds")
    if run:
        costs.append(
            {
                "cost": "plumbing (Beam, shuffles, pickling, repeated work, publication)",
                "ms_per_page": rounded((run - total) / pages * 1000),
            }
        )
    return sorted(costs, key=lambda c: -c["ms_per_page"])


WARM_UP = "stage warm-up (first pass: lazy imports, caches, new words)"


def _warm_up(stage: dict[str, Any]) -> float:
    """What the stage's first pass cost beyond its median: a fresh run's process pays it once.

    The end-to-end runs are fresh processes, so they pay it; the stage medians (warm) do not.
    Counting it as stage cost, not plumbing, compares like with like.
    """
    first, med = stage.get("first_seconds"), stage.get("median_seconds")
    if first is None or med is None:
        return 0.0
    return max(0.0, float(first) - float(med))


_row = headline_row


def headline(report: dict[str, Any]) -> dict[str, Any]:
    s = report.get("sections", {})
    rows: list[dict[str, Any]] = []
    add = rows.append
    if v := dig(s, "stages", "feeds", "rss_50_items", "per_second"):
        add(
            _row(
                "feeds parsed/s (50-item RSS)",
                v,
                "feeds/s",
                note=f"{dig(s, 'stages', 'feeds', 'rss_50_items', 'entries_per_second')} entries/s",
            )
        )
    if v := dig(s, "stages", "feeds", "corpus", "per_second"):
        add(_row("feeds parsed/s (feedparser test corpus)", v, "feeds/s"))
    for name, key, unit in (
        ("pages cleaned/s", "clean", "pages/s"),
        ("MinHash signatures/s", "minhash", "signatures/s"),
        ("near-dup stage", "near_dup", "articles/s"),
        ("stories stage", "stories", "articles/s"),
    ):
        if v := dig(s, "stages", key, "per_second"):
            add(_row(name, v, unit))
    for name, key, note in (
        ("trafilatura (with metadata)", "trafilatura_with_metadata", "every page"),
        ("trafilatura recall mode", "trafilatura_recall_mode", "only pages whose body is not prose"),
        ("rs-trafilatura", "rs_trafilatura", "not used by cleaning; measured when installed"),
    ):
        if v := dig(s, "stages", "clean", "extractors_ms_per_page", key):
            add(_row(f"clean: {name} ms/page", v, "ms/page", note=f"alone, one warm pass; {note}"))
    if v := dig(s, "stages", "entities", "tokens_per_second"):
        add(_row("NER tokens/s", v, "tokens/s", note=str(dig(s, "stages", "entities", "tagger"))))
    if v := dig(s, "stages", "parquet", "per_second"):
        add(_row("Parquet rows/s (real articles, all tables)", v, "rows/s"))
    e2e = s.get("e2e") or {}
    stage_total = sum(c["ms_per_page"] for c in costs_per_article(report) if not c["cost"].startswith("plumbing"))
    if e2e.get("median_run_seconds") and stage_total:
        ratio = rounded(e2e["median_run_seconds"] * 1000 / e2e["pages"] / stage_total)
        add(
            _row(
                "plumbing overhead (end to end / sum of stages)",
                ratio,
                "x",
                f"<= {PLUMBING_AIM}",
                ratio <= PLUMBING_AIM,
            )
        )
    if v := e2e.get("articles_per_cpu_second"):
        add(
            _row(
                "end to end, real pages",
                v,
                "pages per CPU-second",
                note=f"{e2e.get('pages_per_second_wall')} pages/s wall",
            )
        )
    peers = s.get("peers") or {}
    base = dig(peers, "newsbeam_clean", "pages_per_second")
    for name in ("news-please", "newspaper4k", "fundus"):
        if (rate := dig(peers, name, "pages_per_second")) and base:
            f1 = dig(peers, name, "quality", "dragnet", "mean_f1") or dig(peers, name, "quality", "fundus", "mean_f1")
            add(
                _row(
                    f"newsbeam cleaning speed / {name}",
                    rounded(base / rate),
                    "x",
                    note=f"{name} {rate} pages/s, F1 {f1}",
                )
            )
    if f1 := dig(peers, "newsbeam_clean", "quality", "dragnet", "mean_f1"):
        add(_row("newsbeam extraction F1 (Dragnet)", f1))
    fetch = s.get("fetch") or {}
    for name in ("defaults", "wide_pool", "aim"):
        if part := fetch.get(name):
            limits = part["in_flight_limit_respected"] and part["rate_limit_respected"]
            add(
                _row(
                    f"fetch {fetch['pages']} pages / {fetch['hosts']} hosts: {name}",
                    part["median_wall_seconds"],
                    "s",
                    "<= 5" if name == "aim" else "",
                    part["median_wall_seconds"] <= 5 if name == "aim" else None,
                    f"{part['config']}; floor {part['theoretical_floor_seconds']} s; limits respected: {limits}",
                )
            )
    rows.extend(lake_report.headline_rows(s.get("lake") or {}))
    dedup = s.get("keyed") or {}
    if ratio := dedup.get("keyed_over_global_cpu"):
        runs = dedup["runs"]
        add(
            _row(
                f"run --dedup keyed / --dedup global, CPU, {dedup['articles']:,} synthetic articles",
                ratio,
                "x",
                note=f"{runs['keyed']['cpu_ms_per_article']} vs {runs['global']['cpu_ms_per_article']} CPU ms/article "
                f"end to end; peak RSS {runs['keyed']['max_rss_mib']} vs {runs['global']['max_rss_mib']} MiB; same "
                f"articles and duplicates counts: {'yes' if dedup['same_counts'] else 'no'}",
            )
        )
    ner = s.get("ner_models") or {}
    for model, figures in (ner.get("models") or {}).items():
        add(
            _row(
                f"NER --ner-model {model}, one core",
                figures["ms_per_1000_words"],
                "ms/1,000 words",
                "<= 60" if model == "fast" else "",
                figures["ms_per_1000_words"] <= 60 if model == "fast" else None,
                f"{figures['ms_per_article']} ms per article over {ner['articles']} English publisher pages "
                f"({ner['mean_words_per_article']} words on average); the whole tagger path (model, gazetteer, "
                "linking, salience)",
            )
        )
    warc = s.get("warc") or {}
    if ratio := warc.get("warc_gz_vs_jsonl_read_and_clean"):
        rate = dig(warc, "read_and_clean", "warc.gz", "per_cpu_second")
        jsonl = dig(warc, "read_and_clean", "jsonl", "per_cpu_second")
        add(
            _row(
                "WARC (.warc.gz) read + clean / JSONL read + clean",
                ratio,
                "x",
                note=f"{rate} vs {jsonl} pages per CPU-second, {warc.get('pages')} real pages; WARC read alone "
                f"{dig(warc, 'read', 'warc.gz', 'per_cpu_second')} pages per CPU-second",
            )
        )
    rows.extend(stream_report.headline_rows(s.get("stream") or {}))
    state = s.get("stream_state") or {}
    if state.get("articles"):
        n = state["articles"]
        for key, label in (("full", "within the horizon"), ("after_half_expired", "after half expired")):
            part = state[key]
            add(
                _row(
                    f"stream keyed state, {n:,} articles {label}",
                    part["total_mib"],
                    "MiB",
                    note=f"{rounded(part['total_mib'] * 2**20 / 1024 / (n if key == 'full' else n / 2), 2)} KiB per "
                    f"article; {part['mib']}",
                )
            )
    soak = s.get("soak") or {}
    if soak.get("trend_mib_per_minute") is not None:
        add(
            _row(
                f"stream soak {soak['setup']['minutes']:g} min: memory trend after the first horizon",
                soak["trend_mib_per_minute"],
                "MiB/min",
                "adds <= 10 % of the mean",
                bool(soak["flat"]),
                f"Python + Prism RSS {soak['first_after_horizon_mib']} -> {soak['last_mib']} MiB (mean "
                f"{soak['mean_after_horizon_mib']}); the trend adds {soak['trend_added_share']:.0%}; horizon "
                f"{soak['setup']['horizon_seconds']:g} s; {soak['published']} entries published",
            )
        )
    scaling = s.get("scaling") or {}
    largest = next((r for r in reversed(scaling.get("runs", [])) if r["articles"] >= 100_000), None)
    if largest:
        rss, finished = largest["max_rss_mib"], largest.get("finished")
        verdict = rss <= 2048 if finished else (False if rss > 2048 else None)
        note = "" if finished else "run stopped at the cap: a lower bound"
        add(_row("peak RSS, 100k-article batch run", rss, "MiB", "<= 2048", verdict, note))
    if v := dig(s, "memory", "lsh_index", "peak_rss_mib"):
        add(_row(f"peak RSS, LSH index at {dig(s, 'memory', 'lsh_index', 'signatures'):,} signatures", v, "MiB"))
    for run in scaling.get("runs", []):
        if first := (run.get("parts") or [None])[0]:
            add(
                _row(
                    f"end to end {first['records']:,} synthetic articles (first part of the {run['articles']:,} run)",
                    first["ms_per_article"],
                    "ms/article",
                    note=f"{first['cpu_ms_per_article']} CPU ms/article, {first['peak_rss_mib_so_far']} MiB peak; "
                    "a run on an empty lake, as a standalone run would be",
                )
            )
        if run.get("finished"):
            add(
                _row(
                    f"end to end {run['articles']:,} synthetic articles",
                    run["ms_per_article"],
                    "ms/article",
                    note=f"{run['cpu_ms_per_article']} CPU ms/article, {run['max_rss_mib']} MiB peak",
                )
            )
        else:
            projected = f"; projected {run['projected_seconds']} s" if run.get("projected_seconds") else ""
            add(
                _row(
                    f"end to end {run['articles']:,} synthetic articles",
                    "not finished",
                    note=run.get("why", "") + projected,
                )
            )
    return {"rows": rows, "costs_per_article": costs_per_article(report)}


_table = markdown_table


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    head = report.get("headline", {})
    out = [
        f"# newsbeam benchmark ({report['mode']}, {report['date']})",
        "",
        f"{m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, load average at start "
        f"{m['load_average_at_start']}; total {report['total_seconds']:.0f} s. Tagger: {report['tagger']}. "
        "Times are medians over repeats on a shared machine: compare ratios from the same run, not absolute times "
        "across runs. Everything is in `report.json` beside this file.",
        "",
        "## Headline",
        "",
    ]
    ok: Callable[[Any], str] = lambda v: "" if v is None else ("yes" if v else "**no**")  # noqa: E731
    out.append(
        _table(
            ["metric", "value", "unit", "aim", "met", "note"],
            [[r["metric"], r["value"], r["unit"], r["aim"], ok(r["ok"]), r["note"]] for r in head.get("rows", [])],
        )
    )
    costs = head.get("costs_per_article", [])
    if costs:
        out += ["", "## Cost per page, real pages, end to end (biggest first)", ""]
        out.append(_table(["cost", "ms per page"], [[c["cost"], c["ms_per_page"]] for c in costs]))
    sections = report.get("sections", {})
    peers = sections.get("peers") or {}
    if peers and "skipped" not in peers:
        out += ["", "## Peers on the same pages (CPU only, one process each)", ""]
        rows = []
        for name, part in peers.items():
            if not isinstance(part, dict):
                continue
            if "skipped" in part:
                rows.append([name, "", "", "", "", part["skipped"]])
                continue
            quality = part.get("quality", {})
            rows.append(
                [
                    f"{name} {part.get('version', '')}".strip(),
                    part.get("pages", ""),
                    part.get("pages_per_second", ""),
                    dig(quality, "dragnet", "mean_f1") or "",
                    dig(quality, "fundus", "mean_f1")
                    or dig(part, "quality_on_fundus_pages", "fundus", "mean_f1")
                    or "",
                    part.get("extractor", ""),
                ]
            )
        out.append(_table(["extractor", "pages", "pages/s", "F1 Dragnet", "F1 Fundus pages", "note"], rows))
    out += lake_report.markdown(sections.get("lake") or {})
    out += stream_report.markdown(sections.get("stream") or {})
    scaling = sections.get("scaling") or {}
    if scaling.get("runs"):
        out += ["", "## Scaling (synthetic `--input` text records: cleaning skipped)", "", scaling.get("what", ""), ""]
        out.append(
            _table(
                ["articles", "run s", "ms/article", "CPU ms/article", "peak RSS MiB", "files", "note"],
                [
                    [
                        f"{r['articles']:,}",
                        r.get("run_seconds", ""),
                        r.get("ms_per_article", ""),
                        r.get("cpu_ms_per_article", ""),
                        r["max_rss_mib"],
                        r.get("files", ""),
                        r.get("why", "")
                        + (f" projected {r['projected_seconds']} s" if r.get("projected_seconds") else ""),
                    ]
                    for r in scaling["runs"]
                ],
            )
        )
    for run in scaling.get("runs", []):
        if run.get("parts"):
            out += [
                "",
                f"Parts of the {run['articles']:,} run (each published as its own run; the lake grows part by part; "
                "peak RSS is the process's so far):",
                "",
                _table(
                    ["part", "records", "s", "ms/article", "CPU ms/article", "peak RSS MiB so far"],
                    [
                        [
                            index,
                            f"{p['records']:,}",
                            p["seconds"],
                            p["ms_per_article"],
                            p["cpu_ms_per_article"],
                            p["peak_rss_mib_so_far"],
                        ]
                        for index, p in enumerate(run["parts"], start=1)
                    ],
                ),
            ]
    for name, error in (report.get("errors") or {}).items():
        out += ["", f"**{name} failed:** `{error.strip().splitlines()[-1]}` (traceback in the JSON)"]
    out += ["", f"Section times (s): {report.get('section_seconds')}", ""]
    return "\n".join(out)
