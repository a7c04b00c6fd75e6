"""The run mode: decided once, from the command line and the environment, then run from a table.

  cloud   S3_BUCKET and S3_KEY set: convert that one object (the Fargate task)
  queue   QUEUE_URL (and S3_BUCKET) set: convert what the queue's upload events name, until stopped
  demo    --demo, or nothing named while ./input holds no songs and INPUT_DIR is not set
  local   named files and folders, or the songs of INPUT_DIR (./input)

Anything the chosen mode would ignore (files, --demo, -o, --plot or --force with S3 or the queue,
files with --demo) is a usage error, never silently dropped.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from surroundyou.errors import UsageError
from surroundyou.progress import Bars
from surroundyou.settings import ENV_BUCKET, ENV_INPUT_DIR, ENV_KEY, ENV_QUEUE, Settings


class RunMode(enum.Enum):
    CLOUD = "cloud"
    QUEUE = "queue"
    DEMO = "demo"
    LOCAL = "local"


@dataclass(frozen=True)
class Request:
    """What the command line asks for besides the settings."""

    inputs: tuple[Path, ...] = ()
    output: Path | None = None
    demo: bool = False
    plot: Path | None = None


def decide(request: Request, settings: Settings, env: Mapping[str, str] | None = None) -> RunMode:
    """The one run mode that ``request`` and ``settings`` (flags and environment) ask for."""
    env = os.environ if env is None else env
    service = RunMode.CLOUD if settings.cloud else RunMode.QUEUE if settings.queue else None
    if service is not None:
        variables = f"{ENV_BUCKET} and {ENV_KEY}" if service is RunMode.CLOUD else f"{ENV_QUEUE} and {ENV_BUCKET}"
        ignored = [
            name
            for name, given in (
                ("FILE arguments", request.inputs),
                ("--demo", request.demo),
                ("-o", request.output is not None),
                ("--plot", request.plot is not None),
                ("--force", settings.force),
            )
            if given
        ]
        if ignored:
            raise UsageError(
                f"{' and '.join(ignored)} cannot be used with {variables} set ({service.value} mode reads and "
                f"writes S3): unset them to convert local files"
            )
        return service
    if request.demo:
        if request.inputs:
            raise UsageError("--demo converts the built-in song: name no files with it")
        return RunMode.DEMO
    if not request.inputs and not env.get(ENV_INPUT_DIR, "").strip():
        from surroundyou.run.plan import has_songs  # the audio files' tag reader, only for local runs

        if not has_songs(settings.input_dir):
            return RunMode.DEMO
    return RunMode.LOCAL


Runner = Callable[[Request, Settings, Bars], int]


def _cloud(_request: Request, settings: Settings, _bar_for: Bars) -> int:
    from surroundyou.run.cloud import run_cloud  # boto3, only in cloud mode

    run_cloud(settings)
    return 0


def _queue(_request: Request, settings: Settings, _bar_for: Bars) -> int:
    from surroundyou.run.service import run_service

    return run_service(settings)


def _demo(request: Request, settings: Settings, bar_for: Bars) -> int:
    from surroundyou.run.local import run_demo

    return run_demo(request.output, settings, bar_for, request.plot, asked=request.demo)


def _local(request: Request, settings: Settings, bar_for: Bars) -> int:
    from surroundyou.run.local import run_local

    return run_local(request.inputs, request.output, settings, bar_for, request.plot)


RUNNERS: dict[RunMode, Runner] = {
    RunMode.CLOUD: _cloud,
    RunMode.QUEUE: _queue,
    RunMode.DEMO: _demo,
    RunMode.LOCAL: _local,
}


def run(mode: RunMode, request: Request, settings: Settings, bar_for: Bars) -> int:
    return RUNNERS[mode](request, settings, bar_for)


def describe_modes() -> Sequence[str]:
    """The modes' lines of the module docstring, for the command line's help."""
    return [line for line in (__doc__ or "").splitlines() if line.startswith("  ")]
