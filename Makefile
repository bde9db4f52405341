# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,notebooks]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its extras

demo: install  ## play a scripted game through the real handlers on SQLite
	$(BIN)/bingo-ops demo --state-dir .bingo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# pytest exits 5 when it collects no tests; say so plainly instead of failing obscurely.
pytest: install
	$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

test: lint typecheck pytest  ## lint, type checks and the whole test suite

bench: install  ## print the benchmarks' JSON
	$(BIN)/python bench/store.py
	$(BIN)/python bench/coldstart.py

clean:
	rm -rf $(VENV) .bingo .pytest_cache .mypy_cache .ruff_cache *.egg-info
