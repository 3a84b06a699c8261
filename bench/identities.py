"""A user name per actor, so the audit log tells the operator's requests from the rest.

On a tiltrun dev cluster (its CA key sits beside the kubeconfig, in ``pki/``) each actor
gets a kubeconfig with a client certificate of its own, in group ``system:masters``.
On any other cluster every actor uses the given kubeconfig, and request counts from the
audit log are not available.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.audit import USER_PREFIX
from tiltrun_dev.devcluster.cluster import user_kubeconfig

OPERATOR = f"{USER_PREFIX}operator"
WATCHER = f"{USER_PREFIX}watcher"
DRIVER = f"{USER_PREFIX}driver"
KUBECTL_WAIT = f"{USER_PREFIX}kubectl-wait"


def poller_user(interval: float) -> str:
    return f"{USER_PREFIX}poller-{interval:g}s"


@dataclass(frozen=True)
class Identities:
    """Kubeconfig path per user name; ``distinct`` when each really is its own user."""

    kubeconfigs: dict[str, str]
    distinct: bool

    def __getitem__(self, user: str) -> str:
        return self.kubeconfigs[user]


def identities(kubeconfig: str, users: list[str], folder: Path) -> Identities:
    """Kubeconfigs for ``users`` (written into ``folder``), or the given one for all."""
    cluster_folder = Path(kubeconfig).resolve().parent
    if not (cluster_folder / "pki" / "ca.key").is_file():
        return Identities({user: kubeconfig for user in users}, distinct=False)
    out = {}
    for user in users:
        dest = folder / f"{user.replace(':', '-')}.kubeconfig"
        out[user] = str(user_kubeconfig(cluster_folder, user, dest))
    return Identities(out, distinct=True)
