"""Building the control-plane binaries, and Helm, from the Go modules pinned under ``hack/``.

Each wrapper module (``hack/k8s``, ``hack/etcd``, ``hack/kwok``, ``hack/helm``) pins one
upstream release with ``tool`` directives. Binaries are built once per version into
``$TILTRUN_CACHE_DIR/bin/<module>-<version>/`` (default ``~/.cache/tiltrun``) and
reused; the Go build and module caches are Go's own, so a rebuild is incremental.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tiltrun_dev.devcluster.errors import DevClusterError

#: The repository's ``hack/`` folder (the package is installed editable from the repo).
HACK_DIR = Path(__file__).resolve().parents[3] / "hack"


@dataclass(frozen=True)
class GoModule:
    """One wrapper module: which binaries it builds, from which pinned module."""

    folder: str
    pinned: str  # the module whose version names the cache folder
    packages: dict[str, str]  # binary name -> Go package path

    def version(self) -> str:
        gomod = (HACK_DIR / self.folder / "go.mod").read_text()
        match = re.search(
            rf"^\s*(?:require\s+)?{re.escape(self.pinned)}\s+(v\S+)", gomod, re.MULTILINE
        )
        if not match:
            raise DevClusterError(f"hack/{self.folder}/go.mod does not pin {self.pinned}.")
        return match.group(1)

    def ldflags(self) -> str:
        flags = ["-s", "-w"]
        if self.folder == "helm":
            # Else `helm version` says only the minor release its source names.
            flags.append(f"-X {self.pinned}/internal/version.version={self.version()}")
        if self.folder == "k8s":
            # Without these, /version reports v0.0.0-master and the API server's
            # emulation version logic misbehaves.
            version = self.version()
            major, minor = version.lstrip("v").split(".")[:2]
            for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
                flags += [
                    f"-X {pkg}.gitVersion={version}",
                    f"-X {pkg}.gitMajor={major}",
                    f"-X {pkg}.gitMinor={minor}",
                    f"-X {pkg}.gitTreeState=clean",
                ]
        return " ".join(flags)


MODULES = (
    GoModule(
        "k8s",
        "k8s.io/kubernetes",
        {
            name: f"k8s.io/kubernetes/cmd/{name}"
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        },
    ),
    GoModule("etcd", "go.etcd.io/etcd/server/v3", {"etcd": "go.etcd.io/etcd/server/v3"}),
    GoModule("kwok", "sigs.k8s.io/kwok", {"kwok": "sigs.k8s.io/kwok/cmd/kwok"}),
)
#: Tools the tests use beside the cluster: built by ``tiltrun dev-cluster build`` (so
#: ``make test`` builds them before any test runs), else on first use; never by ``up``.
HELM = GoModule("helm", "helm.sh/helm/v4", {"helm": "helm.sh/helm/v4/cmd/helm"})


def cache_dir() -> Path:
    """Where built binaries and cluster state live, outside the repository."""
    return Path(os.environ.get("TILTRUN_CACHE_DIR", Path.home() / ".cache" / "tiltrun"))


def binary_dir(module: GoModule) -> Path:
    return cache_dir() / "bin" / f"{module.folder}-{module.version()}"


def ensure_binaries(
    log: Callable[[str], None] = print, modules: tuple[GoModule, ...] = MODULES
) -> dict[str, Path]:
    """Paths of every control-plane binary (or of ``modules``'), building missing ones first."""
    paths: dict[str, Path] = {}
    for module in modules:
        target = binary_dir(module)
        missing = [name for name in module.packages if not (target / name).is_file()]
        if missing:
            _build(module, target, log)
        paths.update({name: target / name for name in module.packages})
    return paths


def ensure_helm(log: Callable[[str], None] = print) -> Path:
    """The pinned ``helm`` binary, built first if missing (one build at a time)."""
    lock = cache_dir() / "bin" / ".helm.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        return ensure_binaries(log, (HELM,))["helm"]


def _build(module: GoModule, target: Path, log: Callable[[str], None]) -> None:
    go = shutil.which("go")
    if go is None:
        raise DevClusterError(
            "The Go toolchain is not on PATH: install Go 1.26 or newer to build the dev "
            "cluster's binaries."
        )
    log(f"building {', '.join(module.packages)} {module.version()} (first run only)...")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        result = subprocess.run(
            [
                go,
                "build",
                "-trimpath",
                "-ldflags",
                module.ldflags(),
                "-o",
                f"{staging}/",
                *module.packages.values(),
            ],
            cwd=HACK_DIR / module.folder,
            capture_output=True,
            text=True,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
        )
        if result.returncode != 0:
            raise DevClusterError(_explain_build_failure(module, result.stderr))
        if len(module.packages) == 1:
            # `go build -o dir/` names a single binary after its package's last element.
            (built,) = [p for p in staging.iterdir() if p.is_file()]
            built.rename(staging / next(iter(module.packages)))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _explain_build_failure(module: GoModule, stderr: str) -> str:
    network = ("dial tcp", "no such host", "connection refused", "i/o timeout", "proxyconnect")
    if any(marker in stderr for marker in network):
        proxy = os.environ.get("GOPROXY", "the default GOPROXY")
        return (
            f"Cannot reach the Go module proxy ({proxy}) to fetch {module.pinned} "
            f"{module.version()}; check the network or set GOPROXY."
        )
    tail = "\n".join(stderr.strip().splitlines()[-15:])
    return f"Building {module.pinned} {module.version()} failed:\n{tail}"
