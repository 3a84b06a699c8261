"""The operator's HTTP session: how it reads the API server's JSON."""

from __future__ import annotations

import json
import math

import pytest

from tiltrun.wiring.session import _dumps, _loads


def test_a_watch_event_decodes_to_the_object_json_gives() -> None:
    event = {"type": "MODIFIED", "object": {"kind": "Pod", "metadata": {"name": "ü"}}}
    assert _loads(json.dumps(event, ensure_ascii=False).encode()) == event


def test_what_orjson_refuses_json_reads() -> None:
    # JavaScript's NaN is not JSON; the API server never sends it, but a proxy might.
    value = _loads(b'{"status": {"ratio": NaN}}')["status"]["ratio"]
    assert math.isnan(value)


def test_integers_beyond_64_bits_read_as_the_api_server_reads_them() -> None:
    # The API server decodes such a number as a float64 (Go's JSON into interface{}).
    assert _loads(b'{"big": 123456789012345678901234567890}') == {"big": 1.2345678901234568e29}


def test_not_an_object_reads_as_empty_and_not_json_raises() -> None:
    assert _loads(b"[1, 2]") == {}
    with pytest.raises(ValueError):
        _loads(b"{not json")


def test_a_body_encodes_to_compact_utf8_json_and_what_orjson_refuses_to_json() -> None:
    status = {"summary": "waiting on 1 of 2: déploiement", "counts": [1, 2.5, None, True]}
    assert _dumps(status) == json.dumps(status, separators=(",", ":"), ensure_ascii=False).encode()
    huge = {"n": 2**70, 1: "a key that is no string"}
    assert json.loads(_dumps(huge)) == {"n": 2**70, "1": "a key that is no string"}
