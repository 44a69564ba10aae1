"""What every HTTP-fetching stage shares: a client per worker, and batching for concurrency.

Beam hands a DoFn one element at a time; fetching one URL at a time would leave the network
idle. So fetching stages take *batches* (``batched``) and fetch each batch concurrently with
``fetch_many``, bounded per host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import apache_beam as beam

from transforms.base import Stage
from transforms.errors import FetchError
from transforms.fetch.concurrent import fetch_many
from transforms.fetch.http import HttpClient, HttpConfig, HttpResponse, HttpxClient

ClientFactory = Callable[[HttpConfig], HttpClient]


class HttpStage(Stage):
    """A stage with one HTTP client per worker, made in ``setup()`` from an injectable factory."""

    def __init__(self, config: HttpConfig, client_factory: ClientFactory = HttpxClient) -> None:
        self.config = config
        self.client_factory = client_factory
        self.client: HttpClient | None = None

    def setup(self) -> None:
        self.client = self.client_factory(self.config)

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close()

    def input_id(self, element: Any) -> str:
        return " ".join(super(HttpStage, self).input_id(item) for item in element)

    def fetch(self, urls: Sequence[str], accept: str) -> list[tuple[str, HttpResponse | FetchError]]:
        """Fetch ``urls`` concurrently within the configured limits, results in input order."""
        assert self.client is not None, "setup() makes the client"
        return fetch_many(
            self.client, urls, max_workers=self.config.max_workers, per_host=self.config.per_host, accept=accept
        )


def batched(pcoll: beam.PCollection, config: HttpConfig) -> beam.PCollection:
    """Spread elements over workers, then group them into batches worth fetching concurrently."""
    return (
        pcoll
        | "Spread" >> beam.Reshuffle()
        | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=config.max_workers * 4)
    )
