"""A health check: CEL expressions that judge the objects of one group and kind.

The same shape comes from three places: a TiltRun's ``spec.healthChecks``, the
operator's configuration file (``healthChecks:``) and the built-in library
(``tiltrun.judge.library``). It is Flux's ``healthCheckExprs`` shape plus one field,
``failOnOwnedPods``. This module only reads and checks the data; compiling and
evaluating the expressions is the judge's (``tiltrun.judge.cel``,
``tiltrun.judge.healthchecks``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tiltrun.api.visible import has_visible_character

#: The kinds whose judgement is the operator's own; no health check may replace it.
#: (group, kind), as the CRD's validation rule lists them.
WORKLOAD_KINDS = frozenset(
    {
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("batch", "Job"),
        ("", "Pod"),
    }
)
#: At most this many checks in one list; the CRD says the same.
MAX_CHECKS = 64
#: At most this many characters in one expression; the CRD says the same.
MAX_EXPRESSION = 4096

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#: A group (``cert-manager.io``), a group and version (``cert-manager.io/v1``), or a
#: core version (``v1``). The CRD's pattern is this one.
API_VERSION_PATTERN = rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*(/{_DNS_LABEL})?$"
#: A Kind: CamelCase, starting with an upper-case letter. The CRD's pattern is this one.
KIND_PATTERN = r"^[A-Z][A-Za-z0-9]*$"
_VERSION = re.compile(r"^v[0-9]+((alpha|beta)[0-9]+)?$")
_FIELDS = ("apiVersion", "kind", "current", "failed", "inProgress", "failOnOwnedPods")
#: What each expression must be true for, in the messages; the CRD's say the same.
EXPRESSION_MEANING = {
    "current": "is true when the object is up",
    "failed": "is true when the object has failed",
    "inProgress": "is true while the object is on its way",
}


class HealthCheckError(ValueError):
    """A health check entry that is not of the expected shape; the message says why."""


@dataclass(frozen=True)
class HealthCheck:
    """One entry: the kind it judges and its three expressions (``""``: not given)."""

    api_version: str
    kind: str
    current: str
    failed: str = ""
    in_progress: str = ""
    #: False: the fatal signals of the pods the object owns do not fail it.
    fail_on_owned_pods: bool = True
    #: Where the entry comes from, for messages: ``spec.healthChecks[0]``.
    source: str = ""

    @property
    def group(self) -> str:
        """The API group the entry names (``""``: the core group)."""
        return split_api_version(self.api_version)[0]

    @property
    def version(self) -> str:
        """The version the entry names; ``""`` when it matches every version."""
        return split_api_version(self.api_version)[1]

    def expressions(self) -> list[tuple[str, str]]:
        """``(field, expression)`` for every expression given, in evaluation order."""
        pairs = (("failed", self.failed), ("inProgress", self.in_progress))
        return [(f, e) for f, e in (*pairs, ("current", self.current)) if e]


def split_api_version(api_version: str) -> tuple[str, str]:
    """``(group, version)`` of a health check's ``apiVersion``; version ``""`` means any.

    ``cert-manager.io/v1`` -> (``cert-manager.io``, ``v1``); ``cert-manager.io`` ->
    (``cert-manager.io``, ``""``); ``v1`` -> (``""``, ``v1``): without a slash, a
    string that looks like a version (``v1``, ``v2beta1``) is the core group's.
    """
    group, slash, version = api_version.partition("/")
    if slash:
        return group, version
    if _VERSION.match(api_version):
        return "", api_version
    return api_version, ""


def read_health_checks(raw: object, where: str) -> tuple[HealthCheck, ...]:
    """The health checks of a list as written in YAML; HealthCheckError when malformed.

    ``where`` names the list in messages (``spec.healthChecks``, ``healthChecks in
    /etc/tiltrun/config.yaml``). The rules are the CRD's, so a TiltRun the API server
    accepted always reads, and the configuration file gets the same checks.
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise HealthCheckError(f"{where} must be a list of health checks")
    if len(raw) > MAX_CHECKS:
        raise HealthCheckError(f"{where} has {len(raw)} entries; at most {MAX_CHECKS} are allowed")
    checks = [_read_one(entry, f"{where}[{index}]") for index, entry in enumerate(raw)]
    seen: dict[tuple[str, str], str] = {}
    for check in checks:
        key = (check.api_version, check.kind)
        if key in seen:
            raise HealthCheckError(
                f"{check.source} repeats apiVersion {check.api_version} and kind {check.kind} "
                f"of {seen[key]}"
            )
        seen[key] = check.source
    return tuple(checks)


def _read_one(entry: object, where: str) -> HealthCheck:
    if not isinstance(entry, dict):
        raise HealthCheckError(f"{where} must be a mapping with apiVersion, kind and current")
    unknown = sorted(str(key) for key in entry if key not in _FIELDS)
    if unknown:
        raise HealthCheckError(
            f"{where} has unknown field {unknown[0]!r}; the fields are {', '.join(_FIELDS)}"
        )
    api_version = _text(entry, "apiVersion", where, required=True)
    if not re.match(API_VERSION_PATTERN, api_version):
        raise HealthCheckError(
            f"{where}.apiVersion {api_version!r} must be GROUP/VERSION (cert-manager.io/v1), "
            "a group alone for every version (cert-manager.io), or v1 for the core group"
        )
    kind = _text(entry, "kind", where, required=True)
    if not re.match(KIND_PATTERN, kind) or len(kind) > 63:
        raise HealthCheckError(
            f"{where}.kind {kind!r} must be a kind in CamelCase, such as Certificate"
        )
    if (split_api_version(api_version)[0], kind) in WORKLOAD_KINDS:
        raise HealthCheckError(
            f"{where}: {kind} is judged by the operator's own rules; "
            "health checks are for other kinds"
        )
    owned = entry.get("failOnOwnedPods", True)
    if not isinstance(owned, bool):
        raise HealthCheckError(f"{where}.failOnOwnedPods must be true or false")
    return HealthCheck(
        api_version=api_version,
        kind=kind,
        current=_expression(entry, "current", where, required=True),
        failed=_expression(entry, "failed", where),
        in_progress=_expression(entry, "inProgress", where),
        fail_on_owned_pods=owned,
        source=where,
    )


def _text(entry: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise HealthCheckError(f"{where}.{key} is required and must be a non-empty string")
    return value


def _expression(entry: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    """The expression under ``key`` (``""`` when absent and optional).

    One that shows nothing (only spaces, controls or invisible characters such as
    U+200B or U+FEFF) is refused as the CRD refuses it, given or required alike.
    """
    value = entry.get(key)
    if value is None and not required:
        return ""
    if value is None:
        raise HealthCheckError(
            f"{where}.{key} is required: a CEL expression that {EXPRESSION_MEANING[key]}"
        )
    if not isinstance(value, str) or not has_visible_character(value):
        raise HealthCheckError(
            f"{where}.{key} must be a CEL expression that {EXPRESSION_MEANING[key]}, "
            "not empty or only spaces and invisible characters"
        )
    text = value
    if len(text) > MAX_EXPRESSION:
        raise HealthCheckError(f"{where}.{key} is longer than {MAX_EXPRESSION} characters")
    return text
