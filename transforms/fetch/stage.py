"""What every HTTP-fetching stage shares: a polite client per worker, and batching for concurrency.

Beam hands a DoFn one element at a time; fetching one URL at a time would leave the network
idle. So fetching stages take *batches* (``batched``) and fetch each batch concurrently with
``fetch_many``, bounded per host. The client is a ``PoliteClient`` made in ``setup()`` and kept
for the DoFn's life, because a DoFn instance processes many batches: the pacing per host, the
host time budgets and the robots.txt cache must hold across them, for the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import apache_beam as beam

from newsbeam.transforms.base import Stage
from newsbeam.transforms.errors import FetchError
from newsbeam.transforms.fetch.concurrent import Validators, fetch_many
from newsbeam.transforms.fetch.http import HttpClient, HttpConfig, HttpResponse, HttpxClient
from newsbeam.transforms.fetch.politeness import PoliteClient

ClientFactory = Callable[[HttpConfig], HttpClient]


class HttpStage(Stage):
    """A stage with one polite HTTP client per worker, made in ``setup()`` from an injectable factory."""

    obeys_robots: ClassVar[bool] = False
    """True for stages whose URLs are crawled links (article pages); feeds are listed by the operator."""

    def __init__(self, config: HttpConfig, client_factory: ClientFactory = HttpxClient) -> None:
        self.config = config
        self.client_factory = client_factory
        self.client: HttpClient | None = None

    def setup(self) -> None:
        self.client = PoliteClient(self.client_factory(self.config), self.config, obey_robots=self.obeys_robots)

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close()

    def input_id(self, element: Any) -> str:
        return " ".join(super(HttpStage, self).input_id(item) for item in element)

    def fetch(
        self, urls: Sequence[str], accept: str, validators: Mapping[str, Validators] | None = None
    ) -> list[tuple[str, HttpResponse | FetchError]]:
        """Fetch ``urls`` concurrently within the configured limits, results in input order.

        ``validators`` (``url -> (etag, last_modified)``) make those requests conditional (304s).
        """
        assert self.client is not None, "setup() makes the client"
        return fetch_many(
            self.client,
            urls,
            max_workers=self.config.max_workers,
            per_host=self.config.per_host,
            accept=accept,
            validators=validators,
        )


def batched(pcoll: beam.PCollection, config: HttpConfig) -> beam.PCollection:
    """Spread elements over workers, then group them into batches worth fetching concurrently."""
    return (
        pcoll
        | "Spread" >> beam.Reshuffle()
        | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=config.max_workers * 4)
    )
