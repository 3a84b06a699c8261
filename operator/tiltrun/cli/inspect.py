"""``tiltrun inspect``: what would the gate say about these objects? Offline, no cluster.

It reads workloads, ReplicaSets and pods from YAML or JSON (one object, a multi-document
stream, or a ``List`` as ``kubectl get -o yaml`` prints it), relates them exactly as the
operator does (``engine.store.Store``) and judges them with the operator's own code
(``engine.status.desired_status``). The run it judges for is, per namespace, either a
TiltRun found in the input (``--run NAME``: its selector, ci settings and startTime) or
one selecting by ``--selector`` (default: every candidate workload), with no run timeout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import click
from rich.console import Console

from tiltrun.api.model import parse_time
from tiltrun.cli.kube import CommandError, ExitThreeOnUsage, is_tiltrun
from tiltrun.cli.manifests import ManifestError, read_documents
from tiltrun.cli.progress import table
from tiltrun.engine.status import Desired, desired_status
from tiltrun.engine.store import WORKLOAD_KINDS, Store
from tiltrun.judge.exit import Outcome, describe_selector

Obj = dict[str, Any]

#: Kinds the operator feeds its Store: the workloads and what relates pods to them.
RELATED_KINDS = (*WORKLOAD_KINDS, "ReplicaSet")
#: Selects every candidate workload (an empty selector would mean the default label).
EVERYTHING: Obj = {"matchLabels": {}}
_VERDICTS = {
    Outcome.RUNNING: "not done yet",
    Outcome.SUCCEEDED: "would succeed",
    Outcome.FAILED: "would fail",
    Outcome.TIMED_OUT: "timed out",
}
_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"


@dataclass(frozen=True)
class Inspection:
    """The verdict on one namespace's workloads."""

    namespace: str
    #: The TiltRun whose spec was used, or ``""`` for ``--selector``.
    run: str
    selector: Obj
    desired: Desired

    def to_dict(self) -> Obj:
        status = self.desired.status
        kept = ("targets", "done", "error", "summary", "progress", "satisfied", "total")
        return {
            "namespace": self.namespace,
            "run": self.run or None,
            "selector": describe_selector(self.selector) or "(everything)",
            "outcome": str(self.desired.verdict.outcome),
            "status": {key: status[key] for key in kept},
        }


def load_objects(text: str, source: str) -> list[Obj]:
    """Every object in ``text``, Lists flattened; a CommandError for unreadable input.

    Timestamps stay strings, as the API server keeps them, quoted in the file or not.
    """
    try:
        documents = read_documents(text, source)
    except ManifestError as err:
        raise CommandError(str(err)) from None
    objects: list[Obj] = []
    for document in documents:
        objects.extend(_flatten(document, source))
    return objects


def _flatten(document: object, source: str) -> Iterable[Obj]:
    if document is None:
        return []
    if isinstance(document, list):  # a JSON array of objects, as jq and scripts write them
        return [obj for item in document for obj in _flatten(item, source)]
    if not isinstance(document, dict):
        raise CommandError(f"{source} holds a {type(document).__name__}, not Kubernetes objects")
    if str(document.get("kind", "")).endswith("List") and "items" in document:
        return [obj for item in document.get("items") or [] for obj in _flatten(item, source)]
    return [document]


def parse_selector(text: str) -> Obj:
    """A kubectl label selector (``app=web,tier in (a,b),!legacy``) as a LabelSelector."""
    labels: dict[str, str] = {}
    expressions: list[Obj] = []
    for part in _split(text):
        if m := re.fullmatch(rf"({_KEY})\s+(in|notin)\s+\(([^)]*)\)", part):
            values = [v.strip() for v in m.group(3).split(",") if v.strip()]
            operator = "In" if m.group(2) == "in" else "NotIn"
            expressions.append({"key": m.group(1), "operator": operator, "values": values})
        elif m := re.fullmatch(rf"!\s*({_KEY})", part):
            expressions.append({"key": m.group(1), "operator": "DoesNotExist"})
        elif m := re.fullmatch(rf"({_KEY})\s*!=\s*(\S*)", part):
            expressions.append({"key": m.group(1), "operator": "NotIn", "values": [m.group(2)]})
        elif m := re.fullmatch(rf"({_KEY})\s*==?\s*(\S*)", part):
            labels[m.group(1)] = m.group(2)
        elif re.fullmatch(_KEY, part):
            expressions.append({"key": part, "operator": "Exists"})
        else:
            raise CommandError(f"cannot read {part!r} in the selector {text!r}")
    selector: Obj = {}
    if labels:
        selector["matchLabels"] = labels
    if expressions:
        selector["matchExpressions"] = expressions
    return selector or dict(EVERYTHING)


def _split(text: str) -> list[str]:
    """Split on the commas that are not inside ``(...)``."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def inspect_objects(
    objects: Iterable[Obj], *, selector: Obj | None, run: str | None, now: datetime
) -> list[Inspection]:
    """Judge ``objects`` per namespace, as the operator would for the chosen run."""
    store = Store()
    runs: dict[tuple[str, str], Obj] = {}
    for index, obj in enumerate(objects):
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if is_tiltrun(obj):
            runs[(namespace, name)] = obj
        elif obj.get("kind") in RELATED_KINDS:
            # Hand-written files have no uids; the Store keys everything by uid.
            uid = meta.get("uid") or f"inspect-{index}"
            store.put(str(obj["kind"]), {**obj, "metadata": {**meta, "uid": uid}})
    if run is not None:
        chosen = sorted(key for key in runs if key[1] == run)
        if not chosen:
            raise CommandError(f"the input holds no TiltRun named {run}")
        return [_judge(store, runs[key], now, run=run) for key in chosen]
    namespaces = sorted(ns for ns, workloads in store.workloads.items() if workloads)
    wanted = selector if selector is not None else dict(EVERYTHING)
    return [_judge(store, _synthetic_run(ns, wanted), now, run="") for ns in namespaces]


def _synthetic_run(namespace: str, selector: Obj) -> Obj:
    return {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "TiltRun",
        "metadata": {"name": "inspect", "namespace": namespace, "generation": 1},
        # No run start is known offline, so the run timeout is off; the rest as defaults.
        "spec": {
            "tiltfilePath": "(inspect)",
            "exitCondition": "ci",
            "selector": selector,
            "ci": {"timeout": "0"},
        },
    }


def _judge(store: Store, run_obj: Obj, now: datetime, *, run: str) -> Inspection:
    key = store.put_run(run_obj)
    started = parse_time((run_obj.get("status") or {}).get("startTime")) or now
    desired = desired_status(run_obj, store.candidates(key), start_time=started, now=now, pid=0)
    selector = (run_obj.get("spec") or {}).get("selector") or {
        "matchLabels": {"tilt.dev/run": key[1]}
    }
    store.drop_run(run_obj)
    return Inspection(key[0], run, selector, desired)


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    parsed = parse_time(value)
    if parsed is None:
        raise CommandError(f"--now {value!r} is not an RFC 3339 time like 2026-05-12T09:19:04Z")
    return parsed


@click.command("inspect", cls=ExitThreeOnUsage)
@click.option(
    "-f",
    "--filename",
    "files",
    type=click.File("r"),
    multiple=True,
    required=True,
    help="YAML or JSON: objects, a List, or a multi-document stream (- for stdin). Repeatable.",
)
@click.option(
    "-l", "--selector", help="Judge the workloads this label selector picks (default: all)."
)
@click.option("--run", help="Judge for the TiltRun of this name found in the input.")
@click.option(
    "-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--now", help="Judge as of this RFC 3339 time (default: the current time).")
def inspect(
    files: tuple[IO[str], ...],
    selector: str | None,
    run: str | None,
    output: str,
    now: str | None,
) -> None:
    """Judge workloads and pods from files, offline, with the operator's own code.

    Try: kubectl get deploy,sts,ds,job,rs,pod,tiltrun -o yaml > dump.yaml;
    tiltrun inspect -f dump.yaml
    """
    if selector is not None and run is not None:
        raise click.UsageError("give --selector or --run, not both")
    objects = [
        obj
        for stream in files
        for obj in load_objects(stream.read(), "stdin" if stream.name == "<stdin>" else stream.name)
    ]
    wanted = parse_selector(selector) if selector is not None else None
    at = _parse_now(now)
    found = inspect_objects(objects, selector=wanted, run=run, now=at)
    if output == "json":
        click.echo(json.dumps({"results": [i.to_dict() for i in found]}, indent=2))
        return
    if not found:
        click.echo("no workloads (Deployments, StatefulSets, DaemonSets, Jobs, Pods) found")
        return
    console = Console(soft_wrap=False)
    for inspection in found:
        where = inspection.namespace or "(no namespace)"
        chosen = f"TiltRun {inspection.run}" if inspection.run else "selector "
        if not inspection.run:
            chosen += describe_selector(inspection.selector) or "(everything)"
        console.print(table(f"{where}: {chosen}", inspection.desired.status, at))
        verdict = inspection.desired.verdict
        click.echo(f"verdict: {_VERDICTS[verdict.outcome]}: {verdict.summary}\n")
