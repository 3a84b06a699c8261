"""Slim the operator image's virtualenv; runs inside the image build (see the Dockerfile).

    python slim.py /opt/tiltrun

1. Removes what the running image never uses: the installers (pip, setuptools, wheel),
   the Kubernetes client's asyncio copy (``kubernetes/aio``, about 41 MB of source: the
   operator talks through kopf and aiohttp, the CLI through the synchronous client) and
   test suites shipped inside packages.
2. Imports every module of the ``tiltrun`` package, as ``tiltrun operator``, ``tiltrun
   ci`` and ``tiltrun inspect`` do, which also proves nothing they need was removed; then
   removes the optional native extensions none of them imported (four of CEL's six, each
   a copy of cel-cpp: about 23 MB).
3. Compiles bytecode for exactly the modules that import loaded. The root filesystem
   is read-only at run time, so Python can never cache bytecode itself; compiling
   every installed module instead would add about 70 MB for code that never runs.
   The bytecode is hash-checked-free (``UNCHECKED_HASH``): the image never changes, and
   copying between stages may not keep the sources' timestamps.

Standard library only: it runs on whatever Python the image is built on.
"""

from __future__ import annotations

import importlib
import pkgutil
import py_compile
import shutil
import sys
from importlib.util import cache_from_source
from pathlib import Path

#: Never imported at run time (checked by step 2, which would fail without them).
UNUSED_PACKAGES = ("pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources")
UNUSED_FOLDERS = ("kubernetes/aio",)
TEST_FOLDERS = ("tests", "test", "testing")
#: Packages of optional extension modules, each a large native library on its own: only
#: those the product imports are kept (cel_expr_python's ext: 6 of them, ~37 MB).
OPTIONAL_EXTENSIONS = ("cel_expr_python.ext",)


def site_packages(venv: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv / "lib" / version / "site-packages"


def remove_unused(venv: Path, site: Path) -> int:
    """Delete what the image never runs; the number of bytes freed."""
    doomed: list[Path] = []
    for name in UNUSED_PACKAGES:
        doomed += [site / name, *site.glob(f"{name}-*.dist-info")]
    doomed += [p for p in venv.joinpath("bin").glob("pip*")]
    doomed += [site / "distutils-precedence.pth"]
    doomed += [site / folder for folder in UNUSED_FOLDERS]
    for name in TEST_FOLDERS:
        doomed += [p for p in site.glob(f"*/{name}") if p.is_dir()]
    doomed += list(site.rglob("__pycache__"))
    freed = 0
    for path in doomed:
        if path.is_dir():
            freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path)
        elif path.exists():
            freed += path.stat().st_size
            path.unlink()
    return freed


def import_everything() -> None:
    """Import every module of the product, as its commands do at run time."""
    package = importlib.import_module("tiltrun")
    for module in pkgutil.walk_packages(package.__path__, "tiltrun."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def remove_unimported_extensions(site: Path) -> int:
    """Delete the optional extension modules nothing imported; the number of bytes freed."""
    freed = 0
    for package in OPTIONAL_EXTENSIONS:
        folder = site / package.replace(".", "/")
        for path in folder.glob("*"):
            module = f"{package}.{path.name.split('.')[0]}"
            if module not in sys.modules and path.name != "__init__.py" and path.is_file():
                freed += path.stat().st_size
                path.unlink()
    return freed


def compile_imported(site: Path) -> tuple[int, int]:
    """Bytecode for every loaded module under ``site``: (modules, bytes)."""
    count = size = 0
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if not source or not source.endswith(".py"):
            continue
        path = Path(source)
        if site not in path.resolve().parents or not path.exists():
            continue  # outside the venv, or removed above (loaded at start-up by a .pth)
        target = cache_from_source(source)
        py_compile.compile(
            source,
            cfile=target,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        count += 1
        size += Path(target).stat().st_size
    return count, size


def main() -> None:
    venv = Path(sys.argv[1]).resolve()
    site = site_packages(venv).resolve()
    freed = remove_unused(venv, site)
    import_everything()
    freed += remove_unimported_extensions(site)
    modules, size = compile_imported(site)
    print(
        f"slim.py: removed {freed / 1e6:.1f} MB never imported; "
        f"compiled {modules} imported modules ({size / 1e6:.1f} MB of bytecode)"
    )


if __name__ == "__main__":
    main()
