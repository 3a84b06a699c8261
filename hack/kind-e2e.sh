#!/usr/bin/env bash
# The end-to-end path for a laptop with Docker: build the operator's image, run it in a
# kind cluster from deploy/ (through hack/kind, which only swaps in the local image),
# and run the tests marked `e2e` against that deployed operator, with the same pytest
# fixtures the dev cluster uses.
#
#   hack/kind-e2e.sh            # or: make kind-e2e
#
# Needs docker, kind and kubectl on PATH, and a Python with the dev extras (the
# Makefile's .venv, or PYTHON=...). It cannot run on the project's own machines
# (they have no Docker engine), so the dry-run tests in tests/integration/test_deploy.py
# keep the manifests it applies honest.
#
# Environment:
#   KIND_CLUSTER   cluster name (default tiltrun-e2e); an existing one is reused
#   KEEP_CLUSTER   1: leave the cluster up afterwards (default: delete it if we made it)
#   IMAGE          image to build and load (default tiltrun-operator:e2e; hack/kind
#                  expects that name, so change both together)
#   PYTHON         interpreter with pytest (default .venv/bin/python)
#   PYTEST_ARGS    extra arguments for pytest

set -euo pipefail

cd "$(dirname "$0")/.."

KIND_CLUSTER="${KIND_CLUSTER:-tiltrun-e2e}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"
IMAGE="${IMAGE:-tiltrun-operator:e2e}"
PYTHON="${PYTHON:-.venv/bin/python}"
PYTEST_ARGS="${PYTEST_ARGS:-}"

for tool in docker kind kubectl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "kind-e2e: $tool is not on PATH" >&2
    exit 2
  fi
done
if ! docker info >/dev/null 2>&1; then
  echo "kind-e2e: the Docker engine is not reachable (docker info failed)" >&2
  exit 2
fi
if [ ! -x "$PYTHON" ]; then
  echo "kind-e2e: $PYTHON not found; run 'make unit' once, or set PYTHON" >&2
  exit 2
fi

workdir="$(mktemp -d)"
kubeconfig="$workdir/kubeconfig"
created=0

cleanup() {
  status=$?
  if [ "$status" -ne 0 ] && [ -s "$kubeconfig" ]; then
    echo "--- operator logs ---" >&2
    kubectl --kubeconfig "$kubeconfig" -n tiltrun-system logs deployment/tiltrun-operator \
      --tail=100 >&2 || true
  fi
  if [ "$created" -eq 1 ] && [ "$KEEP_CLUSTER" != "1" ]; then
    kind delete cluster --name "$KIND_CLUSTER" || true
  fi
  rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT

if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  echo "kind-e2e: reusing kind cluster $KIND_CLUSTER"
else
  kind create cluster --name "$KIND_CLUSTER" --wait 120s
  created=1
fi
kind get kubeconfig --name "$KIND_CLUSTER" >"$kubeconfig"
k() { kubectl --kubeconfig "$kubeconfig" "$@"; }

docker build --tag "$IMAGE" .
kind load docker-image "$IMAGE" --name "$KIND_CLUSTER"

k apply -k hack/kind
k wait --for=condition=Established --timeout=60s crd/tiltruns.tilt.dev
# A new image under the same tag: make the Deployment pick it up.
k -n tiltrun-system rollout restart deployment/tiltrun-operator
k -n tiltrun-system rollout status deployment/tiltrun-operator --timeout=180s

# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words on purpose
TILTRUN_TEST_KUBECONFIG="$kubeconfig" TILTRUN_TEST_OPERATOR=deployed \
  "$PYTHON" -m pytest -m e2e tests/integration $PYTEST_ARGS
