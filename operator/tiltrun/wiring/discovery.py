"""Which of the extra kinds to watch the cluster serves, and the operator may read.

At start-up, for each kind of ``--watch`` and the configuration file: API discovery
(``GET /apis/GROUP/VERSION``, which every identity may read) says whether the cluster
serves it, under which Kind, namespaced or not; one SelfSubjectAccessReview per verb
and namespace says whether the operator may list and watch it. A kind that fails
either is not watched and is named in one sentence (``api.config.Unwatchable``), in the
log and in the ``status.warnings`` of the runs concerned; the operator works on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tiltrun.api.config import (
    Unwatchable,
    WatchedResource,
    not_permitted,
    not_served,
)

log = logging.getLogger(__name__)

#: The verbs an informer needs.
VERBS = ("list", "watch")


@dataclass(frozen=True)
class ServedKind:
    """A watched resource as the cluster serves it."""

    watched: WatchedResource
    kind: str
    namespaced: bool


def discover(
    watched: Iterable[WatchedResource], namespaces: list[str], connection: Any
) -> tuple[list[ServedKind], list[Unwatchable]]:
    """The kinds to watch, and the ones that cannot be (each logged in one sentence).

    ``namespaces`` are the operator's (empty: the whole cluster); ``connection`` is a
    ``kubernetes.client.ApiClient``.
    """
    wanted = list(watched)
    with ThreadPoolExecutor(max_workers=8) as pool:
        served = list(pool.map(lambda w: _served(w, connection), wanted))
    kinds: list[ServedKind] = []
    problems: list[Unwatchable] = []
    for answer in served:
        if isinstance(answer, Unwatchable):
            problems.append(answer)
            continue
        refused = _refused(answer, namespaces, connection)
        if refused is not None:
            problems.append(refused)
        else:
            kinds.append(answer)
    for problem in problems:
        log.warning("%s", problem.sentence)
    return kinds, problems


def _served(watched: WatchedResource, connection: Any) -> ServedKind | Unwatchable:
    path = (
        f"/apis/{watched.group}/{watched.version}" if watched.group else f"/api/{watched.version}"
    )
    try:
        method, url, headers, _, _ = connection.param_serialize(
            method="GET",
            resource_path=path,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = connection.call_api(method, url, header_params=headers, _request_timeout=10)
        body = response.read()
        status = response.status
    except Exception as err:  # unreachable API server: say so, do not stop the operator
        return Unwatchable(watched, f"API discovery failed: {err}")
    if status == 404:
        return not_served(watched)
    if not 200 <= status <= 299:
        return Unwatchable(watched, f"API discovery answered {status}")
    try:
        resources = json.loads(body).get("resources") or []
    except (ValueError, AttributeError):
        return Unwatchable(watched, "API discovery answered something that is not JSON")
    for resource in resources:
        if isinstance(resource, dict) and resource.get("name") == watched.resource:
            return ServedKind(watched, str(resource.get("kind")), bool(resource.get("namespaced")))
    return not_served(watched, f"{watched.api_version} has no resource {watched.resource}")


def _refused(kind: ServedKind, namespaces: list[str], connection: Any) -> Unwatchable | None:
    """``None`` when the operator may list and watch ``kind`` everywhere it needs to."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = client.AuthorizationV1Api(connection)
    # A cluster-scoped kind is read across the cluster, whatever the operator's namespaces.
    where: list[str | None] = list(namespaces) if namespaces and kind.namespaced else [None]
    denied_verbs: set[str] = set()
    denied_namespaces: list[str] = []
    for namespace in where:
        for verb in VERBS:
            attributes = client.V1ResourceAttributes(
                verb=verb,
                group=kind.watched.group,
                resource=kind.watched.resource,
                namespace=namespace,
            )
            review = client.V1SelfSubjectAccessReview(
                spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
            )
            try:
                answer = api.create_self_subject_access_review(review)
            except ApiException:
                return None  # reviews refused: the informer's own errors will tell
            if not (answer.status and answer.status.allowed):
                denied_verbs.add(verb)
                if namespace is not None and namespace not in denied_namespaces:
                    denied_namespaces.append(namespace)
    if not denied_verbs:
        return None
    verbs = [verb for verb in VERBS if verb in denied_verbs]
    return not_permitted(kind.watched, verbs, denied_namespaces)
