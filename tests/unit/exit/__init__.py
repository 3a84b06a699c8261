"""Unit tests of the exit logic (tiltrun.judge.exit) and the conditions built from it."""
