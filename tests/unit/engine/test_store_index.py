"""The store's selection index answers exactly what matching every run against every
workload would, whatever order runs and workloads come, change labels and go in; and
any change under a workload gives it a new revision (the engine re-judges on it), and
the pods handed with each candidate are always the latest ones, however often the
unchanged ones are served from the store's cache.

The index exists for speed (the benchmark's 100 runs x 10 workloads in one namespace
made each event and each recompute scan everything); this proves it changes nothing.
"""

from __future__ import annotations

import random
from typing import Any

from tiltrun.api.selector import matches, selector_of
from tiltrun.engine.store import Store

Obj = dict[str, Any]
NAMESPACES = ("a", "b")
TEAMS = ("red", "blue", "green")


def _run(rng: random.Random, name: str) -> Obj:
    spec: Obj = {"tiltfilePath": "T", "exitCondition": "manual"}
    choice = rng.randrange(3)
    if choice == 1:
        spec["selector"] = {"matchLabels": {"team": rng.choice(TEAMS)}}
    elif choice == 2:
        spec["selector"] = {
            "matchExpressions": [{"key": "team", "operator": "In", "values": list(TEAMS[:2])}]
        }
    return {
        "kind": "TiltRun",
        # A name keeps its namespace (a run elsewhere would be another run).
        "metadata": {
            "name": name,
            "namespace": NAMESPACES[int(name[1:]) % 2],
            "uid": f"run-{name}",
        },
        "spec": spec,
    }


def _deployment(rng: random.Random, index: int, runs: list[str]) -> Obj:
    labels = {"team": rng.choice(TEAMS)}
    if runs and rng.random() < 0.5:
        labels["tilt.dev/run"] = rng.choice(runs)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"web{index}",
            "namespace": NAMESPACES[index % 2],  # an object never changes namespace
            "uid": f"dep-{index}",
            "labels": labels,
        },
        "spec": {"replicas": 1},
    }


def _pod(index: int, owner: Obj, phase: str = "Pending") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{owner['metadata']['name']}-pod{index}",
            "namespace": owner["metadata"]["namespace"],
            "uid": f"pod-{owner['metadata']['uid']}-{index}",
            "ownerReferences": [
                {"kind": "Deployment", "uid": owner["metadata"]["uid"], "controller": True}
            ],
        },
        "status": {"phase": phase},
    }


def _brute_force(store: Store, key: tuple[str, str]) -> set[str]:
    run = store.runs[key]
    return {
        uid
        for uid, obj in store.workloads.get(key[0], {}).items()
        if matches(selector_of(run), obj["metadata"].get("labels") or {})
    }


def test_the_index_agrees_with_matching_everything() -> None:
    rng = random.Random(1234)
    store = Store()
    runs: dict[str, Obj] = {}
    deployments: dict[int, Obj] = {}
    # pod uid -> (its workload's uid, its latest phase)
    pods: dict[str, tuple[str, str]] = {}
    for _ in range(1500):
        action = rng.random()
        if action < 0.15:
            name = f"r{rng.randrange(12)}"
            runs[name] = _run(rng, name)
            store.put_run(runs[name])
        elif action < 0.2 and runs:
            store.drop_run(runs.pop(rng.choice(sorted(runs))))
        elif action < 0.6:
            index = rng.randrange(40)
            deployments[index] = _deployment(rng, index, sorted(runs))
            affected = store.put("Deployment", deployments[index])
            selecting = {
                k
                for k in store.runs
                if deployments[index]["metadata"]["uid"] in _brute_force(store, k)
            }
            assert selecting <= affected
        elif action < 0.8 and deployments:
            owner = deployments[rng.choice(sorted(deployments))]
            uid = owner["metadata"]["uid"]
            before = store.revision.get(uid, 0)
            pod = _pod(rng.randrange(3), owner, rng.choice(["Pending", "Running", "Failed"]))
            pods[pod["metadata"]["uid"]] = (uid, pod["status"]["phase"])
            affected = store.put("Pod", pod)
            # A pod's change is a new revision of its workload: judged again.
            assert store.revision[uid] > before
            assert affected == {k for k in store.runs if uid in _brute_force(store, k)}
        elif deployments:
            gone = deployments.pop(rng.choice(sorted(deployments)))
            store.delete("Deployment", gone)
            pods = {k: v for k, v in pods.items() if v[0] != gone["metadata"]["uid"]}
        for key in store.runs:
            held = set()
            for obj, related in store.candidates(key):
                uid = obj["metadata"]["uid"]
                held.add(uid)
                served = {p["metadata"]["uid"]: p["status"]["phase"] for p in related.pods}
                assert served == {k: phase for k, (owner, phase) in pods.items() if owner == uid}
            assert held == _brute_force(store, key), key
