"""Run one command and write its own wall time, CPU time and peak RSS as JSON: a tiny launcher.

    python bench/measure.py RESULT.json TIMEOUT_SECONDS COMMAND [ARGS...]

Why a launcher: Linux hands a child the peak RSS of the process that spawned it (``ru_maxrss``
survives ``exec``), so a child started by the benchmark (hundreds of MiB after building a lake)
would report at least the benchmark's own peak. Started from this small process instead, the
command's ``wait4`` rusage is its own (plus at most this launcher's ~10 MiB). Standard library only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> int:
    result_path, timeout, command = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    timed_out = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > timeout:
            timed_out = True
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.02)
    wall = time.perf_counter() - started
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(
            {
                "returncode": os.waitstatus_to_exitcode(status),
                "wall_seconds": wall,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "max_rss_mib": usage.ru_maxrss / scale,
                "timed_out": timed_out,
            },
            out,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
