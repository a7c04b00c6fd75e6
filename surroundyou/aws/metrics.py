"""CloudWatch metrics for each finished object, in the embedded metric format (EMF) of the JSON log line.

CloudWatch Logs turns a log event that is a JSON object with an ``_aws`` member into metrics
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
``_aws.CloudWatchMetrics`` names the namespace, the dimension sets and the metrics, and their values are
top-level members of the same object. So the last line cloud and queue mode already write for an object
("converted", "skipped", "failed", or "stopped" for a stopped cloud task) carries its metrics too: no API
call and no extra line per song. The contract shared with infra/deploy.py's dashboard and alarms:

  namespace     SurroundYou
  dimensions    Mode ("cloud" | "queue") on every metric; Failed also under Mode and FailureClass
                (the exit code's class: internal 1, usage 2, bad-input 3, storage 4, stopped 130/143)
  every object  Converted, Skipped, Failed (Count: 1 for what became of it, 0 for the others)
  converted     ProcessingSeconds (the log's processing_seconds: download, conversion, upload),
                SongSeconds (input_seconds), RealtimeFactor (realtime_factor, when there is one)
  queue mode    QueueWaitSeconds (from sending to receiving the message), on every object's line

The members are CamelCase, the log's own fields snake_case, so none replaces a field. Dimension values come
from the fixed sets above only, never from a key or bucket: each distinct set of values is a custom metric
billed monthly, and a key per song would be one metric per song. Pure: builds dictionaries, logs nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from surroundyou.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_STORAGE,
    EXIT_TERMINATED,
    EXIT_USAGE,
)

NAMESPACE = "SurroundYou"
EMF_KEY = "_aws"
MODE = "Mode"
FAILURE_CLASS = "FailureClass"
MODES = ("cloud", "queue")

CONVERTED = "Converted"
SKIPPED = "Skipped"
FAILED = "Failed"
PROCESSING_SECONDS = "ProcessingSeconds"
SONG_SECONDS = "SongSeconds"
REALTIME_FACTOR = "RealtimeFactor"
QUEUE_WAIT_SECONDS = "QueueWaitSeconds"

# Each metric's CloudWatch unit.
UNITS = {
    CONVERTED: "Count",
    SKIPPED: "Count",
    FAILED: "Count",
    PROCESSING_SECONDS: "Seconds",
    SONG_SECONDS: "Seconds",
    REALTIME_FACTOR: "None",
    QUEUE_WAIT_SECONDS: "Seconds",
}
# The outcome counters, by the log's status.
COUNTERS = {"converted": CONVERTED, "skipped": SKIPPED, "failed": FAILED}
# A converted object's measurements: metric <- the log field it repeats.
MEASURED = {PROCESSING_SECONDS: "processing_seconds", SONG_SECONDS: "input_seconds", REALTIME_FACTOR: "realtime_factor"}
# The exit code's class (errors.py; the README's exit-code table). An unknown code is an internal error.
FAILURE_CLASSES = {
    EXIT_INTERNAL: "internal",
    EXIT_USAGE: "usage",
    EXIT_BAD_INPUT: "bad-input",
    EXIT_STORAGE: "storage",
    EXIT_INTERRUPTED: "stopped",
    EXIT_TERMINATED: "stopped",
}

Status = Literal["converted", "skipped", "failed"]


@dataclass(frozen=True)
class Origin:
    """Where an object came from, as its metrics tell it: the mode, and in queue mode how long its
    message waited in the queue (seconds from sending to receiving), when known."""

    mode: str
    queue_wait_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:  # a stray value would start a new dimension value, and a new metric
            raise ValueError(f"metrics mode must be one of {', '.join(MODES)}, got {self.mode!r}")


def failure_class(exit_code: int) -> str:
    """The FailureClass dimension's value for a process or object that failed with ``exit_code``."""
    return FAILURE_CLASSES.get(exit_code, FAILURE_CLASSES[EXIT_INTERNAL])


def _number(value: Any) -> float | int | None:
    """``value`` if it is a finite number (EMF's metric values are JSON numbers), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def members(
    origin: Origin,
    status: Status,
    fields: Mapping[str, Any] | None = None,
    exit_code: int | None = None,
    now_s: float | None = None,
) -> dict[str, Any]:
    """The members to add to one finished object's log line: ``_aws`` and the metric values.

    ``status``: what became of the object; ``fields``: the line's fields (a converted object's
    processing_seconds, input_seconds and realtime_factor are read from them; a missing or non-finite one
    is left out, and so is its metric); ``exit_code``: a failure's code; ``now_s``: the Unix time of the
    line (default now), given to CloudWatch in milliseconds."""
    fields = fields or {}
    values: dict[str, float | int] = {name: int(COUNTERS[status] == name) for name in (CONVERTED, SKIPPED, FAILED)}
    if status == "converted":
        for metric, field in MEASURED.items():
            value = _number(fields.get(field))
            if value is not None:
                values[metric] = value
    if origin.queue_wait_seconds is not None:
        values[QUEUE_WAIT_SECONDS] = round(origin.queue_wait_seconds, 3)
    directives: list[dict[str, Any]] = [_directive([MODE], values)]
    dimensions: dict[str, str] = {MODE: origin.mode}
    if status == "failed":
        dimensions[FAILURE_CLASS] = failure_class(EXIT_INTERNAL if exit_code is None else exit_code)
        directives.append(_directive([MODE, FAILURE_CLASS], [FAILED]))
    stamp = round((time.time() if now_s is None else now_s) * 1000)
    return {EMF_KEY: {"Timestamp": stamp, "CloudWatchMetrics": directives}, **dimensions, **values}


def _directive(dimension_set: list[str], metrics: Mapping[str, Any] | list[str]) -> dict[str, Any]:
    return {
        "Namespace": NAMESPACE,
        "Dimensions": [dimension_set],
        "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in metrics],
    }
