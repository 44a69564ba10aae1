"""``newsbeam report``: one static page (or JSON) on the health of a lake: runs, feeds, drift, dead letters."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from newsbeam.pipeline.report.data import report_data
from newsbeam.pipeline.report.page import render

__all__ = ["render", "report_data", "write_report"]


def write_report(output: str, to: Path, fmt: str = "html", now: datetime | None = None) -> dict[str, Any]:
    """Write the report of the lake at ``output`` to ``to`` as ``html`` or ``json``; returns its numbers."""
    data = report_data(output, now)
    text = render(data) if fmt == "html" else json.dumps(data, indent=1, default=str, ensure_ascii=False) + "\n"
    to.parent.mkdir(parents=True, exist_ok=True)
    temporary = to.with_name(f".{to.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(to)
    return data
