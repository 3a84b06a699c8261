"""``tiltrun ci``: wait on a TiltRun, show progress, explain a failure, exit with a clear code.

The state lives in the cluster, so the command only watches: it applies the TiltRun
(``-f``) or finds it (``NAME``), follows it with a watch (no polling), and returns when
the operator sets ``status.done``. Running it again attaches to the same run; a run
that already finished answers at once. Exit codes are listed in ``report``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any, NoReturn, TextIO

import click
import yaml

from tiltrun.api.duration import DurationError, format_duration, parse_duration
from tiltrun.api.model import ExitCondition, parse_time
from tiltrun.api.spec import SpecError, read_spec
from tiltrun.cli import kube as cluster
from tiltrun.cli.diagnosis import diagnose, failing_reasons, pending_reasons
from tiltrun.cli.kube import CommandError, Kube
from tiltrun.cli.progress import Display, LiveTable, LogLines, clock, rows
from tiltrun.cli.report import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Outcome,
    Result,
    json_report,
    junit_xml,
    outcome_of,
    status_of,
)

Obj = dict[str, Any]

#: How long the operator may take past the run's own ci.timeout before we stop trusting it.
OVERDUE_SECONDS = 30.0
#: The live table's age column is redrawn this often when nothing changes.
TICK_SECONDS = 1.0


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """A Go-style duration option (``90s``, ``5m``, ``1h30m``; ``0`` for none), in seconds."""
    try:
        return parse_duration(value)
    except DurationError as err:
        raise click.BadParameter(str(err), ctx, param) from None


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while waiting."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(EXIT_TERMINATED)


# -- the command ---------------------------------------------------------------------------------


@click.command("ci", cls=cluster.ExitThreeOnUsage)
@click.argument("name", required=False)
@click.option(
    "-f",
    "--filename",
    "file",
    type=click.File("r"),
    help="Apply the TiltRun in this file (- for stdin) and wait on it.",
)
@click.option("-n", "--namespace", help="Namespace of the TiltRun (default: the context's).")
@click.option("--context", help="The kubeconfig context to use.")
@click.option("--kubeconfig", help="Path to the kubeconfig file (default: $KUBECONFIG).")
@click.option(
    "--timeout",
    callback=_duration,
    default="0",
    help="Give up after this long, on top of the run's own ci.timeout (0: no cap). Exit 2.",
)
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--junit", type=click.Path(dir_okay=False), help="Write a JUnit XML report here.")
@click.option(
    "--heartbeat",
    callback=_duration,
    default="10s",
    show_default=True,
    help='In logs, print "still waiting on: ..." this often (0: never).',
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "live", "lines"]),
    default="auto",
    show_default=True,
    help="live: a table redrawn in place; lines: a line per change (auto: live on a terminal).",
)
@click.option(
    "--operator-wait",
    callback=_duration,
    default="15s",
    show_default=True,
    help="Exit 3 when no operator has taken up the run within this long.",
)
@click.option("--log-lines", type=click.IntRange(0, 1000), default=20, show_default=True)
@click.option(
    "--restart",
    is_flag=True,
    help="With -f: delete an existing TiltRun of that name first, so the run starts over.",
)
def ci(
    name: str | None,
    file: IO[str] | None,
    namespace: str | None,
    context: str | None,
    kubeconfig: str | None,
    timeout: float,
    output: str,
    junit: str | None,
    heartbeat: float,
    progress: str,
    operator_wait: float,
    log_lines: int,
    restart: bool,
) -> None:
    """Wait until the TiltRun NAME (or the one in -f FILE) is up, or say what failed and why.

    Exit codes: 0 succeeded, 1 a workload failed, 2 timed out (the run's ci.timeout or
    --timeout), 3 the command could not do its job (bad arguments, cluster unreachable,
    CRD or operator missing), 130 interrupted (the TiltRun stays; run again to re-attach).
    """
    if (name is None) == (file is None):
        raise click.UsageError("give either the TiltRun's NAME or -f FILE (one of the two)")
    if restart and file is None:
        raise click.UsageError("--restart goes with -f FILE: it starts the run in FILE over")
    manifest = load_manifest(file.read(), file.name) if file is not None else None
    junit_path = _junit_path(junit)
    kube = cluster.connect(kubeconfig, context)
    namespace = resolve_namespace(namespace, manifest, kube)
    human = sys.stderr if output == "json" else sys.stdout
    if manifest is not None:
        name = str(manifest["metadata"]["name"])
        run = _apply(kube, namespace, manifest, restart, human)
    else:
        assert name is not None
        run = cluster.require_run(kube, namespace, name)
    _check_waitable(run)

    signal.signal(signal.SIGTERM, _terminate)
    display = _display(progress, human, namespace, name, heartbeat)
    waiter = Waiter(kube, namespace, name, display, timeout=timeout, operator_wait=operator_wait)
    try:
        result = waiter.wait(run)
    except (KeyboardInterrupt, Interrupted) as stop:
        display.stop()
        code = stop.code if isinstance(stop, Interrupted) else EXIT_INTERRUPTED
        click.echo(
            f"interrupted; TiltRun {name} is still in namespace {namespace}. "
            f"Re-attach with: {reattach_command(name, namespace, context, kubeconfig)}",
            err=True,
        )
        exit_now(code)
    except BaseException:
        display.stop()
        raise
    display.stop()
    result = _with_diagnoses(kube, result, log_lines)
    _emit(result, human, output, junit_path, reattach_command(name, namespace, context, kubeconfig))
    exit_now(result.exit_code)


def exit_now(code: int) -> NoReturn:
    """Flush and leave at once, skipping the interpreter's clean-up.

    Tearing down the imported modules (the Kubernetes client above all) takes from 0.1 s
    on an idle machine to a second on a busy one, and the contract is to exit within
    100 ms of ``status.done``. Everything worth keeping is written and flushed by now.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to flush to
            stream.flush()
    os._exit(code)


def load_manifest(text: str, source: str) -> Obj:
    """The one TiltRun ``text`` holds; a CommandError for anything else."""
    source = "stdin" if source == "<stdin>" else source
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "cannot be parsed"
        raise CommandError(f"{source} is not valid YAML: {problem}{where}") from None
    if len(documents) != 1:
        raise CommandError(
            f"{source} holds {len(documents)} documents; tiltrun ci -f takes exactly one TiltRun"
        )
    document: Obj = documents[0]
    if not cluster.is_tiltrun(document):
        kind = document.get("kind", "?") if isinstance(document, dict) else type(document).__name__
        version = document.get("apiVersion", "?") if isinstance(document, dict) else "?"
        raise CommandError(
            f"{source} is not a TiltRun (it holds kind {kind}, apiVersion {version}); "
            "tiltrun ci -f takes a tilt.dev/v1alpha1 TiltRun"
        )
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise CommandError(
            f"the TiltRun in {source} has no metadata.name; give it one, so that a retry "
            "re-attaches to the same run"
        )
    return document


def resolve_namespace(flag: str | None, manifest: Obj | None, kube: Kube) -> str:
    """``-n``, else the manifest's namespace, else the context's (as kubectl does)."""
    declared = ((manifest or {}).get("metadata") or {}).get("namespace")
    if flag and declared and flag != declared:
        raise CommandError(
            f"the TiltRun's metadata.namespace is {declared!r} but -n says {flag!r}; "
            "drop one or make them agree"
        )
    return str(flag or declared or kube.namespace)


def reattach_command(name: str, namespace: str, context: str | None, kubeconfig: str | None) -> str:
    """The command that waits on this run again."""
    parts = ["tiltrun", "ci", name, "-n", namespace]
    if context:
        parts += ["--context", context]
    if kubeconfig:
        parts += ["--kubeconfig", kubeconfig]
    return " ".join(parts)


def _junit_path(junit: str | None) -> Path | None:
    """Check early that the report can be written, so a long wait does not end in an error."""
    if junit is None:
        return None
    path = Path(junit)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(
            f"cannot create the folder for --junit {junit}: {err.strerror}"
        ) from None
    return path


def _apply(kube: Kube, namespace: str, manifest: Obj, restart: bool, human: TextIO) -> Obj:
    name = str(manifest["metadata"]["name"])
    before = cluster.find_run(kube, namespace, name)
    if restart and before is not None:
        cluster.delete_run(kube, namespace, name)
        click.echo(f"deleted TiltRun {name} in namespace {namespace} (--restart)", file=human)
        before = None
    run = cluster.apply_run(kube, namespace, manifest)
    meta = run.get("metadata") or {}
    if before is None:
        verb = "created"
    elif (before.get("metadata") or {}).get("resourceVersion") == meta.get("resourceVersion"):
        verb = "unchanged"
    else:
        verb = "configured"
    click.echo(f"TiltRun {name} {verb} in namespace {namespace}", file=human)
    observed = status_of(run).get("observedGeneration")
    if (
        outcome_of(run) is not None
        and observed is not None
        and observed < meta.get("generation", 0)
    ):
        click.echo(
            f"note: TiltRun {name} had already finished before this change; a finished run "
            "is final, so this is its earlier result (use --restart to run it again)",
            file=human,
        )
    return run


def _check_waitable(run: Obj) -> None:
    try:
        spec = read_spec(run)
    except SpecError as err:
        raise CommandError(f"the TiltRun's spec is invalid: {err}") from None
    if spec.exit_condition is ExitCondition.MANUAL:
        name = (run.get("metadata") or {}).get("name")
        raise CommandError(
            f"TiltRun {name} has exitCondition manual, so it never finishes; "
            "tiltrun ci waits on runs with exitCondition: ci"
        )


def _display(mode: str, out: TextIO, namespace: str, name: str, heartbeat: float) -> Display:
    live = mode == "live" or (mode == "auto" and out.isatty())
    return LiveTable(out, namespace, name) if live else LogLines(out, heartbeat)


# -- waiting ------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Waiter:
    """Follows one TiltRun's watch events until it is done, or a deadline passes."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        display: Display,
        *,
        timeout: float,
        operator_wait: float,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self.display = display
        self.timeout = timeout
        self.operator_wait = operator_wait
        self.clock = clock
        self.satisfied_seen: dict[str, datetime] = {}

    def wait(self, run: Obj) -> Result:
        """The result once the run is done (at once when it already is)."""
        began = time.monotonic()
        outcome = outcome_of(run)
        if outcome is not None:
            self.display.note(
                f"TiltRun {self.name} had already finished; its result:", self.clock()
            )
        self.display.update(status_of(run), self.clock(), 0.0)
        if outcome is not None:
            return self._result(run, outcome)
        version = str(run["metadata"]["resourceVersion"])
        events = cluster.watch_run(self.kube, self.namespace, self.name, version)
        while True:
            event = self._next(events, run, time.monotonic() - began)
            now, elapsed = self.clock(), time.monotonic() - began
            if event is None:
                self.display.tick(now, elapsed)
            elif event.kind == "changed" and event.run is not None:
                self._note_satisfied(run, event.run, now)
                run = event.run
                self.display.update(status_of(run), now, elapsed)
                outcome = outcome_of(run)
                if outcome is not None:
                    return self._result(run, outcome)
            elif event.kind == "deleted":
                raise CommandError(f"TiltRun {self.name} was deleted while waiting on it")
            elif event.kind == "fatal":
                raise CommandError(event.text)
            else:
                self.display.note(event.text, now)
            self._check_deadlines(run, now, elapsed)
            if self.timeout > 0 and elapsed >= self.timeout:
                return self._result(run, Outcome.CLIENT_TIMEOUT)

    def _next(
        self, events: queue.Queue[cluster.RunEvent], run: Obj, elapsed: float
    ) -> cluster.RunEvent | None:
        """The next watch event; ``None`` at the next tick or deadline, whichever is first."""
        wait = TICK_SECONDS
        if self.timeout > 0:
            wait = min(wait, self.timeout - elapsed)
        if not status_of(run).get("startTime"):
            wait = min(wait, self.operator_wait - elapsed)
        try:
            return events.get(timeout=max(0.0, wait))
        except queue.Empty:
            return None

    def _note_satisfied(self, before: Obj, after: Obj, now: datetime) -> None:
        was = {r.name for r in rows(status_of(before)) if r.satisfied}
        for r in rows(status_of(after)):
            if r.satisfied and r.name not in was:
                self.satisfied_seen.setdefault(r.name, now)

    def _check_deadlines(self, run: Obj, now: datetime, elapsed: float) -> None:
        """Exit 3 when no operator is looking after the run, rather than wait forever."""
        status = status_of(run)
        if not status.get("startTime"):
            if elapsed >= self.operator_wait:
                raise CommandError(
                    f"no operator has picked up TiltRun {self.name} in namespace "
                    f"{self.namespace} within {format_duration(self.operator_wait)}; start "
                    "one with `tiltrun operator` (it must watch this namespace)"
                )
            return
        start = parse_time(status.get("startTime"))
        timeout = read_spec(run).ci.timeout
        if start is None or timeout <= 0:
            return
        overdue = start + timedelta(seconds=timeout + OVERDUE_SECONDS)
        if now >= overdue:
            raise CommandError(
                f"TiltRun {self.name} passed its ci.timeout ({format_duration(timeout)}) "
                f"{format_duration(OVERDUE_SECONDS)} ago but no operator finished it; is the "
                f"operator (pid {status.get('pid', '?')} last wrote its status) still running?"
            )

    def _result(self, run: Obj, outcome: Outcome) -> Result:
        return Result(
            namespace=self.namespace,
            name=self.name,
            run=run,
            outcome=outcome,
            finished=self.clock(),
            satisfied_seen=dict(self.satisfied_seen),
            client_timeout=format_duration(self.timeout) if self.timeout else "",
        )


def _with_diagnoses(kube: Kube, result: Result, log_lines: int) -> Result:
    """The result with evidence for what failed, or for what was pending at a timeout."""
    status = status_of(result.run)
    if result.outcome is Outcome.SUCCEEDED:
        return result
    if result.outcome is Outcome.FAILED:
        reasons = failing_reasons(status)
    else:
        reasons = pending_reasons(status)
    found = diagnose(kube, result.namespace, reasons, log_lines=log_lines)
    return replace(result, diagnoses=tuple(found))


# -- output ---------------------------------------------------------------------------------------


def _emit(result: Result, human: TextIO, output: str, junit: Path | None, again: str) -> None:
    click.echo(f"{clock(result.finished)} {result.headline()}", file=human)
    for diagnosis in result.diagnoses:
        click.echo("", file=human)
        click.echo(diagnosis.render(), file=human)
    if result.outcome is Outcome.CLIENT_TIMEOUT:
        click.echo(f"\nre-attach with: {again}", file=human)
    if output == "json":
        click.echo(json.dumps(json_report(result), indent=2))
    if junit is not None:
        try:
            junit.write_text(junit_xml(result))
        except OSError as err:
            raise CommandError(f"cannot write the JUnit report {junit}: {err.strerror}") from None
