"""What CloudWatch would make of a log line in the embedded metric format: checked against the
specification, independently of the worker's own module
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).

``datapoints(line)`` raises AssertionError for a line the specification rejects, and otherwise returns the
metric values CloudWatch would extract from it, keyed by (namespace, dimensions, metric name)."""

from __future__ import annotations

import json
import math
from typing import Any

# PutMetricData's units (MetricDatum.Unit), the values EMF's MetricDefinition.Unit may take.
UNITS = frozenset(
    {
        *("Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "None"),
        *("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes"),
        *("Bits", "Kilobits", "Megabits", "Gigabits", "Terabits"),
        *("Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second"),
        *("Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second"),
        "Count/Second",
    }
)
MAX_DIMENSIONS = 30  # keys in one DimensionSet
MAX_METRICS = 100  # MetricDefinitions in one directive
MAX_NAME_CHARS = 1024  # a metric name, a dimension value
YEAR_2000_MS = 946_684_800_000  # a Timestamp in seconds (or anything but milliseconds) is far below it

Key = tuple[str, tuple[tuple[str, str], ...], str]  # (namespace, sorted dimension pairs, metric name)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def datapoints(line: str) -> dict[Key, tuple[float | list[float], str | None]]:
    """The metrics CloudWatch extracts from one log event: {(namespace, dimensions, name): (value, unit)}."""
    doc = json.loads(line)  # the whole event is the JSON object, with nothing before or after it
    assert isinstance(doc, dict), "an EMF log event is a JSON object"
    meta = doc.get("_aws")
    assert isinstance(meta, dict), "no _aws metadata object"
    stamp = meta.get("Timestamp")
    assert isinstance(stamp, int) and not isinstance(stamp, bool), f"Timestamp must be an integer, got {stamp!r}"
    assert stamp > YEAR_2000_MS, f"Timestamp {stamp} is not in milliseconds since the epoch"
    directives = meta.get("CloudWatchMetrics")
    assert isinstance(directives, list) and directives, "CloudWatchMetrics must be a non-empty array"
    found: dict[Key, tuple[float | list[float], str | None]] = {}
    for directive in directives:
        assert isinstance(directive, dict), "a MetricDirective is an object"
        namespace = directive.get("Namespace")
        assert isinstance(namespace, str) and 0 < len(namespace) <= 1024, f"bad Namespace {namespace!r}"
        sets = directive.get("Dimensions")
        assert isinstance(sets, list), "Dimensions must be an array of DimensionSets"
        metrics = directive.get("Metrics")
        assert isinstance(metrics, list) and 0 < len(metrics) <= MAX_METRICS, "Metrics must hold 1 to 100 entries"
        for dimension_set in sets:
            assert isinstance(dimension_set, list) and len(dimension_set) <= MAX_DIMENSIONS, "bad DimensionSet"
            for name in dimension_set:
                value = doc.get(name)  # a dimension's value is the root member it names, a string
                assert isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS, f"dimension {name}: {value!r}"
        for definition in metrics:
            name, unit = definition.get("Name"), definition.get("Unit")
            assert isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS, f"bad metric Name {name!r}"
            assert unit is None or unit in UNITS, f"metric {name}: unit {unit!r} is not a CloudWatch unit"
            value = doc.get(name)  # a metric's value is the root member it names: a number or an array of them
            ok = _is_number(value) or (
                isinstance(value, list) and 0 < len(value) <= 100 and all(map(_is_number, value))
            )
            assert ok, f"metric {name}: the member {value!r} is not a number"
            for dimension_set in sets or [[]]:
                dimensions = tuple(sorted((d, doc[d]) for d in dimension_set))
                found[(namespace, dimensions, name)] = (value, unit)
    return found


def value(points: dict[Key, tuple[Any, str | None]], namespace: str, name: str, **dimensions: str) -> Any:
    """The value of metric ``name`` under exactly ``dimensions``; KeyError if the line has none there."""
    return points[(namespace, tuple(sorted(dimensions.items())), name)][0]
