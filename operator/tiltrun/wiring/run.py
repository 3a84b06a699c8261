"""Starting the operator: check the CRD is there, then hand over to kopf."""

from __future__ import annotations

import logging
import sys

import kopf
from kubernetes.client.exceptions import ApiException

from tiltrun.api.model import GROUP, PLURAL


def check_crd() -> None:
    """Exit with one sentence when the TiltRun CRD is not installed."""
    from kubernetes import client

    from tiltrun.wiring.client import api_client

    try:
        client.ApiextensionsV1Api(api_client()).read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    except ApiException as err:
        if err.status == 404:
            sys.exit(
                f"The TiltRun CRD ({PLURAL}.{GROUP}) is not installed in this cluster; "
                "apply crds/tiltrun.yaml first."
            )
        if err.status == 403:
            return  # may not read CRDs; kopf will say so if TiltRuns cannot be listed
        raise


def run_operator(namespaces: list[str], *, verbose: bool = False) -> None:
    """Run until interrupted, watching ``namespaces`` or, when empty, all of them."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    check_crd()
    import tiltrun.wiring.handlers  # noqa: F401 - registers the handlers with kopf

    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=True,
    )
