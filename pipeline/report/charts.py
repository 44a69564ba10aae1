"""The report's charts as Plotly specs (``{data, layout}``), built from ``report_data``'s numbers.

Plotly reads a little HTML in labels (``<br>``, ``<a>``), so every string from the lake goes through
``chart_text`` first and is shown as text.
"""

from __future__ import annotations

import html
from collections.abc import Callable
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


def _series(
    name: str, rows: list[dict[str, Any]], x: Callable[[dict[str, Any]], Any], y: str, **trace: Any
) -> dict[str, Any]:
    """One Plotly trace (a bar unless ``trace`` says otherwise): ``x(row)`` against ``row[y]`` for each row."""
    return {"type": "bar", "name": name, "x": [x(row) for row in rows], "y": [row[y] for row in rows], **trace}


def _started(row: dict[str, Any]) -> Any:
    return row["started_at"]


def _feed(row: dict[str, Any]) -> str:
    return chart_text(row["feed_url"])


def _site(row: dict[str, Any]) -> str:
    return chart_text(row["site"])


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
    line = {"type": "scatter", "mode": "lines+markers"}
    return {
        "runs": {
            "data": [
                _series("articles", runs, _started, "articles"),
                _series("dead letters", runs, _started, "dead_letters"),
                _series("duration (s)", runs, _started, "duration_s", yaxis="y2", **line),
            ],
            "layout": _layout(
                "Runs and stream windows", yaxis2={"overlaying": "y", "side": "right", "title": {"text": "s"}}
            ),
        },
        "articles_per_hour": {
            "data": [
                _series(
                    chart_text(source), [r for r in per_hour if r["source"] == source], lambda r: r["hour"], "articles"
                )
                for source in sources
            ],
            "layout": _layout("Articles per hour, by source", barmode="stack"),
        },
        "feed_health": {
            "data": [
                _series("hours since last new article", feeds, _feed, "hours_since_new"),
                _series("usual gap (hours)", feeds, _feed, "usual_gap_hours"),
            ],
            "layout": _layout("Feed staleness", xaxis={"showticklabels": False}),
        },
        "feed_latency": {
            "data": [
                _series("median fetch (ms)", slowest, _feed, "median_fetch_ms"),
                _series("last fetch (ms)", slowest, _feed, "last_fetch_ms"),
            ],
            "layout": _layout("Feed fetch latency, slowest feeds", xaxis={"showticklabels": False}),
        },
        "drift": {
            "data": [
                _series("earlier pages broken", drift, _site, "earlier_broken_share"),
                _series("recent pages broken", drift, _site, "recent_broken_share"),
            ],
            "layout": _layout("Layout drift: share of pages whose extraction looks broken", yaxis={"range": [0, 1]}),
        },
        "dead_letters": {
            "data": [
                _series(
                    chart_text(stage),
                    [r for r in letters if r["stage"] == stage],
                    lambda r: chart_text(r["error_type"]),
                    "count",
                )
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
                _series(
                    f"{kind} copies", data["duplicates"], lambda r: chart_text(r["run_id"]), f"{kind}_share", **line
                )
                for kind in ("exact", "near")
            ],
            "layout": _layout(
                "Share of inputs that were exact or near copies, per run", xaxis={"showticklabels": False}
            ),
        },
    }
