"""How a finished wait ends: the outcome, its exit code, and the JSON and JUnit reports.

Everything here is pure: a ``Result`` (the TiltRun as last read, plus what the command
itself saw) goes in, text comes out. The exit codes are the contract CI scripts rely on:

====  ==================================================================================
0     the run succeeded: every counted server ready, every counted job completed
1     a workload failed (including a server not ready within ``ci.readinessTimeout``)
2     timed out: the run's own ``ci.timeout``, or the command's ``--timeout``
3     the command could not do its job (see ``kube.CommandError``)
130   interrupted (Ctrl-C; 143 for SIGTERM); the TiltRun stays in the cluster
====  ==================================================================================
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tiltrun.api.duration import format_duration
from tiltrun.api.model import parse_time
from tiltrun.cli.diagnosis import Diagnosis
from tiltrun.cli.progress import Row, describe_row, row
from tiltrun.judge.exit import Outcome, Reason
from tiltrun.judge.exit.wording import one_line

Obj = Mapping[str, Any]

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


#: How the wait ended (``Outcome.CLIENT_TIMEOUT``: the command's ``--timeout`` passed
#: first, the run goes on in the cluster) and the exit code it gives.
EXIT_CODES = {
    Outcome.SUCCEEDED: 0,
    Outcome.FAILED: 1,
    Outcome.TIMED_OUT: 2,
    Outcome.CLIENT_TIMEOUT: 2,
}


def status_of(run: Obj) -> Obj:
    status = run.get("status")
    return status if isinstance(status, Mapping) else {}


def outcome_of(run: Obj) -> Outcome | None:
    """The outcome of a finished run; ``None`` while it is not done.

    The ``Ready`` condition's reason tells a timeout from a failure.
    """
    status = status_of(run)
    if not status.get("done"):
        return None
    if not status.get("error"):
        return Outcome.SUCCEEDED
    ready = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"),
        None,
    )
    timed_out = ready is not None and ready.get("reason") == Reason.TIMED_OUT
    return Outcome.TIMED_OUT if timed_out else Outcome.FAILED


@dataclass(frozen=True)
class Result:
    """What the command concludes, with the evidence to report."""

    namespace: str
    name: str
    #: The TiltRun as last read.
    run: Obj
    outcome: Outcome
    #: When the command concluded.
    finished: datetime
    #: Evidence for failing targets (or, on a timeout, for the ones still pending).
    diagnoses: tuple[Diagnosis, ...] = ()
    #: When this command saw each target become satisfied (only what it saw live).
    satisfied_seen: Mapping[str, datetime] = field(default_factory=dict)
    #: The ``--timeout`` that passed, for the message (client timeouts only).
    client_timeout: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def start(self) -> datetime | None:
        return parse_time(status_of(self.run).get("startTime"))

    @property
    def end(self) -> datetime:
        """When the run finished: its ``Ready`` condition's last transition once done."""
        status = status_of(self.run)
        if status.get("done"):
            for condition in status.get("conditions") or []:
                if condition.get("type") == "Ready":
                    return parse_time(condition.get("lastTransitionTime")) or self.finished
        return self.finished

    @property
    def elapsed(self) -> float:
        start = self.start
        return max(0.0, (self.end - start).total_seconds()) if start else 0.0

    def headline(self) -> str:
        """One sentence: how the run ended."""
        summary = str(status_of(self.run).get("summary") or "")
        # A stack that failed before the run began has nothing to time.
        took = f" after {_seconds(self.elapsed)}" if self.elapsed >= 0.1 else ""
        if self.outcome is Outcome.SUCCEEDED:
            return f"TiltRun {self.name} succeeded{took}: {summary}"
        if self.outcome is Outcome.FAILED:
            return f"TiltRun {self.name} failed{took}: {summary.removeprefix('failed: ')}"
        if self.outcome is Outcome.TIMED_OUT:
            return f"TiltRun {self.name} {summary}"
        return (
            f"gave up on TiltRun {self.name} after --timeout {self.client_timeout}; "
            f"it is still running in the cluster: {summary}"
        )


def _seconds(value: float) -> str:
    """``2.4s``, ``1m5s``: tenths of a second under a minute, whole seconds above."""
    return format_duration(round(value, 1) if value < 60 else int(value))


# -- timings ---------------------------------------------------------------------------------


def timings(result: Result) -> list[dict[str, Any]]:
    """Per target: seconds from the run's ``startTime`` to its milestones.

    ``startedAfter``: to the target's ``active``/``terminated`` ``startTime``;
    ``finishedAfter``: to ``terminated.finishTime`` (a job's time to complete);
    ``readyAfter``: to ``active.readySince`` (a server's time to ready), or else to when
    this command saw it become ready. Negative values mean the workload got there before
    the run started (it was applied before the TiltRun).
    """
    start = result.start
    out = []
    for target in status_of(result.run).get("targets") or []:
        state = target.get("state") or {}
        began = (state.get("active") or state.get("terminated") or {}).get("startTime")
        ended = (state.get("terminated") or {}).get("finishTime")
        r = row(target)
        out.append(
            {
                "name": r.name,
                "type": r.type,
                "state": r.state,
                "satisfied": r.satisfied,
                "startedAfter": _after(start, parse_time(began)),
                "finishedAfter": _after(start, parse_time(ended)),
                "readyAfter": _after(start, ready_time(result, target)),
            }
        )
    return out


def ready_time(result: Result, target: Obj) -> datetime | None:
    """When a ready target became ready: stored ``readySince``, else what the command saw."""
    active = (target.get("state") or {}).get("active") or {}
    if not active.get("ready"):
        return None
    stored = parse_time(active.get("readySince"))
    return stored or result.satisfied_seen.get(str(target.get("name")))


def _after(start: datetime | None, t: datetime | None) -> float | None:
    if start is None or t is None:
        return None
    return round((t - start).total_seconds(), 3)


# -- JSON ----------------------------------------------------------------------------------------


def json_report(result: Result) -> dict[str, Any]:
    """The ``--output json`` document: the stored status plus timings and diagnoses."""
    return {
        "name": result.name,
        "namespace": result.namespace,
        "outcome": result.outcome.json_name,
        "exitCode": result.exit_code,
        "message": result.headline(),
        "elapsedSeconds": round(result.elapsed, 3),
        "status": dict(status_of(result.run)),
        "timings": timings(result),
        "diagnoses": [
            {
                "target": d.target,
                "reason": d.reason,
                "evidence": dict(d.evidence) or None,
                "pod": d.pod or None,
                "container": d.container or None,
                "previousContainer": d.previous,
                "logs": list(d.logs) if d.logs is not None else None,
                "logsNote": d.logs_note or None,
                "events": list(d.events),
                "text": d.render(),
            }
            for d in result.diagnoses
        ],
    }


# -- JUnit -------------------------------------------------------------------------------------

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def junit_xml(result: Result) -> str:
    """One ``testcase`` per target; failures carry the diagnosis.

    A disabled target, or one the run had not finished judging when it failed, is
    ``skipped``. When the run failed without any target to blame (a selector that
    matches nothing), one extra test case named after the run carries the failure.
    """
    by_target = {d.target: d for d in result.diagnoses}
    suite_name = f"tiltrun/{result.namespace}/{result.name}"
    suite = ET.Element("testsuite", name=suite_name, timestamp=_iso(result.start))
    failures = skipped = 0
    for target in status_of(result.run).get("targets") or []:
        r = row(target)
        case = ET.SubElement(
            suite,
            "testcase",
            classname=suite_name.replace("/", "."),
            name=r.name,
            time=f"{_case_seconds(result, target):.3f}",
        )
        diagnosis = by_target.get(r.name)
        _properties(case, r.evidence, r.failure)
        if diagnosis is not None and result.outcome is not Outcome.SUCCEEDED:
            failures += 1
            failure = ET.SubElement(
                case,
                "failure",
                message=_xml_text(one_line(diagnosis.reason, 500)),
                type=result.outcome.json_name,
            )
            failure.text = _xml_text(diagnosis.render())
        elif not r.satisfied:
            skipped += 1
            ET.SubElement(case, "skipped", message=_xml_text(one_line(_why_skipped(r), 500)))
    if result.outcome is not Outcome.SUCCEEDED and failures == 0:
        failures += 1
        case = ET.SubElement(
            suite, "testcase", classname=suite_name.replace("/", "."), name=f"tiltrun/{result.name}"
        )
        case.set("time", f"{result.elapsed:.3f}")
        failure = ET.SubElement(
            case, "failure", message=_xml_text(result.headline()), type=result.outcome.json_name
        )
        failure.text = _xml_text(str(status_of(result.run).get("error") or result.headline()))
    total = len(suite.findall("testcase"))
    counts = {
        "tests": str(total),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{result.elapsed:.3f}",
    }
    for key, value in counts.items():
        suite.set(key, value)
    suites = ET.Element("testsuites", attrib={"name": "tiltrun ci", **counts})
    suites.append(suite)
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _properties(case: ET.Element, evidence: Obj, failure: Obj) -> None:
    """The stored facts as JUnit properties (``evidence.pod``, ``failure.reason``...), so
    that CI systems and scripts can read them without parsing the failure text."""
    pairs = [(f"evidence.{key}", value) for key, value in evidence.items()]
    pairs += [(f"failure.{key}", value) for key, value in failure.items() if key != "message"]
    if not pairs:
        return
    properties = ET.SubElement(case, "properties")
    for name, value in pairs:
        ET.SubElement(properties, "property", name=name, value=_xml_text(str(value)))


def _why_skipped(r: Row) -> str:
    if r.state == "disabled":
        return "disabled"
    if r.optional:
        return f"optional (does not gate the run): {describe_row(r)}"
    return f"not finished when the run ended: {describe_row(r)}"


def _case_seconds(result: Result, target: Obj) -> float:
    """How long the target took, from the run's start to satisfied or failed (never < 0)."""
    start = result.start
    if start is None:
        return 0.0
    state = target.get("state") or {}
    when = (
        ready_time(result, target)
        or parse_time((state.get("terminated") or {}).get("finishTime"))
        or parse_time((state.get("active") or {}).get("startTime"))
        or result.end
    )
    return max(0.0, (when - start).total_seconds())


def _iso(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S") if t else ""
