"""Work the benchmark runs in a fresh process, so its peak memory and CPU time are its own.

``python bench/child.py e2e --input X --output DIR [--ner-model M] [--dedup keyed] [beam args...]``: one newsbeam
run (``pipeline.run.run``), printing one JSON line with the run's own seconds (from lock to
publish, imports excluded) and its counters.

``python bench/child.py imports``: how long importing the pipeline takes, for the record.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def e2e(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--ner-model", default=None)
    parser.add_argument("--part-size", type=int, default=None)
    parser.add_argument("--dedup", choices=("global", "keyed"), default="global")
    args, beam_args = parser.parse_known_args(argv)
    started = time.perf_counter()
    from newsbeam.pipeline.config import RunConfig
    from newsbeam.pipeline.run import run

    imported = time.perf_counter() - started
    logging.basicConfig(level=logging.ERROR)
    result = run(
        RunConfig(
            output=args.output,
            input_pattern=args.input,
            ner_model=args.ner_model,
            part_size=args.part_size,
            dedup=args.dedup,
        ),
        beam_args,
    )
    print(
        json.dumps(
            {
                "import_seconds": imported,
                "run_seconds": result.seconds,
                "counters": result.counters,
                "files": result.files,
                "parts": [dataclasses.asdict(part) for part in result.parts],
            }
        )
    )
    return 0


def main() -> int:
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "e2e":
        return e2e(rest)
    if command == "imports":
        started = time.perf_counter()
        import newsbeam.pipeline.run  # noqa: F401

        print(json.dumps({"import_seconds": time.perf_counter() - started}))
        return 0
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    raise SystemExit(main())
