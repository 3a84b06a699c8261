"""The operator's registry: the built-in kinds plus the extra kinds discovery found."""

from __future__ import annotations

from tiltrun.api.config import WatchedResource
from tiltrun.judge import kinds, service
from tiltrun.wiring.discovery import ServedKind
from tiltrun.wiring.handlers import registry, resources


def served(group: str, version: str, plural: str, kind: str, namespaced: bool = True) -> ServedKind:
    return ServedKind(WatchedResource(group, version, plural), kind, namespaced)


def test_one_informer_per_watched_kind_and_extra_kinds_keep_their_built_in_rule() -> None:
    found = registry(
        [
            served("cert-manager.io", "v1", "certificates", "Certificate"),
            served("", "v1", "services", "Service"),
            served("apps", "v1", "deployments", "Deployment"),  # watched anyway
        ]
    )
    names = [(r.api_version, r.plural) for r in resources(found)]
    assert sorted(names) == sorted(
        [(k.api_version, k.plural) for k in kinds.BUILTIN.watched]
        + [("cert-manager.io/v1", "certificates"), ("v1", "services")]
    )
    svc = found.lookup("Service", "v1")
    assert svc is not None and svc.extra and svc.rule is service.judge
    assert found.lookup("Deployment", "apps/v1") is not None
    assert [r.kind for r in resources()] == [k.kind for k in kinds.BUILTIN.watched]
