"""Fold sections of partial bench runs (``bench/run.py --only ... --report FILE``) into bench/report.json.

A full ``make bench`` takes most of an hour; after a change to one part of the product its sections
are re-run alone and merged here. Each merged section keeps the date and machine load of its own run
(``merged_sections`` in the report), so nobody mistakes it for part of the original run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.common import BENCH
from bench.report import headline, render_markdown


def merge(partials: list[Path], target: Path = BENCH / "report.json") -> None:
    report = json.loads(target.read_text())
    merged = report.setdefault("merged_sections", {})
    for path in partials:
        partial = json.loads(path.read_text())
        parts = partial.get("stream_parts") or []
        for name, section in partial.get("sections", {}).items():
            if name == "stream" and parts and "stream" in partial.get("sections_run", []):
                # A run of some parts of the stream section replaces those parts only.
                for part in parts:
                    report["sections"].setdefault("stream", {})[part] = section.get(part)
                    report["sections"]["stream"].setdefault("setup", {})[part] = section.get("setup", {}).get(part)
                    merged[f"stream.{part}"] = {
                        "date": partial.get("date"),
                        "load_average_at_start": partial.get("machine", {}).get("load_average_at_start"),
                        "seconds": partial.get("section_seconds", {}).get(name),
                    }
                continue
            if name in partial.get("sections_run", []):
                report["sections"][name] = section
                merged[name] = {
                    "date": partial.get("date"),
                    "load_average_at_start": partial.get("machine", {}).get("load_average_at_start"),
                    "seconds": partial.get("section_seconds", {}).get(name),
                }
    report["headline"] = headline(report)
    target.write_text(json.dumps(report, indent=2, default=str) + "\n")
    text = render_markdown(report)
    note = "".join(f"\n- `{name}`: re-run alone on {m['date']} ({m['seconds']} s)" for name, m in merged.items())
    target.with_suffix(".md").write_text(text + "\n## Sections merged from later partial runs\n" + note + "\n")


if __name__ == "__main__":
    merge([Path(arg) for arg in sys.argv[1:]])
