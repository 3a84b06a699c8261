# The two commands a newcomer needs: `make demo` and `make test`.
# Each sets itself up: a virtualenv in .venv, the package, and (first run only)
# the control-plane binaries built from Go modules into ~/.cache/tiltrun.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration binaries clean-cluster kind-e2e

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# First run only: builds the control plane from pinned Go modules (8-10 min on 2 cores).
binaries: $(STAMP)
	$(BIN)/tiltrun dev-cluster build

demo: binaries
	$(BIN)/python -m tiltrun.demo

test: lint typecheck binaries
	$(BIN)/pytest -n 3 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check operator tests
	$(BIN)/ruff format --check operator tests

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: binaries
	$(BIN)/pytest -n 3 --dist loadfile tests/integration

clean-cluster: $(STAMP)
	$(BIN)/tiltrun dev-cluster down --name test
	$(BIN)/tiltrun dev-cluster down --name dev

# Needs Docker and kind (not available on the project's CI machines): builds the image,
# deploys it with deploy/ into a kind cluster, runs the e2e tests against it.
kind-e2e: $(STAMP)
	PYTHON=$(BIN)/python hack/kind-e2e.sh
