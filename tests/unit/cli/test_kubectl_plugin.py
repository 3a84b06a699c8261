"""``kubectl tiltrun``: kubectl's cluster flags before or after the subcommand, kubectl's name.

kubectl refuses flags before a plugin's name and passes everything after it unchanged,
so ``kubectl tiltrun -n shop ci web`` reaches the plugin as ``-n shop ci web``. These
tests stop the command where it would first touch the cluster and look at what it was
about to use; tests/integration/test_kubectl_plugin.py runs it through a real kubectl.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import tiltrun
from tiltrun.cli import ci as ci_module
from tiltrun.cli import kube as kube_module
from tiltrun.cli.kube import CommandError, Kube
from tiltrun.cli.main import cli, kubectl_args


class Stop(CommandError):
    """Raised by the stand-ins below once the command has shown what it would use."""


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``tiltrun ci`` connects with and which namespace it reads the run from."""
    record: dict[str, Any] = {}

    def connect(kubeconfig: str | None, context: str | None) -> Kube:
        record.update(kubeconfig=kubeconfig, context=context)
        return Kube(api=None, namespace="from-context", server="https://k")  # type: ignore[arg-type]

    def require_run(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
        record.update(namespace=namespace, name=name)
        raise Stop("stopped before waiting")

    monkeypatch.setattr(kube_module, "connect", connect)
    monkeypatch.setattr(kube_module, "require_run", require_run)
    return record


def run(*args: str, prog: str = "tiltrun") -> Any:
    return CliRunner().invoke(cli, kubectl_args(list(args)), prog_name=prog)


@pytest.mark.parametrize(
    "args",
    [
        ("--kubeconfig", "/k", "--context", "prod", "-n", "shop", "ci", "web"),
        ("ci", "web", "--kubeconfig", "/k", "--context", "prod", "-n", "shop"),
        ("--context=prod", "ci", "web", "--kubeconfig=/k", "--namespace=shop"),
        ("-n=shop", "--kubeconfig", "/k", "ci", "--context", "prod", "web"),
        ("-nshop", "--kubeconfig", "/k", "--context", "prod", "ci", "web"),
    ],
)
def test_cluster_flags_work_before_and_after_the_subcommand(
    seen: dict[str, Any], args: tuple[str, ...]
) -> None:
    result = run(*args)
    assert result.exit_code == 3, result.output
    assert "stopped before waiting" in result.output
    assert seen == {"kubeconfig": "/k", "context": "prod", "namespace": "shop", "name": "web"}


def test_a_flag_after_the_subcommand_wins(seen: dict[str, Any]) -> None:
    result = run("-n", "before", "--context", "a", "ci", "web", "-n", "after")
    assert result.exit_code == 3, result.output
    assert (seen["namespace"], seen["context"]) == ("after", "a")


def test_without_flags_the_contexts_namespace_is_used(seen: dict[str, Any]) -> None:
    result = run("ci", "web")
    assert result.exit_code == 3, result.output
    assert seen == {"kubeconfig": None, "context": None, "namespace": "from-context", "name": "web"}


def test_namespace_before_the_operator_subcommand_is_a_watched_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tiltrun.wiring.run as wiring_run

    watched: list[list[str]] = []
    monkeypatch.setattr(wiring_run, "run_operator", lambda ns, **_: watched.append(ns))
    assert run("-n", "shop", "operator").exit_code == 0
    assert run("-n", "shop", "operator", "-n", "other").exit_code == 0
    assert watched == [["shop"], ["other"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--context", "prod", "inspect"), "--context does not apply to `kubectl tiltrun inspect`"),
        (("--kubeconfig", "/k", "operator"), "--kubeconfig does not apply to `kubectl tiltrun"),
        (("--bogus", "ci", "web"), "No such option '--bogus'"),
        (("nosuch",), "No such command 'nosuch'"),
    ],
)
def test_a_bad_flag_before_the_subcommand_exits_3_not_2(
    args: tuple[str, ...], message: str
) -> None:
    # 2 is `tiltrun ci`'s "timed out": a typo must not read as one in a pipeline.
    result = run(*args, prog="kubectl tiltrun")
    assert result.exit_code == 3, result.output
    assert message in result.output


def test_help_and_the_reattach_hint_name_kubectl_tiltrun(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        "Usage: kubectl tiltrun [OPTIONS] COMMAND" in run("--help", prog="kubectl tiltrun").output
    )
    hints: list[str] = []
    original = ci_module.reattach_command

    def reattach(*args: Any) -> str:
        hints.append(original(*args))
        raise Stop("stopped")

    monkeypatch.setattr(kube_module, "connect", lambda *_: Kube(None, "ns", "https://k"))  # type: ignore[arg-type]
    monkeypatch.setattr(kube_module, "require_run", lambda *_: tiltrun("web"))
    monkeypatch.setattr(ci_module, "reattach_command", reattach)
    run("--context", "prod", "ci", "web", prog="kubectl tiltrun")
    run("ci", "web")
    run("ci", "web", prog="python -m tiltrun")
    assert hints == [
        "kubectl tiltrun ci web -n ns --context prod",
        "tiltrun ci web -n ns",
        "tiltrun ci web -n ns",
    ]


def test_only_the_short_namespace_flag_is_rewritten() -> None:
    assert kubectl_args(["-n=a", "ci", "x"]) == ["-n", "a", "ci", "x"]
    assert kubectl_args(["ci", "-f", "-", "--", "-n=a"]) == ["ci", "-f", "-", "--", "-n=a"]
    assert kubectl_args(["--namespace=a"]) == ["--namespace=a"]
