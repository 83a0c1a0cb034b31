# paysync: the README's commands. Everything runs from the virtualenv at .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV := source <(scripts/services.sh env) &&

.PHONY: setup services services-stop test demo bench lint compose-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml devtools/pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]' -e ./devtools
	@touch $@

services:
	@scripts/services.sh start

services-stop:
	@scripts/services.sh stop

# Set up everything and run the whole suite (benchmarks excluded).
test: setup services
	@$(ENV) scripts/test.sh

# Set up everything and run the main job end to end against the local sandbox.
demo: setup services
	@$(ENV) $(BIN)/paysync demo

bench: setup services
	@$(ENV) scripts/bench.sh

lint: setup
	$(BIN)/ruff check .

compose-check:
	@scripts/compose-check.sh

clean: services-stop
	rm -rf .local
