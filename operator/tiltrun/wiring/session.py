"""The operator's one connection to the API server: an aiohttp session on kopf's loop.

Watches, status PATCHes and Events all go through one ``ApiSession``, so no request
waits for a thread and none holds the GIL away from the loop for longer than it takes
to encode or decode its JSON. kopf keeps its own session for the TiltRun watch.

Credentials come from the official client's loaders (in-cluster service account, else
the kubeconfig), so every form a kubeconfig can take (client certificates, tokens, exec
plugins) works as it does for ``kubectl``. Its refresh hook is asked before each request:
in a pod it reads the service account token file again once a minute, so a rotated token
is used without a restart, and a 401 forces a fresh read and one more attempt.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: How long one ordinary request (list page, PATCH, Event) may take in all.
REQUEST_TIMEOUT = 60.0
#: Connections kept for requests (watches have their own): as many as writes in flight.
REQUEST_CONNECTIONS = 32
#: How long an idle connection is kept for the next request, across quiet spells.
KEEPALIVE_SECONDS = 300.0
#: How long connecting may take. A kube-apiserver that is down refuses at once; one that
#: is unreachable should not hold a reconnect for long.
CONNECT_TIMEOUT = 5.0


class ApiError(Exception):
    """The API server answered with an error status (``status`` is the HTTP code)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.message = message


class Unavailable(Exception):
    """No answer: the connection failed, broke, or timed out."""


def _config() -> Any:
    """The official client's Configuration for this process: in-cluster, else kubeconfig."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration, persist_config=False)
    return configuration


def _ssl_context(configuration: Any) -> ssl.SSLContext | bool:
    if not configuration.verify_ssl:
        return False
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    if configuration.assert_hostname is False:
        context.check_hostname = False
    return context


class ApiSession:
    """Requests and watch streams to one API server, with the process's credentials.

    ``configuration`` is an official client ``Configuration`` (tests pass their own);
    by default it is loaded as ``kubectl`` would.
    """

    def __init__(self, configuration: Any = None) -> None:
        self._own_configuration = configuration is None
        self._configuration = configuration if configuration is not None else _config()
        self.server = str(self._configuration.host).rstrip("/")
        self._ssl = _ssl_context(self._configuration)
        # SNI and certificate name when the kubeconfig sets tls-server-name.
        self._server_hostname: str | None = self._configuration.tls_server_name or None
        self._requests: aiohttp.ClientSession | None = None
        self._watches: aiohttp.ClientSession | None = None

    def _client(self, *, watch: bool = False) -> aiohttp.ClientSession:
        # Made on first use, inside the loop that will use them. Two pools: a watch holds
        # its connection for minutes, while requests share a few kept-alive connections
        # (a TLS handshake costs the operator and the API server more than a PATCH).
        held = self._watches if watch else self._requests
        if held is not None and not held.closed:
            return held
        connector = aiohttp.TCPConnector(
            ssl=self._ssl,
            limit=0 if watch else REQUEST_CONNECTIONS,
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            # The operator's own identity in the API server's logs.
            headers={"User-Agent": "tiltrun-operator"},
        )
        if watch:
            self._watches = session
        else:
            self._requests = session
        return session

    async def close(self) -> None:
        """Close every connection; in-flight requests fail with ``Unavailable``."""
        for session in (self._requests, self._watches):
            if session is not None:
                await session.close()

    def _headers(self) -> dict[str, str]:
        token = self._configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        return {"Authorization": token} if token else {}

    def _reread_credentials(self) -> None:
        # A 401: the token was rotated or expired. Load the credentials afresh (the token
        # file, or the kubeconfig and its exec plugin) for the next attempt.
        if not self._own_configuration:
            return
        try:
            self._configuration = _config()
        except Exception as err:  # keep the old ones; the next 401 tries again
            log.warning("could not read the credentials again: %s", err)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
        decode: bool = True,
    ) -> Obj:
        """One request; the decoded JSON answer. Raises ``ApiError`` or ``Unavailable``.

        ``decode=False`` reads the answer without decoding it (an empty dict is returned):
        a status PATCH's answer is the whole object, which nobody reads.
        """
        for attempt in (1, 2):
            data = _dumps(body) if body is not None else None
            headers = self._headers()
            if data is not None:
                headers["Content-Type"] = content_type
            try:
                async with self._client().request(
                    method,
                    self.server + path,
                    params=params,
                    data=data,
                    headers=headers,
                    server_hostname=self._server_hostname,
                    timeout=aiohttp.ClientTimeout(
                        total=REQUEST_TIMEOUT, sock_connect=CONNECT_TIMEOUT
                    ),
                ) as response:
                    raw = await response.read()
                    if response.status == 401 and attempt == 1:
                        self._reread_credentials()
                        continue
                    if response.status >= 400:
                        raise _error(response.status, response.reason or "", raw)
                    return _loads(raw) if raw and decode else {}
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                raise Unavailable(f"{method} {path}: {err or type(err).__name__}") from err
        raise AssertionError("unreachable")

    async def watch(
        self, path: str, params: Mapping[str, str], *, idle_timeout: float
    ) -> AsyncIterator[Obj]:
        """The events of one watch request, decoded, as they arrive.

        Ends when the server closes the stream. Raises ``ApiError`` when the watch is
        refused (410 when its resourceVersion is too old), ``Unavailable`` when the
        connection fails or nothing at all arrives for ``idle_timeout`` seconds.
        """
        headers = self._headers()
        try:
            async with self._client(watch=True).get(
                self.server + path,
                params={**params, "watch": "1"},
                headers=headers,
                server_hostname=self._server_hostname,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=CONNECT_TIMEOUT, sock_read=idle_timeout
                ),
            ) as response:
                if response.status == 401:
                    self._reread_credentials()
                if response.status >= 400:
                    raise _error(response.status, response.reason or "", await response.read())
                pending = b""
                async for chunk in response.content.iter_any():
                    pending += chunk
                    if b"\n" not in chunk:
                        continue
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield _loads(line)
                if pending.strip():
                    yield _loads(pending)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise Unavailable(f"watch {path}: {err or type(err).__name__}") from err


def _dumps(value: Any) -> bytes:
    """A request body as compact UTF-8 JSON: orjson (every status PATCH goes through here),
    or ``json`` for what orjson refuses (an integer beyond 64 bits, a key that is no string)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _loads(raw: bytes) -> Obj:
    """One JSON object from the API server; watch events are most of the operator's input.

    orjson decodes a pod's watch event in less than half the time of ``json`` (docs/
    benchmark.md). What it refuses goes to ``json``, which is more lenient (``NaN``). An
    integer beyond 64 bits comes out a float, as the API server itself reads one.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def _error(status: int, reason: str, raw: bytes) -> ApiError:
    """The API server's Status object, or the bare HTTP status, as an ``ApiError``."""
    message = ""
    try:
        decoded = json.loads(raw) if raw else {}
        if isinstance(decoded, dict):
            message = str(decoded.get("message") or "")
            reason = str(decoded.get("reason") or reason)
    except ValueError:
        message = raw[:200].decode(errors="replace")
    return ApiError(status, reason, message)
