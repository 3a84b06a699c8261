"""The operator's configuration: extra kinds to watch and operator-wide health checks.

Both come from ``tiltrun operator`` flags (``--watch GROUP/VERSION/RESOURCE``) and from
a YAML file (``--config FILE``; the Helm chart mounts a ConfigMap there)::

    watch:
      - cert-manager.io/v1/certificates
      - v1/persistentvolumeclaims
    healthChecks:
      - apiVersion: postgresql.cnpg.io/v1
        kind: Cluster
        current: "self.?status.?phase.orValue('') == 'Cluster in healthy state'"

This module only reads and checks; which of the kinds the cluster serves is the
wiring's question (discovery), and compiling the expressions is the judge's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from tiltrun.api.healthcheck import HealthCheck, HealthCheckError, read_health_checks

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_GROUP = rf"{_DNS_LABEL}(\.{_DNS_LABEL})*"
_WATCH = re.compile(
    rf"^(?:(?P<group>{_GROUP})/)?(?P<version>{_DNS_LABEL})/(?P<resource>{_DNS_LABEL})$"
)
_KEYS = ("watch", "healthChecks")


class ConfigError(ValueError):
    """A configuration the operator cannot use; the message is one sentence."""


@dataclass(frozen=True, order=True)
class WatchedResource:
    """A kind to watch, as the API names it: ``cert-manager.io/v1/certificates``."""

    group: str
    version: str
    resource: str

    @property
    def api_version(self) -> str:
        """``cert-manager.io/v1``; ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        """``certificates.cert-manager.io/v1`` (``persistentvolumeclaims/v1`` for core)."""
        name = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{name}/{self.version}"


@dataclass(frozen=True)
class OperatorConfig:
    """What the operator watches beyond the workloads, and its health checks."""

    watch: tuple[WatchedResource, ...] = ()
    health_checks: tuple[HealthCheck, ...] = ()

    def merged(self, watch: Iterable[WatchedResource]) -> OperatorConfig:
        """This configuration with more kinds to watch (the flags'), each kind once."""
        kinds = tuple(sorted(set(self.watch) | set(watch)))
        return OperatorConfig(kinds, self.health_checks)


def parse_watch(text: str) -> WatchedResource:
    """``GROUP/VERSION/RESOURCE`` (or ``VERSION/RESOURCE`` for the core group)."""
    match = _WATCH.match(text.strip())
    if not match:
        raise ConfigError(
            f"{text!r} is not GROUP/VERSION/RESOURCE, such as cert-manager.io/v1/certificates "
            "(v1/persistentvolumeclaims for the core group; RESOURCE is the plural that "
            "kubectl api-resources lists)"
        )
    return WatchedResource(match["group"] or "", match["version"], match["resource"])


def read_config(text: str, source: str) -> OperatorConfig:
    """The configuration in ``text`` (YAML), ``source`` naming it in messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{source} is not valid YAML{where}") from None
    if data is None:
        return OperatorConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping with the keys watch and healthChecks")
    unknown = sorted(str(key) for key in data if key not in _KEYS)
    if unknown:
        raise ConfigError(
            f"{source} has an unknown key {unknown[0]!r}; the keys are watch and healthChecks"
        )
    raw_watch = data.get("watch") or []
    if not isinstance(raw_watch, list) or not all(isinstance(w, str) for w in raw_watch):
        raise ConfigError(f"watch in {source} must be a list of GROUP/VERSION/RESOURCE strings")
    try:
        watch = [parse_watch(item) for item in raw_watch]
        checks = read_health_checks(data.get("healthChecks"), f"{source}: healthChecks")
    except HealthCheckError as err:
        raise ConfigError(str(err)) from None
    except ConfigError as err:
        raise ConfigError(f"watch in {source}: {err}") from None
    return OperatorConfig(tuple(sorted(set(watch))), checks)


@dataclass(frozen=True)
class Unwatchable:
    """A kind the operator was told to watch and cannot: not served, or not permitted.

    ``namespaces`` are where the operator may not read it; empty when the cluster does
    not serve it at all (or it is refused cluster-wide): then every run is concerned.
    """

    watched: WatchedResource
    reason: str
    namespaces: tuple[str, ...] = ()

    @property
    def sentence(self) -> str:
        """``not watching certificates.cert-manager.io/v1: <reason>``."""
        return f"not watching {self.watched}: {self.reason}"

    def concerns(self, namespace: str) -> bool:
        """True when a run in ``namespace`` could select objects the operator cannot see."""
        return not self.namespaces or namespace in self.namespaces


def not_served(watched: WatchedResource, detail: str = "") -> Unwatchable:
    """The cluster does not serve the kind (its CRD is missing, or the version is wrong)."""
    if detail:
        return Unwatchable(watched, f"the cluster does not serve it: {detail}")
    return Unwatchable(watched, "the cluster does not serve it (is its CRD installed?)")


def not_permitted(watched: WatchedResource, verbs: list[str], namespaces: list[str]) -> Unwatchable:
    """The operator may not list or watch the kind in ``namespaces`` (empty: anywhere)."""
    where = "in namespace " + ", ".join(namespaces) if namespaces else "in all namespaces"
    reason = (
        f"the operator may not {', '.join(verbs)} it {where}; grant it list and watch "
        '(docs/install.md, "Watching more kinds")'
    )
    return Unwatchable(watched, reason, tuple(namespaces))


def warnings_for(unwatchable: Iterable[Unwatchable], namespace: str) -> list[str]:
    """The sentences a run in ``namespace`` carries in ``status.warnings``, sorted."""
    return sorted(u.sentence for u in unwatchable if u.concerns(namespace))
