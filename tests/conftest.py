"""Shared fixtures: a real loopback HTTP server and the optional ../shared data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from httpserver import LoopbackServer

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started ``LoopbackServer`` on 127.0.0.1, stopped (threads joined) after the test."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` next to the repository (large data kept out of git); skip when absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared not present")
    return SHARED_DIR
