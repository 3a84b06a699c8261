"""The API server and the operator agree on what a TiltRun's strings may be.

Issue 11, "Validation holes": the CRD must refuse every input docs/api.md says is
refused, with a plain message, and the operator's own reader (``api/spec.py``,
``api/duration.py``) must accept exactly what the API server accepts. Each example is
a server-side dry run (``dryRun=All``): validated like a real create, stored nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.conftest import Cluster
from tests.unit.api.strategies import DURATION_TEXT, NAME_TEXT
from tiltrun.api.healthcheck import EXPRESSION_MEANING
from tiltrun.api.spec import SpecError, read_spec

pytestmark = pytest.mark.cluster

DURATION_FIELDS = ("timeout", "readinessTimeout", "gracePeriod", "stableFor")
#: Not a CEL evaluation error, a cost complaint or a Go error: a sentence for a person.
NOT_PLAIN = ("evaluation error", "cost", "no such overload", "invalid duration", "panic")


@pytest.fixture(scope="module")
def api(cluster: Cluster, crd: str) -> Iterator[client.CustomObjectsApi]:
    api_client = config.new_client_from_config(config_file=cluster.kubeconfig)
    yield client.CustomObjectsApi(api_client)
    api_client.close()


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "TiltRun",
        "metadata": {"name": "probe"},
        "spec": {"tiltfilePath": "Tiltfile", "exitCondition": "ci", **spec},
    }


def refused_fields(api: client.CustomObjectsApi, run: dict[str, Any]) -> dict[str, str]:
    """What the API server refuses in ``run``: field path -> message (empty: accepted)."""
    try:
        api.create_namespaced_custom_object(
            "tilt.dev", "v1alpha1", "default", "tiltruns", run, dry_run="All"
        )
    except ApiException as err:
        assert err.status == 422, err.body
        causes = json.loads(err.body)["details"]["causes"]
        return {str(c.get("field")): str(c.get("message")) for c in causes}
    return {}


def operator_refuses(run: dict[str, Any]) -> bool:
    try:
        read_spec(run)
    except SpecError:
        return True
    return False


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(DURATION_TEXT)
def test_durations_the_api_server_accepts_are_those_the_operator_accepts(
    api: client.CustomObjectsApi, text: str
) -> None:
    run = _run({"ci": dict.fromkeys(DURATION_FIELDS, text)})
    refused = refused_fields(api, run)
    fields = {f"spec.ci.{name}" for name in DURATION_FIELDS}
    # The four fields share their rules: all four refused, or none.
    assert set(refused) in (set(), fields), refused
    assert bool(refused) == operator_refuses(run), (text, refused)
    for message in refused.values():
        assert not any(word in message for word in NOT_PLAIN), message


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(NAME_TEXT)
def test_names_the_api_server_accepts_are_those_the_operator_accepts(
    api: client.CustomObjectsApi, text: str
) -> None:
    refused = refused_fields(api, _run({"tiltfilePath": text}))
    assert set(refused) <= {"spec.tiltfilePath"}, refused
    assert bool(refused) == operator_refuses(_run({"tiltfilePath": text})), (text, refused)

    refused = refused_fields(api, _run({"ci": {"expect": [text]}}))
    assert set(refused) <= {"spec.ci.expect[0]"}, refused
    assert bool(refused) == operator_refuses(_run({"ci": {"expect": [text]}})), (text, refused)


ISSUE_11_PATHS = ["\u00a0", "\u2003", "\u3000", "\u2028", "\u0085", "\u200b", "\ufeff", "\x00"]


@pytest.mark.parametrize(
    "path", [*ISSUE_11_PATHS, "\u202e", " \u200b\ufeff\u202e\t"], ids=lambda p: repr(p)
)
def test_a_tiltfile_path_that_shows_nothing_is_refused_in_a_sentence(
    api: client.CustomObjectsApi, path: str
) -> None:
    refused = refused_fields(api, _run({"tiltfilePath": path}))
    assert list(refused) == ["spec.tiltfilePath"], refused
    assert refused["spec.tiltfilePath"].endswith(
        "tiltfilePath must not be empty or only spaces and invisible characters; give the path "
        "of the Tiltfile or manifests this run was made from"
    ), refused


@pytest.mark.parametrize("field", ["current", "failed", "inProgress"])
@pytest.mark.parametrize(
    "text", ["\u200b", "\ufeff", "\x00", "\u00a0", " \u200b\ufeff\u202e\t"], ids=repr
)
def test_a_health_check_expression_that_shows_nothing_is_refused_in_a_sentence(
    api: client.CustomObjectsApi, field: str, text: str
) -> None:
    """The API server refuses it as the operator's reader does, in the same words."""
    check = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "current": "true"}
    run = _run({"healthChecks": [{**check, field: text}]})
    refused = refused_fields(api, run)
    where = f"spec.healthChecks[0].{field}"
    assert list(refused) == [where], refused
    meaning = EXPRESSION_MEANING[field]
    assert refused[where].endswith(
        f"{field} must be a CEL expression that {meaning}, "
        "not empty or only spaces and invisible characters"
    ), refused
    assert operator_refuses(run)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9999999999h", "must be at least 1ms and at most 168h (7 days)"),
        ("0.0000000001ns", "must be at least 1ms and at most 168h (7 days)"),
        ("999999ns", "must be at least 1ms and at most 168h (7 days)"),
        ("168h1ns", "must be at least 1ms and at most 168h (7 days)"),
        ("99999999999999999999999h", "must be at least 1ms and at most 168h (7 days)"),
        ("5 minutes", "must be a duration such as"),
    ],
)
@pytest.mark.parametrize("field", DURATION_FIELDS)
def test_a_duration_out_of_bounds_is_refused_in_a_sentence(
    api: client.CustomObjectsApi, field: str, value: str, message: str
) -> None:
    refused = refused_fields(api, _run({"ci": {field: value}}))
    assert list(refused) == [f"spec.ci.{field}"], refused
    assert f"ci.{field} {message}" in refused[f"spec.ci.{field}"]
    assert not any(word in refused[f"spec.ci.{field}"] for word in NOT_PLAIN)


@pytest.mark.parametrize("value", ["0", "0s", "0.000ms", "1ms", "168h", "1h2m3s4ms5us6ns"])
def test_zero_and_the_bounds_are_accepted(api: client.CustomObjectsApi, value: str) -> None:
    assert refused_fields(api, _run({"ci": dict.fromkeys(DURATION_FIELDS, value)})) == {}
