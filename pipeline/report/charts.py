"""The report's charts as Plotly specs (``{data, layout}``), built from ``report_data``'s numbers.

Plotly reads a little HTML in labels (``<br>``, ``<a>``), so every string from the lake goes through
``chart_text`` first and is shown as text.
"""

from __future__ import annotations

import html
from typing import Any

CHARTS = (
    "runs",
    "articles_per_hour",
    "feed_health",
    "feed_latency",
    "drift",
    "dead_letters",
    "entities",
    "stories",
    "duplicates",
)
"""Chart names, in page order: each sits in a ``data-chart="<name>"`` element."""


def chart_text(value: Any) -> str:
    """A label for Plotly, which reads tags and entities in labels: shown as text, never as markup."""
    return html.escape("" if value is None else str(value), quote=True)


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": chart_text(title)},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
        "height": 340,
        **extra,
    }


def chart_specs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Plotly ``{data, layout}`` per chart name, from the report's numbers."""
    runs = data["runs"]
    per_hour = data["articles_per_hour"]
    sources = sorted({row["source"] for row in per_hour})
    feeds = [f for f in data["feeds"] if f["hours_since_new"] is not None][:40]
    timed = [f for f in data["feeds"] if f.get("median_fetch_ms") is not None]
    slowest = sorted(timed, key=lambda f: -f["median_fetch_ms"])[:40]
    drift = data["drift"][:30]
    letters = data["dead_letters"]
    stages = sorted({row["stage"] for row in letters})
    today = data["today"]
    return {
        "runs": {
            "data": [
                {
                    "type": "bar",
                    "name": "articles",
                    "x": [r["started_at"] for r in runs],
                    "y": [r["articles"] for r in runs],
                },
                {
                    "type": "bar",
                    "name": "dead letters",
                    "x": [r["started_at"] for r in runs],
                    "y": [r["dead_letters"] for r in runs],
                },
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": "duration (s)",
                    "yaxis": "y2",
                    "x": [r["started_at"] for r in runs],
                    "y": [r["duration_s"] for r in runs],
                },
            ],
            "layout": _layout(
                "Runs and stream windows", yaxis2={"overlaying": "y", "side": "right", "title": {"text": "s"}}
            ),
        },
        "articles_per_hour": {
            "data": [
                {
                    "type": "bar",
                    "name": chart_text(source),
                    "x": [r["hour"] for r in per_hour if r["source"] == source],
                    "y": [r["articles"] for r in per_hour if r["source"] == source],
                }
                for source in sources
            ],
            "layout": _layout("Articles per hour, by source", barmode="stack"),
        },
        "feed_health": {
            "data": [
                {
                    "type": "bar",
                    "name": "hours since last new article",
                    "x": [chart_text(f["feed_url"]) for f in feeds],
                    "y": [f["hours_since_new"] for f in feeds],
                },
                {
                    "type": "bar",
                    "name": "usual gap (hours)",
                    "x": [chart_text(f["feed_url"]) for f in feeds],
                    "y": [f["usual_gap_hours"] for f in feeds],
                },
            ],
            "layout": _layout("Feed staleness", xaxis={"showticklabels": False}),
        },
        "feed_latency": {
            "data": [
                {
                    "type": "bar",
                    "name": "median fetch (ms)",
                    "x": [chart_text(f["feed_url"]) for f in slowest],
                    "y": [f["median_fetch_ms"] for f in slowest],
                },
                {
                    "type": "bar",
                    "name": "last fetch (ms)",
                    "x": [chart_text(f["feed_url"]) for f in slowest],
                    "y": [f["last_fetch_ms"] for f in slowest],
                },
            ],
            "layout": _layout("Feed fetch latency, slowest feeds", xaxis={"showticklabels": False}),
        },
        "drift": {
            "data": [
                {
                    "type": "bar",
                    "name": "earlier pages broken",
                    "x": [chart_text(d["site"]) for d in drift],
                    "y": [d["earlier_broken_share"] for d in drift],
                },
                {
                    "type": "bar",
                    "name": "recent pages broken",
                    "x": [chart_text(d["site"]) for d in drift],
                    "y": [d["recent_broken_share"] for d in drift],
                },
            ],
            "layout": _layout("Layout drift: share of pages whose extraction looks broken", yaxis={"range": [0, 1]}),
        },
        "dead_letters": {
            "data": [
                {
                    "type": "bar",
                    "name": chart_text(stage),
                    "x": [chart_text(r["error_type"]) for r in letters if r["stage"] == stage],
                    "y": [r["count"] for r in letters if r["stage"] == stage],
                }
                for stage in stages
            ],
            "layout": _layout("Dead letters by stage and error", barmode="stack"),
        },
        "entities": {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [chart_text(e["name"]) for e in today["entities"]][::-1],
                    "x": [e["articles"] for e in today["entities"]][::-1],
                }
            ],
            "layout": _layout(
                f"Top entities of {today['day'] or 'the day'}", margin={"l": 160, "r": 20, "t": 40, "b": 40}
            ),
        },
        "stories": {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [chart_text((s["title"] or s["story_id"])[:60]) for s in today["stories"]][::-1],
                    "x": [s["articles"] for s in today["stories"]][::-1],
                }
            ],
            "layout": _layout(
                f"Top stories of {today['day'] or 'the day'}", margin={"l": 320, "r": 20, "t": 40, "b": 40}
            ),
        },
        "duplicates": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": f"{kind} copies",
                    "x": [chart_text(r["run_id"]) for r in data["duplicates"]],
                    "y": [r[f"{kind}_share"] for r in data["duplicates"]],
                }
                for kind in ("exact", "near")
            ],
            "layout": _layout(
                "Share of inputs that were exact or near copies, per run", xaxis={"showticklabels": False}
            ),
        },
    }
