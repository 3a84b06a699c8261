"""The dev cluster's pod logs, the pure part: annotations to CRI log files and Logs objects.

tests/integration/test_dev_cluster.py reads them back through kube-apiserver and kwok.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tiltrun_dev.devcluster.podlogs import cri_log, logs_object, wanted_logs

META = {"name": "web-1", "namespace": "shop", "uid": "u-1"}


def test_the_pod_annotation_is_every_containers_and_a_named_one_wins_for_its_container() -> None:
    assert wanted_logs(
        {
            "fake.tilt.dev/log": "all",
            "fake.tilt.dev/log.migrate": "only migrate",
            "fake.tilt.dev/log.": "no container name: ignored",
            "fake.tilt.dev/logs": "another key: ignored",
            "tilt.dev/resource": "web",
        }
    ) == {"": "all", "migrate": "only migrate"}
    assert wanted_logs(None) == {}


def test_lines_are_written_in_the_cri_log_format_kwok_reads() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert cri_log("starting\nFATAL: no config\n", at) == (
        "2026-01-02T03:04:05.678901000Z stdout F starting\n"
        "2026-01-02T03:04:05.678901000Z stdout F FATAL: no config\n"
    )
    assert cri_log("", at) == ""


def test_the_logs_object_is_named_after_the_pod_and_owned_by_it() -> None:
    files = {"": Path("/l/_all.log"), "migrate": Path("/l/migrate.log")}
    obj = logs_object(META, files, Path("/l/empty.log"))
    assert obj["metadata"] == {
        "name": "web-1",
        "namespace": "shop",
        "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "u-1"}],
    }
    # Named containers first; the entry without `containers` is kwok's default.
    assert obj["spec"]["logs"] == [
        {
            "containers": ["migrate"],
            "logsFile": "/l/migrate.log",
            "previousLogsFile": "/l/migrate.log",
        },
        {"logsFile": "/l/_all.log", "previousLogsFile": "/l/_all.log"},
    ]


def test_containers_without_lines_of_their_own_get_the_empty_log() -> None:
    obj = logs_object(META, {"side": Path("/l/side.log")}, Path("/l/empty.log"))
    assert obj["spec"]["logs"][-1] == {
        "logsFile": "/l/empty.log",
        "previousLogsFile": "/l/empty.log",
    }
