#!/usr/bin/env bash
# Fetch the Delta Lake jars Spark needs to read the lake (make test-engines) into DEST
# (default .venv-engines/jars), with `mvn dependency:get` from Maven Central, and check their SHA-256.
# Idempotent: jars already in DEST with the right hash are kept and Maven is not run.
#
# The version must equal delta-spark in requirements-engines.lock (scripts/lock_engines.py), and the
# Spark line (4.1) pyspark's. Spark's own `spark.jars.packages` resolution fails here on transitive
# BOMs, so the test passes these two paths in `spark.jars` instead. Maven's local repository is
# $MAVEN_REPO_LOCAL (default ~/.m2/repository); -C fails on a checksum mismatch with Central.
set -euo pipefail

DEST=${1:-.venv-engines/jars}
REPO=${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}
DELTA=4.1.0
# artifact (group:name:version)            sha256 of the jar
JARS=(
  "io.delta:delta-spark_4.1_2.13:$DELTA     9b05d7a82196ee1f1073733a45a2faae59161e52b86ae918fe6742fad6eaf036"
  "io.delta:delta-storage:$DELTA            6d0520ffcc35b582369f92c23fa24e14a5bb935cf6e31ed7f47c5046ae17cb25"
)

if ! command -v mvn >/dev/null; then
  echo "Maven (mvn) is not installed: install it (and Java 17+) to fetch the Delta jars for Spark" >&2
  exit 1
fi
mkdir -p "$DEST"
for entry in "${JARS[@]}"; do
  read -r artifact sha <<<"$entry"
  IFS=: read -r group name version <<<"$artifact"
  jar="$DEST/$name-$version.jar"
  if [ -f "$jar" ] && echo "$sha  $jar" | sha256sum --check --status; then
    continue
  fi
  if ! log=$(mvn --batch-mode --quiet --strict-checksums -Dstyle.color=never -Dmaven.repo.local="$REPO" \
    dependency:get -Dartifact="$artifact" -Dtransitive=false 2>&1); then
    echo "$log" >&2
    echo "mvn dependency:get $artifact failed" >&2
    exit 1
  fi
  cp "$REPO/${group//.//}/$name/$version/$name-$version.jar" "$jar.part"
  if ! echo "$sha  $jar.part" | sha256sum --check --status; then
    echo "$artifact: SHA-256 differs from the one pinned in $0" >&2
    rm -f "$jar.part"
    exit 1
  fi
  mv "$jar.part" "$jar"
  echo "fetched $jar"
done
