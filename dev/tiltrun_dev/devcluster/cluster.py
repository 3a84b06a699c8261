"""A real Kubernetes control plane as plain processes on 127.0.0.1.

``up`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
(which plays the kubelet of a few fake nodes), each logging to a file in the state
folder, and records every PID it started in ``state.json``. ``down`` stops exactly
those PIDs (checking each is still the binary it started) and removes the state.

For fault tests, ``up(second_apiserver=True)`` adds a second kube-apiserver on the same
etcd (the shape of every highly available control plane), and ``kill``, ``revive``,
``restart`` and ``compact`` break and mend single components by their recorded PIDs.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tiltrun_dev.devcluster import podlogs
from tiltrun_dev.devcluster.build import cache_dir, ensure_binaries
from tiltrun_dev.devcluster.errors import DevClusterError
from tiltrun_dev.devcluster.pki import issue_client_certificate, write_pki

NODE_COUNT = 3
NODE_ANNOTATION = "kwok.x-k8s.io/node"
Log = Callable[[str], None]

#: The component names ``state.json`` records, in start order.
ETCD = "etcd"
APISERVER = "kube-apiserver"
SECOND_APISERVER = "kube-apiserver-b"
#: The binary each component runs, where it is not the component's own name.
_BINARY = {SECOND_APISERVER: "kube-apiserver"}
COMPONENTS = (
    ETCD,
    APISERVER,
    SECOND_APISERVER,
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "pod-logs",
)


@dataclass
class Process:
    """A component this cluster started: enough to stop exactly it, later."""

    name: str
    pid: int
    binary: str
    log: str
    start_ticks: int = 0  # from /proc/<pid>/stat: tells our process from a reused PID


@dataclass
class ClusterState:
    """What ``state.json`` records about a running dev cluster."""

    name: str
    folder: str
    server: str
    kubeconfig: str
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    started_at: float = 0.0
    #: The second kube-apiserver (``up(second_apiserver=True)``), else empty.
    second_server: str = ""
    second_kubeconfig: str = ""
    #: Flags added to a component's own (``up(extra_args=...)``), kept for restarts.
    extra_args: dict[str, list[str]] = field(default_factory=dict)

    def process(self, name: str) -> Process:
        """The recorded process of component ``name``."""
        for proc in self.processes:
            if proc.name == name:
                return proc
        raise DevClusterError(f"dev cluster {self.name!r} has no component {name!r}.")

    def save(self) -> None:
        path = Path(self.folder) / "state.json"
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, folder: Path) -> ClusterState | None:
        path = folder / "state.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["processes"] = [Process(**p) for p in data.get("processes", [])]
        return cls(**data)


def state_folder(name: str) -> Path:
    """The folder holding a named cluster's certificates, data, logs and state."""
    return cache_dir() / "clusters" / name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stat(pid: int) -> tuple[str, int] | None:
    """The state letter and start time (clock ticks since boot) of ``pid``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its ')' do not.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _alive(proc: Process) -> bool:
    """True when ``proc.pid`` is still the process we started (PIDs get reused)."""
    stat = _stat(proc.pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[1] == proc.start_ticks


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
    except (OSError, ValueError) as err:
        raise DevClusterError(f"etcd refused {url}: {err}") from None
    return answer


def _tail(path: str, lines: int = 20) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


def user_kubeconfig(
    folder: Path, user: str, dest: Path, *, group: str | None = "system:masters"
) -> Path:
    """Write to ``dest`` a kubeconfig for the dev cluster in ``folder`` as another user.

    The client certificate is signed by the cluster's CA for ``user`` (in ``group``), so
    the API server, and its audit log, see that user name. ``folder`` is a dev cluster's
    state folder: the one holding its ``kubeconfig`` and ``pki/``.
    """
    admin = yaml.safe_load((folder / "kubeconfig").read_text())
    cert, key = issue_client_certificate(folder / "pki", user, group)
    admin["users"] = [
        {
            "name": user,
            "user": {
                "client-certificate-data": base64.b64encode(cert).decode(),
                "client-key-data": base64.b64encode(key).decode(),
            },
        }
    ]
    for context in admin.get("contexts") or []:
        context["context"]["user"] = user
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(admin))
    dest.chmod(0o600)
    return dest


class DevCluster:
    """One named dev cluster; ``up``/``down``/``status`` act on its state folder."""

    def __init__(self, name: str = "dev", log: Log = print) -> None:
        self.name = name
        self.folder = state_folder(name)
        self.log = log

    # -- inspection -----------------------------------------------------------------

    def state(self) -> ClusterState | None:
        return ClusterState.load(self.folder)

    def is_up(self) -> bool:
        state = self.state()
        return bool(state and all(_alive(p) for p in state.processes) and self._ready(state.server))

    def _ssl(self) -> ssl.SSLContext:
        pki = self.folder / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def _ready(self, server: str) -> bool:
        try:
            with urllib.request.urlopen(f"{server}/readyz", context=self._ssl(), timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    # -- up -------------------------------------------------------------------------

    def up(
        self,
        *,
        second_apiserver: bool = False,
        extra_args: Mapping[str, Sequence[str]] | None = None,
        pod_logs: bool = True,
    ) -> ClusterState:
        """Start the cluster, or reuse it when it is already up.

        With ``second_apiserver`` a second kube-apiserver serves the same etcd on a port
        of its own (``state.second_server``, admin kubeconfig ``state.second_kubeconfig``),
        and the controllers, the scheduler and kwok talk to it: killing the first one
        then blinds only the clients of the first (a test's operator), while the cluster
        goes on working through the second.

        ``pod_logs=False`` leaves out the ``pod-logs`` process (``kubectl logs`` then has
        nothing to serve): the benchmark's clusters, where its watch of every pod would be
        load that no contender causes.

        ``extra_args`` adds flags to components by name, e.g. ``{"kube-apiserver":
        ["--watch-cache=false"]}``; they are kept for ``revive``.
        """
        existing = self.state()
        if existing is not None:
            if self.is_up():
                if bool(existing.second_server) != second_apiserver:
                    shape = "with" if existing.second_server else "without"
                    raise DevClusterError(
                        f"dev cluster {self.name!r} is already up {shape} a second API "
                        "server; stop it first with `tiltrun dev-cluster down`."
                    )
                self.log(f"dev cluster {self.name!r} is already up at {existing.server}")
                return existing
            self.log(f"dev cluster {self.name!r} left stale state behind; cleaning it up")
            self.down(quiet=True)
        binaries = ensure_binaries(self.log)
        started = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True)
        write_pki(self.folder / "pki")
        names = ["etcd", "etcd-peer", "apiserver", "kwok"]
        if second_apiserver:
            names.append("apiserver-b")
        ports = {name: _free_port() for name in names}
        server = f"https://127.0.0.1:{ports['apiserver']}"
        state = ClusterState(
            name=self.name,
            folder=str(self.folder),
            server=server,
            kubeconfig=str(self.folder / "kubeconfig"),
            ports=ports,
            started_at=time.time(),
            extra_args={name: list(flags) for name, flags in (extra_args or {}).items()},
        )
        # The controllers, the scheduler and kwok use the second API server when there is one.
        components_server = server
        if second_apiserver:
            state.second_server = f"https://127.0.0.1:{ports['apiserver-b']}"
            state.second_kubeconfig = str(self.folder / "kubeconfig-b")
            components_server = state.second_server
        self._write_kubeconfigs(server, components_server, state.second_server)
        try:
            for name in (ETCD, APISERVER, SECOND_APISERVER):
                if name == SECOND_APISERVER and not second_apiserver:
                    continue
                self._start(state, name, binaries[_BINARY.get(name, name)], self._args(state, name))
                self._wait_ready(state, name, 30 if name == ETCD else 90)
            for name in ("kube-controller-manager", "kube-scheduler"):
                self._start(state, name, binaries[name], self._args(state, name))
            self._install_logs_crd(binaries["kubectl"])
            self._start(state, "kwok", binaries["kwok"], self._args(state, "kwok"))
            if pod_logs:
                self._start(state, "pod-logs", Path(sys.executable), self._args(state, "pod-logs"))
            self._register_nodes(binaries["kubectl"], state)
            self._wait(state, "kwok", lambda: self._nodes_ready(binaries["kubectl"]), 60)
            self._wait(
                state,
                "kube-controller-manager",
                lambda: self._default_service_account(binaries["kubectl"]),
                60,
            )
        except BaseException:
            self.down(quiet=True)
            raise
        self.log(
            f"dev cluster {self.name!r} is up at {server} with {NODE_COUNT} kwok nodes "
            f"({time.monotonic() - started:.1f}s); KUBECONFIG={state.kubeconfig}"
        )
        return state

    def _start(self, state: ClusterState, name: str, binary: Path, args: list[str]) -> None:
        log_path = self.folder / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(
                [str(binary), *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the caller's terminal must not reach it
            )
        stat = _stat(proc.pid)
        record = Process(name, proc.pid, str(binary), str(log_path), stat[1] if stat else -1)
        # A revived component takes its old entry's place, so start order is kept.
        at = next((i for i, p in enumerate(state.processes) if p.name == name), None)
        if at is None:
            state.processes.append(record)
        else:
            state.processes[at] = record
        state.save()

    def _wait_ready(self, state: ClusterState, name: str, timeout: float) -> None:
        """Wait until a (re)started etcd or kube-apiserver serves."""
        if name == ETCD:
            self._wait(state, name, lambda: self._etcd_healthy(state.ports["etcd"]), timeout)
        elif name == APISERVER:
            self._wait(state, name, lambda: self._ready(state.server), timeout)
        elif name == SECOND_APISERVER:
            self._wait(state, name, lambda: self._ready(state.second_server), timeout)

    # -- faults -----------------------------------------------------------------------

    def kill(self, component: str) -> Process:
        """SIGKILL one component by its recorded PID and wait until it is gone.

        ``component`` is a name ``status`` lists (``etcd``, ``kube-apiserver``,
        ``kube-apiserver-b``...). Nothing else is signalled: a PID that is no longer the
        process this cluster started (its start time differs) is left alone.
        """
        state = self._running_state()
        proc = state.process(component)
        if not _alive(proc):
            raise DevClusterError(f"{component} of dev cluster {self.name!r} is not running.")
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(proc):
            if time.monotonic() > deadline:
                raise DevClusterError(f"{component} (pid {proc.pid}) survived SIGKILL for 10s.")
            time.sleep(0.02)
        self.log(f"killed {component} (pid {proc.pid})")
        return proc

    def revive(self, component: str, *, timeout: float = 90) -> Process:
        """Start a killed component again, same flags, ports and data; wait until it serves."""
        state = self._running_state()
        proc = state.process(component)
        if _alive(proc):
            raise DevClusterError(
                f"{component} of dev cluster {self.name!r} is still running (pid {proc.pid})."
            )
        self._start(state, component, Path(proc.binary), self._args(state, component))
        self._wait_ready(state, component, timeout)
        revived = state.process(component)
        self.log(f"revived {component} (pid {revived.pid})")
        return revived

    def restart(self, component: str, *, timeout: float = 90) -> Process:
        """``kill`` then ``revive``: a crash and the supervisor bringing it back."""
        self.kill(component)
        return self.revive(component, timeout=timeout)

    def compact(self) -> int:
        """Compact etcd's history up to its current revision; return that revision.

        Watches resuming from an older resourceVersion then get 410 Gone and must list
        again, as after a long disconnection from a real cluster.
        """
        state = self._running_state()
        base = f"http://127.0.0.1:{state.ports['etcd']}/v3/kv"
        # etcd's gRPC gateway: a range over nothing returns the header with the revision.
        header = _post_json(f"{base}/range", {"key": base64.b64encode(b"\0").decode()})
        revision = int(header["header"]["revision"])
        _post_json(f"{base}/compaction", {"revision": str(revision), "physical": True})
        self.log(f"compacted etcd at revision {revision}")
        return revision

    def _running_state(self) -> ClusterState:
        state = self.state()
        if state is None:
            raise DevClusterError(
                f"dev cluster {self.name!r} is not running; start it with `tiltrun dev-cluster up`."
            )
        return state

    def _wait(
        self, state: ClusterState, name: str, check: Callable[[], bool], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        proc = next(p for p in state.processes if p.name == name)
        while time.monotonic() < deadline:
            if check():
                return
            if not _alive(proc):
                raise DevClusterError(
                    f"{name} exited during start-up; last lines of {proc.log}:\n{_tail(proc.log)}"
                )
            time.sleep(0.1)
        raise DevClusterError(
            f"{name} did not become ready within {timeout:.0f}s; last lines of {proc.log}:\n"
            f"{_tail(proc.log)}"
        )

    # -- component flags ------------------------------------------------------------

    def _args(self, state: ClusterState, name: str) -> list[str]:
        """The flags component ``name`` runs with (the same on every start)."""
        ports = state.ports
        if name == ETCD:
            args = self._etcd_args(ports)
        elif name == APISERVER:
            args = self._apiserver_args(ports)
        elif name == SECOND_APISERVER:
            args = self._apiserver_args(ports, second=True)
        elif name == "kube-controller-manager":
            args = self._controller_manager_args()
        elif name == "kube-scheduler":
            args = self._scheduler_args()
        elif name == "kwok":
            args = self._kwok_args(ports)
        elif name == "pod-logs":
            # Like kwok, it follows the API server the components use.
            args = self._pod_logs_args(state.second_server or state.server)
        else:
            raise DevClusterError(f"no such dev cluster component: {name!r}.")
        return [*args, *state.extra_args.get(name, ())]

    def _etcd_args(self, ports: dict[str, int]) -> list[str]:
        client = f"http://127.0.0.1:{ports['etcd']}"
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        return [
            "--name=dev",
            f"--data-dir={self.folder / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=dev={peer}",
            # A dev cluster trades durability for speed: nothing here outlives `down`.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_args(self, ports: dict[str, int], *, second: bool = False) -> list[str]:
        pki = self.folder / "pki"
        audit_log = self.folder / "logs" / ("audit-b.log" if second else "audit.log")
        extra = []
        if second:
            # Both would claim the `kubernetes` Service endpoint for 127.0.0.1 with their own
            # port and overwrite each other's; the first one keeps it.
            extra.append("--endpoint-reconciler-type=none")
        return [
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver-b' if second else 'apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            # kwok plays every node's kubelet (logs): reach it by the nodes' InternalIP
            # (127.0.0.1) and check its serving certificate against the cluster's CA.
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--audit-policy-file={self._audit_policy()}",
            f"--audit-log-path={audit_log}",
            "--audit-log-format=json",
            "--audit-log-maxsize=200",
            "--audit-log-maxbackup=1",
            "--profiling=false",
            "--v=1",
            *extra,
        ]

    def _audit_policy(self) -> Path:
        # Metadata-level audit of requests lets the benchmark count the operator's calls
        # by verb and resource; events and leases would only add noise.
        policy = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [
                {"level": "None", "resources": [{"group": "coordination.k8s.io"}]},
                {
                    "level": "None",
                    "users": [
                        "system:kwok",
                        "system:kube-controller-manager",
                        "system:kube-scheduler",
                    ],
                },
                {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
                {"level": "Metadata"},
            ],
        }
        path = self.folder / "audit-policy.yaml"
        path.write_text(yaml.safe_dump(policy))
        return path

    def _controller_manager_args(self) -> list[str]:
        pki = self.folder / "pki"
        kubeconfig = self.folder / "controller-manager.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
            # Fake nodes have no real kubelet: only kwok's Lease says they are alive.
            "--node-monitor-grace-period=60s",
            # Its client's default (20 requests/s, bursts of 30) made creating 1,000
            # Deployments take two minutes: the controllers' own throttle, not the API
            # server's capacity, set the pace. Clusters raise it for the same reason.
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--v=1",
        ]

    def _scheduler_args(self) -> list[str]:
        kubeconfig = self.folder / "scheduler.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--v=1",
        ]

    def _kwok_args(self, ports: dict[str, int]) -> list[str]:
        stages = self.folder / "kwok-stages.yaml"
        docs = []
        for name in ("nodes.yaml", "pods.yaml"):
            docs.append(
                resources.files("tiltrun_dev.devcluster").joinpath("stages", name).read_text()
            )
        docs.append(podlogs.cluster_logs_config(self.folder))
        stages.write_text("\n---\n".join(docs))
        pki = self.folder / "pki"
        return [
            f"--kubeconfig={self.folder / 'kwok.kubeconfig'}",
            f"--config={stages}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            # The nodes advertise kwok as their kubelet, so that `kubectl logs` works.
            f"--node-port={ports['kwok']}",
            f"--tls-cert-file={pki / 'kwok-serving.crt'}",
            f"--tls-private-key-file={pki / 'kwok-serving.key'}",
            "--enable-crds=Logs",
            "--cidr=10.244.0.0/16",
            "--node-ip=127.0.0.1",
        ]

    def _install_logs_crd(self, kubectl: Path) -> None:
        # kwok watches Logs objects from its start (--enable-crds) and exits without them.
        self._kubectl(kubectl, "apply", "-f", "-", stdin=json.dumps(podlogs.LOGS_CRD))
        crd = f"crd/{podlogs.LOGS_CRD['metadata']['name']}"
        self._kubectl(kubectl, "wait", "--for=condition=Established", "--timeout=30s", crd)

    def _pod_logs_args(self, server: str) -> list[str]:
        module = "tiltrun_dev.devcluster.podlogs"
        return ["-m", module, f"--server={server}", f"--folder={self.folder}"]

    # -- kubeconfigs ------------------------------------------------------------------

    def _write_kubeconfigs(self, server: str, components_server: str, second_server: str) -> None:
        """Admin kubeconfigs for each API server, and the components' (on ``components_server``)."""
        pki = self.folder / "pki"
        ca = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
        files = [
            ("admin", "kubeconfig", server),
            ("controller-manager", "controller-manager.kubeconfig", components_server),
            ("scheduler", "scheduler.kubeconfig", components_server),
            ("kwok", "kwok.kubeconfig", components_server),
        ]
        if second_server:
            files.append(("admin", "kubeconfig-b", second_server))
        for stem, file_name, url in files:
            config = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": f"tiltrun-{self.name}",
                        "cluster": {"server": url, "certificate-authority-data": ca},
                    }
                ],
                "users": [
                    {
                        "name": stem,
                        "user": {
                            "client-certificate-data": base64.b64encode(
                                (pki / f"{stem}.crt").read_bytes()
                            ).decode(),
                            "client-key-data": base64.b64encode(
                                (pki / f"{stem}.key").read_bytes()
                            ).decode(),
                        },
                    }
                ],
                "contexts": [
                    {
                        "name": f"tiltrun-{self.name}",
                        "context": {"cluster": f"tiltrun-{self.name}", "user": stem},
                    }
                ],
                "current-context": f"tiltrun-{self.name}",
            }
            path = self.folder / file_name
            path.write_text(yaml.safe_dump(config))
            path.chmod(0o600)

    # -- readiness checks ----------------------------------------------------------

    def _kubectl(self, kubectl: Path, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(kubectl), f"--kubeconfig={self.folder / 'kubeconfig'}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise DevClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    @staticmethod
    def _etcd_healthy(port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _register_nodes(self, kubectl: Path, state: ClusterState) -> None:
        nodes: list[dict[str, Any]] = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"kwok-node-{i}",
                    "annotations": {NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": f"kwok-node-{i}",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                    },
                },
            }
            for i in range(NODE_COUNT)
        ]
        manifest = yaml.safe_dump_all(nodes)
        self._kubectl(kubectl, "apply", "-f", "-", stdin=manifest)

    def _nodes_ready(self, kubectl: Path) -> bool:
        out = self._kubectl(kubectl, "get", "nodes", "-o", "json")
        items = json.loads(out).get("items", [])
        ready = [
            n
            for n in items
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        return len(ready) >= NODE_COUNT

    def _default_service_account(self, kubectl: Path) -> bool:
        # Pods are refused until the ServiceAccount controller made `default`.
        try:
            self._kubectl(kubectl, "get", "serviceaccount", "default", "-n", "default")
        except DevClusterError:
            return False
        return True

    # -- down -----------------------------------------------------------------------

    def down(self, quiet: bool = False) -> bool:
        """Stop every process this cluster started, by PID, and remove its state.

        Returns False when there was nothing to stop.
        """
        state = self.state()
        if state is None:
            if not quiet:
                self.log(f"dev cluster {self.name!r} is not running; nothing to stop")
            return False
        # Reverse start order: kwok and controllers first, etcd last.
        for proc in reversed(state.processes):
            if _alive(proc):
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in state.processes):
            time.sleep(0.05)
        for proc in state.processes:
            if _alive(proc):
                os.kill(proc.pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)
        if not quiet:
            self.log(f"dev cluster {self.name!r} stopped ({len(state.processes)} processes)")
        return True

    def status(self) -> str:
        """A few lines saying whether the cluster is up and what runs."""
        state = self.state()
        if state is None:
            return f"dev cluster {self.name!r}: not running"
        lines = [
            f"dev cluster {self.name!r}: {'up' if self.is_up() else 'DEGRADED'} at {state.server}",
            f"  KUBECONFIG={state.kubeconfig}",
        ]
        if state.second_server:
            lines.append(
                f"  second API server at {state.second_server}: "
                f"KUBECONFIG={state.second_kubeconfig}"
            )
        for proc in state.processes:
            mark = "running" if _alive(proc) else "EXITED"
            lines.append(f"  {proc.name:<24} pid {proc.pid:<8} {mark:<8} log {proc.log}")
        return "\n".join(lines)

    def env(self) -> str:
        """The shell line that points kubectl and tiltrun at this cluster."""
        state = self.state()
        if state is None:
            raise DevClusterError(
                f"dev cluster {self.name!r} is not running; start it with `tiltrun dev-cluster up`."
            )
        kubectl_dir = Path(ensure_binaries(self.log)["kubectl"]).parent
        return f"export KUBECONFIG={state.kubeconfig}\nexport PATH={kubectl_dir}:$PATH"
