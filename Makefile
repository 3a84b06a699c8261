# The two commands a newcomer needs: `make demo` and `make test`.
# Each sets itself up: a virtualenv in .venv, the package, and (first run only)
# the control-plane binaries built from Go modules into ~/.cache/tiltrun.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test chaos lint typecheck unit integration binaries image clean-cluster kind-e2e bench bench-quick

$(STAMP): pyproject.toml dev/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./dev
	@touch $@

# First run only: builds the control plane, and Helm for the chart's tests, from pinned Go
# modules (8-10 min on 2 cores for the control plane; Helm adds a few more).
binaries: $(STAMP)
	$(BIN)/tiltrun dev-cluster build

demo: binaries
	$(BIN)/python -m tiltrun_dev.demo

test: lint typecheck binaries
	$(BIN)/pytest -n 3 --dist loadfile

# The slow fault tests (docs/operations.md): each starts a dev cluster of its own and
# kills its API servers or etcd. One at a time: they are CPU-heavy.
chaos: binaries
	$(BIN)/pytest -m chaos tests/faults

lint: $(STAMP)
	$(BIN)/ruff check operator dev tests bench hack/image
	$(BIN)/ruff format --check operator dev tests bench hack/image
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: binaries
	$(BIN)/pytest -n 3 --dist loadfile tests/integration

# The benchmark (docs/benchmark.md): the operator against kubectl wait and pollers, each
# alone and side by side, 10 to 200 runs, quiet and with a core kept busy, eight passes on
# dedicated dev clusters (28.7 min on 2 cores); results in bench/results/
bench: binaries $(VENV)/.installed-bench
	$(BIN)/python -m bench

# Its quick mode (5x4, under two minutes): fails on wasted status writes, polling while
# idle, or a missed transition. CI runs it as tests/integration/test_bench_quick.py.
bench-quick: binaries
	$(BIN)/python -m bench --quick

$(VENV)/.installed-bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]' -e ./dev
	@touch $@

clean-cluster: $(STAMP)
	$(BIN)/tiltrun dev-cluster down --name test
	$(BIN)/tiltrun dev-cluster down --name dev

# The operator's image, localhost/tiltrun-operator:dev: with Docker when a daemon answers,
# else with buildah and podman (installed with apt-get when missing, as root), on
# python:3.11-slim or, when no registry serves it, a Python base made from Debian's
# archive. Everything is cached under ~/.cache/tiltrun/containers: the first run takes a
# few minutes, the next ones seconds. docs/install.md, "The image".
image: $(STAMP)
	$(BIN)/tiltrun dev-image build

# Needs Docker and kind (not available on the project's CI machines): builds the image,
# deploys it with deploy/ into a kind cluster, runs the e2e tests against it.
kind-e2e: $(STAMP)
	PYTHON=$(BIN)/python hack/kind-e2e.sh
