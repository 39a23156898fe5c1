# The two commands: `make run` (the whole platform) and `make test` (the suite).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint lock bench clean-data

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.lock | $(VENV)/bin/activate
	$(VENV)/bin/pip install --quiet -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock | $(VENV)/bin/activate
	$(VENV)/bin/pip install --quiet -r requirements-dev.lock
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(PY) scripts/colony.py run

test: $(VENV)/.dev
	$(PY) scripts/colony.py test $(ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lock: $(VENV)/.dev
	$(VENV)/bin/uv pip compile -q pyproject.toml -o requirements.lock --python-version 3.11
	$(VENV)/bin/uv pip compile -q pyproject.toml --extra dev -o requirements-dev.lock --python-version 3.11

bench: $(VENV)/.dev
	$(PY) bench/http_bench.py

clean-data:
	rm -rf .data
