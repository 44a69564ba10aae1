"""Dataflow Flex Template entry point (FLEX_TEMPLATE_PYTHON_PY_FILE): template parameters -> ``newsbeam`` argv.

NEVER RUN ON DATAFLOW: this project's machines have no Google Cloud access and no Docker engine. And as
newsbeam is today the template cannot work (deploy/README.md, "Dataflow"): a Flex Template launcher only
builds and submits the job, while newsbeam's driver works around the job (lock and recovery before it, the
commit or the drain after). tests/test_deploy.py checks that metadata.json's parameters become a command line
newsbeam accepts.

Dataflow starts this file with every parameter as ``--name=value``. ``command`` (``stream`` or ``run``)
becomes the subcommand; newsbeam's own parameters are renamed to its options (``commit_interval`` to
``--commit-interval``), and dropped with a warning when that subcommand has no such option (should
metadata.json's defaults for the stream's intervals reach a ``run``); everything else (``--project``, ``--region``,
``--temp_location``, ``--sdk_container_image``, ``--template_location``...) passes through to Beam unchanged.
``--streaming=true`` becomes ``--streaming`` (Beam's flag takes no value; ``newsbeam stream`` sets it anyway).
Without a ``--runner``, ``--runner=DataflowRunner`` is added (newsbeam's own default is the local runner).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

COMMANDS = ("stream", "run")
NEWSBEAM_OPTIONS = {
    "feeds": "--feeds",
    "input": "--input",
    "warc": "--warc",
    "output": "--output",
    "run_id": "--run-id",
    "contact": "--contact",
    "min_interval": "--min-interval",
    "max_interval": "--max-interval",
    "commit_interval": "--commit-interval",
    "status_interval": "--status-interval",
}
"""Template parameter -> newsbeam option. Every one of them is a parameter in metadata.json."""
DEFAULT_RUNNER = "--runner=DataflowRunner"


def _split(argv: Sequence[str]) -> list[tuple[str, str | None]]:
    """``--name=value`` and ``--name value`` pairs; ``(token, None)`` for anything else."""
    pairs: list[tuple[str, str | None]] = []
    tokens = list(argv)
    while tokens:
        token = tokens.pop(0)
        if token.startswith("--") and "=" in token:
            name, value = token[2:].split("=", 1)
            pairs.append((name, value))
        elif token.startswith("--") and token[2:] in {"command", *NEWSBEAM_OPTIONS} and tokens:
            pairs.append((token[2:], tokens.pop(0)))
        else:
            pairs.append((token, None))
    return pairs


def subcommand_options(command: str) -> set[str]:
    """The option strings newsbeam's ``command`` accepts (from its own parser)."""
    from newsbeam.pipeline.cli import build_parser

    actions = build_parser()._actions
    subparsers = next(action for action in actions if isinstance(action, argparse._SubParsersAction))
    return {option for action in subparsers.choices[command]._actions for option in action.option_strings}


def newsbeam_argv(argv: Sequence[str]) -> list[str]:
    """The ``newsbeam`` command line for the template's arguments."""
    command: str | None = None
    ours: list[tuple[str, str]] = []
    beam: list[str] = []
    for name, value in _split(argv):
        if value is None:
            beam.append(name)
        elif name == "command":
            command = value
        elif name in NEWSBEAM_OPTIONS:
            if value != "":  # an optional parameter left empty
                ours.append((NEWSBEAM_OPTIONS[name], value))
        elif name == "streaming":
            if value.lower() in ("true", "1", "yes"):
                beam.append("--streaming")
        else:
            beam.append(f"--{name}={value}")
    if command not in COMMANDS:
        raise SystemExit(f"launcher: the parameter command must be one of {', '.join(COMMANDS)}, not {command!r}")
    known = subcommand_options(command)
    for option, value in ours:
        if option not in known:
            print(f"launcher: newsbeam {command} has no {option}; {option}={value} ignored", file=sys.stderr)
    if not any(token.startswith("--runner") for token in beam):
        beam.append(DEFAULT_RUNNER)
    return [command, *(f"{option}={value}" for option, value in ours if option in known), *beam]


def main(argv: Sequence[str] | None = None) -> int:
    from newsbeam.pipeline.cli import main as newsbeam_main

    return newsbeam_main(newsbeam_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
