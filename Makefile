# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# The local stack `make demo` and `make lab` run in the background; everything finds it through
# its outputs file, so it listens on free ports (a busy 8000 does not matter).
STATE := .bingo
STACK := $(STATE)/outputs.json
STACK_PORTS ?= --http-port 0 --ws-port 0
REPORT := reports/demo
# A small, lively conference: 3 rooms, 30 players, 3 public boards, a mark every 6 s per player;
# played 6x faster than real time, it is over in well under a minute.
DEMO_REPLAY ?= --games 3 --players 30 --boards 3 --marks-per-minute 10 --join-window 20 \
	--duration 120 --seed 7 --speed 6
# Shell prologue of the recipes that start the stack: stop it whatever happens next (a failure,
# Ctrl-C). The INT/TERM trap runs once the foreground command has exited, then the EXIT trap.
WITH_STACK := set -e; \
	trap '$(BIN)/bingo-ops teardown --target local --state-dir $(STATE)' EXIT; \
	trap 'exit 130' INT TERM; \
	$(BIN)/bingo-ops deploy --target local --state-dir $(STATE) $(STACK_PORTS)

.PHONY: install demo demo-game lab test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,notebooks]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its extras

# Uses (and then stops) the stack in .bingo: do not run it while `make lab` is open.
demo: install  ## local stack, a replayed conference, the notebook suite, an HTML report
	@$(WITH_STACK); \
	$(BIN)/bingo-ops replay --stack $(STACK) $(DEMO_REPLAY); \
	$(BIN)/bingo-ops notebooks run --stack $(STACK) --params notebooks/demo-params.yaml \
		--output $(REPORT); \
	echo; echo "The report: $(REPORT)/index.html (summary: $(REPORT)/summary.json)"

demo-game: install  ## one live game over real sockets, drawn in the terminal
	$(BIN)/bingo-ops demo --state-dir $(STATE)

# JupyterLab runs kernels in notebooks/, hence the absolute path in the hint.
# LAB_OPTIONS passes options on, e.g. LAB_OPTIONS="--no-browser --port 8899" (or, in a
# container running as root, --allow-root).
LAB_OPTIONS ?=
lab: install  ## JupyterLab on notebooks/ with the local stack running (stopped on exit)
	@$(WITH_STACK); \
	echo; echo "In a notebook's parameters cell, set stack = \"$(CURDIR)/$(STACK)\""; \
	echo "to use this stack (stack = \"\" starts a throwaway one); in 01_deploy, set"; \
	echo "state_dir = \"$(CURDIR)/$(STATE)\" to attach to it."; echo; \
	$(BIN)/jupyter lab $(LAB_OPTIONS) notebooks/

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
