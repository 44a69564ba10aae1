"""Regenerate the lock files from pyproject.toml with uv (``make lock``; never edit them by hand).

- ``requirements.lock``: the project, its ``dev`` tools and the build backend, with hashes, for
  CPython 3.11 on x86-64 Linux. ``make install``, ``make test`` and CI install exactly this.
- ``deploy/requirements.lock``: the runtime packages and the build backend only, at the same
  versions (resolved with the first lock as constraints). The Docker image installs this.

The build backend (``[build-system] requires``) is locked too, so the project itself installs
with ``--no-build-isolation`` and nothing is resolved at install time.

By default pins that still satisfy pyproject are kept (add a dependency, change a range: only
what must move moves). ``--upgrade`` moves every package to the newest version pyproject allows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-unknown-linux-gnu"
FULL = ROOT / "requirements.lock"
DEPLOY = ROOT / "deploy" / "requirements.lock"


def build_requirements() -> list[str]:
    """``[build-system] requires`` of pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return list(tomllib.load(handle)["build-system"]["requires"])


def compile_lock(inputs: list[str], output: Path, extra: list[str], compile_command: str = "make lock") -> None:
    command = [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "compile",
        *inputs,
        "--generate-hashes",
        "--python-version",
        PYTHON_VERSION,
        "--python-platform",
        PLATFORM,
        "--custom-compile-command",
        compile_command,
        "--quiet",
        "-o",
        str(output),
        *extra,
    ]
    subprocess.run(command, cwd=ROOT, check=True)


def pins(path: Path) -> int:
    """How many packages a lock file pins."""
    return sum(1 for line in path.read_text().splitlines() if "==" in line and not line.startswith((" ", "#")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upgrade", action="store_true", help="move every package to the newest allowed version")
    args = parser.parse_args()
    upgrade = ["--upgrade"] if args.upgrade else []
    with tempfile.TemporaryDirectory() as folder:
        backend = Path(folder) / "build-backend.in"
        backend.write_text("\n".join(build_requirements()) + "\n")
        compile_lock(["pyproject.toml", str(backend), "--extra", "dev"], FULL, upgrade)
        # The runtime lock takes the full lock's versions, so the image runs what CI tested.
        compile_lock(["pyproject.toml", str(backend), "--constraint", str(FULL)], DEPLOY, [])
    for path in (FULL, DEPLOY):
        text = path.read_text().replace(str(backend), "build-system.requires")
        path.write_text(text)
        print(f"{path.relative_to(ROOT)}: {pins(path)} packages pinned")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
