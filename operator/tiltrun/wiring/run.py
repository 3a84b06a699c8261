"""Starting the operator: check the CRD and the access are there, then hand over to kopf."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from dataclasses import dataclass, field

import kopf

from tiltrun.api.config import OperatorConfig, Unwatchable
from tiltrun.api.model import GROUP, PLURAL, VERSION
from tiltrun.judge.kinds import BUILTIN
from tiltrun.wiring.discovery import ServedKind, discover
from tiltrun.wiring.leader import DEFAULT_NAME, Timing
from tiltrun.wiring.observability import Endpoints, Observability, configure_logging
from tiltrun.wiring.session import ApiError, ApiSession, Unavailable


async def check_crd(session: ApiSession) -> str | None:
    """One sentence when the TiltRun CRD is not installed, else ``None``.

    It asks API discovery (``GET /apis/tilt.dev/v1alpha1``), which every authenticated
    identity may read, rather than the CRD object: the operator then needs no
    permission on CustomResourceDefinitions, and the namespaced install, which has no
    cluster-wide role, gets the same clear sentence.
    """
    missing = (
        f"The TiltRun CRD ({PLURAL}.{GROUP}, version {VERSION}) is not installed in this "
        "cluster; apply crds/tiltrun.yaml first."
    )
    try:
        resources = await session.request("GET", f"/apis/{GROUP}/{VERSION}")
    except ApiError as err:
        if err.status == 404:
            return missing
        if err.status == 403:
            return None  # discovery closed off; kopf will say so if TiltRuns cannot be listed
        raise
    names = [r.get("name") for r in resources.get("resources") or [] if isinstance(r, dict)]
    return None if PLURAL in names else missing


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
        ("patch", "", "events"),
    ]


#: What leader election does with its Lease, in the operator's own namespace.
LEASE_ACCESS = (
    ("get", "coordination.k8s.io", "leases"),
    ("create", "coordination.k8s.io", "leases"),
    ("update", "coordination.k8s.io", "leases"),
)


@dataclass(frozen=True)
class LeaderElection:
    """Where the Lease is and who this instance is (``--leader-elect``)."""

    namespace: str
    name: str = DEFAULT_NAME
    #: The pod's name in a cluster (POD_NAME); else host and PID, made unique per process.
    identity: str = field(
        default_factory=lambda: (
            os.environ.get("POD_NAME")
            or f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        )
    )
    timing: Timing = field(default_factory=Timing)


async def check_lease_access(session: ApiSession, election: LeaderElection) -> str | None:
    """One sentence when RBAC denies what leader election does with its Lease."""
    denied = []
    for verb, group, resource in LEASE_ACCESS:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                    "namespace": election.namespace,
                    "name": election.name,
                }
            },
        }
        try:
            answer = await session.request(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review
            )
        except ApiError:
            return None  # reviews refused; the elector's own errors will have to do
        if not (answer.get("status") or {}).get("allowed"):
            denied.append(verb)
    if not denied:
        return None
    return (
        f"The operator's identity ({await _username(session)}) may not {', '.join(denied)} "
        f"the Lease {election.name} in namespace {election.namespace}, which "
        "--leader-elect needs: grant it the rules of deploy/base/leader-election-role.yaml."
    )


async def check_access(session: ApiSession, namespaces: list[str]) -> str | None:
    """One sentence when RBAC denies the operator something it needs, else ``None``.

    Without this, kopf would retry a forbidden list for about a minute and then stop
    with a traceback. Asking costs one SelfSubjectAccessReview per permission, which
    every authenticated identity may create; if even that is refused, kopf's own
    errors will have to do.
    """

    async def allowed(question: tuple[str, str, str, str]) -> bool | None:
        namespace, verb, group, resource = question
        plural, _, subresource = resource.partition("/")
        attributes = {"verb": verb, "group": group, "resource": plural}
        if subresource:
            attributes["subresource"] = subresource
        if namespace:
            attributes["namespace"] = namespace
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        try:
            answer = await session.request(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review
            )
        except ApiError:
            return None
        return bool((answer.get("status") or {}).get("allowed"))

    questions = [(ns, *access) for ns in namespaces or [""] for access in required_access()]
    # Asked side by side: start-up time is what a restarted operator's users wait for.
    answers = await asyncio.gather(*(allowed(q) for q in questions))
    if None in answers:
        return None  # reviews refused; kopf's own errors will have to do
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
    if not missing:
        return None
    return (
        f"The operator's identity ({await _username(session)}) may not {'; '.join(missing)}: "
        "grant it the rules of deploy/base/clusterrole.yaml (all namespaces) or "
        "deploy/namespaced/role.yaml (in each watched namespace)."
    )


async def _username(session: ApiSession) -> str:
    """Who the API server thinks we are, for the error message."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        answer = await session.request(
            "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body=review
        )
    except ApiError:
        return "unknown"
    user = (answer.get("status") or {}).get("userInfo") or {}
    return str(user.get("username") or "unknown")


def preflight(namespaces: list[str], election: LeaderElection | None = None) -> None:
    """Exit with one sentence when the CRD is missing or RBAC denies something needed.

    Both checks go through the operator's own HTTP client, before kopf starts: the
    official client's API classes would cost a second of imports at every start.
    """

    async def ask() -> str | None:
        session = ApiSession()
        try:
            problem = await check_crd(session) or await check_access(session, namespaces)
            if problem is None and election is not None:
                problem = await check_lease_access(session, election)
            return problem
        except Unavailable as err:
            return f"Cannot reach the API server at {session.server}: {err}."
        finally:
            await session.close()

    problem = asyncio.run(ask())
    if problem:
        sys.exit(problem)


def run_operator(
    namespaces: list[str],
    *,
    verbose: bool = False,
    log_format: str = "text",
    endpoints: Endpoints | None = None,
    config: OperatorConfig | None = None,
    leader_election: LeaderElection | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, watching ``namespaces`` or, when empty, all of them.

    ``endpoints`` says where to serve ``/healthz``, ``/readyz`` and ``/metrics``; by
    default nothing is served. With ``leader_election`` this instance writes only while
    it holds the Lease, and watches, ready to take over, while another one does.
    """
    configure_logging(log_format, verbose=verbose)
    endpoints = endpoints or Endpoints()
    try:
        endpoints.bind()
    except OSError as err:
        sys.exit(
            f"Cannot serve the health and metrics endpoints on {endpoints.bind_address}: {err}."
        )
    preflight(namespaces, leader_election)
    config = config or OperatorConfig()
    served, unwatchable = _discover(config, namespaces)
    import tiltrun.wiring.handlers  # noqa: F401 - registers the handlers with kopf

    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=True,
        memo=kopf.Memo(
            observability=Observability(endpoints),
            config=config,
            served=served,
            unwatchable=unwatchable,
            namespaces=namespaces,
            leader_election=leader_election,
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
