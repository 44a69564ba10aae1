"""NER cost per 1,000-word article on one core for each shipped model (``--ner-model fast|accurate``).

Runs ``scripts/bench_ner_models.py`` in a child process, because it pins BLAS to one thread before
numpy loads (the issue's cost rule is per core) and the benchmark process has numpy loaded already.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.common import TMP, run_child, skipped

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_ner_models.py"


def measure(pages: int, repeats: int) -> dict[str, Any]:
    output = TMP / "ner_speed.json"
    output.unlink(missing_ok=True)
    child = run_child(
        [sys.executable, str(SCRIPT), "--pages", str(pages), "--repeats", str(repeats), "--output", str(output)],
        timeout=3600,
    )
    if child.returncode != 0:
        return skipped(f"bench_ner_models failed ({child.returncode}): {child.stderr[-500:]}")
    if not output.exists():
        return skipped(child.stdout.strip()[-300:] or "no output")
    return dict(json.loads(output.read_text(encoding="utf-8")))
