"""Where the operator's CPU goes: a py-spy profile summarised by component.

Record the operator of a benchmark run with py-spy (as root; it only reads the process)::

    py-spy record --pid <operator pid> --rate 200 --format raw --threads \
        --output operator.txt --nonblocking

then summarise::

    python -m bench.profile operator.txt [--events N]

Each sample (a stack of the on-CPU thread; idle threads are not sampled) is counted
twice: once by its **leaf category**, the innermost frame that names what the CPU was
doing (JSON, TLS, the judgement, kopf, the event loop...), and once by its **owner**, the
outermost frame that says on whose behalf (kopf's watch and handler machinery, the
engine, the writer threads...). With ``--events`` (the watch events the operator
received, from the benchmark's results) the figures are also given per event.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

#: Innermost frame wins: (category, pattern on "function (file:line)").
LEAF = (
    ("json", r"json/(decoder|encoder|__init__)\.py"),
    ("TLS and sockets", r"(ssl\.py|sslproto\.py|selector_events\.py|socket\.py)"),
    ("judgement", r"tiltrun/judge/"),
    ("status composition", r"tiltrun/(engine|judge)/status\.py"),
    ("store", r"tiltrun/engine/store\.py"),
    ("projection", r"tiltrun/judge/projection\.py"),
    ("informer", r"tiltrun/wiring/informer\.py"),
    ("engine", r"tiltrun/engine/"),
    ("writer", r"tiltrun/wiring/(writer|events|session)\.py"),
    ("official client", r"(kubernetes/client|urllib3|http/client\.py)"),
    ("kopf", r"kopf/"),
    ("aiohttp", r"(aiohttp|multidict|yarl)/"),
    ("logging", r"logging/"),
    ("metrics", r"prometheus_client/"),
    ("threads and futures", r"(threading\.py|concurrent/futures|queue\.py)"),
    ("event loop", r"asyncio/"),
)

#: Outermost frame wins: on whose behalf the CPU was spent.
OWNER = (
    ("writer threads (official client)", r"concurrent/futures/thread\.py"),
    ("kopf: watch stream", r"kopf/_cogs/clients/(watching|api|fetching)\.py"),
    ("kopf: queueing and workers", r"kopf/_core/reactor/(queueing|observation)\.py"),
    ("kopf: processing and handlers", r"kopf/_core/(reactor/processing|actions|engines)"),
    ("informers", r"tiltrun/wiring/informer\.py"),
    ("engine loop", r"tiltrun/engine/engine\.py"),
    ("health and metrics", r"(aiohttp/web|prometheus_client)"),
    ("kopf: other", r"kopf/"),
    ("event loop", r"asyncio/"),
)


def _first(frames: list[str], rules: tuple[tuple[str, str], ...]) -> str:
    for frame in frames:
        for name, pattern in rules:
            if re.search(pattern, frame):
                return name
    return "other"


def summarise(text: str) -> tuple[Counter[str], Counter[str], int]:
    """(samples by leaf category, samples by owner, total samples) of py-spy raw output."""
    leaf: Counter[str] = Counter()
    owner: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        leaf[_first(list(reversed(frames)), LEAF)] += count
        owner[_first(frames, OWNER)] += count
        total += count
    return leaf, owner, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("raw", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--rate", type=float, default=200, help="samples per second recorded")
    parser.add_argument("--events", type=int, default=0, help="watch events received")
    args = parser.parse_args(argv)
    leaf, owner, total = summarise(args.raw.read_text())
    if not total:
        print("no samples", file=sys.stderr)
        return 1
    cpu = total / args.rate
    print(f"{total} samples, {cpu:.1f} CPU-seconds at {args.rate:g} Hz")
    if args.events:
        print(f"{args.events} watch events: {cpu / args.events * 1000:.2f} ms CPU per event")
    for title, counts in (("by leaf category", leaf), ("by owner", owner)):
        print(f"\n{title}:")
        for name, count in counts.most_common():
            per = f"  {count / args.rate / args.events * 1000:6.3f} ms/event" if args.events else ""
            print(f"  {name:36s} {100 * count / total:5.1f} %{per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
