# Everything a fresh machine needs: `make serve` runs the product, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build by default; empty (TORCH_SPEC=) keeps a torch already in the venv, e.g. a GPU build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install serve separate test test-python test-frontend test-fast lint bench frontend system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/pip install -q "$(TORCH_SPEC)"; fi
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

system-deps:
	./scripts/system-deps.sh

frontend:
	@if [ -d frontend ]; then ./scripts/build-frontend.sh; fi

serve: install frontend
	$(BIN)/isomix serve $(ARGS)

separate: install
	$(BIN)/isomix separate $(ARGS)

# Everything: Python (unit, API, integration on real Redis/PostgreSQL/Celery) then the web UI.
test: test-python test-frontend

test-python: install system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-frontend: install system-deps
	./scripts/test-frontend.sh

test-fast: install
	$(BIN)/python -m pytest -m "not integration and not e2e" $(PYTEST_ARGS)

# What .ci/run checks before the tests: Python style and types, then the UI's ESLint and tsc.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	@if [ -d frontend ]; then ./scripts/lint-frontend.sh; fi

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist frontend/dist-e2e
