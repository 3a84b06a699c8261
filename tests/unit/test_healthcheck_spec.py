"""Reading health checks (spec.healthChecks, the operator's configuration file)."""

from __future__ import annotations

from typing import Any

import pytest

from tiltrun.api.healthcheck import HealthCheckError, read_health_checks, split_api_version


def entry(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "current": "true", **fields}


def test_reads_every_field() -> None:
    (check,) = read_health_checks(
        [entry(failed="false", inProgress="false", failOnOwnedPods=False)], "spec.healthChecks"
    )
    assert (check.group, check.version, check.kind) == ("cert-manager.io", "v1", "Certificate")
    assert (check.current, check.failed, check.in_progress) == ("true", "false", "false")
    assert check.fail_on_owned_pods is False
    assert check.source == "spec.healthChecks[0]"
    assert check.expressions() == [
        ("failed", "false"),
        ("inProgress", "false"),
        ("current", "true"),
    ]


@pytest.mark.parametrize(
    ("api_version", "group", "version"),
    [
        ("cert-manager.io/v1", "cert-manager.io", "v1"),
        ("cert-manager.io", "cert-manager.io", ""),
        ("v1", "", "v1"),
        ("v2beta1", "", "v2beta1"),
        ("apps", "apps", ""),
    ],
)
def test_api_versions(api_version: str, group: str, version: str) -> None:
    assert split_api_version(api_version) == (group, version)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"items": []}, "spec.healthChecks must be a list of health checks"),
        (["x"], "spec.healthChecks[0] must be a mapping with apiVersion, kind and current"),
        ([entry(current=None)], "spec.healthChecks[0].current is required"),
        (
            [entry(current="  ")],
            "spec.healthChecks[0].current must be a CEL expression that is true when the object "
            "is up, not empty or only spaces and invisible characters",
        ),
        (
            [entry(kind="certificate")],
            "spec.healthChecks[0].kind 'certificate' must be a kind in CamelCase",
        ),
        (
            [entry(apiVersion="Cert-Manager.io/v1")],
            "spec.healthChecks[0].apiVersion 'Cert-Manager.io/v1' must be",
        ),
        ([entry(currnet="true")], "spec.healthChecks[0] has unknown field 'currnet'"),
        (
            [entry(failOnOwnedPods="no")],
            "spec.healthChecks[0].failOnOwnedPods must be true or false",
        ),
        ([entry(failed="x" * 4097)], "spec.healthChecks[0].failed is longer than 4096 characters"),
        (
            [entry(), entry()],
            "spec.healthChecks[1] repeats apiVersion cert-manager.io/v1 and kind Certificate",
        ),
        (
            [entry(apiVersion="apps/v1", kind="Deployment")],
            "spec.healthChecks[0]: Deployment is judged by the operator's own rules",
        ),
        ([entry(apiVersion="v1", kind="Pod")], "Pod is judged by the operator's own rules"),
        ([entry()] * 65, "spec.healthChecks has 65 entries; at most 64 are allowed"),
    ],
)
def test_malformed(raw: object, message: str) -> None:
    with pytest.raises(HealthCheckError, match=None) as caught:
        read_health_checks(raw, "spec.healthChecks")
    assert message in str(caught.value)


#: What issue 11 found in names, now in expressions: each shows nothing.
INVISIBLE = ["\u200b", "\ufeff", "\x00", "\u00a0", "\u3000", "\u202e", " \u200b\ufeff\t"]


@pytest.mark.parametrize("field", ["current", "failed", "inProgress"])
@pytest.mark.parametrize("text", INVISIBLE, ids=repr)
def test_an_expression_that_shows_nothing_is_refused(field: str, text: str) -> None:
    """As the CRD refuses it (tests/integration/test_crd_validation.py): an expression of
    only invisible characters would otherwise reach the CEL compiler as an empty one."""
    with pytest.raises(HealthCheckError) as caught:
        read_health_checks([entry(**{field: text})], "spec.healthChecks")
    assert str(caught.value).startswith(f"spec.healthChecks[0].{field} must be a CEL expression")
    assert str(caught.value).endswith("not empty or only spaces and invisible characters")


def test_an_expression_with_one_visible_character_is_read_as_written() -> None:
    (check,) = read_health_checks([entry(failed="\u200bfalse")], "spec.healthChecks")
    assert check.failed == "\u200bfalse"


def test_none_is_no_checks() -> None:
    assert read_health_checks(None, "spec.healthChecks") == ()


def test_the_run_spec_carries_its_health_checks() -> None:
    from tiltrun.api.spec import SpecError, read_spec

    run = {"metadata": {"name": "shop"}, "spec": {"tiltfilePath": "T", "healthChecks": [entry()]}}
    (check,) = read_spec(run).health_checks
    assert (check.kind, check.source) == ("Certificate", "spec.healthChecks[0]")
    run["spec"]["healthChecks"] = [entry(kind="certificate")]
    with pytest.raises(SpecError, match=r"spec\.healthChecks\[0\]\.kind 'certificate'"):
        read_spec(run)
