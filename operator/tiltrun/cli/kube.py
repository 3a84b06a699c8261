"""The CLI's way into the cluster: the official Kubernetes client, its errors in one sentence.

Every request goes through the official client's dynamic client (``kubernetes.dynamic``:
discovery, then reads, lists, server-side applies, deletes and the ``pods/log``
subresource of any kind by its API group, version and Kind) and its ``Watch``. This
module adds only what the commands need on top of it:

- a client built as kubectl builds one (``--kubeconfig``, ``--context``, ``$KUBECONFIG``,
  in-cluster), with the context's namespace;
- objects as the plain JSON the server sent, never the client's wrapper classes;
- whatever keeps a command from doing its job (no kubeconfig, cluster unreachable, CRD
  missing, TiltRun missing, a TiltRun the API server refuses) as a ``CommandError``: one
  sentence on stderr and exit code 3, never a traceback.

Why the dynamic client rather than the generated ``CoreV1Api`` and ``CustomObjectsApi``:
importing ``CoreV1Api`` (pods, events, logs: what a diagnosis reads) costs 1.7 s of CPU,
more than the rest of the command together, and the generated custom-object methods lose
the answer of a server-side apply that creates (they know only ``200``, not ``201``). The
dynamic client costs 0.1 s to import and three discovery requests per command (kept in
memory: a command runs once per pipeline, and a cache file would be shared by concurrent
runs). docs/architecture.md has the figures.
"""

from __future__ import annotations

import json
import os
import queue
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import click
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.discovery import LazyDiscoverer
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from kubernetes.watch import Watch

from tiltrun.api.model import GROUP, KIND, PLURAL, VERSION
from tiltrun.judge import kinds

Obj = dict[str, Any]

#: Exit code when the command could not do its job (bad input, cluster, CRD, operator).
EXIT_UNUSABLE = 3
#: Field manager of ``tiltrun ci -f`` in ``metadata.managedFields``.
FIELD_MANAGER = "tiltrun-ci"
#: The content type of a server-side apply request.
APPLY_PATCH = "application/apply-patch+yaml"
#: (connect, read) seconds for ordinary requests: an unreachable cluster fails fast.
REQUEST_TIMEOUT = (5.0, 30.0)
#: A watch request ends after this long on the server side; it is then resumed.
WATCH_SECONDS = 300
CRD_NAME = f"{PLURAL}.{GROUP}"
_SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: What a failed connection raises before any answer arrives.
CONNECTION_ERRORS = (urllib3.exceptions.HTTPError, OSError, ssl.SSLError)


class CommandError(click.ClickException):
    """The command cannot do its job; the message is one sentence for a person."""

    exit_code = EXIT_UNUSABLE


class ExitThreeOnUsage(click.Command):
    """A command whose bad arguments exit 3, like every other reason it cannot do its job.

    Click's own convention is 2, which ``tiltrun ci`` uses for "timed out".
    """

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as err:
            raise _BadUsage(err) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            raise _BadUsage(err) from None


class _BadUsage(click.UsageError):
    exit_code = EXIT_UNUSABLE

    def __init__(self, err: click.UsageError) -> None:
        super().__init__(err.format_message(), err.ctx)


class Resource(Protocol):
    """Where a kind lives in the API: what the kind registry's entries say."""

    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def namespaced(self) -> bool: ...


TILTRUNS: Resource = kinds.TILTRUN


class MissingKind(Exception):
    """The API server does not serve this kind (its CRD is not installed)."""

    def __init__(self, kind: Resource) -> None:
        super().__init__(f"{kind.plural} of {api_version(kind)}")
        self.kind = kind


def api_version(kind: Resource) -> str:
    """``apps/v1``; ``v1`` for the core group."""
    return f"{kind.group}/{kind.version}" if kind.group else kind.version


class _Discovery(LazyDiscoverer):
    """The dynamic client's discovery, kept in memory only (never written to a file)."""

    def _write_cache(self) -> None:
        pass


@dataclass(frozen=True)
class Kube:
    """A client for one cluster, and the namespace to use when none is given."""

    api: client.ApiClient
    namespace: str
    server: str
    context: str | None = None
    kubeconfig: str | None = None

    @cached_property
    def dynamic(self) -> Any:
        """The official dynamic client; discovery happens on first use."""
        nowhere = Path(tempfile.gettempdir()) / f"tiltrun-discovery-{os.getpid()}-unused"
        return DynamicClient(  # type: ignore[no-untyped-call]
            self.api, cache_file=str(nowhere), discoverer=_Discovery
        )

    def resource(self, kind: Resource) -> Any:
        """The dynamic client's handle on ``kind``; MissingKind when it is not served."""
        try:
            return self.dynamic.resources.get(api_version=api_version(kind), kind=kind.kind)
        except ResourceNotFoundError:
            raise MissingKind(kind) from None


def connect(kubeconfig: str | None, context: str | None) -> Kube:
    """A client as kubectl would build it: ``--kubeconfig``, ``$KUBECONFIG``, in-cluster."""
    if kubeconfig is None and context is None and _in_cluster():
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        namespace = (_SERVICE_ACCOUNT / "namespace").read_text().strip() or "default"
        api = client.ApiClient()
        return Kube(api, namespace, api.configuration.host)
    if kubeconfig is not None and not Path(kubeconfig).is_file():
        raise CommandError(f"the kubeconfig {kubeconfig} does not exist")
    try:
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        chosen = active
        if context is not None:
            chosen = next((c for c in contexts if c.get("name") == context), None)
            if chosen is None:
                raise CommandError(f"the kubeconfig has no context named {context!r}")
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, persist_config=False
        )
    except config.ConfigException as err:
        raise CommandError(f"cannot use the kubeconfig: {_first_line(str(err))}") from None
    namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    return Kube(api, namespace, api.configuration.host, context, kubeconfig)


def _in_cluster() -> bool:
    # Inside a pod (a CI runner on the cluster) with no kubeconfig anywhere, like kubectl.
    default = Path(os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not default.is_file()


# -- errors ------------------------------------------------------------------------------


def api_message(err: ApiException) -> str:
    """The API server's own message for a refused request, else its status line."""
    try:
        body = json.loads(err.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    if err.status == 401:
        return "the API server did not accept our credentials (401 Unauthorized)"
    text = _first_line(str(err.body or "")) if err.body else ""
    return f"{err.status} {err.reason}" + (f" ({text})" if text else "")


def unreachable(server: str, err: BaseException) -> str:
    """One sentence for a connection that failed before any answer came."""
    text = str(getattr(err, "reason", None) or err)
    for needle, meaning in (
        ("Connection refused", "connection refused"),
        ("timed out", "the connection timed out"),
        ("Name or service not known", "the host name does not resolve"),
        ("nodename nor servname", "the host name does not resolve"),
        ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted"),
        ("No route to host", "no route to host"),
    ):
        if needle in text:
            return f"cannot reach the Kubernetes API server at {server}: {meaning}"
    return f"cannot reach the Kubernetes API server at {server}: {_first_line(text)}"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())


def is_missing_resource(err: ApiException) -> bool:
    """A 404 for the resource type itself (its CRD not installed), not for one object."""
    if err.status != 404:
        return False
    try:
        body = json.loads(err.body or "")
    except ValueError:
        return True  # "404 page not found": the API path does not exist
    return not (isinstance(body, dict) and (body.get("details") or {}).get("name"))


def _crd_missing() -> CommandError:
    return CommandError(
        f"the TiltRun CRD ({CRD_NAME}) is not installed in this cluster; "
        "apply crds/tiltrun.yaml first"
    )


@contextmanager
def one_sentence(kube: Kube, doing: str) -> Iterator[None]:
    """Turn a failed request into a CommandError: ``"<doing>: <the server's words>"``.

    A missing TiltRun CRD and an unreachable cluster get their own sentences.
    """
    try:
        yield
    except MissingKind as missing:
        if missing.kind.kind == KIND and missing.kind.group == GROUP:
            raise _crd_missing() from None
        raise CommandError(f"{doing}: the API server does not serve {missing}") from None
    except ApiException as err:
        if is_missing_resource(err):
            raise _crd_missing() from None
        raise CommandError(f"{doing}: {api_message(err)}") from None
    except CONNECTION_ERRORS as err:
        raise CommandError(unreachable(kube.server, err)) from None


# -- any kind ------------------------------------------------------------------------------
#
# Answers are read raw (``serialize=False``) and decoded here: plain dicts, and every
# success status is an answer.


def _raw(response: Any) -> Obj:
    """The JSON object of a raw response."""
    try:
        data = json.loads(response.data or b"{}")
    finally:
        response.release_conn()
    return data if isinstance(data, dict) else {}


def _scope(kind: Resource, namespace: str | None) -> str | None:
    return namespace if kind.namespaced else None


def read(
    kube: Kube,
    kind: Resource,
    namespace: str | None,
    name: str,
    *,
    timeout: tuple[float, float] = REQUEST_TIMEOUT,
) -> Obj:
    """One object. Raises ApiException (404 when it does not exist), MissingKind, or a
    connection error."""
    found = kube.resource(kind).get(
        name=name, namespace=_scope(kind, namespace), serialize=False, _request_timeout=timeout
    )
    return _raw(found)


def list_objects(
    kube: Kube,
    kind: Resource,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout: tuple[float, float] = REQUEST_TIMEOUT,
) -> list[Obj]:
    """The objects of ``kind`` in ``namespace`` (every namespace when ``None``)."""
    listed = _raw(
        kube.resource(kind).get(
            namespace=_scope(kind, namespace),
            label_selector=label_selector,
            field_selector=field_selector,
            serialize=False,
            _request_timeout=timeout,
        )
    )
    return [item for item in listed.get("items") or [] if isinstance(item, dict)]


def apply(kube: Kube, kind: Resource, obj: Obj, *, field_manager: str) -> Obj:
    """Server-side apply ``obj`` (its ``metadata.namespace`` decides where), forcing conflicts.

    One request, accepted whole or not at all; the object as stored.
    """
    namespace = (obj.get("metadata") or {}).get("namespace")
    applied = kube.resource(kind).server_side_apply(
        body=obj,
        namespace=_scope(kind, namespace),
        field_manager=field_manager,
        force_conflicts=True,
        serialize=False,
        _request_timeout=REQUEST_TIMEOUT,
    )
    return _raw(applied)


def delete(kube: Kube, kind: Resource, namespace: str | None, name: str) -> None:
    """Delete one object; a 404 raises ApiException like any other refusal."""
    _raw(
        kube.resource(kind).delete(
            name=name,
            namespace=_scope(kind, namespace),
            serialize=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
    )


def watch(
    kube: Kube,
    kind: Resource,
    namespace: str | None,
    *,
    resource_version: str | None = None,
    field_selector: str | None = None,
    label_selector: str | None = None,
    seconds: int = WATCH_SECONDS,
) -> Iterator[tuple[str, Obj]]:
    """The events of one watch request, ``(type, object)``, as they arrive.

    Through the client's ``Watch``, with bookmarks; the server ends the request after
    ``seconds`` and the iterator with it (the caller resumes from the last
    ``metadata.resourceVersion`` it saw, bookmarks included). An ``ERROR`` event raises
    ApiException: 410 when ``resource_version`` is too old.
    """
    stream = Watch().stream(  # type: ignore[no-untyped-call]
        kube.resource(kind).get,
        namespace=_scope(kind, namespace),
        field_selector=field_selector,
        label_selector=label_selector,
        resource_version=resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=seconds,
        serialize=False,
        _request_timeout=(REQUEST_TIMEOUT[0], float(seconds + 30)),
    )
    for event in stream:
        obj = event.get("raw_object")
        yield str(event.get("type")), obj if isinstance(obj, dict) else {}


POD: Resource = kinds.POD


def pod_log(
    kube: Kube,
    namespace: str,
    pod: str,
    *,
    container: str | None,
    previous: bool,
    tail_lines: int,
    timeout: tuple[float, float] = REQUEST_TIMEOUT,
) -> str:
    """The last ``tail_lines`` lines of a container's log (the previous container's).

    The ``pods/log`` subresource, which ``CoreV1Api.read_namespaced_pod_log`` also reads.
    """
    query: list[tuple[str, Any]] = [("tailLines", tail_lines), ("previous", previous)]
    if container:
        query.append(("container", container))
    response = kube.resource(POD).log.get(
        name=pod,
        namespace=namespace,
        query_params=query,
        serialize=False,
        _request_timeout=timeout,
    )
    try:
        return bytes(response.data or b"").decode("utf-8", "replace")
    finally:
        response.release_conn()


# -- TiltRuns ------------------------------------------------------------------------------


def find_run(kube: Kube, namespace: str, name: str) -> Obj | None:
    """The TiltRun, or ``None`` when it does not exist (its CRD must)."""
    with one_sentence(kube, f"cannot read TiltRun {name} in namespace {namespace}"):
        try:
            return read(kube, TILTRUNS, namespace, name)
        except ApiException as err:
            if err.status == 404 and not is_missing_resource(err):
                return None
            raise


def require_run(kube: Kube, namespace: str, name: str) -> Obj:
    """The TiltRun; a CommandError saying so when it does not exist."""
    run = find_run(kube, namespace, name)
    if run is None:
        raise CommandError(f"there is no TiltRun {name} in namespace {namespace}")
    return run


def apply_run(kube: Kube, namespace: str, manifest: Obj) -> Obj:
    """Server-side apply ``manifest``: one request, accepted whole or not at all."""
    name = str(manifest["metadata"]["name"])
    body = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    body.pop("status", None)  # the operator owns status; apply would ignore it anyway
    with one_sentence(kube, f"the API server rejected TiltRun {name}"):
        return apply(kube, TILTRUNS, body, field_manager=FIELD_MANAGER)


def delete_run(kube: Kube, namespace: str, name: str) -> None:
    """Delete the TiltRun if it exists (it carries no finalizers, so it goes at once)."""
    with one_sentence(kube, f"cannot delete TiltRun {name} in namespace {namespace}"):
        try:
            delete(kube, TILTRUNS, namespace, name)
        except ApiException as err:
            if err.status != 404 or is_missing_resource(err):
                raise


def is_tiltrun(obj: object) -> bool:
    """True for a TiltRun manifest of the version this CLI speaks."""
    return (
        isinstance(obj, dict)
        and obj.get("kind") == KIND
        and obj.get("apiVersion") == f"{GROUP}/{VERSION}"
    )


# -- following one TiltRun ---------------------------------------------------------------


@dataclass(frozen=True)
class RunEvent:
    """What the watch reports: the run changed, was deleted, or the watch has a problem.

    ``kind`` is ``"changed"`` or ``"deleted"`` (``run`` is set), ``"notice"`` (``text``
    says what happened; the watch carries on) or ``"fatal"`` (``text`` is why it stopped).
    """

    kind: str
    run: Obj | None = None
    text: str = ""


def watch_run(
    kube: Kube, namespace: str, name: str, resource_version: str
) -> queue.Queue[RunEvent]:
    """Follow one TiltRun from ``resource_version`` in a daemon thread; events go on a queue.

    Each watch request resumes from the last resourceVersion seen (bookmarks included);
    when that version has expired (410 Gone) the run is read again and followed from
    there; when the connection drops, a notice says so and the watch is retried with
    backoff, so a blip does not end a CI job.
    """
    events: queue.Queue[RunEvent] = queue.Queue()
    thread = threading.Thread(
        target=_follow,
        args=(kube, namespace, name, resource_version, events),
        name=f"watch-{name}",
        daemon=True,
    )
    thread.start()
    return events


def _follow(
    kube: Kube, namespace: str, name: str, version: str, events: queue.Queue[RunEvent]
) -> None:
    backoff = 0.5
    selector = f"metadata.name={name}"
    while True:
        try:
            for change, obj in watch(
                kube, TILTRUNS, namespace, resource_version=version, field_selector=selector
            ):
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if change in ("ADDED", "MODIFIED"):
                    events.put(RunEvent("changed", obj))
                elif change == "DELETED":
                    events.put(RunEvent("deleted", obj))
                backoff = 0.5
            continue  # the server ended the request: resume
        except ApiException as err:
            if err.status == 410:
                try:
                    run = require_run(kube, namespace, name)
                except CommandError as problem:
                    events.put(RunEvent("fatal", text=problem.message))
                    return
                events.put(RunEvent("changed", run))
                version = str(run["metadata"]["resourceVersion"])
                continue
            if err.status in (401, 403, 404):
                message = f"cannot watch TiltRun {name}: {api_message(err)}"
                events.put(RunEvent("fatal", text=message))
                return
            events.put(RunEvent("notice", text=f"the watch failed ({api_message(err)}); retrying"))
        except CONNECTION_ERRORS as err:
            events.put(RunEvent("notice", text=unreachable(kube.server, err) + "; retrying"))
        time.sleep(backoff)
        backoff = min(backoff * 2, 5.0)
