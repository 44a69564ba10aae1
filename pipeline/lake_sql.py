"""Open the lake in DuckDB as SQL views over its Delta tables (``newsbeam demo``, tests, analysts).

Each view is DuckDB's ``delta_scan`` of one table: it reads the table's Delta log, so a query
sees exactly the committed runs (never one still committing, never files a compaction
replaced) and prunes files by partition values from the log, without listing folders.
Partition columns (``date``, ``entity``, ``stage``) are ordinary columns; ``date`` is a DATE.

The ``delta`` extension comes from PyPI (``duckdb-extension-delta``, the same version as
DuckDB) and is loaded from its installed path: nothing is downloaded. ``connect(DIR,
as_of=RUN_ID)`` reads every table at the version it had right after that run (time travel).
Aggregates over every entity are cheaper on ``article_entities`` (the ``entities`` list of
``articles``) than on ``entities``.
"""

from __future__ import annotations

import glob
import json
import os
from types import ModuleType
from urllib.parse import urlsplit

import duckdb
import duckdb_extension_delta
import duckdb_extension_httpfs
import pyarrow as pa

from newsbeam.schemas.lake import ADDED_COLUMNS, TABLES
from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.lake import storage
from newsbeam.transforms.lake.delta import delta_schema, table_exists, table_uri
from newsbeam.transforms.lake.migrate import refuse_legacy
from newsbeam.transforms.lake.publish import RUNS

VIEWS = {
    "articles": "articles",
    "entities": "entities",
    "duplicates": "duplicates",
    "stories": "stories",
    "dead_letter": "dead_letters",
    "feed_state": "feed_state",
    "seen": "seen",
    "near_state": "near_state",
    "story_state": "story_state",
    "revisions": "revisions",
}

ARTICLE_ENTITIES = """
CREATE VIEW article_entities AS
SELECT article_id, date, published, source, story_id, title,
       e.slug AS entity, e.entity_id, e.name, e.type, e.salience, e.mention_count
FROM (SELECT article_id, date, published, source, story_id, title, unnest(entities) AS e FROM articles)
"""
"""Every entity of every article (not only the salient ones ``entities`` keeps), one row each."""


def packaged_extension(module: ModuleType, name: str) -> str:
    """Path of the DuckDB extension ``name`` that a ``duckdb-extension-<name>`` wheel installed."""
    folder = os.path.join(os.path.dirname(str(module.__file__)), "extensions")
    wanted = os.path.join(folder, f"v{duckdb.__version__}", f"{name}.duckdb_extension")
    if os.path.exists(wanted):
        return wanted
    found = sorted(glob.glob(os.path.join(folder, "*", f"{name}.duckdb_extension")))
    raise ConfigError(
        f"duckdb-extension-{name} has no build for DuckDB {duckdb.__version__} (it has: "
        f"{', '.join(os.path.basename(os.path.dirname(f)) for f in found) or 'none'}): install the same version of both"
    )


def delta_extension() -> str:
    """Path of the ``delta`` extension installed by ``duckdb-extension-delta`` for this DuckDB."""
    return packaged_extension(duckdb_extension_delta, "delta")


def s3_secret() -> str:
    """A DuckDB S3 secret from the standard ``AWS_*`` variables (what ``deltalake`` and newsbeam use)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    parts = urlsplit(endpoint) if endpoint else None
    fields = {
        "TYPE": "s3",
        "PROVIDER": "config",
        "KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "SECRET": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    }
    if os.environ.get("AWS_SESSION_TOKEN"):
        fields["SESSION_TOKEN"] = os.environ["AWS_SESSION_TOKEN"]
    if parts is not None and parts.netloc:
        fields.update(ENDPOINT=parts.netloc, URL_STYLE="path", USE_SSL="true" if parts.scheme == "https" else "false")
    body = ", ".join(
        f"{key} {value if key == 'TYPE' or key == 'PROVIDER' else _quoted(value)}" for key, value in fields.items()
    )
    return f"CREATE OR REPLACE SECRET newsbeam_s3 ({body})"


def run_versions(output: str, run_id: str) -> dict[str, int]:
    """Every table's version right after ``run_id`` (from its run record)."""
    path = storage.join(output, RUNS, f"{run_id}.json")
    if not storage.exists(path):
        raise ConfigError(f"no run {run_id} in {output} (its record {path} does not exist)")
    record = json.loads(storage.read_bytes(path).decode())
    return {str(name): int(version) for name, version in record.get("table_versions", {}).items()}


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(output: str, as_of: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per lake table (empty for a table with no rows yet).

    ``as_of``: a run id; every view then shows its table as it was right after that run.
    """
    refuse_legacy(output)
    connection = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    if output.startswith(("s3://", "s3a://")):
        connection.execute(f"LOAD {_quoted(packaged_extension(duckdb_extension_httpfs, 'httpfs'))}")
        connection.execute(s3_secret())
    connection.execute(f"LOAD {_quoted(delta_extension())}")
    versions = run_versions(output, as_of) if as_of else None
    for table, view in VIEWS.items():
        if table not in TABLES:
            continue
        version = None if versions is None else versions.get(table)
        exists = (versions is None or version is not None) and table_exists(output, table)
        if not exists:
            connection.register(view, delta_schema(table).empty_table())
            continue
        pinned = "" if version is None else f", version = {int(version)}"
        scan = f"SELECT * FROM delta_scan({_quoted(table_uri(output, table))}{pinned})"
        connection.execute(f"CREATE VIEW {view} AS {scan}")
        _add_missing_columns(connection, table, view, scan)
    connection.execute(ARTICLE_ENTITIES)
    return connection


def _add_missing_columns(connection: duckdb.DuckDBPyConnection, table: str, view: str, scan: str) -> None:
    """A table written before columns were added (``ADDED_COLUMNS``) shows them as typed nulls.

    Only those tables are checked: describing a ``delta_scan`` view reads the table's log.
    """
    if table not in ADDED_COLUMNS:
        return
    have = {row[0] for row in connection.execute(f"DESCRIBE {view}").fetchall()}
    schema = delta_schema(table)
    missing = [schema.field(name) for name in ADDED_COLUMNS[table] if name not in have]
    if not missing:
        return
    nulls = f"_{view}_added"
    connection.register(nulls, pa.table({field.name: pa.nulls(1, field.type) for field in missing}))
    connection.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM ({scan}) CROSS JOIN {nulls}")
