"""``tiltrun inspect``: what would the gate say about these objects? Offline, no cluster.

It reads workloads, ReplicaSets and pods from YAML or JSON (one object, a multi-document
stream, or a ``List`` as ``kubectl get -o yaml`` prints it), relates them exactly as the
operator does (``engine.store.Store``) and judges them with the operator's own code
(``judge.status.desired_status``). The run it judges for is, per namespace, either a
TiltRun found in the input (``--run NAME``: its selector, ci settings and startTime) or
one selecting by ``--selector`` (default: every candidate workload), with no run timeout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import IO, Any

import click
import yaml
from rich.console import Console

from tiltrun.api.config import ConfigError, OperatorConfig, read_config
from tiltrun.api.healthcheck import (
    KIND_PATTERN,
    HealthCheckError,
    read_health_checks,
    split_api_version,
)
from tiltrun.api.model import parse_time
from tiltrun.api.selector import SelectorError, format_selector, selector_of
from tiltrun.api.selector import parse_selector as parse_label_selector
from tiltrun.cli.kube import CommandError, ExitThreeOnUsage, is_tiltrun
from tiltrun.cli.manifests import ManifestError, read_documents
from tiltrun.cli.progress import evidence_line, rows, table
from tiltrun.engine.store import Store
from tiltrun.judge.exit import Outcome
from tiltrun.judge.healthchecks import compile_problems
from tiltrun.judge.kinds import BUILTIN, TILTRUN, Kind, Registry
from tiltrun.judge.library import LIBRARY
from tiltrun.judge.objects import get_str
from tiltrun.judge.status import Desired, desired_status
from tiltrun.judge.target import judge

Obj = dict[str, Any]

#: Selects every candidate workload (an empty selector would mean the default label).
EVERYTHING: Obj = {"matchLabels": {}}
_VERDICTS = {
    Outcome.RUNNING: "not done yet",
    Outcome.SUCCEEDED: "would succeed",
    Outcome.FAILED: "would fail",
    Outcome.TIMED_OUT: "timed out",
}


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
            "selector": format_selector(self.selector) or "(everything)",
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
    """A kubectl label selector (``app=web,tier in (a,b),!legacy``); blank: everything."""
    try:
        return parse_label_selector(text) or dict(EVERYTHING)
    except SelectorError as err:
        raise CommandError(str(err)) from None


def registry(objects: Sequence[Obj], config: OperatorConfig) -> Registry:
    """The built-in kinds, also watching the other kinds judged offline, as if the
    operator watched them.

    Those the health checks know (the run's, the file's, the library's), and those the
    configuration's ``watch:`` list names. Files carry Kinds where ``watch:`` names
    plurals: a CustomResourceDefinition in the input says which plural is which Kind,
    else the usual English plural of the Kind is taken (``certificates``,
    ``policies``, ``ingresses``). The kinds the operator watches anyway, and TiltRuns,
    stay as they are. Offline, where a kind is served is unknown: its Kind stands in for
    its plural.
    """
    kinds = {(check.group, check.kind) for check in (*config.health_checks, *LIBRARY)}
    for obj in objects:
        spec = obj.get("spec")
        if is_tiltrun(obj) and isinstance(spec, dict):
            kinds |= {
                (split_api_version(get_str(c, "apiVersion"))[0], get_str(c, "kind"))
                for c in spec.get("healthChecks") or []
            }
    plurals: dict[tuple[str, str], str] = {}
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            group, plural = get_str(obj, "spec", "group"), get_str(obj, "spec", "names", "plural")
            plurals[(group, plural)] = get_str(obj, "spec", "names", "kind")
    wanted = {(w.group, w.resource) for w in config.watch}
    for obj in objects:
        kind = str(obj.get("kind") or "")
        group = str(obj.get("apiVersion") or "").rpartition("/")[0]
        if any(plurals.get(w) == kind or w[1] in _plurals(kind) for w in wanted if w[0] == group):
            kinds.add((group, kind))
    return BUILTIN.watching(
        *(
            Kind(group, "", kind, kind)
            for group, kind in sorted(kinds)
            if re.match(KIND_PATTERN, kind) and not _known(kind)
        )
    )


def _known(kind: str) -> bool:
    """True for a Kind the operator watches anyway, or TiltRun."""
    entry = BUILTIN.lookup(kind)
    return entry is not None and (entry.watched or entry is TILTRUN)


def _plurals(kind: str) -> set[str]:
    word = kind.lower()
    return {word + "s", word + "es", word[:-1] + "ies" if word.endswith("y") else word + "s"}


def inspect_objects(
    objects: Iterable[Obj],
    *,
    selector: Obj | None,
    run: str | None,
    now: datetime,
    config: OperatorConfig | None = None,
) -> list[Inspection]:
    """Judge ``objects`` per namespace, as the operator would for the chosen run.

    ``config`` holds the operator-wide health checks and extra kinds to judge
    (``--health-checks FILE``).
    """
    config = config or OperatorConfig()
    objects = list(objects)
    store = Store(kinds=registry(objects, config))
    runs: dict[tuple[str, str], Obj] = {}
    for index, obj in enumerate(objects):
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if is_tiltrun(obj):
            runs[(namespace, name)] = obj
        elif (entry := store.kinds.of(obj)) is not None and entry.watched:
            # Hand-written files have no uids; the Store keys everything by uid.
            uid = meta.get("uid") or f"inspect-{index}"
            store.put(str(obj["kind"]), {**obj, "metadata": {**meta, "uid": uid}})
    if run is not None:
        chosen = sorted(key for key in runs if key[1] == run)
        if not chosen:
            raise CommandError(f"the input holds no TiltRun named {run}")
        return [_judge(store, runs[key], now, config, run=run) for key in chosen]
    namespaces = sorted(ns for ns, workloads in store.workloads.items() if workloads and ns)
    if not namespaces and store.workloads.get(""):
        namespaces = [""]  # only cluster-scoped objects (CRDs)
    wanted = selector if selector is not None else dict(EVERYTHING)
    return [_judge(store, _synthetic_run(ns, wanted), now, config, run="") for ns in namespaces]


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


def _judge(
    store: Store, run_obj: Obj, now: datetime, config: OperatorConfig, *, run: str
) -> Inspection:
    key = store.put_run(run_obj)
    started = parse_time((run_obj.get("status") or {}).get("startTime")) or now
    desired = desired_status(
        run_obj,
        store.candidates(key),
        start_time=started,
        now=now,
        pid=0,
        judge_one=partial(judge, kinds=store.kinds),
        operator_checks=config.health_checks,
    )
    selector = dict(selector_of(run_obj))
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
@click.option(
    "--health-checks",
    "health_checks",
    type=click.File("r"),
    help="The operator's configuration file, or a YAML list of health checks: "
    "operator-wide CEL rules, and (watch:) other kinds to judge.",
)
def inspect(
    files: tuple[IO[str], ...],
    selector: str | None,
    run: str | None,
    output: str,
    now: str | None,
    health_checks: IO[str] | None,
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
    config = _read_checks(health_checks) if health_checks else OperatorConfig()
    found = inspect_objects(objects, selector=wanted, run=run, now=at, config=config)
    if output == "json":
        click.echo(json.dumps({"results": [i.to_dict() for i in found]}, indent=2))
        return
    if not found:
        kinds = ", ".join(f"{kind.kind}s" for kind in BUILTIN.targets)
        click.echo(f"no workloads ({kinds}) found")
        return
    console = Console(soft_wrap=False)
    for inspection in found:
        where = inspection.namespace or "(no namespace)"
        chosen = f"TiltRun {inspection.run}" if inspection.run else "selector "
        if not inspection.run:
            chosen += format_selector(inspection.selector) or "(everything)"
        console.print(table(f"{where}: {chosen}", inspection.desired.status, at))
        verdict = inspection.desired.verdict
        click.echo(f"verdict: {_VERDICTS[verdict.outcome]}: {verdict.summary}")
        for line in evidence_lines(inspection.desired.status):
            click.echo(f"  {line}")
        click.echo("")


def evidence_lines(status: Obj) -> list[str]:
    """``deployment/web: ImagePullBackOff in pod web-x container web (3 restarts)`` for
    every target not satisfied that carries evidence: the stored fields, not the prose."""
    return [
        f"{r.name}: {evidence_line(r.evidence)}"
        for r in rows(status)
        if r.evidence and not r.satisfied and r.state != "disabled"
    ]


def _read_checks(stream: IO[str]) -> OperatorConfig:
    """``--health-checks FILE``: an operator configuration file or a list of checks.

    A CommandError (exit 3) names what is wrong, including an expression that does not
    compile, quoted with the compiler's message.
    """
    source = "stdin" if stream.name == "<stdin>" else stream.name
    text = stream.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise CommandError(f"{source} is not valid YAML") from None
    try:
        if isinstance(data, list):
            config = OperatorConfig(health_checks=read_health_checks(data, source))
        else:
            config = read_config(text, source)
    except (ConfigError, HealthCheckError) as err:
        raise CommandError(str(err)) from None
    problems = compile_problems(config.health_checks)
    if problems:
        raise CommandError(problems[0])
    return config
