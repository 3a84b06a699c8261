"""``tiltrun inspect`` gives one verdict whatever the file's format (issue 13).

For any object the judge accepts (every captured scenario, changed at random by
hypothesis: times moved and written in other RFC 3339 forms, status fields dropped, a
deletion stamped), the verdict on its YAML with timestamps quoted, its YAML with them
unquoted (as many tools write them) and its JSON is the same: the same outcome and
the same status, field for field.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.judge.conftest import load_objects as scenario_objects
from tests.unit.judge.conftest import scenario_names
from tiltrun.cli.inspect import inspect_objects, load_objects

NOW = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
TIME_KEYS = {
    "creationTimestamp",
    "deletionTimestamp",
    "startTime",
    "completionTime",
    "lastTransitionTime",
    "lastUpdateTime",
    "lastProbeTime",
    "startedAt",
    "finishedAt",
}


class UnquotedTimestamps(yaml.SafeDumper):
    """A dumper that does not know YAML 1.1 timestamps, so it leaves them unquoted."""


UnquotedTimestamps.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
INSTANTS = st.datetimes(
    min_value=datetime(2026, 11, 20), max_value=datetime(2026, 12, 2), timezones=ZONES
)


def rfc3339(t: datetime, fraction: bool) -> str:
    """``t`` in one of the RFC 3339 forms: ``Z`` or an offset, with or without a fraction."""
    text = t.isoformat(timespec="microseconds" if fraction else "seconds")
    return text.replace("+00:00", "Z")


@st.composite
def changed_scenarios(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A captured scenario with some of its times, status fields and deletion changed."""
    objects = copy.deepcopy(scenario_objects(draw(st.sampled_from(scenario_names()))))

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key in list(node):
                if key in TIME_KEYS and isinstance(node[key], str) and draw(st.booleans()):
                    node[key] = rfc3339(draw(INSTANTS), draw(st.booleans()))
                elif (
                    key in ("conditions", "containerStatuses", "updatedReplicas")
                    and draw(st.integers(0, 9)) == 0
                ):
                    del node[key]
                else:
                    visit(node[key])
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(objects)
    if draw(st.integers(0, 4)) == 0:
        victim = draw(st.sampled_from(objects))
        victim["metadata"]["deletionTimestamp"] = rfc3339(draw(INSTANTS), False)
    return objects


def verdicts(text: str) -> list[tuple[str, dict[str, Any]]]:
    found = inspect_objects(load_objects(text, "input"), selector=None, run=None, now=NOW)
    return [(str(i.desired.verdict.outcome), i.desired.status) for i in found]


@settings(max_examples=100, deadline=None)
@given(changed_scenarios())
def test_yaml_quoted_or_not_and_json_give_the_same_verdict(objects: list[dict[str, Any]]) -> None:
    quoted = yaml.safe_dump_all(objects)
    unquoted = yaml.dump_all(objects, Dumper=UnquotedTimestamps)
    as_json = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    expected = verdicts(as_json)
    assert verdicts(quoted) == expected
    assert verdicts(unquoted) == expected


def test_the_unquoted_dump_really_leaves_timestamps_bare() -> None:
    objects = scenario_objects("deployment-available")
    text = yaml.dump_all(objects, Dumper=UnquotedTimestamps)
    stamp = objects[0]["metadata"]["creationTimestamp"]
    assert f"creationTimestamp: {stamp}\n" in text
    assert isinstance(
        yaml.safe_load_all(text).__next__()["metadata"]["creationTimestamp"], datetime
    )
