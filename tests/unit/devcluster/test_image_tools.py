"""``make image`` where it cannot get its tools: one sentence, never a traceback or a skip.

tests/integration/test_image.py fails with that sentence when it happens for real.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from tiltrun_dev import image
from tiltrun_dev.image import ImageError, ensure_tools, ulimits_within_hard_limits


def test_without_apt_get_the_missing_tools_are_named_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(image.shutil, "which", lambda _: None)
    with pytest.raises(ImageError) as raised:
        ensure_tools(log=lambda _: None)
    message = str(raised.value)
    assert message.startswith("Cannot build the image: no Docker daemon answers, buildah, ")
    assert "cannot be installed here (no apt-get)" in message
    assert message.count(". ") == 0 and "\n" not in message


def test_without_root_it_says_to_run_as_root_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        image.shutil, "which", lambda cmd: "/usr/bin/apt-get" if cmd == "apt-get" else None
    )
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ImageError, match=r"run `make image` as root once \(it uses apt-get\)"):
        ensure_tools(log=lambda _: None)


def test_nothing_is_installed_when_every_tool_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image.shutil, "which", lambda cmd: f"/usr/bin/{cmd}")
    monkeypatch.setattr(image.subprocess, "run", lambda *a, **k: pytest.fail("ran a command"))
    ensure_tools(log=lambda _: pytest.fail("logged an install"))


def test_ulimits_stay_within_the_hard_limits_and_pid_max() -> None:
    limits = dict(item.split("=") for item in ulimits_within_hard_limits())
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(which)[1]
        soft_limit, hard_limit = (int(v) for v in limits[name].split(":"))
        assert soft_limit == hard_limit
        if hard != resource.RLIM_INFINITY:
            assert hard_limit <= hard
    assert int(limits["nproc"].split(":")[0]) <= pid_max
