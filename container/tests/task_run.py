"""``podman run`` options that run a container as an ECS task definition runs it.

Shared by the image tests (container/tests/test_image.py) and the Fargate-sized benchmark
(bench/fargate.py), so both follow infra/task-definition.json as it stands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TASK_DEFINITION = Path(__file__).resolve().parents[2] / "infra" / "task-definition.json"


def task_definition() -> dict[str, Any]:
    return json.loads(TASK_DEFINITION.read_text())


def run_options(task: dict[str, Any], environment: dict[str, str], limits: bool = False) -> list[str]:
    """The options after ``podman run`` for ``task``'s first container: its user, read-only root, an
    anonymous volume at each mount point, its variables (``environment`` adds to them and wins);
    with ``limits``, the task's size as a CPU quota and memory limit (cpu 512 -> ``--cpus=0.5``)."""
    container = task["containerDefinitions"][0]
    options = ["--rm", "--network=host", "--user", container["user"]]
    if limits:
        options += [f"--cpus={int(task['cpu']) / 1024:g}", f"--memory={task['memory']}m"]
    if container.get("readonlyRootFilesystem"):
        options += ["--read-only", "--read-only-tmpfs=false"]
    options += [arg for m in container["mountPoints"] for arg in ("-v", m["containerPath"])]
    variables = {v["name"]: v["value"] for v in container["environment"]} | environment
    return options + [arg for name, value in variables.items() for arg in ("-e", f"{name}={value}")]
