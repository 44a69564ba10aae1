"""A real S3 server on loopback: Versity S3 Gateway (Apache-2.0), serving a folder as buckets.

``make install`` builds it with ``go install`` into ``.venv/bin/versitygw``. Each folder under
the served directory is a bucket. ``env()`` gives the standard ``AWS_*`` variables a client needs;
newsbeam, deltalake and DuckDB read nothing else.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

BINARY_ENV = "NEWSBEAM_VERSITYGW"
ACCESS_KEY, SECRET_KEY = "newsbeam-test", "newsbeam-test-secret"


def versitygw_binary() -> str | None:
    candidates = [os.environ.get(BINARY_ENV), os.path.join(os.path.dirname(sys.executable), "versitygw")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("versitygw")


INSTALL_HINT = "Versity S3 Gateway not found: `make install` builds it with Go (or set $NEWSBEAM_VERSITYGW)"


class S3Gateway:
    """``with S3Gateway(root, buckets=["news"]) as s3:`` serves ``root`` on a free loopback port."""

    def __init__(self, root: Path, buckets: tuple[str, ...] = ("news",)) -> None:
        self.root = root
        self.buckets = buckets
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }

    def __enter__(self) -> S3Gateway:
        binary = versitygw_binary()
        assert binary is not None, INSTALL_HINT
        for bucket in self.buckets:
            (self.root / bucket).mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "ROOT_ACCESS_KEY": ACCESS_KEY, "ROOT_SECRET_KEY": SECRET_KEY}
        log = open(self.root.parent / f"versitygw-{self.port}.log", "wb")
        self.process = subprocess.Popen(
            [binary, "--port", f"127.0.0.1:{self.port}", "posix", str(self.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise AssertionError("versitygw did not start")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
