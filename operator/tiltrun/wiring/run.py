"""Starting the operator: check the CRD is there, then hand over to kopf."""

from __future__ import annotations

import sys

import kopf
from kubernetes.client.exceptions import ApiException

from tiltrun.api.model import GROUP, PLURAL, VERSION
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


def run_operator(
    namespaces: list[str],
    *,
    verbose: bool = False,
    log_format: str = "text",
    endpoints: Endpoints | None = None,
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
    import tiltrun.wiring.handlers  # noqa: F401 - registers the handlers with kopf

    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=True,
        memo=kopf.Memo(observability=Observability(endpoints)),
    )
