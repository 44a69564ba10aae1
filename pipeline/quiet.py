"""Drop the two lines Beam logs on every run that say nothing about the run.

* ``apitools not found ...``: importing ``apache_beam.io`` imports its BigQuery client, which
  needs ``google-apitools``; newsbeam uses no Google Cloud IO, so nothing is missing.
* ``Resource module is not available ...``: ``RunInference`` imports ``resource`` and torch in
  one ``try``; without torch it concludes ``resource`` is missing, and says so per bundle.

Only records from the root logger (where Beam logs these) that start with these exact texts
are dropped; every other warning, Beam's included, still shows.
"""

from __future__ import annotations

import logging

KNOWN_NOISE = (
    "apitools not found, and bigquery client libraries are not available",
    "Resource module is not available for current platform",
)


class BeamNoiseFilter(logging.Filter):
    """Drops root-logger records that start with one of ``KNOWN_NOISE``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "root" or not record.getMessage().startswith(KNOWN_NOISE)


def install() -> None:
    """Add the filter to the root logger once; call it before ``apache_beam`` is imported."""
    root = logging.getLogger()
    if not any(isinstance(existing, BeamNoiseFilter) for existing in root.filters):
        root.addFilter(BeamNoiseFilter())
