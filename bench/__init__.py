"""The tiltrun-operator benchmark: ``python -m bench`` (see docs/benchmark.md)."""
