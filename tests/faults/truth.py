"""The truth after a fault: what a TiltRun's status must be, given the cluster as it is.

``truth`` lists the run and every object it can select from the API server, freshly,
and computes the status with the project's own judgement (the store a freshly started
operator would fill, and ``desired_status``): what a new operator would write. A fault
test then waits, with a bound, until the stored status says the same (``converged``),
and fails with both views when it never does.

Only what a verdict consists of is compared (``view``): done, error, progress and each
target's name, type and phase (with its readiness or error); for a finished run, how it
ended and which targets its error names. Wording that changes with the clock or is
rate-limited (summaries, reasons, transition times) is left out.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config

from tiltrun.api.model import GROUP, PLURAL, VERSION, parse_time
from tiltrun.engine.store import Store
from tiltrun.judge.status import desired_status

Obj = dict[str, Any]

#: What the operator watches besides TiltRuns, as (Kind, list function of the client).
KINDS = (
    ("Deployment", "apps", "list_namespaced_deployment"),
    ("StatefulSet", "apps", "list_namespaced_stateful_set"),
    ("DaemonSet", "apps", "list_namespaced_daemon_set"),
    ("ReplicaSet", "apps", "list_namespaced_replica_set"),
    ("Job", "batch", "list_namespaced_job"),
    ("Pod", "core", "list_namespaced_pod"),
)


class Lister:
    """Reads objects from one API server as plain dicts, as the operator sees them."""

    def __init__(self, kubeconfig: str) -> None:
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self._apis = {
            "apps": client.AppsV1Api(self.api),
            "batch": client.BatchV1Api(self.api),
            "core": client.CoreV1Api(self.api),
        }
        self._custom = client.CustomObjectsApi(self.api)

    def run(self, namespace: str, name: str) -> Obj:
        run: Obj = self._custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
        return run

    def objects(self, namespace: str) -> list[tuple[str, Obj]]:
        """Every object of the watched kinds in ``namespace``: (Kind, object)."""
        found: list[tuple[str, Obj]] = []
        for kind, api, method in KINDS:
            response = getattr(self._apis[api], method)(namespace, _preload_content=False)
            for item in json.loads(response.data)["items"]:
                found.append((kind, item))
        return found

    def close(self) -> None:
        self.api.close()


def truth(lister: Lister, namespace: str, name: str, *, now: datetime | None = None) -> Obj:
    """The status run ``name`` must have, computed from the cluster's objects now."""
    objects = lister.objects(namespace)
    run = lister.run(namespace, name)
    stored = run.get("status") or {}
    store = Store()
    key = store.put_run(run)
    for kind, obj in objects:
        store.put(kind, obj)
    start = parse_time(stored.get("startTime"))
    assert start is not None, f"tiltrun/{name} has no startTime yet: the operator never took it up"
    desired = desired_status(
        run,
        store.candidates(key),
        start_time=start,
        now=now or datetime.now(UTC),
        pid=0,
        previous_conditions=stored.get("conditions") or [],
    )
    return desired.status


def view(status: Obj, names: set[str] | None = None) -> Obj:
    """What a verdict consists of, for comparing a stored status with the truth.

    Numbers in texts are masked: restart counts and clock times move on by themselves,
    and the operator writes a change of wording alone at most every few seconds. A
    finished run is compared by its result only (``error_gist``): its targets and the
    wording of its error are a record of the moment it finished.
    """
    done = bool(status.get("done"))
    if done:
        return {"done": True, "error": error_gist(status.get("error") or "", names or set())}
    return {
        "done": False,
        "error": _masked(status.get("error") or ""),
        "progress": status.get("progress"),
        # A list, not a dict by name: a ghost beside its replacement must show twice.
        "targets": sorted(
            f"{t['name']} ({t.get('type')}): {_phase(t.get('state') or {})}"
            for t in status.get("targets") or []
        ),
    }


def error_gist(error: str, names: set[str]) -> str:
    """``""``, or how a run ended and the targets its error names: ``failed: job/migrate``."""
    if not error:
        return ""
    how = "timed out" if error.startswith("timed out") else "failed"
    named = sorted(n for n in names if re.search(rf"(^|[\s,(]){re.escape(n)}\b", error))
    return f"{how}: {', '.join(named)}"


def _masked(text: str) -> str:
    return re.sub(r"\d+", "N", text)


def _phase(state: Obj) -> str:
    if state.get("disabled"):
        return "disabled"
    if "terminated" in state:
        error = state["terminated"].get("error")
        return f"terminated: {_masked(error)}" if error else "terminated"
    if "active" in state:
        return "active, ready" if state["active"].get("ready") else "active, not ready"
    return "waiting"


@dataclass
class Comparison:
    """A stored status beside the truth, as ``view``s."""

    stored: Obj
    truth: Obj

    @property
    def agree(self) -> bool:
        return self.stored == self.truth

    def __str__(self) -> str:
        return (
            f"stored: {json.dumps(self.stored, indent=1)}\n"
            f"truth:  {json.dumps(self.truth, indent=1)}"
        )


def compare(lister: Lister, namespace: str, name: str) -> Comparison:
    """The stored status of ``name`` and the truth, both read now."""
    stored = lister.run(namespace, name).get("status") or {}
    true = truth(lister, namespace, name)
    names = {str(t.get("name")) for s in (stored, true) for t in s.get("targets") or []}
    return Comparison(view(stored, names), view(true, names))


def converged(
    lister: Lister, namespace: str, name: str, *, timeout: float = 60, what: str = ""
) -> Comparison:
    """Wait, up to ``timeout`` seconds, until the stored status agrees with the truth.

    Returns the agreeing comparison; fails the test with both views when the deadline
    passes first.
    """
    deadline = time.monotonic() + timeout
    last = compare(lister, namespace, name)
    while not last.agree:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"tiltrun/{name} in {namespace} never agreed with the cluster "
                f"within {timeout:.0f}s{': ' + what if what else ''}\n{last}"
            )
        time.sleep(0.5)
        last = compare(lister, namespace, name)
    return last
