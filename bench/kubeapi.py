"""A small asyncio client for the Kubernetes API, enough for the benchmark's actors.

The benchmark's watcher must timestamp each watch event the moment its line arrives,
and its pollers and driver make hundreds of concurrent requests; aiohttp (already a
kopf dependency) does both without threads. The kubeconfig is read by the official
client's loader, so every authentication it supports works here too.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes import client, config

Obj = dict[str, Any]
RETRIES = 30


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body[:300]}")
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    """Where the API server is and how to authenticate to it."""

    server: str
    ssl: ssl.SSLContext | bool
    headers: dict[str, str]


def endpoint(kubeconfig: str) -> Endpoint:
    """Read ``kubeconfig`` (current context) into an :class:`Endpoint`."""
    cfg = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=cfg
    )
    context: ssl.SSLContext | bool
    context = ssl.create_default_context(cafile=cfg.ssl_ca_cert) if cfg.verify_ssl else False
    if cfg.cert_file and isinstance(context, ssl.SSLContext):
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    elif cfg.cert_file:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    headers = {}
    token = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix(
        "authorization"
    )
    if token:
        headers["Authorization"] = str(token)
    return Endpoint(str(cfg.host).rstrip("/"), context, headers)


class Api:
    """Requests to one API server as one identity. Use as an async context manager."""

    def __init__(self, where: Endpoint, *, connections: int = 64) -> None:
        self._where = where
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        #: Requests this client sent; the audit log is the authority, this a cross-check.
        self.sent = 0

    async def __aenter__(self) -> Api:
        connector = aiohttp.TCPConnector(ssl=self._where.ssl, limit=self._connections)
        self._session = aiohttp.ClientSession(
            base_url=self._where.server,
            connector=connector,
            headers=self._where.headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use Api as `async with`"
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        ok_statuses: tuple[int, ...] = (),
    ) -> Obj:
        """One request; the decoded JSON answer. Raises :class:`ApiError` on an error.

        ``429 Too Many Requests`` (a CRD's storage still initialising, say) is retried
        for up to half a minute.
        """
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        for attempt in range(RETRIES + 1):
            self.sent += 1
            async with self.session.request(
                method, path, params=params, data=data, headers=headers
            ) as resp:
                text = await resp.text()
                if resp.status == 429 and attempt < RETRIES:
                    await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                    continue
                if resp.status >= 400 and resp.status not in ok_statuses:
                    raise ApiError(resp.status, method, path, text)
                answer: Obj = json.loads(text) if text else {}
                return answer
        raise AssertionError("unreachable")

    async def get(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params or None)

    async def watch_lines(
        self, path: str, resource_version: str, *, timeout_seconds: int = 3600
    ) -> AsyncIterator[bytes]:
        """The raw lines of one watch request, as they arrive."""
        self.sent += 1
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        async with self.session.get(path, params=params) as resp:
            if resp.status >= 400:
                raise ApiError(resp.status, "WATCH", path, await resp.text())
            while True:
                line = await resp.content.readline()
                if not line:
                    return
                yield line
