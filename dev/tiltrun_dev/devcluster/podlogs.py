"""Container logs for the dev cluster's fake pods, served by kwok as a kubelet would.

A fake pod has no process, so it prints what its annotations say it prints:

    metadata:
      annotations:
        fake.tilt.dev/log: |              # every container of the pod
          connecting to postgres://db:5432
          FATAL: password authentication failed for user "shop"
        fake.tilt.dev/log.migrate: ...    # only container `migrate` (wins over the above)

kube-apiserver asks the node's kubelet for ``/containerLogs/...``; here that is kwok,
which each fake node advertises as its kubelet (``status.daemonEndpoints`` and an
``InternalIP`` of 127.0.0.1, with a serving certificate from the cluster's CA). kwok
answers from files named by ``Logs`` objects (``kwok.x-k8s.io/v1alpha1``, one per pod,
named after it). This module's ``main`` is the dev cluster's ``pod-logs`` process: it
watches pod metadata and, for each pod with those annotations, writes the lines to files
in the CRI log format and applies the pod's ``Logs`` object (owned by the pod, so
Kubernetes deletes it with the pod). Pods without them get the empty log of a
``ClusterLogs`` default, so ``kubectl logs`` works on every pod. The previous
container's log (``--previous``, what ``tiltrun ci`` reads for a crash loop) is the same
text: a fake container prints the same lines every time it starts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

ANNOTATION = "fake.tilt.dev/log"
#: ``fake.tilt.dev/log.<container>``: one container's lines.
CONTAINER_PREFIX = f"{ANNOTATION}."
GROUP_VERSION = "kwok.x-k8s.io/v1alpha1"
FIELD_MANAGER = "tiltrun-dev-pod-logs"
#: Only metadata: the writer never needs a pod's spec or status.
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
Obj = dict[str, Any]

#: The ``Logs`` kind, as far as the API server needs to store it (kwok reads it typed).
LOGS_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "logs.kwok.x-k8s.io"},
    "spec": {
        "group": "kwok.x-k8s.io",
        "scope": "Namespaced",
        "names": {"kind": "Logs", "listKind": "LogsList", "plural": "logs", "singular": "logs"},
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def logs_folder(cluster_folder: Path) -> Path:
    """Where the log files of a dev cluster's pods live."""
    return cluster_folder / "pod-logs"


def cluster_logs_config(cluster_folder: Path) -> str:
    """kwok configuration: every pod without a ``Logs`` object of its own logs nothing."""
    empty = logs_folder(cluster_folder) / "empty.log"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.touch()
    return yaml.safe_dump(
        {
            "apiVersion": GROUP_VERSION,
            "kind": "ClusterLogs",
            "metadata": {"name": "tiltrun-no-output"},
            "spec": {"logs": [{"logsFile": str(empty), "previousLogsFile": str(empty)}]},
        }
    )


# -- pure: from a pod's annotations to files and a Logs object ---------------------------------


def wanted_logs(annotations: dict[str, str] | None) -> dict[str, str]:
    """Container name (``""`` for every container) -> the text it prints."""
    out: dict[str, str] = {}
    for key, value in (annotations or {}).items():
        if key == ANNOTATION:
            out[""] = value
        elif key.startswith(CONTAINER_PREFIX) and len(key) > len(CONTAINER_PREFIX):
            out[key[len(CONTAINER_PREFIX) :]] = value
    return out


def cri_log(text: str, at: datetime) -> str:
    """``text`` as a container runtime writes it: ``<time> stdout F <line>`` per line."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    return "".join(f"{stamp} stdout F {line}\n" for line in text.splitlines())


def logs_object(meta: Obj, files: dict[str, Path], default: Path) -> Obj:
    """The pod's ``Logs`` object: a file per named container, ``default`` for the rest."""
    entries: list[Obj] = [
        {"containers": [name], "logsFile": str(path), "previousLogsFile": str(path)}
        for name, path in sorted(files.items())
        if name
    ]
    fallback = files.get("", default)
    entries.append({"logsFile": str(fallback), "previousLogsFile": str(fallback)})
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Logs",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}
            ],
        },
        "spec": {"logs": entries},
    }


# -- the process -----------------------------------------------------------------------------


class Writer:
    """Keeps each annotated pod's log files and ``Logs`` object in step with the pod."""

    def __init__(self, server: str, cluster_folder: Path) -> None:
        self.server = server
        self.folder = logs_folder(cluster_folder)
        pki = cluster_folder / "pki"
        self.ssl = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ssl.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self.written: dict[str, str] = {}  # pod uid -> digest of what was written for it

    def request(self, method: str, path: str, body: Obj | None = None, **headers: str) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.server}{path}", data=data, method=method)
        for key, value in headers.items():
            req.add_header(key.replace("_", "-"), value)
        return urllib.request.urlopen(req, context=self.ssl, timeout=330)

    def run(self) -> None:
        """List, then watch from the list; list again after a gap; never give up."""
        while True:
            try:
                version = self.relist()
                while True:
                    version = self.watch(version)
            except (OSError, ValueError, urllib.error.URLError) as err:
                print(f"pod-logs: {err}; listing again in 1s", file=sys.stderr, flush=True)
                time.sleep(1)

    def relist(self) -> str:
        with self.request("GET", "/api/v1/pods", Accept=METADATA_LIST) as resp:
            listed = json.loads(resp.read())
        alive = set()
        for item in listed.get("items") or []:
            alive.add(item["metadata"]["uid"])
            self.sync(item["metadata"])
        for uid in set(self.written) - alive:
            self.forget(uid)
        return str(listed["metadata"]["resourceVersion"])

    def watch(self, version: str) -> str:
        query = f"watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={version}"
        with self.request("GET", f"/api/v1/pods?{query}", Accept=METADATA_ONLY) as resp:
            for line in resp:
                event = json.loads(line)
                meta = (event.get("object") or {}).get("metadata") or {}
                if event.get("type") == "ERROR":
                    raise ValueError(f"watch ended: {event.get('object', {}).get('message')}")
                version = str(meta.get("resourceVersion") or version)
                if event.get("type") == "DELETED":
                    self.forget(meta.get("uid", ""))
                elif event.get("type") in ("ADDED", "MODIFIED"):
                    self.sync(meta)
        return version

    def sync(self, meta: Obj) -> None:
        wanted = wanted_logs(meta.get("annotations"))
        uid = str(meta.get("uid", ""))
        if not wanted:
            if uid in self.written:  # the annotations were taken off
                self.delete(meta)
                self.forget(uid)
            return
        digest = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()
        if self.written.get(uid) == digest:
            return
        folder = self.folder / uid
        folder.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        files: dict[str, Path] = {}
        for name, text in wanted.items():
            file = folder / f"{name or '_all'}.log"
            file.write_text(cri_log(text, now))
            files[name] = file
        manifest = logs_object(meta, files, self.folder / "empty.log")
        url = (
            f"/apis/{GROUP_VERSION}/namespaces/{quote(meta['namespace'])}/logs/"
            f"{quote(meta['name'])}?fieldManager={FIELD_MANAGER}&force=true"
        )
        try:
            self.request(
                "PATCH", url, manifest, Content_Type="application/apply-patch+yaml"
            ).close()
        except urllib.error.HTTPError as err:
            if err.code not in (404, 409, 422):  # the pod or its namespace is going away
                raise
        self.written[uid] = digest

    def delete(self, meta: Obj) -> None:
        path = (
            f"/apis/{GROUP_VERSION}/namespaces/{quote(meta['namespace'])}/logs/"
            f"{quote(meta['name'])}"
        )
        try:
            self.request("DELETE", path).close()
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise

    def forget(self, uid: str) -> None:
        if uid in self.written:
            del self.written[uid]
            shutil.rmtree(self.folder / uid, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the API server's URL")
    parser.add_argument("--folder", required=True, type=Path, help="the cluster's state folder")
    args = parser.parse_args()
    Writer(args.server, args.folder).run()


if __name__ == "__main__":
    main()
