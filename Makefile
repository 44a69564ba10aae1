# Every target works from a fresh clone with only Python 3.11: it makes .venv and installs into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint check eval clean golden gazetteer

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

demo: $(STAMP)
	$(BIN)/newsbeam demo --output demo-lake

lint: $(STAMP)
	$(BIN)/ruff check pipeline transforms schemas tests scripts
	$(BIN)/ruff format --check pipeline transforms schemas tests scripts
	$(BIN)/mypy

check: lint test

# Quality reports (JSON in eval/): near-duplicate precision/recall per edit level, ECB+ story B-cubed.
eval: $(STAMP)
	$(BIN)/python -m pytest -m slow -q || test $$? -eq 5
	$(BIN)/python scripts/eval_near_dups.py
	$(BIN)/python scripts/eval_stories.py
	$(BIN)/python scripts/eval_ner_pipeline.py

golden: $(STAMP)
	$(BIN)/python tests/golden/regenerate.py

gazetteer: $(STAMP)
	$(BIN)/python scripts/build_gazetteer.py

clean:
	rm -rf $(VENV) demo-lake .pytest_cache .mypy_cache .ruff_cache
