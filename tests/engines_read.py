"""Read a newsbeam lake with Spark (delta-spark) and Polars; print what they saw as JSON.

Run by ``tests/test_engines.py`` with the python of ``.venv-engines`` (``make test-engines``), which
holds pyspark, delta-spark and polars but not newsbeam: the lake is read as an outside engine
would read it. The one argument is a JSON object::

    {"lake": DIR, "tables": {name: folder}, "jars": [jar, ...], "as_of": {name: version},
     "entity": SLUG}

Printed (one line): ``{"spark": {"counts", "history", "as_of", "fields", "entity_rows"},
"polars": {"counts", "as_of", "scan_entities", "entity_rows"}, "versions", "seconds"}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# Measured on 2 busy cores: C1-only JIT and the serial GC halve the JVM's CPU time for these short
# queries (about 20 s against 44 s), and interpreted plans beat compiling code for tiny tables.
JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def spark_session(jars: list[str]) -> Any:
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("newsbeam-engines-test")
        .config("spark.jars", ",".join(jars))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", JAVA_OPTIONS)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Tiny tables: Delta's default of 50 tasks to rebuild each snapshot dominated the run time.
        .config("spark.databricks.delta.snapshotPartitions", "1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def read_spark(spec: dict[str, Any]) -> dict[str, Any]:
    lake, tables, as_of = spec["lake"], spec["tables"], spec["as_of"]
    spark = spark_session(spec["jars"])
    spark.sparkContext.setLogLevel("ERROR")
    try:
        counts, history, earlier, fields = {}, {}, {}, {}
        for name, folder in tables.items():
            path = os.path.join(lake, folder)
            frame = spark.read.format("delta").load(path)
            counts[name] = frame.count()
            # Partition columns come from the log (entity=…/date=… folders), typed as the log declares.
            fields[name] = {field.name: field.dataType.simpleString() for field in frame.schema.fields}
            rows = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version", "operation").collect()
            history[name] = sorted([row["version"], row["operation"]] for row in rows)
            if name in as_of:
                old = spark.read.format("delta").option("versionAsOf", as_of[name]).load(path)
                earlier[name] = old.count()
        entities = spark.read.format("delta").load(os.path.join(lake, tables["entities"]))
        entity_rows = entities.where(entities.entity == spec["entity"]).count()
        return {"counts": counts, "history": history, "as_of": earlier, "fields": fields, "entity_rows": entity_rows}
    finally:
        spark.stop()


def read_polars(spec: dict[str, Any]) -> dict[str, Any]:
    import polars as pl

    lake, tables, as_of = spec["lake"], spec["tables"], spec["as_of"]
    counts, earlier = {}, {}
    for name, folder in tables.items():
        path = os.path.join(lake, folder)
        counts[name] = pl.read_delta(path).height
        if name in as_of:
            earlier[name] = pl.read_delta(path, version=as_of[name]).height
    entities = pl.scan_delta(os.path.join(lake, tables["entities"]))
    return {
        "counts": counts,
        "as_of": earlier,
        "scan_entities": entities.select(pl.len()).collect().item(),
        "entity_rows": entities.filter(pl.col("entity") == spec["entity"]).select(pl.len()).collect().item(),
    }


def main() -> int:
    spec = json.loads(sys.argv[1])
    import polars
    import pyspark

    out: dict[str, Any] = {"versions": {"pyspark": pyspark.__version__, "polars": polars.__version__}}
    started = time.perf_counter()
    out["spark"] = read_spark(spec)
    middle = time.perf_counter()
    out["polars"] = read_polars(spec)
    out["seconds"] = {"spark": round(middle - started, 1), "polars": round(time.perf_counter() - middle, 2)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
