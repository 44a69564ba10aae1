"""Named crash points, for proving that ``kill -9`` anywhere loses and duplicates nothing.

The crash tests start ``newsbeam run`` with ``NEWSBEAM_CRASH_AT=<point>``; the process kills
itself with SIGKILL when it reaches that point, exactly as an OOM killer or ``kill -9`` would.
Unset (always, outside those tests), a crash point is a dictionary lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "NEWSBEAM_CRASH_AT"
POINTS = ("during_write", "before_publish", "after_journal", "mid_publish", "after_manifest")


def crash_point(name: str) -> None:
    """Die here, like ``kill -9``, when ``NEWSBEAM_CRASH_AT`` names this point."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
