"""Where the lake's files live: a local folder, or an object store (``s3://``, ``gs://``, ``az://``).

One small interface for the lake's own files (Parquet parts, journals, run records, the lock), so
the same code commits to a folder and to a bucket. Local paths go through ``os`` (atomic renames,
``O_EXCL``); object stores through ``obstore`` (Rust's ``object_store``, the same library
``deltalake`` uses), configured by the standard environment variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ALLOW_HTTP`` for S3;
``GOOGLE_*`` and ``AZURE_*`` likewise). An object store has no rename, but a PUT is atomic, so
"write whole or not at all" holds there too, and its conditional PUT (``If-None-Match: *``) is
what makes the lock exclusive.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


def is_local(path: str) -> bool:
    """A plain filesystem path (no ``scheme://``)."""
    return "://" not in path


def join(base: str, *parts: str) -> str:
    if is_local(base):
        return os.path.join(base, *parts)
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


@functools.lru_cache(maxsize=16)
def _store(root: str) -> Any:
    """The obstore store of ``scheme://bucket`` (cached: one client per bucket per process)."""
    from obstore.store import from_url

    return from_url(root)


def _split(path: str) -> tuple[Any, str]:
    parts = urlsplit(path)
    return _store(f"{parts.scheme}://{parts.netloc}"), parts.path.lstrip("/")


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    modified: float
    """Epoch seconds."""


def exists(path: str) -> bool:
    if is_local(path):
        return os.path.exists(path)
    return head(path) is not None


def head(path: str) -> Entry | None:
    """Size and modification time of one file, or None when it does not exist."""
    if is_local(path):
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        return Entry(path, stat.st_size, stat.st_mtime)
    import obstore

    store, key = _split(path)
    try:
        meta = obstore.head(store, key)
    except FileNotFoundError:
        return None
    return Entry(path, int(meta["size"]), meta["last_modified"].timestamp())


def read_bytes(path: str) -> bytes:
    if is_local(path):
        with open(path, "rb") as handle:
            return handle.read()
    import obstore

    store, key = _split(path)
    return bytes(obstore.get(store, key).bytes())


def write_bytes(path: str, data: bytes) -> None:
    """Write ``path`` whole or not at all (local: a temporary file renamed over it)."""
    if is_local(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        temporary = f"{path}.tmp-{os.getpid()}"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
        return
    import obstore

    store, key = _split(path)
    obstore.put(store, key, data)


def create_exclusive(path: str, data: bytes) -> bool:
    """Create ``path`` only if it does not exist (``O_EXCL``; ``If-None-Match: *``); False if it did."""
    if is_local(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return True
    import obstore
    from obstore.exceptions import AlreadyExistsError

    store, key = _split(path)
    try:
        obstore.put(store, key, data, mode="create")
    except AlreadyExistsError:
        return False
    return True


def delete(paths: list[str]) -> None:
    """Delete the files that exist; a missing one is not an error (a retried cleanup)."""
    for path in paths:
        if is_local(path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            continue
        import obstore

        store, key = _split(path)
        try:
            obstore.delete(store, key)
        except FileNotFoundError:
            pass


def names(folder: str) -> list[str]:
    """Names of the files directly in ``folder`` (none if it does not exist)."""
    if is_local(folder):
        try:
            return sorted(e.name for e in os.scandir(folder) if e.is_file())
        except FileNotFoundError:
            return []
    import obstore

    store, key = _split(folder)
    prefix = key.rstrip("/") + "/"
    listed = obstore.list_with_delimiter(store, prefix)
    return sorted(str(obj["path"])[len(prefix) :] for obj in listed["objects"])


def files_under(folder: str) -> list[Entry]:
    """Every file below ``folder``, recursively."""
    if is_local(folder):
        found = []
        for root, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                stat = os.stat(path)
                found.append(Entry(path, stat.st_size, stat.st_mtime))
        return found
    import obstore

    store, key = _split(folder)
    prefix = key.rstrip("/") + "/"
    base = folder.rstrip("/")
    entries = []
    for batch in obstore.list(store, prefix):
        for obj in batch:
            relative = str(obj["path"])[len(prefix) :]
            entries.append(Entry(f"{base}/{relative}", int(obj["size"]), obj["last_modified"].timestamp()))
    return entries
