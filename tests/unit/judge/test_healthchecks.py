"""Health checks in CEL: which check applies, the order of its expressions, its errors."""

from __future__ import annotations

from typing import Any

import pytest

from tiltrun.api.healthcheck import HealthCheck
from tiltrun.judge import cel
from tiltrun.judge.custom import classify, judge
from tiltrun.judge.health import Health
from tiltrun.judge.healthchecks import HealthChecks, compile_problems, evaluate, find_check
from tiltrun.judge.related import Related

CRASHING_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "db-1",
        "uid": "p1",
        "ownerReferences": [{"uid": "w1", "controller": True}],
    },
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {"name": "db", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ],
    },
}


def widget(**status: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "example.tilt.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "gear", "uid": "w1", "generation": 1},
    }
    if status:
        obj["status"] = status
    return obj


def check(**fields: str) -> HealthCheck:
    return HealthCheck(
        api_version="example.tilt.dev/v1", kind="Widget", source="spec.healthChecks[0]", **fields
    )


def test_failed_is_evaluated_first() -> None:
    # Every expression holds: failure wins, so a broken object never passes.
    rule = check(current="true", failed="true", in_progress="true")
    assert evaluate(rule, widget(phase="Broken")).health is Health.FAILED


def test_in_progress_before_current() -> None:
    rule = check(current="true", in_progress="self.status.phase == 'Starting'")
    verdict = evaluate(rule, widget(phase="Starting"))
    assert verdict.health is Health.IN_PROGRESS
    assert verdict.reason == "in progress: Starting"


def test_current() -> None:
    rule = check(current="self.status.phase == 'Running'", failed="self.status.phase == 'Broken'")
    assert evaluate(rule, widget(phase="Running")).health is Health.CURRENT


def test_nothing_holds_is_in_progress_with_the_objects_words() -> None:
    rule = check(current="self.status.phase == 'Running'")
    verdict = evaluate(rule, widget(phase="Provisioning", message="waiting for a volume"))
    assert verdict.health is Health.IN_PROGRESS
    assert verdict.reason == "not current yet: Provisioning: waiting for a volume"


def test_failed_says_which_expression_and_the_objects_words() -> None:
    rule = check(current="false", failed="self.status.phase == 'Broken'")
    verdict = evaluate(rule, widget(phase="Broken", message="disk full"))
    assert verdict.reason == "health check failed: self.status.phase == 'Broken': Broken: disk full"


def test_an_evaluation_error_waits_with_the_error() -> None:
    rule = check(current="self.status.phase == 'Running'")
    verdict = evaluate(rule, widget(ready=True))
    assert verdict.health is Health.IN_PROGRESS
    assert verdict.reason == (
        "health check error: spec.healthChecks[0].current \"self.status.phase == 'Running'\": "
        'Key not found in map : "phase"'
    )


def test_a_result_that_is_not_a_boolean_is_an_error() -> None:
    rule = check(current="self.status.phase")
    verdict = evaluate(rule, widget(phase="Running"))
    assert verdict.health is Health.IN_PROGRESS
    assert verdict.reason.endswith("the result is a string, not a boolean")


def test_an_expression_that_does_not_compile_never_raises_in_the_judge() -> None:
    rule = check(current="self.status.phase ==")
    verdict = evaluate(rule, widget(phase="Running"))
    assert verdict.health is Health.IN_PROGRESS
    assert "Syntax error" in verdict.reason


def test_compile_problems_quote_field_expression_and_compiler() -> None:
    rules = [check(current="true", failed="self.status.conditions.exists(c, c.type == )")]
    (problem,) = compile_problems(rules)
    assert problem.startswith(
        "spec.healthChecks[0].failed: cannot compile "
        '"self.status.conditions.exists(c, c.type == )": '
        "ERROR: <input>:1:44: Syntax error: mismatched input ')'"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo.bar == 1", "undeclared reference to 'foo.bar'"),
        ("self.status.replicas + 1", "the expression gives an int, not a boolean"),
        ("'ready'", "the expression gives a string, not a boolean"),
        ("self.status.phase.noSuchFunction()", "undeclared reference to 'noSuchFunction'"),
    ],
)
def test_what_does_not_compile(text: str, message: str) -> None:
    assert message in (cel.compile_error(text) or "")


@pytest.mark.parametrize(
    "text",
    [
        # What Flux users write: macros, optionals, string functions, top-level variables.
        "has(self.status.phase) && self.status.phase.startsWith('Run')",
        "self.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
        "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')",
        "self.status.conditions.exists_one(c, c.status == 'True')",
        "self.status.conditions.map(c, c.type).exists(t, t == 'Ready')",
        "self.?status.?phase.orValue('') == 'Running'",
        "self.status.?missing.orValue('none') == 'none'",
        "self.status.phase.lowerAscii() == 'running'",
        "self.metadata.name.split('-')[0] == 'gear'",
        "self.status.phase.matches('^Run+ing$') && self.status.phase.contains('unn')",
        "size(self.status.conditions) == 1 && self.metadata.generation >= 1",
        "metadata.name == 'gear-1' && kind == 'Widget' && apiVersion.endsWith('/v1')",
        "timestamp(self.status.conditions[0].lastTransitionTime)"
        " > timestamp('2026-01-01T00:00:00Z')",
        "'tilt.dev/run' in self.metadata.labels && self.metadata.labels['tilt.dev/run'] == 'shop'",
    ],
)
def test_the_cel_users_write(text: str) -> None:
    obj = widget(
        phase="Running",
        conditions=[
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-05-12T09:19:31Z"}
        ],
    )
    obj["metadata"]["name"] = "gear-1"
    obj["metadata"]["labels"] = {"tilt.dev/run": "shop"}
    assert cel.compile_expression(text).evaluate(obj) is True


def test_the_variables_of_an_object_without_status() -> None:
    # `status` is unbound when the object has none: Flux-style expressions error, as
    # reading a missing field does, and the target waits with that error.
    with pytest.raises(cel.CelError, match='No value with name "status"'):
        cel.compile_expression("status.phase == 'x'").evaluate(widget())


def test_stale_generation_waits_before_any_expression() -> None:
    obj = widget(observedGeneration=1, phase="Running")
    obj["metadata"]["generation"] = 2
    rules = HealthChecks(run=(check(current="self.status.phase == 'Running'"),))
    verdict, _ = judge(obj, rules)
    assert verdict.health is Health.IN_PROGRESS
    assert verdict.reason == "generation 2 not yet observed by its controller (observed: 1)"


def test_fail_on_owned_pods_false_ignores_the_pods() -> None:
    obj = widget(phase="Starting")
    pods = Related(pods=[CRASHING_POD])
    counted = HealthChecks(run=(check(current="self.status.phase == 'Running'"),))
    ignored = HealthChecks(
        run=(
            HealthCheck(
                api_version="example.tilt.dev",
                kind="Widget",
                current="self.status.phase == 'Running'",
                fail_on_owned_pods=False,
            ),
        )
    )
    failing = classify(obj, pods, counted)
    assert failing.terminated is not None
    assert "CrashLoopBackOff" in failing.terminated.error
    assert classify(obj, pods, ignored).waiting is not None


def hc(api_version: str, kind: str = "Widget", current: str = "true") -> HealthCheck:
    return HealthCheck(api_version=api_version, kind=kind, current=current)


def test_a_group_alone_matches_every_version() -> None:
    entry = hc("example.tilt.dev")
    assert find_check([[entry]], "example.tilt.dev", "v1", "Widget") is entry
    assert find_check([[entry]], "example.tilt.dev", "v2beta1", "Widget") is entry
    assert find_check([[entry]], "other.tilt.dev", "v1", "Widget") is None
    assert find_check([[entry]], "example.tilt.dev", "v1", "Gadget") is None


def test_a_version_wins_over_the_group_alone_in_one_source() -> None:
    groupwide, versioned = hc("example.tilt.dev"), hc("example.tilt.dev/v1")
    assert find_check([[groupwide, versioned]], "example.tilt.dev", "v1", "Widget") is versioned
    assert find_check([[groupwide, versioned]], "example.tilt.dev", "v2", "Widget") is groupwide


def test_the_first_source_with_a_match_wins() -> None:
    # The run's check for the group beats the operator's for the exact version.
    run, operator = hc("example.tilt.dev"), hc("example.tilt.dev/v1")
    assert find_check([[run], [operator]], "example.tilt.dev", "v1", "Widget") is run


def test_v1_alone_is_the_core_group() -> None:
    entry = hc("v1", kind="Service")
    assert find_check([[entry]], "", "v1", "Service") is entry


def test_the_run_overrides_the_library() -> None:
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web-tls", "generation": 1},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "DoesNotExist"}]},
    }
    library_only = HealthChecks()
    assert judge(certificate, library_only)[0].health is Health.IN_PROGRESS
    mine = HealthChecks(run=(hc("cert-manager.io", kind="Certificate", current="true"),))
    assert judge(certificate, mine)[0].health is Health.CURRENT
