"""Peak memory of the near-dup index at 1M signatures, through the project's own ``scripts/bench_lsh.py``.

That script builds an ``LshIndex`` in a fresh process and reports its arrays, resident growth
and peak (VmHWM); we run it as a child too, so wait4 gives the peak of the whole tree as a
cross-check. Without the script (or the index module) the part is skipped, never reimplemented.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench.common import REPO, rounded, run_child, skipped

SCRIPT = REPO / "scripts" / "bench_lsh.py"


def run_lsh(signatures: int, queries: int) -> dict[str, Any]:
    if not SCRIPT.is_file():
        return skipped("not available: scripts/bench_lsh.py")
    child = run_child(
        [sys.executable, str(SCRIPT), "--sizes", str(signatures), "--queries", str(queries)], timeout=1200
    )
    if child.returncode != 0:
        return skipped(f"scripts/bench_lsh.py failed ({child.returncode}): {child.stderr[-500:]}")
    try:
        data = json.loads(child.stdout)
        result: dict[str, Any] = dict(data["lsh_index"][0])
    except (ValueError, KeyError, IndexError) as error:
        return skipped(f"scripts/bench_lsh.py printed something unexpected ({error}): {child.stdout[-300:]}")
    return {
        "what": "scripts/bench_lsh.py: LshIndex of random signatures (unrelated articles), in a fresh process",
        **result,
        "wall_seconds_incl_process_start": rounded(child.wall_seconds),
        "max_rss_mib_wait4": rounded(child.max_rss_mib, 1),
    }
