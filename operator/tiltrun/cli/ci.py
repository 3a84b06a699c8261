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
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import IO, Any, NoReturn, TextIO

import click

from tiltrun.api.duration import DurationError, parse_duration
from tiltrun.api.model import ExitCondition
from tiltrun.api.spec import SpecError, read_spec
from tiltrun.cli import kube as cluster
from tiltrun.cli.diagnosis import diagnose, failing_reasons, pending_reasons
from tiltrun.cli.kube import CommandError, Kube
from tiltrun.cli.manifests import ManifestError, read_documents
from tiltrun.cli.progress import Display, LiveTable, LogLines
from tiltrun.cli.report import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Result,
    json_report,
    junit_xml,
    outcome_of,
    status_of,
)
from tiltrun.cli.wait import Waiter
from tiltrun.judge.exit import Outcome
from tiltrun.judge.exit.wording import clock

Obj = dict[str, Any]


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """A Go-style duration option (``90s``, ``5m``, ``1h30m``; ``0`` for none), in seconds."""
    try:
        return parse_duration(value)
    except DurationError as err:
        raise click.BadParameter(str(err), ctx, param) from None


class Interrupted(Exception):
    """SIGTERM (a CI system cancelling the job); Ctrl-C arrives as KeyboardInterrupt."""

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
    metavar="DURATION",
    default="0",
    help="Give up after this long, on top of the run's own ci.timeout (0: no cap). Exit 2.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: print the final status, timings and diagnoses on stdout (progress on stderr).",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False),
    help="Write a JUnit XML report here: one test case per target.",
)
@click.option(
    "--heartbeat",
    callback=_duration,
    metavar="DURATION",
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
    metavar="DURATION",
    default="15s",
    show_default=True,
    help="Exit 3 when no operator has taken up the run within this long.",
)
@click.option(
    "--log-lines",
    type=click.IntRange(0, 1000),
    default=20,
    show_default=True,
    help="How many lines of a failing container's log to show.",
)
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
    signal.signal(signal.SIGTERM, _terminate)
    with interruptible():
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

    again = reattach_command(name, namespace, context, kubeconfig)
    with interruptible(
        f"; TiltRun {name} is still in namespace {namespace}. Re-attach with: {again}"
    ):
        display = _display(progress, human, namespace, name, heartbeat)
        waiter = Waiter(
            kube, namespace, name, display, timeout=timeout, operator_wait=operator_wait
        )
        try:
            result = waiter.wait(run)
        finally:
            display.stop()
        result = _with_diagnoses(kube, result, log_lines)
    _emit(result, human, output, junit_path, again)
    exit_now(result.exit_code)


@contextmanager
def interruptible(hint: str = "") -> Iterator[None]:
    """Ctrl-C (exit 130) or SIGTERM (exit 143): say so in one line, no traceback."""
    try:
        yield
    except (KeyboardInterrupt, Interrupted) as stop:
        click.echo(f"interrupted{hint}", err=True)
        exit_now(stop.code if isinstance(stop, Interrupted) else EXIT_INTERRUPTED)


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
        documents = [d for d in read_documents(text, source) if d is not None]
    except ManifestError as err:
        raise CommandError(str(err)) from None
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
    """The command that waits on this run again (``kubectl tiltrun ci ...`` from the plugin)."""
    context_now = click.get_current_context(silent=True)
    plugin = context_now is not None and context_now.find_root().info_name == "kubectl tiltrun"
    # Not click's own name for `python -m tiltrun` ("python -m tiltrun"): the installed command.
    parts = ["kubectl", "tiltrun"] if plugin else ["tiltrun"]
    parts += ["ci", name, "-n", namespace]
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
