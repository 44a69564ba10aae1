"""One self-contained HTML page from ``report_data``: Plotly charts, tables, no network.

Everything from the lake (titles, URLs, feed names, reasons) is hostile until escaped:

* tables are built with ``html.escape``, and only http(s) URLs become links;
* chart specs travel as JSON in a ``<script type="application/json">`` block with ``<``, ``>`` and
  ``&`` written as ``\\u`` escapes, so no string can close the block; strings shown *in* charts are
  entity-escaped first, because Plotly reads a little HTML in labels;
* a Content-Security-Policy allows only the page's own two scripts (by hash) and no network, so
  even a missed escape could not run a planted script or handler.

plotly.js comes from the ``plotly`` package itself (``plotly.offline.get_plotlyjs``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

from plotly.offline import get_plotlyjs

from newsbeam.pipeline.report.charts import CHARTS, chart_specs

BOOT = """
document.querySelectorAll("[data-chart]").forEach(function (node) {
  var spec = JSON.parse(document.getElementById("chart-" + node.dataset.chart).textContent);
  Plotly.newPlot(node, spec.data, spec.layout, {displaylogo: false, responsive: true});
});
"""

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #eee;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f6f6f6}.bad{color:#b00020;font-weight:600}
.chart{min-height:320px}.totals span{margin-right:24px}
"""


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element whatever strings it holds."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def link(url: Any, text: Any = None) -> str:
    """An escaped link for http(s) URLs; anything else (``javascript:``, ``data:``) as plain text."""
    label = html.escape(str(text if text is not None else url or ""))
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
        return f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer">{label}</a>'
    return label


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], raw: frozenset[int] = frozenset()) -> str:
    """An HTML table; cells are escaped except the columns in ``raw`` (already built with ``link``)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{cell if i in raw else html.escape(_cell(cell))}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _sha256(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def tables(data: dict[str, Any]) -> dict[str, str]:
    """The tables under the charts, keyed by the chart they explain."""
    failing = [f for f in data["feeds"] if f["failing"] or f["stale"]]
    return {
        "feed_health": table(
            (
                "feed",
                "status",
                "last error",
                "failures in a row",
                "304 share",
                "fetch ms (median)",
                "hours since new",
                "usual gap h",
                "stale",
            ),
            [
                (
                    link(f["feed_url"]),
                    f["last_status"],
                    f["last_error"],
                    f["consecutive_failures"],
                    f["not_modified_share"],
                    f.get("median_fetch_ms"),
                    f["hours_since_new"],
                    f["usual_gap_hours"],
                    "stale" if f["stale"] else "",
                )
                for f in failing
            ],
            raw=frozenset({0}),
        )
        if failing
        else "<p>No failing or stale feeds.</p>",
        "drift": table(
            (
                "site",
                "drifted",
                "recent broken",
                "earlier broken",
                "recent pages",
                "median length recent / earlier",
                "signals",
            ),
            [
                (
                    d["site"],
                    "DRIFTED" if d["drifted"] else "",
                    d["recent_broken_share"],
                    d["earlier_broken_share"],
                    d["recent_pages"],
                    f"{d['median_length_recent']} / {d['median_length_earlier']}",
                    ", ".join(f"{k} {v}" for k, v in d["recent_signals"].items() if v),
                )
                for d in data["drift"]
            ],
        ),
        "dead_letters": table(
            ("stage", "error", "reason", "count", "examples"),
            [(r["stage"], r["error_type"], r["reason"], r["count"], r["examples"]) for r in data["dead_letters"]],
        ),
        "stories": table(
            ("story", "articles", "sources", "title"),
            [(s["story_id"], s["articles"], s["sources"], s["title"]) for s in data["today"]["stories"]],
        ),
    }


def render(data: dict[str, Any]) -> str:
    """The page: styles, plotly.js, the chart specs as JSON, and the boot script, all inline."""
    specs = chart_specs(data)
    plotly_js = get_plotlyjs()
    csp = (
        f"default-src 'none'; script-src '{_sha256(plotly_js)}' '{_sha256(BOOT)}'; "
        "style-src 'unsafe-inline'; img-src data:; font-src data:"
    )
    explain = tables(data)
    totals = data["totals"]
    sections = []
    for name in CHARTS:
        sections.append(f"<h2>{html.escape(name.replace('_', ' ').capitalize())}</h2>")
        sections.append(f'<div class="chart" data-chart="{name}"></div>')
        sections.append(f'<script type="application/json" id="chart-{name}">{script_json(specs[name])}</script>')
        if name in explain:
            sections.append(explain[name])
    drifted = [d["site"] for d in data["drift"] if d["drifted"]]
    alert = (
        f'<p class="bad">Layout drift: {html.escape(", ".join(drifted))}</p>'
        if drifted
        else "<p>No site has drifted.</p>"
    )
    return "".join(
        [
            '<!doctype html><html><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=True)}">',
            f"<title>newsbeam report: {html.escape(data['lake'])}</title><style>{STYLE}</style>",
            f"<script>{plotly_js}</script></head><body>",
            f"<h1>newsbeam report</h1><p>{html.escape(data['lake'])}, ",
            f"generated {html.escape(data['generated_at'])}</p>",
            '<p class="totals">'
            + "".join(f"<span>{html.escape(k)}: {int(v or 0)}</span>" for k, v in totals.items())
            + "</p>",
            alert,
            *sections,
            f"<script>{BOOT}</script></body></html>",
        ]
    )
