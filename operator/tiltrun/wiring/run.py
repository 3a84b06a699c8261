"""Starting the operator: check the CRD is there, then hand over to kopf."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from tiltrun.api.config import OperatorConfig, Unwatchable
from tiltrun.api.model import GROUP, PLURAL, VERSION
from tiltrun.judge.kinds import BUILTIN
from tiltrun.wiring.discovery import ServedKind, discover
from tiltrun.wiring.observability import Endpoints, Observability, configure_logging


def check_crd() -> None:
    """Exit with one sentence when the TiltRun CRD is not installed.

    It asks API discovery (``GET /apis/tilt.dev/v1alpha1``), which every authenticated
    identity may read, rather than the CRD object: the operator then needs no
    permission on CustomResourceDefinitions, and the namespaced install, which has no
    cluster-wide role, gets the same clear sentence.
    """
    from kubernetes import client

    from tiltrun.wiring.client import api_client

    missing = (
        f"The TiltRun CRD ({PLURAL}.{GROUP}, version {VERSION}) is not installed in this "
        "cluster; apply crds/tiltrun.yaml first."
    )
    try:
        resources = client.CustomObjectsApi(api_client()).get_api_resources(GROUP, VERSION)
    except ApiException as err:
        if err.status == 404:
            sys.exit(missing)
        if err.status == 403:
            return  # discovery closed off; kopf will say so if TiltRuns cannot be listed
        raise
    if not any(resource.name == PLURAL for resource in resources.resources or []):
        sys.exit(missing)


def required_access() -> list[tuple[str, str, str]]:
    """What the operator does in every namespace it watches: (verb, API group, resource).

    deploy/base/clusterrole.yaml grants exactly these, and tests/integration/test_deploy.py
    checks both against the API server's audit log of a whole run.
    """
    reads = [(GROUP, PLURAL)] + [(kind.group, kind.plural) for kind in BUILTIN.watched]
    return [
        *((verb, group, plural) for group, plural in reads for verb in ("list", "watch")),
        ("patch", GROUP, f"{PLURAL}/status"),
        ("create", "", "events"),
    ]


def check_access(namespaces: list[str]) -> None:
    """Exit with one sentence when RBAC denies the operator something it needs.

    Without this, kopf would retry a forbidden list for about a minute and then stop
    with a traceback. Asking costs one SelfSubjectAccessReview per permission, which
    every authenticated identity may create; if even that is refused, kopf's own
    errors will have to do.
    """
    from kubernetes import client

    from tiltrun.wiring.client import api_client

    connection = api_client()
    api = client.AuthorizationV1Api(connection)

    def allowed(question: tuple[str, str, str, str]) -> bool | None:
        namespace, verb, group, resource = question
        plural, _, subresource = resource.partition("/")
        attributes = client.V1ResourceAttributes(
            verb=verb,
            group=group,
            resource=plural,
            subresource=subresource or None,
            namespace=namespace or None,
        )
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
        )
        try:
            answer = api.create_self_subject_access_review(review)
        except ApiException:
            return None
        return bool(answer.status and answer.status.allowed)

    questions = [(ns, *access) for ns in namespaces or [""] for access in required_access()]
    # Asked side by side: start-up time is what a restarted operator's users wait for.
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(allowed, questions))
    if None in answers:
        return  # reviews refused; kopf's own errors will have to do
    missing: list[str] = []
    for namespace in namespaces or [""]:
        denied = [
            f"{verb} {resource}{'.' + group if group else ''}"
            for (ns, verb, group, resource), ok in zip(questions, answers, strict=True)
            if ns == namespace and not ok
        ]
        if denied:
            where = f"in namespace {namespace}" if namespace else "in all namespaces"
            missing.append(f"{', '.join(denied)} {where}")
    if missing:
        sys.exit(
            f"The operator's identity ({_username(connection)}) may not {'; '.join(missing)}: "
            "grant it the rules of deploy/base/clusterrole.yaml (all namespaces) or "
            "deploy/namespaced/role.yaml (in each watched namespace)."
        )


def _username(connection: Any) -> str:
    """Who the API server thinks we are, for the error message."""
    from kubernetes import client

    review = client.V1SelfSubjectReview(
        api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"
    )
    try:
        answer = client.AuthenticationV1Api(connection).create_self_subject_review(review)
    except ApiException:
        return "unknown"
    user = answer.status.user_info if answer.status else None
    return str(user.username) if user and user.username else "unknown"


def run_operator(
    namespaces: list[str],
    *,
    verbose: bool = False,
    log_format: str = "text",
    endpoints: Endpoints | None = None,
    config: OperatorConfig | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, watching ``namespaces`` or, when empty, all of them.

    ``endpoints`` says where to serve ``/healthz``, ``/readyz`` and ``/metrics``; by
    default nothing is served.
    """
    configure_logging(log_format, verbose=verbose)
    endpoints = endpoints or Endpoints()
    try:
        endpoints.bind()
    except OSError as err:
        sys.exit(
            f"Cannot serve the health and metrics endpoints on {endpoints.bind_address}: {err}."
        )
    check_crd()
    check_access(namespaces)
    config = config or OperatorConfig()
    served, unwatchable = _discover(config, namespaces)
    import tiltrun.wiring.handlers  # registers the handlers with kopf

    tiltrun.wiring.handlers.register_extra(served)

    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=True,
        memo=kopf.Memo(
            observability=Observability(endpoints),
            config=config,
            served=served,
            unwatchable=unwatchable,
        ),
    )


def _discover(
    config: OperatorConfig, namespaces: list[str]
) -> tuple[list[ServedKind], list[Unwatchable]]:
    """The extra kinds the cluster serves and the operator may read; the others, named."""
    if not config.watch:
        return [], []
    from tiltrun.wiring.client import api_client

    return discover(config.watch, namespaces, api_client())
