"""Where the operator's CPU goes: a py-spy profile summarised by component.

Record the operator of a benchmark run with py-spy (as root; it only reads the process)::

    py-spy record --pid <operator pid> --rate 200 --format raw --threads \
        --output operator.txt --nonblocking

then summarise::

    python -m bench.profile operator.txt [--events N]
    python -m bench.profile --audit <cluster>/logs/audit.log [--user bench:operator]

The second form gives the API server's own time for the operator's status PATCHes
(``requestReceivedTimestamp`` to ``stageTimestamp`` of ``ResponseComplete``).

Each sample (a stack of the on-CPU thread; idle threads are not sampled) is counted
twice: once by its **leaf category**, the innermost frame that names what the CPU was
doing (JSON, TLS, the judgement, kopf, the event loop...), and once by its **owner**, the
outermost frame that says on whose behalf (kopf's watch and handler machinery, the
engine, the writer threads...). With ``--events`` (the watch events the operator
received, from the benchmark's results) the figures are also given per event.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

from tiltrun.api.model import parse_time

#: Leaves that are a thread waiting, not computing: py-spy's sampler (``--nonblocking``)
#: cannot always tell, so they are set apart and left out of the CPU figures.
IDLE = (
    r"EpollSelector\.select \(selectors\.py",
    r"_worker \(concurrent/futures/thread\.py:81\)",  # an idle worker waiting for work
    r"_wait_for_tstate_lock",
    r"SSLSocket\.read \(ssl\.py:1167\)",  # a blocking read: waiting for the answer
    r"Condition\.wait \(threading\.py",
)

#: Innermost frame wins: (category, pattern on "function (file:line)").
LEAF = (
    # orjson is C: its time shows in the session's own _loads and _dumps frames.
    (
        "json",
        r"(json/(decoder|encoder|__init__)\.py|^_(loads|dumps) \(.*tiltrun/wiring/session\.py)",
    ),
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

#: The first rule any frame of the stack matches: on whose behalf the CPU was spent.
STARTUP = "start-up (imports, configuration)"
OWNER = (
    (
        STARTUP,
        r"(<frozen importlib|kopf/_core/intents/piggybacking|_make_ssl_context|load_kube_config)",
    ),
    ("writer threads (official client)", r"concurrent/futures/thread\.py"),
    ("kopf: watch stream", r"kopf/_cogs/clients/(watching|api|fetching)\.py"),
    ("kopf: queueing and workers", r"kopf/_core/reactor/(queueing|observation)\.py"),
    (
        "kopf: processing and handlers",
        r"kopf/(_core/(reactor/processing|actions|engines|intents)|_cogs/(configs|structs))",
    ),
    ("informers", r"tiltrun/wiring/(informer|watches)\.py"),
    ("engine loop", r"tiltrun/engine/engine\.py"),
    ("writer (async)", r"tiltrun/wiring/(writer|events|session)\.py"),
    ("health and metrics", r"(aiohttp/web|prometheus_client)"),
    (
        "network I/O callbacks (aiohttp, TLS)",
        r"(aiohttp/|ssl\.py|sslproto\.py|selector_events\.py)",
    ),
    # kopf.run is the root of every stack on the loop's thread: only deeper frames count.
    ("kopf: other", r"kopf/(?!_core/reactor/running\.py)"),
    ("event loop", r"asyncio/"),
)


def _first(frames: list[str], rules: tuple[tuple[str, str], ...]) -> str:
    """The first rule matched by the first frame that matches any (innermost-first lists)."""
    for frame in frames:
        for name, pattern in rules:
            if re.search(pattern, frame):
                return name
    return "other"


def _owner(frames: list[str]) -> str:
    """The first ``OWNER`` rule that any frame matches."""
    for name, pattern in OWNER:
        if any(re.search(pattern, frame) for frame in frames):
            return name
    return "other"


def summarise(text: str) -> tuple[Counter[str], Counter[str], int, int]:
    """(leaf categories, owners, samples, start-up samples) of py-spy raw output.

    Samples without a Python frame, or whose leaf is a thread waiting (``IDLE``), are not
    counted: the process was not computing then. Start-up (imports, configuration) is
    counted apart; the categories cover the rest, the steady state.
    """
    leaf: Counter[str] = Counter()
    owner: Counter[str] = Counter()
    total = startup = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or any(re.search(p, frames[-1]) for p in IDLE):
            continue
        total += count
        who = _owner(frames)
        if who == STARTUP:
            startup += count
            continue
        leaf[_first(list(reversed(frames)), LEAF)] += count
        owner[who] += count
    return leaf, owner, total, startup


def server_seconds(
    log: Path,
    user: str,
    verb: str,
    resource: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[float]:
    """The API server's time for each ``verb resource`` request by ``user`` in an audit log
    (received in ``[since, until]`` when given)."""
    out: list[float] = []
    needle = f'"username":"{user}"'.encode()
    with log.open("rb") as lines:
        for line in lines:
            if needle not in line:
                continue
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            kind = ref.get("resource", "") + (
                f"/{ref['subresource']}" if ref.get("subresource") else ""
            )
            if (
                event.get("stage") != "ResponseComplete"
                or event.get("verb") != verb
                or kind != resource
            ):
                continue
            received = parse_time(event.get("requestReceivedTimestamp"))
            done = parse_time(event.get("stageTimestamp"))
            if not received or not done:
                continue
            if (since and received < since) or (until and received > until):
                continue
            out.append((done - received).total_seconds())
    return out


def _audit_report(log: Path, user: str, since: datetime | None, until: datetime | None) -> int:
    for verb, resource in (("patch", "tiltruns/status"), ("create", "events"), ("patch", "events")):
        times = sorted(server_seconds(log, user, verb, resource, since, until))
        if not times:
            continue
        p = statistics.quantiles(times, n=100) if len(times) > 1 else times * 99
        print(
            f"{verb} {resource}: {len(times)} requests, API server time "
            f"p50 {p[49] * 1000:.1f} ms, p90 {p[89] * 1000:.1f} ms, p99 {p[98] * 1000:.1f} ms, "
            f"mean {statistics.fmean(times) * 1000:.1f} ms"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("raw", type=Path, nargs="?", help="py-spy record --format raw output")
    parser.add_argument("--rate", type=float, default=200, help="samples per second recorded")
    parser.add_argument("--events", type=int, default=0, help="watch events received")
    parser.add_argument("--audit", type=Path, help="an audit log: the PATCHes' server time")
    parser.add_argument("--user", default="bench:operator", help="whose requests (--audit)")
    parser.add_argument("--since", type=parse_time, help="--audit: from this time (RFC 3339)")
    parser.add_argument("--until", type=parse_time, help="--audit: up to this time")
    args = parser.parse_args(argv)
    if args.audit:
        return _audit_report(args.audit, args.user, args.since, args.until)
    if args.raw is None:
        parser.error("give a py-spy raw profile, or --audit")
    leaf, owner, total, startup = summarise(args.raw.read_text())
    if not total:
        print("no samples", file=sys.stderr)
        return 1
    steady = total - startup
    print(
        f"{total} samples of computing ({total / args.rate:.1f} CPU-seconds at {args.rate:g} Hz):"
        f" start-up {startup / args.rate:.1f} s, then {steady / args.rate:.1f} s"
    )
    if args.events:
        per = steady / args.rate / args.events * 1000
        print(f"{args.events} watch events: {per:.2f} ms CPU per event after start-up")
    for title, counts in (("after start-up, by leaf", leaf), ("after start-up, by owner", owner)):
        print(f"\n{title}:")
        for name, count in counts.most_common():
            per = f"  {count / args.rate / args.events * 1000:6.3f} ms/event" if args.events else ""
            print(f"  {name:36s} {100 * count / steady:5.1f} %{per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
