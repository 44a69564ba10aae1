"""``newsbeam demo``: serve the bundled news site on loopback, ingest it, query the lake."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.demo.server import materialise_feed_list, serve_site
from newsbeam.pipeline.run import run

SITE = Path(__file__).resolve().parent / "site"

DEMO_QUERIES = {
    "Most-covered entities (entities/ partitions)": """
        SELECT entity, any_value(name) AS name, any_value(type) AS type,
               count(DISTINCT article_id) AS articles, count(DISTINCT source) AS outlets
        FROM entities GROUP BY entity ORDER BY articles DESC, entity LIMIT 8""",
    "Articles by outlet and day": """
        SELECT date, source, count(*) AS articles,
               sum(len(duplicate_urls)) AS copies_collapsed,
               string_agg(DISTINCT text_source, ',') AS text_from
        FROM articles GROUP BY ALL ORDER BY date, source""",
    "Dead letters by stage": """
        SELECT stage, error_type, left(reason, 70) AS reason FROM dead_letters ORDER BY stage, input_id""",
}


def run_demo(config_for: Callable[[Path], RunConfig], beam_args: Sequence[str] = ()) -> int:
    """Ingest the sample site into ``config.output`` and print a few query results."""
    with serve_site(SITE) as server, tempfile.TemporaryDirectory() as scratch:
        feeds = materialise_feed_list(SITE, server.base_url, Path(scratch) / "feeds.opml")
        config = config_for(feeds)
        print(f"Serving the sample news site at {server.base_url}; lake: {config.output}")
        result = run(config, beam_args)
    print(result.summary())
    connection = lake_sql.connect(config.output)
    for title, query in DEMO_QUERIES.items():
        print(f"\n{title}:")
        print(connection.sql(query))
    return 0
