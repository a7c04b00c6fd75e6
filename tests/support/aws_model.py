"""Validate request parameters against botocore's own API models, more strictly than botocore does.

``ParamValidator`` checks required and unknown members and types; this also
walks the shapes for what it skips: enums, length and value ranges, patterns.
Plus the Fargate rules that live outside the API model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator

_session = botocore.session.get_session()


def input_shape(service: str, operation: str) -> Shape:
    return _session.get_service_model(service).operation_model(operation).input_shape


def problems(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """Everything wrong with ``params`` for one API call; empty when valid."""
    return shape_problems(params, input_shape(service, operation))


def shape_problems(params: Any, shape: Shape) -> list[str]:
    report = ParamValidator().validate(params, shape)
    found = [report.generate_report()] if report.has_errors() else []
    return found + list(_walk(params, shape, shape.name))


def _walk(value: Any, shape: Shape, path: str) -> Iterator[str]:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                yield from _walk(item, shape.members[key], f"{path}.{key}")
    elif kind == "list" and isinstance(value, list):
        yield from _bounds(len(value), meta, path, "items")
        for i, item in enumerate(value):
            yield from _walk(item, shape.member, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(key, shape.key, f"{path} key {key!r}")
            yield from _walk(item, shape.value, f"{path}[{key!r}]")
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            yield f"{path}: {value!r} is not one of {shape.enum}"
        yield from _bounds(len(value), meta, path, "characters")
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(python_pattern(pattern), value, re.S):
            yield f"{path}: {value!r} does not match {pattern}"
    elif kind in ("integer", "long", "double", "float") and isinstance(value, int | float):
        yield from _bounds(value, meta, path, "")


def _bounds(size: float, meta: dict[str, Any], path: str, unit: str) -> Iterator[str]:
    if "min" in meta and size < meta["min"]:
        yield f"{path}: {size} {unit} is under the minimum {meta['min']}"
    if "max" in meta and size > meta["max"]:
        yield f"{path}: {size} {unit} is over the maximum {meta['max']}"


# Fargate task sizes: CPU units -> allowed memory (MiB).
FARGATE_SIZES = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)),
    16384: set(range(32768, 122881, 8192)),
}


def fargate_problems(task: dict[str, Any]) -> list[str]:
    """The Fargate rules a RegisterTaskDefinition input must follow beyond the API model."""
    found = []
    if "FARGATE" not in task.get("requiresCompatibilities", []):
        found.append("requiresCompatibilities must include FARGATE")
    if task.get("networkMode") != "awsvpc":
        found.append("networkMode must be awsvpc on Fargate")
    cpu, memory = int(task.get("cpu", 0)), int(task.get("memory", 0))
    if memory not in FARGATE_SIZES.get(cpu, set()):
        found.append(f"cpu {cpu} with memory {memory} MiB is not a Fargate size")
    size = task.get("ephemeralStorage", {}).get("sizeInGiB")
    if size is not None and not 21 <= size <= 200:
        found.append(f"ephemeralStorage {size} GiB is outside 21-200")
    if not task.get("executionRoleArn"):
        found.append("an execution role is needed to pull from ECR and to log")
    for container in task.get("containerDefinitions", []):
        name = container.get("name")
        if container.get("stopTimeout", 30) > 120:
            found.append(f"{name}: stopTimeout over 120 s")
        if container.get("user") in (None, "0", "root"):
            found.append(f"{name}: runs as root")
        volumes = {v["name"] for v in task.get("volumes", [])}
        writable = {m["containerPath"] for m in container.get("mountPoints", []) if not m.get("readOnly")}
        for mount in container.get("mountPoints", []):
            if mount["sourceVolume"] not in volumes:
                found.append(f"{name}: mount point uses undefined volume {mount['sourceVolume']!r}")
        if container.get("readonlyRootFilesystem") and "/tmp" not in writable:
            found.append(f"{name}: a read-only root filesystem needs a writable volume at /tmp")
        logging = container.get("logConfiguration", {})
        if logging.get("logDriver") == "awslogs" and "awslogs-stream-prefix" not in logging.get("options", {}):
            found.append(f"{name}: awslogs-stream-prefix is required on Fargate")
    return found


def as_json(document: Any) -> str:
    return json.dumps(document)


# The models' patterns are Java's: two of their idioms, in Python's terms.
_JAVA_IDIOMS = {
    "\\uD800\\uDC00-\\uDBFF\\uDFFF": "\\U00010000-\\U0010FFFF",  # a UTF-16 surrogate-pair range: the astral planes
    "\\p{Print}": "[^\\x00-\\x1f\\x7f]",  # printable characters
}


def python_pattern(pattern: str) -> str:
    for java, python in _JAVA_IDIOMS.items():
        pattern = pattern.replace(java, python)
    return pattern
