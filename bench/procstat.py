"""CPU time and memory of a process this harness started, read from ``/proc``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """CPU seconds used so far (user + system), resident memory now and at its peak."""

    cpu_seconds: float
    rss_bytes: int
    peak_rss_bytes: int


def sample(pid: int) -> Sample | None:
    """The process's counters now; ``None`` when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its ')' do not.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    memory = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            memory[key] = int(value.split()[0]) * 1024  # kB
    return Sample((utime + stime) / _TICKS, memory.get("VmRSS", 0), memory.get("VmHWM", 0))
