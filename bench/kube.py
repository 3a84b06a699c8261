"""The benchmark's way into the cluster: the official client, in its asyncio flavour.

The harness, the pollers and the watcher each make hundreds of concurrent requests from
one event loop, so they use ``kubernetes.aio``, the official client's asyncio package
(over aiohttp), where the CLI uses the same client's threaded flavour: the same
kubeconfig loading, the same generated API classes.

Objects stay the JSON the server sent. Every call goes through the generated method's
``*_without_preload_content`` variant and the answer is decoded here: a kind of a named
group through ``CustomObjectsApi``, a core kind through ``CoreV1Api``. No model class is
built (building a pod's model costs about a millisecond of CPU, which would slow the
pollers and the recording watcher down, and load the machine the operator runs on).
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

import aiohttp
from kubernetes.aio import client, config
from kubernetes.aio.client.exceptions import ApiException

from tiltrun.cli.kube import Resource

Obj = dict[str, Any]
#: 429 Too Many Requests (a CRD's storage still initialising, say) is retried this often.
RETRIES = 30
#: Seconds a request may take (watches: their own ``timeout_seconds`` plus this).
REQUEST_SECONDS = 300


class Kube:
    """One identity's client: the generated APIs over one connection pool."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        #: Requests this client sent; the audit log is the authority, this a cross-check.
        self.sent = 0

    @cached_property
    def core(self) -> Any:
        """``CoreV1Api``, imported only by the actors that read core kinds (1.7 s of CPU)."""
        return client.CoreV1Api(self.api)

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.close()  # type: ignore[no-untyped-call]


async def connect(kubeconfig: str, *, connections: int = 64) -> Kube:
    """A client for ``kubeconfig``'s current context, with at most ``connections``."""
    configuration = client.Configuration()
    await config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=configuration, persist_config=False
    )
    configuration.connection_pool_maxsize = connections
    # No proxy lookup per request (aiohttp does it in a thread): the cluster is direct.
    configuration.client_session_kwargs = {"trust_env": False}
    return Kube(client.ApiClient(configuration))


def _snake(kind: str) -> str:
    """``ServiceAccount`` -> ``service_account``, as the client names its methods."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def _method(kube: Kube, verb: str, kind: Resource, namespace: str | None) -> Any:
    """The generated method for ``verb`` on ``kind`` (``_without_preload_content``)."""
    namespaced = kind.namespaced and namespace is not None
    if kind.group:
        scope = "namespaced" if namespaced else "cluster"
        return getattr(kube.custom, f"{verb}_{scope}_custom_object_without_preload_content")
    scope = "namespaced_" if namespaced else ""
    every = "_for_all_namespaces" if verb == "list" and kind.namespaced and not namespaced else ""
    return getattr(kube.core, f"{verb}_{scope}{_snake(kind.kind)}{every}_without_preload_content")


def _args(kind: Resource, namespace: str | None, name: str | None = None) -> tuple[str, ...]:
    """The method's leading arguments: the client orders them differently by group."""
    where = (namespace,) if kind.namespaced and namespace is not None else ()
    named = (name,) if name is not None else ()
    if kind.group:
        return (kind.group, kind.version, *where, kind.plural, *named)
    return (*named, *where)


async def _answer(response: Any) -> Obj:
    """The decoded JSON of a raw response; ApiException for an error status."""
    try:
        body = await response.read()
        if response.status >= 400:
            raise ApiException(
                status=response.status, reason=response.reason, body=body.decode(errors="replace")
            )
    finally:
        response.release()
    data = json.loads(body) if body else {}
    return data if isinstance(data, dict) else {}


async def _call(kube: Kube, method: Any, *args: Any, **kwargs: Any) -> Obj:
    """One request, retried on 429 (after a second) up to ``RETRIES`` times."""
    for attempt in range(RETRIES + 1):
        kube.sent += 1
        try:
            return await _answer(await method(*args, **kwargs))
        except ApiException as err:
            if err.status != 429 or attempt == RETRIES:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def create(kube: Kube, kind: Resource, namespace: str | None, body: Obj) -> Obj:
    """POST ``body``; the object as stored."""
    method = _method(kube, "create", kind, namespace)
    return await _call(kube, method, *_args(kind, namespace), body)


async def read(kube: Kube, kind: Resource, namespace: str | None, name: str) -> Obj:
    """GET one object."""
    method = _method(kube, "get" if kind.group else "read", kind, namespace)
    return await _call(kube, method, *_args(kind, namespace, name))


async def list_objects(
    kube: Kube, kind: Resource, namespace: str | None, *, label_selector: str | None = None
) -> Obj:
    """The whole list answer (``items`` and ``metadata.resourceVersion``)."""
    options = {"label_selector": label_selector} if label_selector else {}
    method = _method(kube, "list", kind, namespace)
    return await _call(kube, method, *_args(kind, namespace), **options)


async def patch(
    kube: Kube, kind: Resource, namespace: str | None, name: str, body: Any, content_type: str
) -> None:
    """PATCH one object with ``body`` of ``content_type`` (JSON patch, merge patch...)."""
    method = _method(kube, "patch", kind, namespace)
    await _call(kube, method, *_args(kind, namespace, name), body, _content_type=content_type)


async def delete(kube: Kube, kind: Resource, namespace: str | None, name: str) -> None:
    """DELETE one object; one that is already gone is no error."""
    method = _method(kube, "delete", kind, namespace)
    try:
        await _call(kube, method, *_args(kind, namespace, name))
    except ApiException as err:
        if err.status != 404:
            raise


async def watch_lines(
    kube: Kube,
    kind: Resource,
    namespace: str | None,
    resource_version: str,
    *,
    timeout_seconds: int = 3600,
    label_selector: str | None = None,
) -> AsyncIterator[bytes]:
    """The raw lines of one watch request (with bookmarks), each the moment it arrives.

    The recording watcher stamps each line on arrival and writes it as it came, so it
    reads the stream itself rather than through ``kubernetes.aio.watch.Watch``, which
    decodes, re-encodes and decodes every event again before handing it over
    (docs/architecture.md has the figures).
    """
    method = _method(kube, "list", kind, namespace)
    options: dict[str, Any] = {
        "watch": True,
        "resource_version": resource_version,
        "allow_watch_bookmarks": True,
        "timeout_seconds": timeout_seconds,
        "_request_timeout": timeout_seconds + REQUEST_SECONDS,
    }
    if label_selector:
        options["label_selector"] = label_selector
    kube.sent += 1
    response = await method(*_args(kind, namespace), **options)
    try:
        if response.status >= 400:
            body = (await response.read()).decode(errors="replace")
            raise ApiException(status=response.status, reason=response.reason, body=body)
        while line := await response.content.readline():
            yield line
    finally:
        response.release()


async def raw_session(kubeconfig: str) -> aiohttp.ClientSession:
    """A plain aiohttp session with the kubeconfig's server, TLS and credentials."""
    cfg = client.Configuration()
    await config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=cfg, persist_config=False
    )
    context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if cfg.cert_file:
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    token = await cfg.get_api_key_with_prefix("BearerToken")
    return aiohttp.ClientSession(
        base_url=str(cfg.host).rstrip("/"),
        connector=aiohttp.TCPConnector(ssl=context, limit=64),
        headers={"Authorization": str(token)} if token else {},
    )
