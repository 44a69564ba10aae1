"""Shared helpers: paths, repeated timing with medians, and child processes measured by wait4.

Machines here are shared, so every number is a median over repeats, and what we compare is a
ratio of two things measured in the same run, never one absolute time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
TMP = BENCH / "tmp"
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"

T = TypeVar("T")


def skipped(reason: str) -> dict[str, Any]:
    """How a part that cannot run here is recorded: never an error, always a reason."""
    return {"skipped": reason}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def rounded(value: float, digits: int = 3) -> float:
    """Round to ``digits`` significant-ish decimals so the report stays readable."""
    if value != value or value in (float("inf"), float("-inf")):
        return value
    if abs(value) >= 100:
        return round(value, 1)
    return round(value, digits)


def repeat(fn: Callable[[], T], repeats: int) -> tuple[list[float], T]:
    """Wall seconds of ``repeats`` calls of ``fn`` (one after the other) and the last result."""
    times: list[float] = []
    result: T | None = None
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    assert result is not None or times
    return times, result  # type: ignore[return-value]


def rate(count: int, seconds: Sequence[float]) -> dict[str, Any]:
    """``count`` items per second from repeated timings: median, plus the spread for honesty."""
    med = median(seconds)
    return {
        "items": count,
        "repeats": len(seconds),
        "median_seconds": rounded(med, 4),
        "first_seconds": rounded(seconds[0], 4),
        "min_seconds": rounded(min(seconds), 4),
        "max_seconds": rounded(max(seconds), 4),
        "per_second": rounded(count / med if med > 0 else float("inf")),
    }


@dataclass(frozen=True)
class ChildResult:
    """One child process: its own wall time, CPU time and peak resident memory."""

    returncode: int
    wall_seconds: float
    cpu_seconds: float
    max_rss_mib: float
    stdout: str
    stderr: str
    timed_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_seconds": rounded(self.wall_seconds),
            "cpu_seconds": rounded(self.cpu_seconds),
            "max_rss_mib": rounded(self.max_rss_mib, 1),
        }


def run_child(
    args: Sequence[str], *, timeout: float = 1800.0, env: dict[str, str] | None = None, cwd: Path = REPO
) -> ChildResult:
    """Run a command through ``bench/measure.py`` and return what it measured of exactly that command.

    The launcher matters: a child spawned straight from this (large) process would inherit its
    peak RSS (see measure.py), and ``getrusage(RUSAGE_CHILDREN)`` would mix every child ever reaped.
    ``/usr/bin/time -v`` is not on every machine; ``wait4`` in a small launcher is.
    """
    TMP.mkdir(parents=True, exist_ok=True)
    stem = TMP / f"child-{os.getpid()}-{time.monotonic_ns()}"
    out_path, err_path, result_path = (stem.with_suffix(suffix) for suffix in (".out", ".err", ".json"))
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    launcher = [sys.executable, "-S", str(BENCH / "measure.py"), str(result_path), str(timeout), *args]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        subprocess.run(launcher, stdout=out, stderr=err, cwd=cwd, env=full_env, check=False, timeout=timeout + 60)
    measured = json.loads(result_path.read_text())
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    for path in (out_path, err_path, result_path):
        path.unlink(missing_ok=True)
    return ChildResult(
        measured["returncode"],
        measured["wall_seconds"],
        measured["cpu_seconds"],
        measured["max_rss_mib"],
        stdout,
        stderr,
        measured["timed_out"],
    )


def last_json_line(text: str) -> dict[str, Any]:
    """The last line of a child's stdout that is a JSON object (children print one result line)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    raise ValueError(f"no JSON result line in child output: {text[-500:]!r}")


def headline_row(
    metric: str, value: Any, unit: str = "", aim: str = "", ok: bool | None = None, note: str = ""
) -> dict[str, Any]:
    """One row of the report's headline table (``ok`` None: no aim, nothing to meet)."""
    return {"metric": metric, "value": value, "unit": unit, "aim": aim, "ok": ok, "note": note}


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub markdown table (pipes in cells escaped): shared by the report and its lake section."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def log(message: str) -> None:
    """Progress on stderr, so a 15-minute run shows where it is."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def dig(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]...``, or None where a key is missing (report JSON is sparse)."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data
