"""The built-in library of health checks for common custom resources.

Each entry is a health check like the ones users write (docs/health-checks.md
explains every expression and the status shapes behind it; the fixtures in
tests/fixtures/resources/ are those shapes, one file per state). They apply when
neither the run nor the operator's configuration has a check for the same kind, and
they name only the group, so every version of the kind is covered.

The expressions read optional fields (``self.?status.?phase.orValue('')``), so an
object whose controller has not written a field yet is in progress, not an error.
Before any of them runs, a stale ``status.observedGeneration`` already makes the
object wait (docs/api.md, "Health checks in CEL").
"""

from __future__ import annotations

from tiltrun.api.healthcheck import HealthCheck

#: A condition of a given type and status, in the object's conditions (a CEL snippet).
_CONDITIONS = "self.?status.?conditions.orValue([])"
#: The condition describes the current spec (or does not say which one it describes).
_FRESH = (
    "(!has(c.observedGeneration)"
    " || c.observedGeneration == self.metadata.?generation.orValue(c.observedGeneration))"
)

#: CloudNativePG phases that need a person (api/v1/cluster_types.go: PhaseUnrecoverable,
#: PhaseCannotCreateClusterObjects, PhaseFailurePlugin, PhaseImageCatalogError,
#: PhaseArchitectureBinaryMissing; the unrecoverable phase was worded differently
#: before 1.23, so both wordings are listed).
CNPG_FAILED_PHASES = (
    "Cluster is unrecoverable and needs manual intervention",
    "Cluster is in an unrecoverable state, needs manual intervention",
    "Unable to create required cluster objects",
    "Cluster cannot proceed to reconciliation due to an error while interacting with plugins",
    "Cluster has incomplete or invalid image catalog",
    "Cluster cannot execute instance online upgrade due to missing architecture binary",
)


def _quoted(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


LIBRARY: tuple[HealthCheck, ...] = (
    # cert-manager: Issuing=True while a certificate is being issued; a failed issuance
    # leaves Issuing=False with reason Failed (retried only after a back-off of an hour
    # or more); Ready=True once the Secret holds a valid certificate for this spec.
    HealthCheck(
        api_version="cert-manager.io",
        kind="Certificate",
        failed=f"{_CONDITIONS}.exists(c, c.type == 'Issuing' && c.status == 'False'"
        " && c.?reason.orValue('') == 'Failed')",
        in_progress=f"{_CONDITIONS}.exists(c, c.type == 'Issuing' && c.status == 'True')",
        current=f"{_CONDITIONS}.exists(c, c.type == 'Ready' && c.status == 'True' && {_FRESH})",
        source="built-in check for cert-manager.io Certificate",
    ),
    # CloudNativePG: status.phase is the controller's one-line state; the Ready
    # condition (1.21 and later) must agree when it is there.
    HealthCheck(
        api_version="postgresql.cnpg.io",
        kind="Cluster",
        failed=f"self.?status.?phase.orValue('') in {_quoted(CNPG_FAILED_PHASES)}",
        current="self.?status.?phase.orValue('') == 'Cluster in healthy state'"
        f" && {_CONDITIONS}.all(c, c.type != 'Ready' || c.status == 'True')",
        source="built-in check for postgresql.cnpg.io Cluster",
    ),
    # Argo Rollouts: status.phase is Healthy, Progressing, Paused or Degraded (a
    # progress deadline passed, or the rollout was aborted); InvalidSpec=True never
    # progresses until the spec changes.
    HealthCheck(
        api_version="argoproj.io",
        kind="Rollout",
        failed="self.?status.?phase.orValue('') == 'Degraded'"
        f" || {_CONDITIONS}.exists(c, c.type == 'InvalidSpec' && c.status == 'True')",
        in_progress="self.?status.?phase.orValue('') == 'Paused'",
        current="self.?status.?phase.orValue('') == 'Healthy'",
        source="built-in check for argoproj.io Rollout",
    ),
    # Knative Serving: Ready=Unknown while the revision and routes come up, False only
    # when they failed (e.g. RevisionFailed), True when the service serves.
    HealthCheck(
        api_version="serving.knative.dev",
        kind="Service",
        failed=f"{_CONDITIONS}.exists(c, c.type == 'Ready' && c.status == 'False')",
        current=f"{_CONDITIONS}.exists(c, c.type == 'Ready' && c.status == 'True')",
        source="built-in check for serving.knative.dev Service",
    ),
    # Strimzi: a NotReady=True condition while the cluster is being deployed (reason
    # Creating) or when a reconciliation failed; InvalidResourceException means the
    # spec itself is refused, which only a new spec fixes. Ready=True when up.
    HealthCheck(
        api_version="kafka.strimzi.io",
        kind="Kafka",
        failed=f"{_CONDITIONS}.exists(c, c.type == 'NotReady' && c.status == 'True'"
        " && c.?reason.orValue('') == 'InvalidResourceException')",
        in_progress=f"{_CONDITIONS}.exists(c, c.type == 'NotReady' && c.status == 'True')",
        current=f"{_CONDITIONS}.exists(c, c.type == 'Ready' && c.status == 'True')",
        source="built-in check for kafka.strimzi.io Kafka",
    ),
)
