"""End to end: ``newsbeam run --input`` in a child process, from JSONL pages to a published lake.

Each run is a fresh process on a fresh lake, so its peak RSS and CPU time are its own (wait4).
The run time we compare with the stage times is ``RunResult.seconds`` (lock, Beam pipeline,
publication): interpreter start and imports are reported apart, as they are paid once per
scheduled run whatever its size.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import TMP, ChildResult, last_json_line, log, median, rounded, run_child

CHILD = Path(__file__).resolve().parent / "child.py"
RUNNER = "FnApiRunner (newsbeam's default in-process runner, one worker)"


def run_once(
    input_path: Path, name: str, ner_model: str | None = None, timeout: float = 3600, dedup: str = "global"
) -> dict[str, Any]:
    """One isolated run; returns its own seconds, CPU, peak RSS and counters."""
    output = TMP / f"lake-{name}"
    shutil.rmtree(output, ignore_errors=True)
    args = [sys.executable, str(CHILD), "e2e", "--input", str(input_path), "--output", str(output)]
    if ner_model:
        args += ["--ner-model", ner_model]
    if dedup != "global":
        args += ["--dedup", dedup]
    child: ChildResult = run_child(args, timeout=timeout)
    shutil.rmtree(output, ignore_errors=True)
    if child.returncode != 0:
        raise RuntimeError(f"newsbeam run on {input_path.name} failed ({child.returncode}): {child.stderr[-2000:]}")
    result = last_json_line(child.stdout)
    return {
        **child.as_dict(),
        "run_seconds": rounded(result["run_seconds"]),
        "import_seconds": rounded(result["import_seconds"]),
        "counters": result["counters"],
        "files": result["files"],
    }


def repeated(input_path: Path, name: str, repeats: int) -> dict[str, Any]:
    """``repeats`` runs of the same input; medians of each measure plus every run's numbers."""
    runs = []
    for index in range(max(1, repeats)):
        log(f"end to end {name}: run {index + 1}/{repeats}")
        runs.append(run_once(input_path, f"{name}-{index}"))
    keys = ("run_seconds", "wall_seconds", "cpu_seconds", "max_rss_mib", "import_seconds")
    return {
        "runner": RUNNER,
        **{f"median_{key}": rounded(median([r[key] for r in runs])) for key in keys},
        "counters": runs[-1]["counters"],
        "files": runs[-1]["files"],
        "runs": [{key: r[key] for key in keys} for r in runs],
    }


def write_lines(path: Path, lines: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
