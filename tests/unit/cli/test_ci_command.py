"""``tiltrun ci`` without a cluster: bad input exits 3, the waiter's deadlines and outcomes."""

from __future__ import annotations

import queue
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from kubernetes.client.exceptions import ApiException

from tests.unit.cli.conftest import FakeApiServer, captured
from tiltrun.cli import kube as kube_module
from tiltrun.cli import wait as wait_module
from tiltrun.cli.ci import load_manifest, reattach_command, resolve_namespace
from tiltrun.cli.kube import CommandError, Kube, RunEvent, api_message, unreachable
from tiltrun.cli.main import cli
from tiltrun.cli.wait import Waiter
from tiltrun.judge.exit import Outcome

TILTRUN = "apiVersion: tilt.dev/v1alpha1\nkind: TiltRun\nmetadata: {name: shop}\nspec: {}\n"


def _run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give either the TiltRun's NAME or -f FILE"),
        (("shop", "-f", "-"), "give either the TiltRun's NAME or -f FILE"),
        (("shop", "--timeout", "5 minutes"), "is not a duration like 90s, 5m or 1h30m"),
        (("shop", "--output", "yaml"), "Invalid value for '-o' / '--output'"),
        (("shop", "--restart"), "--restart goes with -f FILE"),
        (("-f", "/no/such/file.yaml"), "No such file or directory"),
    ],
)
def test_bad_arguments_exit_3(args: tuple[str, ...], message: str) -> None:
    result = _run("ci", *args, input="")
    assert result.exit_code == 3, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: [b",
            "stdin is not valid YAML: expected ',' or ']', but got '<stream end>' at line 1",
        ),
        (
            "kind: Deployment\napiVersion: apps/v1\n",
            "stdin is not a TiltRun (it holds kind Deployment",
        ),
        (TILTRUN + "---\n" + TILTRUN, "stdin holds 2 documents; tiltrun ci -f takes exactly one"),
        ("", "stdin holds 0 documents"),
        ("apiVersion: tilt.dev/v1alpha1\nkind: TiltRun\nspec: {}\n", "has no metadata.name"),
    ],
)
def test_a_file_that_is_not_one_tiltrun_exits_3_before_touching_the_cluster(
    text: str, message: str
) -> None:
    result = _run("ci", "-f", "-", "--kubeconfig", "/no/such/kubeconfig", input=text)
    assert result.exit_code == 3
    assert message in result.output


def test_load_manifest_skips_empty_documents() -> None:
    assert load_manifest("---\n" + TILTRUN + "---\n", "f.yaml")["metadata"]["name"] == "shop"


def _kube(namespace: str = "from-context") -> Kube:
    return Kube(api=None, namespace=namespace, server="https://127.0.0.1:6443")  # type: ignore[arg-type]


def test_the_namespace_is_the_flag_then_the_file_then_the_context() -> None:
    manifest = {"metadata": {"name": "shop", "namespace": "from-file"}}
    assert resolve_namespace(None, manifest, _kube()) == "from-file"
    assert resolve_namespace("from-file", manifest, _kube()) == "from-file"
    assert resolve_namespace(None, {"metadata": {}}, _kube()) == "from-context"
    with pytest.raises(CommandError, match=r"metadata\.namespace is 'from-file' but -n says 'x'"):
        resolve_namespace("x", manifest, _kube())


def test_the_reattach_command_repeats_context_and_kubeconfig() -> None:
    assert reattach_command("shop", "ci", "prod", "/k") == (
        "tiltrun ci shop -n ci --context prod --kubeconfig /k"
    )


def test_a_kubeconfig_that_does_not_exist_is_one_sentence() -> None:
    result = _run("ci", "shop", "--kubeconfig", "/no/such/kubeconfig")
    assert result.exit_code == 3
    assert result.output.strip() == "Error: the kubeconfig /no/such/kubeconfig does not exist"


# -- errors in one sentence -------------------------------------------------------------------


def test_api_message_prefers_the_servers_own_words() -> None:
    err = ApiException(status=422, reason="Unprocessable Entity")
    err.body = '{"kind": "Status", "message": "spec.tiltfilePath: Required value"}'
    assert api_message(err) == "spec.tiltfilePath: Required value"
    plain = ApiException(status=404, reason="Not Found")
    plain.body = "404 page not found"
    assert api_message(plain) == "404 Not Found (404 page not found)"


def test_unreachable_names_the_server_and_the_cause() -> None:
    err = ConnectionRefusedError(111, "[Errno 111] Connection refused")
    assert unreachable("https://127.0.0.1:1", err) == (
        "cannot reach the Kubernetes API server at https://127.0.0.1:1: connection refused"
    )


def test_a_kind_the_api_server_does_not_serve_means_the_crd_is_missing() -> None:
    missing_object = ApiException(status=404, reason="Not Found")
    missing_object.body = '{"reason": "NotFound", "details": {"name": "shop", "kind": "tiltruns"}}'
    path = "/apis/tilt.dev/v1alpha1/namespaces/ns/tiltruns/shop"

    with pytest.raises(
        CommandError, match=r"the TiltRun CRD \(tiltruns.tilt.dev\) is not installed"
    ):
        kube_module.find_run(FakeApiServer({}, missing={"tilt.dev"}).kube(), "ns", "shop")
    assert kube_module.find_run(FakeApiServer({path: missing_object}).kube(), "ns", "shop") is None


def test_a_404_for_the_resource_type_means_the_crd_is_missing() -> None:
    # Served when discovered, gone by the time of the request: "404 page not found".
    missing_type = ApiException(status=404, reason="Not Found")
    missing_type.body = "404 page not found"
    path = "/apis/tilt.dev/v1alpha1/namespaces/ns/tiltruns/shop"
    with pytest.raises(
        CommandError, match=r"the TiltRun CRD \(tiltruns.tilt.dev\) is not installed"
    ):
        kube_module.find_run(FakeApiServer({path: missing_type}).kube(), "ns", "shop")


def test_a_refused_apply_is_one_sentence_with_the_servers_words() -> None:
    refused = ApiException(status=422, reason="Unprocessable Entity")
    refused.body = '{"kind": "Status", "message": "spec.tiltfilePath: Required value"}'
    server = FakeApiServer({"/apis/tilt.dev/v1alpha1/namespaces/ns/tiltruns/shop": refused})
    manifest = {"apiVersion": "tilt.dev/v1alpha1", "kind": "TiltRun", "metadata": {"name": "shop"}}
    with pytest.raises(CommandError) as caught:
        kube_module.apply_run(server.kube(), "ns", manifest)
    assert caught.value.message == (
        "the API server rejected TiltRun shop: spec.tiltfilePath: Required value"
    )
    # One server-side apply request, forcing conflicts, as field manager tiltrun-ci.
    assert server.asked == [
        (
            "PATCH",
            "/apis/tilt.dev/v1alpha1/namespaces/ns/tiltruns/shop",
            {"fieldManager": "tiltrun-ci", "force": "true"},
        )
    ]
    content_type, body = server.sent[0]
    assert content_type == "application/apply-patch+yaml"
    assert body["metadata"] == {"name": "shop", "namespace": "ns"}


def test_an_apply_that_creates_the_run_returns_it_as_stored() -> None:
    stored = {"kind": "TiltRun", "metadata": {"name": "shop", "resourceVersion": "7"}}
    path = "/apis/tilt.dev/v1alpha1/namespaces/ns/tiltruns/shop"
    manifest = {"apiVersion": "tilt.dev/v1alpha1", "kind": "TiltRun", "metadata": {"name": "shop"}}
    server = FakeApiServer({path: (201, stored)})
    assert kube_module.apply_run(server.kube(), "ns", manifest) == stored


def test_a_connection_refused_is_one_sentence_naming_the_server() -> None:
    refused = ConnectionRefusedError(111, "[Errno 111] Connection refused")
    server = FakeApiServer({"/apis/tilt.dev/v1alpha1/namespaces/ns/tiltruns/shop": refused})
    with pytest.raises(CommandError) as caught:
        kube_module.require_run(server.kube(), "ns", "shop")
    assert caught.value.message == (
        "cannot reach the Kubernetes API server at https://127.0.0.1:6443: connection refused"
    )


# -- the waiter ----------------------------------------------------------------------------------


class Recorder:
    """A Display that keeps what it was told."""

    def __init__(self) -> None:
        self.statuses: list[Any] = []
        self.notes: list[str] = []
        self.ticks = 0

    def update(self, status: Any, now: datetime, elapsed: float) -> None:
        self.statuses.append(status)

    def tick(self, now: datetime, elapsed: float) -> None:
        self.ticks += 1

    def note(self, text: str, now: datetime) -> None:
        self.notes.append(text)

    def stop(self) -> None:
        pass


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> queue.Queue[RunEvent]:
    """The watch, replaced by a queue the test fills."""
    feed: queue.Queue[RunEvent] = queue.Queue()
    monkeypatch.setattr(kube_module, "watch_run", lambda *args: feed)
    monkeypatch.setattr(wait_module, "TICK_SECONDS", 0.05)
    return feed


#: A moment shortly after the captured runs started, so their timeouts lie ahead.
CAPTURED_AT = datetime(2026, 11, 30, 15, 9, tzinfo=UTC)


def _waiter(display: Recorder, **kwargs: Any) -> Waiter:
    settings = {"timeout": 0.0, "operator_wait": 5.0, "clock": lambda: CAPTURED_AT, **kwargs}
    return Waiter(_kube(), "ci-try-1", "slow2", display, **settings)


def test_a_finished_run_answers_at_once_without_watching(events: queue.Queue[RunEvent]) -> None:
    display = Recorder()
    result = _waiter(display).wait(captured("run-failed"))
    assert result.outcome is Outcome.FAILED
    assert display.notes == ["TiltRun slow2 had already finished; its result:"]


def test_the_done_event_ends_the_wait(events: queue.Queue[RunEvent]) -> None:
    waiting, done = captured("run-waiting"), captured("run-timed-out")
    events.put(RunEvent("changed", waiting))
    events.put(RunEvent("changed", done))
    display = Recorder()
    result = _waiter(display).wait(waiting)
    assert result.outcome is Outcome.TIMED_OUT and result.exit_code == 2
    assert len(display.statuses) == 3


def test_the_client_timeout_gives_up_with_exit_2(events: queue.Queue[RunEvent]) -> None:
    started = time.monotonic()
    result = _waiter(Recorder(), timeout=0.2).wait(captured("run-waiting"))
    assert result.outcome is Outcome.CLIENT_TIMEOUT and result.exit_code == 2
    assert 0.2 <= time.monotonic() - started < 2


def test_no_operator_is_exit_3_after_the_operator_wait(events: queue.Queue[RunEvent]) -> None:
    fresh = captured("run-waiting")
    del fresh["status"]
    with pytest.raises(CommandError, match="no operator has picked up TiltRun slow2"):
        _waiter(Recorder(), operator_wait=0.2).wait(fresh)


def test_a_run_long_past_its_timeout_means_the_operator_is_gone(
    events: queue.Queue[RunEvent],
) -> None:
    stale = captured("run-waiting")  # ci.timeout 10m, started at 15:08:26Z
    waiter = _waiter(Recorder(), operator_wait=0.1)
    waiter.clock = lambda: datetime(2026, 11, 30, 15, 19, tzinfo=UTC)
    with pytest.raises(CommandError, match=r"passed its ci.timeout \(10m\) 30s ago"):
        waiter.wait(stale)


def test_a_deleted_run_is_exit_3(events: queue.Queue[RunEvent]) -> None:
    events.put(RunEvent("deleted", captured("run-waiting")))
    with pytest.raises(CommandError, match="was deleted while waiting on it"):
        _waiter(Recorder()).wait(captured("run-waiting"))


def test_watch_trouble_is_shown_and_the_wait_goes_on(events: queue.Queue[RunEvent]) -> None:
    events.put(RunEvent("notice", text="cannot reach the API server; retrying"))
    events.put(RunEvent("changed", captured("run-succeeded")))
    display = Recorder()
    assert _waiter(display).wait(captured("run-waiting")).outcome is Outcome.SUCCEEDED
    assert display.notes == ["cannot reach the API server; retrying"]
