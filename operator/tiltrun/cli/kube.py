"""The CLI's way into the cluster: one client, plain REST calls, errors in one sentence.

Whatever keeps a command from doing its job (no kubeconfig, cluster unreachable, CRD
missing, TiltRun missing, a TiltRun the API server refuses) becomes a ``CommandError``:
one sentence on stderr and exit code 3, never a traceback.

Requests go through the official client's ``ApiClient`` (so kubeconfig auth, TLS and
proxies work as everywhere else) but by path, not through the generated ``CoreV1Api``
and friends: importing those takes one to two seconds each, which would stand between
``status.done`` and the command's exit.
"""

from __future__ import annotations

import json
import os
import queue
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from tiltrun.api.model import GROUP, KIND, PLURAL, VERSION

Obj = dict[str, Any]

#: Exit code when the command could not do its job (bad input, cluster, CRD, operator).
EXIT_UNUSABLE = 3
#: Field manager of ``tiltrun ci -f`` in ``metadata.managedFields``.
FIELD_MANAGER = "tiltrun-ci"
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


@dataclass(frozen=True)
class Kube:
    """A client for one cluster, and the namespace to use when none is given."""

    api: client.ApiClient
    namespace: str
    server: str
    context: str | None = None
    kubeconfig: str | None = None

    def open(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
        timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> Any:
        """Send a request; the urllib3 response, unread. Raises ApiException on non-2xx."""
        headers = {"Accept": "application/json, */*", "Content-Type": content_type}
        method, url, headers, _, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        # The client serialises a dict body as JSON, which is also valid for apply (YAML).
        response = self.api.call_api(
            method, url, header_params=headers, body=body, _request_timeout=timeout
        )
        if not 200 <= response.status <= 299:
            response.read()  # type: ignore[no-untyped-call]
            raise ApiException(http_resp=response)
        return response.response

    def request(self, method: str, path: str, **kwargs: Any) -> Obj:
        """Send a request and return the JSON answer."""
        response = self.open(method, path, **kwargs)
        try:
            data = json.loads(response.data or b"{}")
        finally:
            response.release_conn()
        return data if isinstance(data, dict) else {}

    def text(self, path: str, *, query: dict[str, str], timeout: tuple[float, float]) -> str:
        """GET a plain-text answer (a pod log)."""
        response = self.open("GET", path, query=query, timeout=timeout)
        try:
            return bytes(response.data or b"").decode("utf-8", "replace")
        finally:
            response.release_conn()


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


def _is_missing_resource(err: ApiException) -> bool:
    """A 404 for the resource type itself (CRD not installed), not for one object."""
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


# -- TiltRuns ------------------------------------------------------------------------------


def runs_path(namespace: str, name: str = "") -> str:
    """The REST path of a namespace's TiltRuns, or of one of them."""
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(namespace)}/{PLURAL}"
    return f"{base}/{quote(name)}" if name else base


def find_run(kube: Kube, namespace: str, name: str) -> Obj | None:
    """The TiltRun, or ``None`` when it does not exist (its CRD must)."""
    try:
        return kube.request("GET", runs_path(namespace, name))
    except ApiException as err:
        if err.status == 404 and _is_missing_resource(err):
            raise _crd_missing() from None
        if err.status == 404:
            return None
        raise CommandError(
            f"cannot read TiltRun {name} in namespace {namespace}: {api_message(err)}"
        ) from None
    except CONNECTION_ERRORS as err:
        raise CommandError(unreachable(kube.server, err)) from None


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
    try:
        return kube.request(
            "PATCH",
            runs_path(namespace, name),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=body,
            content_type="application/apply-patch+yaml",
        )
    except ApiException as err:
        if err.status == 404 and _is_missing_resource(err):
            raise _crd_missing() from None
        raise CommandError(f"the API server rejected TiltRun {name}: {api_message(err)}") from None
    except CONNECTION_ERRORS as err:
        raise CommandError(unreachable(kube.server, err)) from None


def delete_run(kube: Kube, namespace: str, name: str) -> None:
    """Delete the TiltRun if it exists (it carries no finalizers, so it goes at once)."""
    try:
        kube.request("DELETE", runs_path(namespace, name))
    except ApiException as err:
        if err.status == 404 and _is_missing_resource(err):
            raise _crd_missing() from None
        if err.status == 404:
            return
        raise CommandError(
            f"cannot delete TiltRun {name} in namespace {namespace}: {api_message(err)}"
        ) from None
    except CONNECTION_ERRORS as err:
        raise CommandError(unreachable(kube.server, err)) from None


def is_tiltrun(obj: object) -> bool:
    """True for a TiltRun manifest of the version this CLI speaks."""
    return (
        isinstance(obj, dict)
        and obj.get("kind") == KIND
        and obj.get("apiVersion") == f"{GROUP}/{VERSION}"
    )


# -- watching ------------------------------------------------------------------------------


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
    """Watch one TiltRun from ``resource_version`` in a daemon thread; events go on a queue.

    The watch resumes from the last resourceVersion when the server ends it, starts over
    from a fresh read when that version has expired (410 Gone), and keeps retrying with
    a notice when the connection drops, so a blip does not end a CI job.
    """
    events: queue.Queue[RunEvent] = queue.Queue()
    thread = threading.Thread(
        target=_watch_loop,
        args=(kube, namespace, name, resource_version, events),
        name=f"watch-{name}",
        daemon=True,
    )
    thread.start()
    return events


def _watch_loop(
    kube: Kube, namespace: str, name: str, version: str, events: queue.Queue[RunEvent]
) -> None:
    backoff = 0.5
    while True:
        try:
            version = _stream(kube, namespace, name, version, events)
            backoff = 0.5
            continue
        except _Expired:
            try:
                run = require_run(kube, namespace, name)
            except CommandError as problem:
                events.put(RunEvent("fatal", text=problem.message))
                return
            events.put(RunEvent("changed", run))
            version = str(run["metadata"]["resourceVersion"])
            continue
        except ApiException as err:
            if err.status in (401, 403, 404):
                message = f"cannot watch TiltRun {name}: {api_message(err)}"
                events.put(RunEvent("fatal", text=message))
                return
            events.put(RunEvent("notice", text=f"the watch failed ({api_message(err)}); retrying"))
        except CONNECTION_ERRORS as err:
            events.put(RunEvent("notice", text=unreachable(kube.server, err) + "; retrying"))
        time.sleep(backoff)
        backoff = min(backoff * 2, 5.0)


class _Expired(Exception):
    """The resourceVersion we watch from is too old (410 Gone)."""


def watch_events(kube: Kube, path: str, query: dict[str, str], seconds: int) -> Iterator[Obj]:
    """The events of one watch request on the collection at ``path``, as they arrive."""
    query = {**query, "watch": "true", "timeoutSeconds": str(seconds)}
    response = kube.open("GET", path, query=query, timeout=(REQUEST_TIMEOUT[0], seconds + 30))
    try:
        for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
            if line.strip():
                event = json.loads(line)
                if isinstance(event, dict):
                    yield event
    finally:
        response.release_conn()


def _stream(
    kube: Kube, namespace: str, name: str, version: str, events: queue.Queue[RunEvent]
) -> str:
    """One watch request; returns the resourceVersion to resume from."""
    query = {
        "fieldSelector": f"metadata.name={name}",
        "resourceVersion": version,
        "allowWatchBookmarks": "true",
    }
    for event in watch_events(kube, runs_path(namespace), query, WATCH_SECONDS):
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired()
            raise ApiException(status=obj.get("code"), reason=obj.get("message"))
        version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
        if kind in ("ADDED", "MODIFIED"):
            events.put(RunEvent("changed", obj))
        elif kind == "DELETED":
            events.put(RunEvent("deleted", obj))
    return version
