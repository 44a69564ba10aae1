"""One run at a time per lake: a visible lock file with its owner, and stale-lock recovery.

``DIR/_lock`` holds who took it (run id, host, pid, start time) so a person can see why a
run refused to start. It is created with ``O_EXCL``, so two runs cannot both take it. A
lock is stale, and is taken over, when its owner ran on this host and that process is gone,
or when it is older than ``stale_after`` seconds (an owner on another host that died).

Why a lock at all, with Delta tables: Delta makes each commit atomic and detects conflicting
commits, so compaction and readers need no lock. What it does not give is one writer of the
``_state`` tables: a run reads the seen URLs, MinHash signatures and stories the previous run
committed, and a second run reading the same state would ingest the same articles twice. The
lock also makes one process the owner of crash recovery (``transforms.lake.publish.recover``).

On an object store (s3://, gs://, az://) the lock object is created with a conditional PUT
(``If-None-Match: *``), which the store answers with 412 when the object exists: the same
exclusivity as ``O_EXCL``. A long holder (a stream) refreshes it, so its age says it is alive.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from newsbeam.transforms.errors import LockHeldError
from newsbeam.transforms.lake import storage

LOCK_FILE = "_lock"
DEFAULT_STALE_AFTER = 6 * 3600.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """``with RunLock(output, run_id):`` holds the lake's lock for the duration of a run."""

    def __init__(self, output: str, run_id: str, stale_after: float = DEFAULT_STALE_AFTER) -> None:
        self.path = storage.join(output, LOCK_FILE)
        self.run_id = run_id
        self.stale_after = stale_after
        self.held = False
        self.notes: list[str] = []
        self._payload = b""

    def owner(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(storage.read_bytes(self.path).decode())
            return data
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable: treated as held until stale by age

    def is_stale(self, owner: dict[str, Any]) -> bool:
        if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
            return not _alive(owner["pid"])
        entry = storage.head(self.path)
        if entry is None:
            return True
        return datetime.now(timezone.utc).timestamp() - entry.modified > self.stale_after

    def acquire(self) -> list[str]:
        """Take the lock; returns notes (e.g. a stale lock taken over). Raises ``LockHeldError``."""
        notes: list[str] = []
        self._payload = json.dumps(
            {
                "run_id": self.run_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": datetime.now(timezone.utc).isoformat(),
            }
        ).encode()
        for _ in range(2):
            if storage.create_exclusive(self.path, self._payload):
                self.held = True
                return notes
            owner = self.owner()
            if owner is None:
                continue
            if not self.is_stale(owner):
                raise LockHeldError(
                    f"another newsbeam run holds {self.path} (run {owner.get('run_id', '?')}, "
                    f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}, since "
                    f"{owner.get('started_at', '?')}); wait for it, or delete the file if that run is gone"
                ) from None
            notes.append(f"took over a stale lock of run {owner.get('run_id', '?')}")
            storage.delete([self.path])
        raise LockHeldError(f"could not take {self.path}: another run keeps creating it")

    def touch(self) -> None:
        """Show a long holder (a stream) is alive to other hosts, which judge staleness by age."""
        if not self.held:
            return
        if storage.is_local(self.path):
            os.utime(self.path)
        elif (self.owner() or {}).get("run_id") == self.run_id:
            storage.write_bytes(self.path, self._payload)

    def release(self) -> None:
        if self.held and (self.owner() or {}).get("run_id") == self.run_id:
            storage.delete([self.path])
        self.held = False

    def __enter__(self) -> RunLock:
        self.notes = self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
