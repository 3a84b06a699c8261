"""Building the operator's image: with Docker when a daemon answers, else buildah and podman.

``make image`` (``tiltrun dev-image build``) builds the repository's Dockerfile as
``localhost/tiltrun-operator:dev``.

- **Docker**, when ``docker info`` answers: ``docker build``, on ``python:3.11-slim``.
- **buildah/podman** otherwise (machines with no Docker daemon, like this project's
  CI): the Debian packages ``buildah``, ``podman``, ``runc`` and ``debootstrap`` are
  installed with apt-get when missing (as root). The runtime is runc, and the
  ``nofile``/``nproc`` ulimits are capped at this process's hard limits, in a
  ``containers.conf`` of our own; images live in a storage of our own. Both are under
  ``$TILTRUN_CACHE_DIR/containers`` (default ``~/.cache/tiltrun``), never in the
  repository.

The base is ``python:3.11-slim`` when it is already here or a registry serves it; else
a Python 3.11 base of our own, made once from Debian's archive (``debootstrap
--variant=minbase``, Debian 12, whose Python is 3.11) and committed with ``buildah
from scratch``. ``TILTRUN_PYTHON_IMAGE`` names another base. Package downloads inside
the build trust the host's CA bundle, mounted read-only for the build's RUN steps
only: it never lands in a layer.

Every step is cached: the base is made once, and the Dockerfile's layers are reused
(``--layers``) until their inputs change, so a second ``make image`` takes seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tiltrun_dev.devcluster.build import HACK_DIR, cache_dir

Log = Callable[[str], None]

#: The repository: the build context.
REPO = HACK_DIR.parent
IMAGE = "localhost/tiltrun-operator:dev"
UPSTREAM_BASE = "docker.io/library/python:3.11-slim"
#: Debian 12: its ``python3`` is Python 3.11, as in python:3.11-slim.
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: The local base: Python, the venv module (the build stage makes a virtualenv) and
#: the CA certificates (the operator may talk to clusters with public certificates).
#: debootstrap resolves no virtual packages: python3-distutils provides the
#: python3.11-distutils that python3.11-venv depends on.
BASE_PACKAGES = ("python3", "python3.11-venv", "python3-distutils", "ca-certificates")
#: Packages purged from the tree once it is made (dpkg's database stays true, so image
#: scanners see what is there): the package manager and Perl, which only it uses, and
#: the distutils that python3.11-venv depends on but the venv module does not import.
#: About 15 MB; nothing installs packages into the image after this.
BASE_PURGE = ("apt", "perl-base", "python3-distutils", "python3-lib2to3")
#: Folders of the debootstrapped tree that no program in the image reads (glibc's iconv
#: modules: Python has its own codecs; 8 MB).
BASE_PRUNE = (
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "var/cache/apt",
    "var/cache/debconf",
    "var/lib/apt/lists",
    "var/log",
    "usr/lib/x86_64-linux-gnu/gconv",
    "usr/lib/aarch64-linux-gnu/gconv",
)
#: Commands the buildah path needs -> the Debian package that brings each.
TOOLS = {"buildah": "buildah", "podman": "podman", "runc": "runc", "debootstrap": "debootstrap"}
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageError(Exception):
    """The image cannot be built; the message says why in one sentence."""


@dataclass(frozen=True)
class Built:
    """What ``build`` made."""

    tag: str
    engine: str  # "docker" or "buildah"
    base: str
    size: int  # bytes, uncompressed: the sum of the image's layers
    seconds: float
    layers: list[tuple[int, str]]  # (bytes, the instruction that made it), oldest first


def containers_dir() -> Path:
    """Where the buildah path keeps its configuration, storage and base-image sources."""
    return cache_dir() / "containers"


def local_base_tag() -> str:
    """The local base's name; its tag changes whenever the recipe does."""
    recipe = json.dumps([DEBIAN_SUITE, BASE_PACKAGES, BASE_PURGE, BASE_PRUNE, PATH]).encode()
    return f"localhost/tiltrun-python:3.11-{DEBIAN_SUITE}-{hashlib.sha256(recipe).hexdigest()[:8]}"


# -- the engine ------------------------------------------------------------------------------


def docker_answers() -> bool:
    """True when a Docker daemon answers ``docker info``."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info"], capture_output=True, timeout=20, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def ensure_tools(log: Log = print) -> None:
    """Install buildah, podman, runc and debootstrap with apt-get when any is missing."""
    missing = sorted({pkg for cmd, pkg in TOOLS.items() if shutil.which(cmd) is None})
    keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    if not missing:
        return
    if not keyring.is_file():
        missing.append("debian-archive-keyring")  # debootstrap checks Debian's signatures
    if shutil.which("apt-get") is None:
        raise ImageError(
            f"Cannot build the image: no Docker daemon answers, {', '.join(missing)} "
            "cannot be installed here (no apt-get); install Docker, or buildah, podman, "
            "runc and debootstrap."
        )
    if os.geteuid() != 0:
        raise ImageError(
            f"Cannot build the image: no Docker daemon answers and {', '.join(missing)} "
            "must be installed; run `make image` as root once (it uses apt-get), or "
            "install them yourself."
        )
    log(f"installing {' '.join(missing)} with apt-get (first run only)...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        result = subprocess.run(args, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ImageError(
                f"Cannot build the image: `{' '.join(args)}` failed: {_last_line(result)}"
            )


def podman_env() -> dict[str, str]:
    """The environment that points buildah and podman at our configuration and storage."""
    folder = containers_dir()
    folder.mkdir(parents=True, exist_ok=True)
    ulimits = [f'"{limit}"' for limit in ulimits_within_hard_limits()]
    conf = folder / "containers.conf"
    _write_if_changed(
        conf,
        "# Written by tiltrun dev-image (tiltrun_dev/image.py); rewritten on every build.\n"
        "[containers]\n"
        f"default_ulimits = [{', '.join(ulimits)}]\n"
        "[engine]\n"
        '# crun refuses hybrid cgroup layouts ("cgroups in hybrid mode not supported").\n'
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n',
    )
    storage = folder / "storage.conf"
    _write_if_changed(
        storage,
        "[storage]\n"
        f'driver = "{os.environ.get("TILTRUN_STORAGE_DRIVER", "overlay")}"\n'
        f'graphroot = "{folder / "storage"}"\n'
        f'runroot = "{folder / "run"}"\n',
    )
    return {
        **os.environ,
        "CONTAINERS_CONF": str(conf),
        "CONTAINERS_STORAGE_CONF": str(storage),
    }


def ulimits_within_hard_limits() -> list[str]:
    """``nofile``/``nproc`` that runc may set here (``name=soft:hard``).

    Rootful podman and buildah otherwise ask runc for more than the process may have
    ("error setting rlimit type 6: operation not permitted"; root lacks
    CAP_SYS_RESOURCE on these machines). Measured: the ceiling is the hard limit, and
    for ``nproc`` also the kernel's ``pid_max``, which podman caps its own limit at.
    """
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    limits = []
    for name, limit, cap in (
        ("nofile", resource.RLIMIT_NOFILE, None),
        ("nproc", resource.RLIMIT_NPROC, pid_max),
    ):
        hard = resource.getrlimit(limit)[1]
        value = cap if hard == resource.RLIM_INFINITY else min(hard, cap or hard)
        if value is not None:
            limits.append(f"{name}={value}:{value}")
    return limits


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


# -- building --------------------------------------------------------------------------------


def build(tag: str = IMAGE, log: Log = print) -> Built:
    """Build the Dockerfile as ``tag``, with Docker or else buildah; reuse every cache."""
    started = time.monotonic()
    folder = containers_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".build.lock"):
        engine: Engine
        if docker_answers():
            engine = Docker(log)
        else:
            ensure_tools(log)
            engine = Buildah(log)
        base = os.environ.get("TILTRUN_PYTHON_IMAGE") or engine.base()
        log(f"building {tag} with {engine.name} on {base}...")
        engine.build(tag, base)
        size, layers = engine.size(tag)
    return Built(tag, engine.name, base, size, time.monotonic() - started, layers)


class Engine(Protocol):
    """What ``build`` needs of Docker or buildah."""

    name: str

    def base(self) -> str:
        """The Python base to build on, made or fetched first if need be."""
        ...

    def build(self, tag: str, base: str) -> None:
        """Build the Dockerfile on ``base`` as ``tag``."""
        ...

    def size(self, tag: str) -> tuple[int, list[tuple[int, str]]]:
        """The image's uncompressed size and its layers' sizes, oldest first."""
        ...


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # One build at a time (`make image` and a test may start together).
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Buildah:
    """buildah builds, podman runs; both on our own configuration and storage."""

    name = "buildah"

    def __init__(self, log: Log) -> None:
        self.log = log
        self.env = podman_env()

    def run(
        self, *args: str, timeout: float | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``podman``/``buildah`` with our environment; an ImageError when it fails."""
        try:
            result = subprocess.run(
                list(args),
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            if check:
                raise ImageError(
                    f"`{' '.join(args[:3])} ...` did not finish within {timeout}s"
                ) from None
            return subprocess.CompletedProcess(list(args), 124, "", "timed out")
        if check and result.returncode != 0:
            raise ImageError(f"`{' '.join(args[:3])} ...` failed: {_last_line(result)}")
        return result

    def exists(self, image: str) -> bool:
        return self.run("podman", "image", "exists", image, check=False).returncode == 0

    def base(self) -> str:
        """python:3.11-slim if here or pullable, else the local base (made once)."""
        local = local_base_tag()
        if self.exists(UPSTREAM_BASE):
            return UPSTREAM_BASE
        if self.exists(local):
            return local
        pulled = self.run("podman", "pull", "--quiet", UPSTREAM_BASE, timeout=120, check=False)
        if pulled.returncode == 0:
            return UPSTREAM_BASE
        self.log(
            f"no registry serves {UPSTREAM_BASE} here ({_last_line(pulled)}); making a "
            f"Python 3.11 base from Debian's archive instead (first run only)..."
        )
        self.make_local_base(local)
        return local

    def make_local_base(self, tag: str) -> None:
        """debootstrap a minimal Debian with Python 3.11; commit it with buildah from scratch."""
        folder = containers_dir()
        debs = folder / "debs"  # downloaded packages, kept so that a remake downloads nothing
        debs.mkdir(parents=True, exist_ok=True)
        rootfs = Path(tempfile.mkdtemp(prefix="rootfs.", dir=folder))
        try:
            debootstrap(rootfs, debs)
            _prune_rootfs(rootfs)
            container = self.run("buildah", "from", "scratch").stdout.strip()
            try:
                mount = self.run("buildah", "mount", container).stdout.strip()
                _copy_tree(rootfs, Path(mount))
                self.run("buildah", "umount", container)
                self.run(
                    "buildah", "config",
                    "--env", f"PATH={PATH}",
                    "--env", "LANG=C.UTF-8",
                    # pip (in the build stage's virtualenv) trusts the system's CA bundle,
                    # which `make image` replaces with the host's for the build only.
                    "--env", f"PIP_CERT={HOST_CA_BUNDLE}",
                    "--cmd", '["python3"]',
                    "--label", f"org.opencontainers.image.description=Python 3.11 on Debian "
                    f"{DEBIAN_SUITE} (minbase), made by tiltrun dev-image",
                    container,
                )  # fmt: skip
                self.run("buildah", "commit", "--quiet", "--rm", container, tag)
                self._remove_older_bases(tag)
            except BaseException:
                self.run("buildah", "rm", container, check=False)
                raise
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)

    def _remove_older_bases(self, tag: str) -> None:
        repository = tag.rpartition(":")[0]
        listed = self.run("podman", "images", "--format", "{{.Repository}}:{{.Tag}}", repository)
        for image in listed.stdout.split():
            if image != tag:
                self.run("podman", "rmi", image, check=False)

    def build(self, tag: str, base: str) -> None:
        args = [
            "buildah", "bud",
            "--layers",
            "--network", "host",
            "--build-arg", f"PYTHON_IMAGE={base}",
            "--tag", tag,
            "--file", str(REPO / "Dockerfile"),
        ]  # fmt: skip
        for limit in ulimits_within_hard_limits():  # buildah ignores containers.conf's
            args += ["--ulimit", limit]
        if HOST_CA_BUNDLE.is_file():
            args += ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
        result = self.run(*args, str(REPO), check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
            raise ImageError(f"Building the image with buildah failed:\n{tail}")
        for line in result.stdout.splitlines():
            if line.startswith("slim.py:"):  # what was cut, when that step ran (not cached)
                self.log(line)

    def size(self, tag: str) -> tuple[int, list[tuple[int, str]]]:
        history = json.loads(self.run("podman", "history", "--format", "json", tag).stdout)
        layers = [(int(h.get("size") or 0), str(h.get("CreatedBy") or "")) for h in history]
        total = int(self.run("podman", "image", "inspect", "--format", "{{.Size}}", tag).stdout)
        return total, list(reversed(layers))


class Docker:
    """``docker build``; the local base, when needed, goes in with ``docker import``.

    Not exercised on this project's machines (they have no Docker daemon).
    """

    name = "docker"

    def __init__(self, log: Log) -> None:
        self.log = log

    def base(self) -> str:
        local = local_base_tag()
        for image in (UPSTREAM_BASE, local):
            if _quiet(["docker", "image", "inspect", image]):
                return image
        if _quiet(["docker", "pull", "--quiet", UPSTREAM_BASE]):
            return UPSTREAM_BASE
        if shutil.which("debootstrap") is None or os.geteuid() != 0:
            raise ImageError(
                f"Cannot build the image: no registry serves {UPSTREAM_BASE}, and making "
                "a base needs debootstrap, as root; or set TILTRUN_PYTHON_IMAGE."
            )
        folder = containers_dir()
        rootfs = Path(tempfile.mkdtemp(prefix="rootfs.", dir=folder))
        try:
            debootstrap(rootfs, folder / "debs")
            _prune_rootfs(rootfs)
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            changes = [f"ENV PATH={PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]']
            args = ["docker", "import", *[f"--change={c}" for c in changes], "-", local]
            imported = subprocess.run(args, stdin=tar.stdout, capture_output=True, text=True)
            tar.wait()
            if imported.returncode != 0:
                raise ImageError(f"docker import of the Python base failed: {_last_line(imported)}")
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
        return local

    def build(self, tag: str, base: str) -> None:
        args = ["docker", "build", "--build-arg", f"PYTHON_IMAGE={base}", "--tag", tag, str(REPO)]
        result = subprocess.run(args, env={**os.environ, "DOCKER_BUILDKIT": "1"}, text=True)
        if result.returncode != 0:
            raise ImageError("Building the image with docker failed (its output is above).")

    def size(self, tag: str) -> tuple[int, list[tuple[int, str]]]:
        inspect = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", tag],
            capture_output=True,
            text=True,
            check=True,
        )
        return int(inspect.stdout), []


def _quiet(args: list[str]) -> bool:
    return subprocess.run(args, capture_output=True, stdin=subprocess.DEVNULL).returncode == 0


def debootstrap(rootfs: Path, debs: Path) -> None:
    """A minimal Debian with Python 3.11 in ``rootfs``; packages cached in ``debs``."""
    args = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        f"--cache-dir={debs}",
        DEBIAN_SUITE,
        str(rootfs),
        DEBIAN_MIRROR,
    ]
    result = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        log_file = rootfs / "debootstrap" / "debootstrap.log"
        detail = log_file.read_text()[-2000:] if log_file.is_file() else result.stderr
        raise ImageError(
            f"Cannot make the Python base: debootstrap {DEBIAN_SUITE} from {DEBIAN_MIRROR} "
            f"failed: {_last_line(result)}\n{detail}"
        )


def _prune_rootfs(rootfs: Path) -> None:
    """Drop what no program in the image reads; make ``python`` name Python 3.11."""
    purge = ["chroot", str(rootfs), "dpkg", "--purge", "--force-remove-essential"]
    result = subprocess.run(
        [*purge, "--force-depends", *BASE_PURGE], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise ImageError(f"Cannot slim the Python base: dpkg --purge failed: {_last_line(result)}")
    for relative in BASE_PRUNE:
        folder = rootfs / relative
        if folder.is_dir():
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    # Of the packages' documentation, only their copyright and license files stay.
    for path in sorted((rootfs / "usr/share/doc").rglob("*"), reverse=True):
        if path.name == "copyright" or (path.is_dir() and any(path.iterdir())):
            continue
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    shutil.rmtree(rootfs / "debootstrap", ignore_errors=True)
    # As in python:3.11-slim: pip may install outside a virtualenv, `python` exists.
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    python = rootfs / "usr/local/bin/python"
    if not python.exists():
        python.symlink_to("/usr/bin/python3")


def _copy_tree(source: Path, target: Path) -> None:
    """Copy a root filesystem exactly: owners, modes, links, special files."""
    pack = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(source), "-cf", "-", "."], stdout=subprocess.PIPE
    )
    unpack = subprocess.run(
        ["tar", "--numeric-owner", "-C", str(target), "-xpf", "-"],
        stdin=pack.stdout,
        capture_output=True,
        text=True,
    )
    if pack.wait() != 0 or unpack.returncode != 0:
        raise ImageError(f"Copying the Python base into the image failed: {_last_line(unpack)}")


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or result.stdout or "").strip()
    return text.splitlines()[-1] if text else f"exit code {result.returncode}"
