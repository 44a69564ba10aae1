"""A run prints what matters: Beam's two known meaningless lines are dropped, real warnings are not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

NOISE = ("apitools not found", "Resource module is not available", "type hint will be ignored")


def test_newsbeam_run_prints_no_beam_noise(tmp_path: Path) -> None:
    """The whole command, as a user runs it: import, graph, RunInference, publish."""
    archive = tmp_path / "in.jsonl"
    record = {
        "url": "https://example.org/a",
        "title": "Accord signed",
        "text": "Canada and Mexico signed a fisheries accord on Thursday in Ottawa. " * 3,
    }
    archive.write_text(json.dumps(record) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "newsbeam", "run", "--input", str(archive), "--output", str(tmp_path / "lake")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "rows written: articles" in done.stdout
    printed = done.stdout + done.stderr
    assert [line for line in printed.splitlines() if line.startswith(NOISE) or any(n in line for n in NOISE)] == []


def test_the_filter_drops_only_the_known_lines() -> None:
    """Beam's exact messages vanish; another warning from Beam's logger, and newsbeam's, still show."""
    code = (
        "import logging, pipeline\n"
        "logging.warning('apitools not found, and bigquery client libraries are not available despite x')\n"
        "logging.warning('Resource module is not available for current platform, memory usage cannot be fetched.')\n"
        "logging.warning('a real warning from Beam: job server unreachable')\n"
        "logging.getLogger('newsbeam').warning('recovered an interrupted run')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines == [
        "WARNING:root:a real warning from Beam: job server unreachable",
        "WARNING:newsbeam:recovered an interrupted run",
    ]
