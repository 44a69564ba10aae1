"""Headless Chromium (Debian's ``chromium``) for the report tests.

It gives the DOM after the page's scripts ran, every console line, and screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ARTIFACTS = Path(os.environ.get("NEWSBEAM_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"
)
CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)")


def _chromium(args: list[str]) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def load(page: Path) -> tuple[str, list[str]]:
    """The page's DOM once its scripts have run, and every console message it logged."""
    done = _chromium(["--dump-dom", page.resolve().as_uri()])
    return done.stdout, CONSOLE.findall(done.stderr)


def screenshot(page: Path, name: str) -> Path:
    """A full-height screenshot of ``page`` in the test artefacts folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    _chromium([f"--screenshot={target}", "--window-size=1280,5200", page.resolve().as_uri()])
    return target
