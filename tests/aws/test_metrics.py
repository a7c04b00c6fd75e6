"""The metrics of one finished object, in CloudWatch's embedded metric format, checked against the specification."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from surroundyou.aws.metrics import NAMESPACE, Origin, failure_class, members
from surroundyou.errors import InputError, Stopped, StorageError, SurroundError, UsageError
from tests.support.emf import datapoints, value

# A converted object's line as cloud mode writes it (the fields the metrics repeat, and a key).
CONVERTED = {
    "event": "converted",
    "status": "converted",
    "bucket": "my-bucket",
    "key": "input/Björk – Jóga.flac",
    "input_seconds": 305.2,
    "processing_seconds": 41.873,
    "realtime_factor": 7.3,
    "conversion_seconds": 39.1,
}


def line(fields: dict[str, Any], metrics: dict[str, Any]) -> str:
    """The JSON line the log writes: the fields, then the metrics' members (none may replace a field)."""
    assert not set(fields) & set(metrics), "a metric member replaced a log field"
    return json.dumps({**fields, **metrics}, ensure_ascii=False)


def test_a_converted_object_is_valid_emf_with_the_lines_own_values() -> None:
    points = datapoints(line(CONVERTED, members(Origin("cloud"), "converted", CONVERTED)))
    dims = {"Mode": "cloud"}
    counts = {name: value(points, NAMESPACE, name, **dims) for name in ("Converted", "Skipped", "Failed")}
    assert counts == {"Converted": 1, "Skipped": 0, "Failed": 0}
    assert value(points, NAMESPACE, "ProcessingSeconds", **dims) == CONVERTED["processing_seconds"]
    assert value(points, NAMESPACE, "SongSeconds", **dims) == CONVERTED["input_seconds"]
    assert value(points, NAMESPACE, "RealtimeFactor", **dims) == CONVERTED["realtime_factor"]
    units = {key[2]: unit for key, (_, unit) in points.items()}
    assert units["ProcessingSeconds"] == units["SongSeconds"] == "Seconds" and units["Converted"] == "Count"
    assert all(key[1] == (("Mode", "cloud"),) for key in points)  # one dimension set, no FailureClass
    assert "QueueWaitSeconds" not in units  # cloud mode has no queue


def test_the_timestamp_is_the_lines_time_in_milliseconds() -> None:
    now = time.time()
    stamp = members(Origin("cloud"), "skipped")["_aws"]["Timestamp"]
    assert isinstance(stamp, int) and abs(stamp - now * 1000) < 60_000
    assert members(Origin("cloud"), "skipped", now_s=1_733_000_000.25)["_aws"]["Timestamp"] == 1_733_000_000_250


def test_a_skipped_object_counts_once_and_measures_nothing() -> None:
    points = datapoints(line({"event": "skipped", "status": "skipped"}, members(Origin("queue", 2.5), "skipped")))
    dims = {"Mode": "queue"}
    assert [value(points, NAMESPACE, n, **dims) for n in ("Converted", "Skipped", "Failed")] == [0, 1, 0]
    assert value(points, NAMESPACE, "QueueWaitSeconds", **dims) == 2.5
    assert {key[2] for key in points} == {"Converted", "Skipped", "Failed", "QueueWaitSeconds"}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SurroundError("bug"), "internal"),
        (UsageError("bad flag"), "usage"),
        (InputError("not audio"), "bad-input"),
        (StorageError("503"), "storage"),
        (Stopped(2), "stopped"),
        (Stopped(15), "stopped"),
    ],
)
def test_a_failure_counts_under_its_exit_codes_class(error: SurroundError | Stopped, expected: str) -> None:
    code = error.exit_code
    fields = {"event": "failed", "status": "failed", "exit_code": code, "key": "input/x.mp3"}
    points = datapoints(line(fields, members(Origin("cloud"), "failed", exit_code=code)))
    assert value(points, NAMESPACE, "Failed", Mode="cloud") == 1
    assert value(points, NAMESPACE, "Failed", Mode="cloud", FailureClass=expected) == 1
    assert value(points, NAMESPACE, "Converted", Mode="cloud") == 0
    by_class = [key for key in points if dict(key[1]).get("FailureClass")]
    assert [key[2] for key in by_class] == ["Failed"]  # only Failed is split by class


def test_an_unknown_exit_code_is_an_internal_failure() -> None:
    assert failure_class(99) == failure_class(1) == "internal"


def test_a_missing_or_infinite_measurement_is_left_out_not_sent_as_null() -> None:
    fields = {**CONVERTED, "realtime_factor": None, "input_seconds": float("inf")}
    metrics = members(Origin("cloud"), "converted", fields)
    names = {key[2] for key in datapoints(json.dumps({**metrics}))}
    assert "RealtimeFactor" not in names and "SongSeconds" not in names and "ProcessingSeconds" in names


def test_no_key_or_bucket_reaches_the_metrics_and_every_member_is_camel_case() -> None:
    for status in ("converted", "skipped", "failed"):
        metrics = members(Origin("queue", 1.0), status, CONVERTED, exit_code=3)
        text = json.dumps(metrics, ensure_ascii=False)
        assert CONVERTED["key"] not in text and CONVERTED["bucket"] not in text
        assert all(re.fullmatch(r"[A-Z][A-Za-z]*", name) for name in metrics if name != "_aws")
        dimension_values = {metrics[d] for s in metrics["_aws"]["CloudWatchMetrics"] for d in s["Dimensions"][0]}
        assert dimension_values <= {"queue", "bad-input"}


def test_a_mode_outside_the_contract_is_refused() -> None:
    with pytest.raises(ValueError, match="metrics mode must be one of cloud, queue, got 'local'"):
        Origin("local")


@pytest.mark.parametrize(
    ("breakage", "complaint"),
    [
        (lambda doc: doc.pop("Converted"), "metric Converted"),
        (lambda doc: doc.update(Mode=1), "dimension Mode"),
        (lambda doc: doc["_aws"].update(Timestamp=1_733_000_000.5), "Timestamp must be an integer"),
        (lambda doc: doc["_aws"].update(Timestamp=1_733_000_000), "not in milliseconds"),
        (lambda doc: doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Songs"), "not a CloudWatch unit"),
    ],
)
def test_the_specification_check_rejects_broken_documents(breakage: Any, complaint: str) -> None:
    """The checker the tests rely on can fail: each broken document is refused, with the reason."""
    doc = members(Origin("cloud"), "converted", CONVERTED)
    datapoints(json.dumps(doc))  # valid as built
    breakage(doc)
    with pytest.raises(AssertionError, match=complaint):
        datapoints(json.dumps(doc))
