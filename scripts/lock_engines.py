"""Regenerate requirements-engines.lock with uv (``make lock-engines``; never edit it by hand).

The engines that read the lake in ``make test-engines`` (``tests/test_engines.py``): Spark with
delta-spark and Polars' Delta reader. They live in a venv of their own, ``.venv-engines``, so the
main install stays as it is; the test builds the lake in ``.venv`` and runs the readers in
``.venv-engines`` as a subprocess (``tests/engines_read.py``), as an outside reader would.

The lock is compiled exactly like ``requirements.lock`` (``scripts/lock.py``: hashes, CPython 3.11
on x86-64 Linux, build backend included, because pyspark ships only an sdist and is built with
``--no-build-isolation``), with ``requirements.lock`` as constraints: the packages the two share
(``deltalake``, ``pyarrow``, ``setuptools`` …) take the main lock's versions, so Polars reads
through the same delta-rs that wrote the lake. Keep pyspark below 4.2: delta-spark 4.1.0 and its
jars (``scripts/fetch_spark_jars.sh``) are built for Spark 4.1.

By default pins that still fit are kept; ``--upgrade`` moves every engine package to the newest
version allowed here (shared packages still follow ``requirements.lock``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lock import FULL, ROOT, build_requirements, compile_lock, pins

ENGINES = [
    "pyspark>=4.1,<4.2",
    "delta-spark==4.1.0",  # equal to the jars' version in scripts/fetch_spark_jars.sh
    "polars[deltalake,pyarrow]>=1.30,<2",  # pl.read_delta / scan_delta go through deltalake
]
LOCK = ROOT / "requirements-engines.lock"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--upgrade", action="store_true", help="move every engine package to the newest allowed version"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "engines.in"
        inputs.write_text("\n".join([*ENGINES, *build_requirements()]) + "\n")
        extra = ["--constraint", str(FULL), *(["--upgrade"] if args.upgrade else [])]
        compile_lock([str(inputs)], LOCK, extra, compile_command="make lock-engines")
    text = LOCK.read_text().replace(str(inputs), "scripts/lock_engines.py").replace(str(FULL), FULL.name)
    LOCK.write_text(text)
    print(f"{LOCK.relative_to(ROOT)}: {pins(LOCK)} packages pinned")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
