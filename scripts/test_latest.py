"""Upgrade canary (``make test-latest``): the suite against the newest versions pyproject.toml allows.

Main installs ``requirements.lock``, so an upstream release cannot break it. This canary is
how we learn that one would: it builds ``.venv-latest`` from pyproject's ranges alone (no
lock), runs ``make test``'s suite there, and reports which versions it used and which of them
differ from the lock. CI does not run it: a release somebody else makes must not turn main red.

The report goes to standard output and to ``.venv-latest/canary-report.json``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-latest"
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lines: list[str]) -> dict[str, str]:
    """``name==version`` lines (a lock file or ``pip freeze``) as {normalised name: version}."""
    found = {}
    for line in lines:
        match = PIN.match(line.strip())
        if match:
            found[normalise(match.group(1))] = match.group(2)
    return found


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def install() -> dict[str, str]:
    """A new ``.venv-latest`` with the project and its dev tools at the newest allowed versions."""
    shutil.rmtree(VENV, ignore_errors=True)
    python = VENV / "bin" / "python"
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", "-e", ".[dev]"],
    ]
    for step in steps:
        if run(step).returncode != 0:
            raise SystemExit(f"canary: could not install the newest allowed versions ({' '.join(step[-2:])})")
    frozen = run([str(python), "-m", "pip", "freeze", "--exclude-editable"], capture_output=True)
    return read_pins(frozen.stdout.splitlines())


def compare(latest: dict[str, str], locked: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """Packages whose version in the canary differs from the lock (or that only one of them has)."""
    names = sorted(set(latest) | set(locked))
    return {
        name: {"lock": locked.get(name), "latest": latest.get(name)}
        for name in names
        if latest.get(name) != locked.get(name) and name not in {"pip", "setuptools", "wheel"}
    }


def main() -> int:
    started = time.monotonic()
    latest = install()
    locked = read_pins(LOCK.read_text().splitlines())
    python = VENV / "bin" / "python"
    tests = run([str(python), "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider"])
    changed = compare(latest, locked)
    report = {
        "passed": tests.returncode == 0,
        "pytest_exit_code": tests.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "versions": latest,
        "differs_from_lock": changed,
    }
    (VENV / "canary-report.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\nUpgrade canary: newest versions allowed by pyproject.toml")
    for name in ("apache-beam", "pyarrow", "duckdb", "spacy", "trafilatura", "feedparser", "numpy", "httpx"):
        print(f"  {name} {latest.get(name)}")
    if changed:
        print("  differs from requirements.lock:")
        for name, versions in changed.items():
            print(f"    {name}: lock {versions['lock']} -> latest {versions['latest']}")
    else:
        print("  every version equals requirements.lock")
    print(f"  full list: {(VENV / 'canary-report.json').relative_to(ROOT)}")
    if tests.returncode == 0:
        print("CANARY PASSED: the suite passes on the newest allowed versions; `make lock-upgrade` is safe to try.")
        return 0
    print(
        "CANARY FAILED: the suite fails on the newest versions pyproject.toml allows. main is not affected: "
        "it installs requirements.lock. Look first at the packages that differ from the lock above; then "
        "fix the code, or cap that package's range in pyproject.toml and run `make lock`."
    )
    return tests.returncode


if __name__ == "__main__":
    raise SystemExit(main())
