"""The streaming section in the report: headline rows against the aims, and its markdown tables."""

from __future__ import annotations

from typing import Any

from bench.common import dig, headline_row, markdown_table
from bench.stream_websub import summary as websub_summary

LATENCY_P50_AIM = 10.0
LATENCY_P95_AIM = 20.0
POLLS_AIM = 200.0
"""Polls per second on one core, i.e. at most 5 CPU ms per poll, Python and Prism together."""


def _setup(part: dict[str, Any], setup: dict[str, Any]) -> str:
    latency = setup.get("latency") or {}
    return (
        f"{latency.get('feeds')} feeds / {latency.get('hosts')} hosts, Poisson {latency.get('rate')}/s for "
        f"{part.get('measured_seconds')} s measured"
    )


def _once(part: dict[str, Any]) -> str:
    return f"{part['published']} published, {part['in_lake']} in lake, {part['duplicate_rows']} duplicate rows" + (
        "" if part["exactly_once"] else f"; missing {part['missing']}"
    )


def headline_rows(section: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if not section or "skipped" in section:
        return rows
    setup = section.get("setup") or {}
    stream = section.get("latency") or {}
    if "latency_seconds" in stream:
        lat = stream["latency_seconds"]
        late = stream.get("not_readable_in_time") or 0
        where = _setup(stream, setup) + (f"; {late} entries not readable within the drain cap" if late else "")
        rows.append(
            headline_row(
                "stream latency p50 (published -> readable via connect())",
                lat["p50"],
                "s",
                f"<= {LATENCY_P50_AIM:g}",
                lat["p50"] is not None and lat["p50"] <= LATENCY_P50_AIM and not late,
                f"{where}; {_once(stream)}",
            )
        )
        rows.append(
            headline_row(
                "stream latency p95",
                lat["p95"],
                "s",
                f"<= {LATENCY_P95_AIM:g}",
                lat["p95"] is not None and lat["p95"] <= LATENCY_P95_AIM and not late,
                f"max {lat['max']} s; by commit record p50/p95 {dig(stream, 'latency_by_commit_record_seconds', 'p50')}"
                f"/{dig(stream, 'latency_by_commit_record_seconds', 'p95')} s",
            )
        )
        rows.append(
            headline_row(
                "stream exactly once (every published URL in the lake once)",
                "yes" if stream["exactly_once"] else "no",
                aim="all, once",
                ok=stream["exactly_once"],
                note=_once(stream),
            )
        )
    batch = section.get("batch") or {}
    if "latency_seconds" in batch:
        lat = batch["latency_seconds"]
        rows.append(
            headline_row(
                f"batch loop latency p50 / p95 (run every {dig(setup, 'latency', 'every')} s)",
                f"{lat['p50']} / {lat['p95']}",
                "s",
                note=f"max {lat['max']} s; median run {batch.get('median_run_seconds')} s; {_once(batch)}",
            )
        )
    cadence = section.get("cadence") or {}
    if "latency_seconds" in cadence:
        lat = cadence["latency_seconds"]
        loop = (batch.get("latency_seconds") or {}).get("p50")
        rows.append(
            headline_row(
                "stream at the loop's cadence (every feed every 2 s, commit every 2 s): latency p50 / p95",
                f"{lat['p50']} / {lat['p95']}",
                "s",
                aim="p50 below the batch loop's",
                ok=loop is not None and lat["p50"] < loop,
                note=f"batch loop p50 {loop} s; CPU {cadence.get('cpu_ms_per_article')} ms/article; {_once(cadence)}",
            )
        )
    for name, part in (("stream", stream), ("batch loop", batch)):
        if part.get("cpu_ms_per_article") is not None:
            by = ", ".join(f"{k} {v}" for k, v in (part.get("cpu_seconds_by_process") or {}).items())
            rows.append(
                headline_row(
                    f"{name}: CPU per article (polling and idle included)",
                    part["cpu_ms_per_article"],
                    "CPU ms/article",
                    note=f"{part['cpu_seconds']} CPU s ({by}) for {part['published_measured']} articles",
                )
            )
    if peak := stream.get("peak_rss_mib"):
        rows.append(
            headline_row(
                "stream peak RSS, Python + Prism (after the latency run)",
                peak["sum_of_peaks"],
                "MiB",
                note=f"Python {peak['python']} MiB, Prism {peak['prism']} MiB (VmHWM each); "
                f"largest sampled total {peak['largest_sampled_total']} MiB",
            )
        )
    polling = section.get("polling") or {}
    if polling.get("polls_per_second") is not None:
        per_core = polling.get("polls_per_cpu_second")
        committing = bool(polling.get("committing"))
        rows.append(
            headline_row(
                f"stream polling {polling['feeds']:,} feeds / {polling['hosts']} hosts: polls/s per core",
                per_core,
                "polls per CPU-s",
                f">= {POLLS_AIM:g}, while committing",
                per_core is not None and per_core >= POLLS_AIM and committing,
                f"{polling['polls_per_second']} polls/s sustained using {polling['cores_used']} cores "
                f"({polling['cpu_ms_per_poll']} CPU ms/poll: "
                + ", ".join(f"{k} {v} s" for k, v in (polling.get("cpu_seconds_by_process") or {}).items())
                + f"); demand {polling['demand_polls_per_second']}/s; 304 share {polling['not_modified_share']}; "
                f"{polling.get('windows_committed')} windows committed in it (commit interval makes "
                f"{polling.get('windows_expected')}), {polling.get('entries_readable')} of "
                f"{polling.get('entries_published')} entries published meanwhile readable before the stop",
            )
        )
    websub = section.get("websub") or {}
    if "push_to_lake_seconds" in websub:
        lat = websub["push_to_lake_seconds"]
        late = dig(websub, "not_readable_within_seconds", "count") or 0
        rows.append(
            headline_row(
                "WebSub push -> readable via connect(), p50 / p95",
                f"{lat['p50']} / {lat['p95']}",
                "s",
                f"p50 <= {LATENCY_P50_AIM:g}, none lost",
                lat["p50"] is not None and lat["p50"] <= LATENCY_P50_AIM and not late,
                websub_summary(websub),
            )
        )
    for name in ("latency", "batch", "polling", "websub"):
        if error := (section.get(name) or {}).get("error"):
            rows.append(headline_row(f"stream section: {name}", "failed", note=error))
    return rows


def markdown(section: dict[str, Any]) -> list[str]:
    if not section:
        return []
    if "skipped" in section:
        return ["", "## Streaming", "", f"Skipped: {section['skipped']}"]
    setup = section.get("setup") or {}
    lat = setup.get("latency") or {}
    out = [
        "",
        "## Streaming (`newsbeam stream` on Prism, loopback live site)",
        "",
        f"{lat.get('feeds')} feeds on {lat.get('hosts')} hosts (one loopback address each), entries published on a "
        f"Poisson schedule at {lat.get('rate')}/s. Stream: min/max interval {lat.get('min_interval')}/"
        f"{lat.get('max_interval')} s, tick {lat.get('tick')} s, commit interval {lat.get('commit_interval')} s. "
        f"Batch loop: `pipeline.run.run` over the feed list every {lat.get('every')} s (at once if a run took "
        f"longer), one warm process. Latency: {setup.get('latency_measure')}. CPU: the child process and Prism "
        "(from /proc) over the measured period, divided by the articles published in it.",
        "",
    ]
    rows = []
    for name in ("latency", "batch"):
        part = section.get(name) or {}
        if "latency_seconds" not in part:
            continue
        lat_s, commit = part["latency_seconds"], part["latency_by_commit_record_seconds"]
        peak = part.get("peak_rss_mib") or {}
        rows.append(
            [
                "stream" if name == "latency" else "batch loop",
                part["measured_seconds"],
                f"{part['published']} / {part['in_lake']} / {part['duplicate_rows']}",
                f"{lat_s['p50']} / {lat_s['p95']} / {lat_s['max']}",
                f"{commit['p50']} / {commit['p95']}",
                part["cpu_ms_per_article"],
                part["feed_polls_per_second"],
                peak.get("sum_of_peaks", ""),
                part.get("warm_up_seconds", ""),
            ]
        )
    if rows:
        out.append(
            markdown_table(
                [
                    "mode",
                    "measured s",
                    "published / in lake / dup rows",
                    "latency p50 / p95 / max s",
                    "by commit record p50 / p95 s",
                    "CPU ms/article",
                    "feed polls/s",
                    "peak RSS MiB",
                    "warm-up s",
                ],
                rows,
            )
        )
    websub = section.get("websub") or {}
    if "push_to_lake_seconds" in websub:
        out += ["", websub_summary(websub) + "."]
    polling = section.get("polling") or {}
    if polling.get("polls_per_second") is not None:
        out += [
            "",
            f"Polling at scale: {polling['feeds']:,} feeds on {polling['hosts']} hosts, every "
            f"{polling['interval_seconds']} s (demand {polling['demand_polls_per_second']} polls/s), commit interval "
            f"{polling.get('commit_interval_seconds')} s, {polling['steady_seconds']} s steady after the first round "
            f"({polling['first_round_seconds']} s); entries published at {polling.get('publish_rate')}/s meanwhile. "
            "Polls/s and CPU over the steady period; windows committed in it (and how many the commit interval "
            f"makes); entries published in it up to {polling.get('entry_grace_seconds')} s before its end, and how "
            "many of them were readable before the stop:",
            "",
            markdown_table(
                [
                    "polls/s",
                    "slowest 5 s",
                    "304 share",
                    "new TCP connections/poll",
                    "cores used",
                    "CPU ms/poll",
                    "polls per CPU-s",
                    "CPU s by process",
                    "windows (expected)",
                    "entries readable / published",
                    "their latency p50 / max s",
                ],
                [
                    [
                        polling["polls_per_second"],
                        polling["min_5s_polls_per_second"],
                        polling["not_modified_share"],
                        polling.get("new_connections_per_poll"),
                        polling["cores_used"],
                        polling["cpu_ms_per_poll"],
                        polling["polls_per_cpu_second"],
                        polling.get("cpu_seconds_by_process"),
                        f"{polling.get('windows_committed')} ({polling.get('windows_expected')})",
                        f"{polling.get('entries_readable')} / {polling.get('entries_published')}",
                        "{} / {}".format(*(dig(polling, "entry_latency_seconds", k) for k in ("p50", "max"))),
                    ]
                ],
            ),
        ]
    return out
