"""The ``newsbeam`` command.

Exit codes, for schedulers:

* 0: the run finished and every input made it into the lake;
* 1: fatal: nothing was published (bad configuration, unreadable feed list, unwritable output);
* 2: the command line itself is wrong (argparse);
* 3: the run finished and was published, but some feeds, pages or records are in the
  dead-letter table (``_dead_letter/``): look there.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlsplit

from newsbeam.pipeline.config import RunConfig, new_run_id
from newsbeam.pipeline.feedlist import FeedList, read_feed_list
from newsbeam.pipeline.progress import Progress
from newsbeam.pipeline.run import run, run_compaction, run_migration
from newsbeam.pipeline.stream_graph import StreamConfig
from newsbeam.pipeline.websub import parse_listen
from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.fetch.http import HttpConfig
from newsbeam.transforms.lake.compact import DEFAULT_RETENTION_HOURS
from newsbeam.transforms.stream.schedules import PollConfig
from newsbeam.transforms.websub.subscription import LEASE_SECONDS, WebSubConfig

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def _add_run_options(parser: argparse.ArgumentParser, *, demo: bool = False) -> None:
    """Options shared by ``run`` and ``demo``; the demo serves on loopback, so it may reach it."""
    group = _add_http_options(parser, demo=demo)
    group.add_argument("--refetch", action="store_true", help="fetch entries already in the lake again")
    parser.add_argument(
        "--dedup",
        choices=("global", "keyed"),
        default="global",
        help="global (default): whole-run steps, best of each group, cheaper (keyed took 1.16x the CPU end to "
        "end at 10k articles); keyed: the stream's keyed state, the run as a bounded stream (no revisions)",
    )
    entities = parser.add_argument_group("entities")
    entities.add_argument("--top-entities", type=int, default=10, help="max entities per article in entities/")
    entities.add_argument(
        "--salience-threshold", type=float, default=0.03, help="min salience for a row in entities/ (default 0.03)"
    )
    entities.add_argument(
        "--ner-model",
        default=None,
        metavar="NAME_OR_PATH",
        help="NER model: 'fast' (default: the packaged spaCy CNN, ~80 ms per 1,000 words on one core), "
        "'accurate' (the packaged MiniLM encoder, 8-9x slower, more accurate, see README), 'gazetteer' (the "
        "gazetteer alone), or any spaCy pipeline name or path, e.g. en_core_web_sm",
    )


def _add_http_options(parser: argparse.ArgumentParser, *, demo: bool = False) -> argparse._ArgumentGroup:
    """The fetching, politeness and SSRF options (``run``, ``stream``, ``demo``, ``discover``)."""
    http = HttpConfig()
    group = parser.add_argument_group("fetching and politeness")
    group.add_argument("--user-agent", default=http.user_agent, help="product token and URL sent as User-Agent")
    group.add_argument("--contact", default=None, help="e-mail or URL for site owners, added to the User-Agent")
    group.add_argument("--timeout", type=float, default=http.total_timeout, help="seconds per request, body included")
    group.add_argument("--max-bytes", type=int, default=http.max_bytes, help="size cap per response body")
    group.add_argument("--max-redirects", type=int, default=http.max_redirects)
    group.add_argument("--concurrency", type=int, default=http.max_workers, help="requests in flight per worker")
    group.add_argument("--per-host", type=int, default=http.per_host, help="requests in flight per host")
    group.add_argument(
        "--min-delay",
        type=float,
        default=0.0 if demo else http.min_delay,
        help=f"seconds between request starts to one host (default {0.0 if demo else http.min_delay}); "
        "robots.txt Crawl-delay can raise it",
    )
    group.add_argument("--retries", type=int, default=http.retries, help="retries on timeouts, 5xx and 429")
    group.add_argument("--host-budget", type=float, default=http.host_budget, help="seconds one host may take per run")
    group.add_argument("--no-robots", action="store_true", help="do not fetch or obey robots.txt (your own sites)")
    group.add_argument(
        "--allow-private-networks",
        action="store_true",
        default=demo,
        help="let URLs reach loopback, private and link-local addresses (off: SSRF guard)",
    )
    return group


def installed_version() -> str:
    """The installed distribution's version (what ``pip`` installed), not a constant kept by hand."""
    try:
        return version("newsbeam")
    except PackageNotFoundError:
        return "0+unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbeam",
        description="News feeds and pages in; deduplicated, entity-tagged Parquet out (Apache Beam).",
        epilog="Unknown options (--runner, --direct_num_workers, ...) pass through to Beam's PipelineOptions.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log Beam's progress")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser(
        "run",
        help="run the pipeline over a feed list, a JSONL of fetched pages or WARC files",
        description="Run once over --feeds (OPML, text, YAML or TOML), --input (JSONL of pages) "
        "or --warc (WARC files, e.g. a Common Crawl backfill).",
    )
    source = run_parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--feeds", type=Path, help="feed list: OPML, plain text URLs, YAML or TOML")
    source.add_argument("--input", help="JSON Lines of fetched pages (a file or a glob)")
    source.add_argument(
        "--warc", help="WARC files of fetched pages, .warc or .warc.gz (a file or a quoted glob); always one part"
    )
    run_parser.add_argument("--output", required=True, help="lake root folder (local path or gs://, s3://)")
    run_parser.add_argument("--run-id", default=None, help="run identifier (default: UTC time + random)")
    run_parser.add_argument(
        "--part-size",
        type=int,
        default=None,
        help="run an --input of more records as consecutive runs of this many, to bound memory "
        "(default: 10000 on the in-process runner, no split on other runners; 0: never split)",
    )
    _add_run_options(run_parser)
    shown = run_parser.add_argument_group("progress")
    shown.add_argument("-q", "--quiet", action="store_true", help="no progress line (the summary still prints)")
    shown.add_argument(
        "--progress-interval",
        type=float,
        default=30.0,
        help="seconds between progress log lines when stderr is not a terminal (default 30)",
    )

    stream_parser = commands.add_parser(
        "stream",
        help="poll feeds for ever and commit to the lake every --commit-interval (Prism by default)",
        description="One long-running Beam pipeline: each feed polled on its own schedule, new articles "
        "committed every --commit-interval, exactly once. SIGTERM stops it cleanly.",
    )
    stream_parser.add_argument("--feeds", type=Path, required=True, help="feed list (re-read when it changes)")
    stream_parser.add_argument("--output", required=True, help="lake root folder")
    timing = stream_parser.add_argument_group("schedule")
    timing.add_argument("--min-interval", type=float, default=60.0, help="seconds, fewest between polls of a feed")
    timing.add_argument("--max-interval", type=float, default=900.0, help="seconds, most between polls of a feed")
    timing.add_argument("--commit-interval", type=float, default=30.0, help="seconds between lake commits")
    timing.add_argument(
        "--state-interval", type=float, default=600.0, help="seconds between snapshots of the story index"
    )
    timing.add_argument("--horizon-days", type=float, default=7.0, help="how long dedup and story state is kept")
    timing.add_argument(
        "--settle",
        type=float,
        default=0.5,
        help="seconds after an article's fetch that its near-duplicate decision waits for an earlier copy "
        "delivered out of order (default 0.5)",
    )
    timing.add_argument("--status-interval", type=float, default=10.0, help="seconds between status lines")
    timing.add_argument("--tick", type=float, default=1.0, help="seconds between looks at the schedule")
    websub = stream_parser.add_argument_group("WebSub push (hubs feeds advertise)")
    websub.add_argument(
        "--websub-callback",
        metavar="HOST:PORT",
        default=None,
        help="serve the WebSub callback on this address and subscribe to the hubs feeds advertise "
        "(pushes make a feed due at once; polling goes on as a safety net)",
    )
    websub.add_argument(
        "--websub-public-url",
        metavar="URL",
        default=None,
        help="base URL hubs reach the callback at (default http://HOST:PORT of --websub-callback)",
    )
    websub.add_argument(
        "--websub-lease",
        type=float,
        default=LEASE_SECONDS,
        help=f"seconds of lease to ask hubs for; renewed at 80%% of what they grant (default {LEASE_SECONDS:g})",
    )
    _add_run_options(stream_parser)

    compact_parser = commands.add_parser(
        "compact",
        help="Delta optimize of closed days, then vacuum (safe while readers query and runs write)",
    )
    compact_parser.add_argument("--output", required=True, help="lake root folder")
    compact_parser.add_argument(
        "--before",
        type=date.fromisoformat,
        default=None,
        help="compact partitions dated before this day (YYYY-MM-DD; default: today, UTC)",
    )
    compact_parser.add_argument(
        "--retention-hours",
        type=int,
        default=DEFAULT_RETENTION_HOURS,
        help=f"vacuum deletes files no version newer than this needs (default {DEFAULT_RETENTION_HOURS}: "
        "time travel and plain-glob readers keep a week; at least 1, longer than any run)",
    )
    discover_parser = commands.add_parser(
        "discover",
        help="find sites' feeds (link rel=alternate, common paths) and sitemaps (robots.txt); print a feed list",
    )
    discover_parser.add_argument("urls", nargs="+", metavar="URL", help="a site's homepage (or any page of it)")
    _add_http_options(discover_parser)

    report_parser = commands.add_parser(
        "report",
        help="one self-contained HTML page (or JSON) on a lake's health: runs, feeds, layout drift, dead letters",
    )
    report_parser.add_argument("--output", required=True, help="lake root folder (or s3://…)")
    report_parser.add_argument("--to", type=Path, required=True, help="file to write (e.g. report.html)")
    report_parser.add_argument("--format", choices=("html", "json"), default="html", help="html (default) or json")

    migrate_parser = commands.add_parser(
        "migrate", help="convert a lake written by newsbeam 0.1's own table format to Delta tables, in place"
    )
    migrate_parser.add_argument("--output", required=True, help="lake root folder")

    demo_parser = commands.add_parser(
        "demo", help="serve the bundled sample news site on loopback, ingest it, query the lake"
    )
    demo_parser.add_argument("--output", default="demo-lake", help="lake folder to write (default: demo-lake)")
    _add_run_options(demo_parser, demo=True)
    return parser


def http_config(args: argparse.Namespace) -> HttpConfig:
    """The HTTP client's settings from the fetching options."""
    return HttpConfig(
        user_agent=args.user_agent,
        contact=args.contact,
        total_timeout=args.timeout,
        max_bytes=args.max_bytes,
        max_redirects=args.max_redirects,
        max_workers=args.concurrency,
        per_host=args.per_host,
        min_delay=args.min_delay,
        retries=args.retries,
        host_budget=args.host_budget,
        obey_robots=not args.no_robots,
        allow_private_networks=args.allow_private_networks,
    )


def config_from_args(args: argparse.Namespace, feeds_path: Path | None) -> RunConfig:
    feeds = read_feed_list(feeds_path) if feeds_path else FeedList([], [])
    http = http_config(args)
    return RunConfig(
        output=args.output,
        run_id=getattr(args, "run_id", None) or new_run_id(),
        feeds=tuple(feeds.specs),
        feed_rejects=tuple(feeds.rejected),
        input_pattern=getattr(args, "input", None),
        warc_pattern=getattr(args, "warc", None),
        http=http,
        top_entities=args.top_entities,
        salience_threshold=args.salience_threshold,
        ner_model=args.ner_model,
        refetch=args.refetch,
        dedup=args.dedup,
        part_size=getattr(args, "part_size", None),
    )


def stream_config_from_args(args: argparse.Namespace) -> StreamConfig:
    from newsbeam.pipeline.stream import new_stream_id

    if not 0 < args.min_interval <= args.max_interval:
        raise ConfigError("--min-interval must be positive and at most --max-interval")
    if args.commit_interval <= 0 or args.tick <= 0:
        raise ConfigError("--commit-interval and --tick must be positive")
    if args.settle < 0:
        raise ConfigError("--settle must not be negative")
    run = config_from_args(args, None)
    http = dataclasses.replace(run.http, host_budget_period=max(args.host_budget * 2, 300.0))
    websub, listen = websub_from_args(args)
    return StreamConfig(
        output=args.output,
        feed_list=str(args.feeds),
        stream_id=new_stream_id(),
        http=http,
        poll=PollConfig(min_interval=args.min_interval, max_interval=args.max_interval, tick=args.tick),
        commit_interval=args.commit_interval,
        state_interval=args.state_interval,
        horizon=timedelta(days=args.horizon_days),
        settle=args.settle,
        top_entities=run.top_entities,
        salience_threshold=run.salience_threshold,
        ner_model=run.ner_model,
        status_interval=args.status_interval,
        websub=websub,
        websub_listen=listen,
    )


def websub_from_args(args: argparse.Namespace) -> tuple[WebSubConfig | None, tuple[str, int] | None]:
    """The WebSub settings of ``stream``: none without ``--websub-callback``."""
    if args.websub_callback is None:
        if args.websub_public_url is not None:
            raise ConfigError("--websub-public-url needs --websub-callback HOST:PORT (where the callback listens)")
        return None, None
    try:
        host, port = parse_listen(args.websub_callback)
    except ValueError as error:
        raise ConfigError(f"--websub-callback: {error}") from None
    if port == 0:
        raise ConfigError("--websub-callback needs a fixed port: hubs call it for the whole lease")
    public = args.websub_public_url or f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    if urlsplit(public).scheme not in ("http", "https") or not urlsplit(public).netloc:
        raise ConfigError(f"--websub-public-url must be an absolute http(s) URL, got {public!r}")
    if not args.websub_lease > 0:
        raise ConfigError("--websub-lease must be a positive number of seconds")
    return WebSubConfig(public_url=public, lease_seconds=args.websub_lease), (host, port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    # force: importing Beam has already configured the root logger; warnings (newsbeam's own lake
    # recovery notes, Beam's real ones) always show, Beam's progress only with --verbose.
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", force=True)
    try:
        if args.command == "compact":
            return run_compaction(args.output, args.before, args.retention_hours)
        if args.command == "discover":
            from newsbeam.pipeline.discover import discover, feed_list_lines

            sites = discover(args.urls, http_config(args))
            print("\n".join(feed_list_lines(sites)))
            for site in sites:
                for problem in site.problems:
                    print(f"newsbeam discover: {problem}", file=sys.stderr)
            return EXIT_OK if all(any(f.kind != "sitemap" for f in s.found) for s in sites) else EXIT_PARTIAL
        if args.command == "report":
            from newsbeam.pipeline.report import write_report

            write_report(args.output, args.to, args.format)
            print(f"report written to {args.to}")
            return EXIT_OK
        if args.command == "migrate":
            return run_migration(args.output)
        if args.command == "demo":
            from newsbeam.pipeline.demo.run import run_demo

            return run_demo(lambda feeds: config_from_args(args, feeds), beam_args)
        if args.command == "stream":
            from newsbeam.pipeline.stream import stream

            return stream(stream_config_from_args(args), beam_args)
        config = config_from_args(args, args.feeds)
        shown: AbstractContextManager[object] = (
            nullcontext() if args.quiet else Progress(config, max(args.progress_interval, 0.1))
        )
        with shown:
            result = run(config, beam_args)
    except ConfigError as error:
        print(f"newsbeam: {error.reason}", file=sys.stderr)
        return EXIT_FATAL
    print(result.summary())
    return EXIT_PARTIAL if result.dead_letters else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
