"""TiltRuns and dumps captured from the dev cluster, and a fake API server for the client."""

from __future__ import annotations

import copy
import functools
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import urllib3
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTResponse

from tiltrun.cli.kube import Kube

CLI_FIXTURES = Path(__file__).parents[2] / "fixtures" / "cli"


@functools.cache
def _read(name: str) -> Any:
    return yaml.safe_load((CLI_FIXTURES / f"{name}.yaml").read_text())


def captured(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/fixtures/cli/<name>.yaml`` that a test may change."""
    data: dict[str, Any] = copy.deepcopy(_read(name))
    return data


#: What the fake API server serves, by group version: (plural, Kind, namespaced).
SERVED = {
    "v1": [
        ("pods", "Pod", True),
        ("pods/log", "Pod", True),
        ("events", "Event", True),
        ("namespaces", "Namespace", False),
    ],
    "apps/v1": [
        ("deployments", "Deployment", True),
        ("replicasets", "ReplicaSet", True),
        ("statefulsets", "StatefulSet", True),
        ("daemonsets", "DaemonSet", True),
    ],
    "batch/v1": [("jobs", "Job", True)],
    "tilt.dev/v1alpha1": [("tiltruns", "TiltRun", True), ("tiltruns/status", "TiltRun", True)],
}


def _discovery(missing: set[str]) -> dict[str, Any]:
    """The discovery documents of ``SERVED``, without the groups in ``missing``."""
    served = {gv: kinds for gv, kinds in SERVED.items() if gv.split("/")[0] not in missing}
    groups = [
        {
            "name": gv.split("/")[0],
            "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
            "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]},
        }
        for gv in served
        if "/" in gv
    ]
    documents: dict[str, Any] = {
        "/version": {"major": "1", "minor": "36", "gitVersion": "v1.36.3"},
        "/apis": {"kind": "APIGroupList", "groups": groups},
    }
    for gv, kinds in served.items():
        path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        documents[path] = {
            "kind": "APIResourceList",
            "groupVersion": gv,
            "resources": [
                {
                    "name": plural,
                    "singularName": "",
                    "namespaced": namespaced,
                    "kind": kind,
                    "verbs": ["get", "list", "watch", "patch", "delete"],
                }
                for plural, kind, namespaced in kinds
            ],
        }
    return documents


class FakeApiServer:
    """The API server, faked below the official client: answers by path from a dict.

    The client is the real one (its discovery, argument handling, URLs, query strings,
    error classes); only the transport is replaced. Discovery is answered from
    ``SERVED`` (less the API groups in ``missing``). An answer is a dict (JSON, 200), a
    ``(status, dict)`` pair, a str (plain text, a log), an ``ApiException`` (its status
    and body are sent back) or any other exception (raised as a connection failure would
    be). A path with no answer is a ``404 Not Found`` with an empty body.
    """

    server = "https://127.0.0.1:6443"

    def __init__(self, answers: dict[str, Any], *, missing: set[str] | None = None) -> None:
        self.answers = answers
        self.discovery = _discovery(missing or set())
        #: Every request but discovery's: (method, path, query).
        self.asked: list[tuple[str, str, dict[str, str]]] = []
        #: Their Content-Type header and body (None without one).
        self.sent: list[tuple[str | None, Any]] = []

    def kube(self, namespace: str = "default") -> Kube:
        """A ``Kube`` whose requests this fake answers."""
        api = client.ApiClient(client.Configuration(host=self.server))
        api.rest_client = self  # type: ignore[assignment]
        return Kube(api, namespace, self.server)

    def request(self, method: str, url: str, **kwargs: Any) -> RESTResponse:
        parts = urlsplit(url)
        if method == "GET" and parts.path in self.discovery:
            answer: Any = self.discovery[parts.path]
        else:
            self.asked.append((method, parts.path, dict(parse_qsl(parts.query))))
            headers, body_sent = kwargs.get("headers") or {}, kwargs.get("body")
            self.sent.append((headers.get("Content-Type"), body_sent))
            answer = self.answers.get(parts.path)
        status, reason, content_type, body = 200, "OK", "application/json", b""
        if isinstance(answer, ApiException):
            status, reason = int(answer.status), str(answer.reason)
            body = str(answer.body or "").encode()
        elif isinstance(answer, Exception):
            raise answer
        elif answer is None:
            status, reason = 404, "Not Found"
        elif isinstance(answer, str):
            content_type, body = "text/plain", answer.encode()
        elif isinstance(answer, tuple):
            status, reason, body = answer[0], "Created", json.dumps(answer[1]).encode()
        else:
            body = json.dumps(answer).encode()
        response = urllib3.HTTPResponse(
            body=io.BytesIO(body),
            headers={"content-type": content_type},
            status=status,
            reason=reason,
            preload_content=False,
        )
        return RESTResponse(response)
