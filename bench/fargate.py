#!/usr/bin/env python3
"""What one song costs a Fargate task of infra/task-definition.json's size: the image under its quota.

The image (built by ``./dev container``: localhost/surroundyou:test) runs with podman as the task
definition runs it (its user, a read-only root, a volume at /tmp, its variables) and with its
size as a CPU quota and memory limit (cpu 512 -> ``--cpus=0.5``, memory 1024 -> ``--memory=1024m``;
a quota like Fargate's, not Fargate itself). Per song, median of ``--repeat`` rounds, alternating:
  bare  python -c <pedalboard decode + MP3 V2 encode> of the same file, in the same kind of container
  task  the worker in cloud mode against moto's S3 over HTTP: download, convert, upload
Wall time is the whole ``podman run`` (container start included); the worker also logs its
processing (download + conversion + upload) and conversion seconds. The last lines give what
the cost table of docs/deploy.md needs: processing per 3 minutes of music, and a task's start-up overhead.
Not a test: run it on a quiet machine. Usage: ./dev bench-fargate [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import BARE, machine, real_songs, seconds_of

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "container" / "tests")]
from task_run import run_options, task_definition  # noqa: E402 - the image tests' way of running the task

from tests.support.moto_s3 import moto_s3_server, new_bucket  # noqa: E402 - found through the path above

IMAGE = "localhost/surroundyou:test"


def podman_run(task: dict[str, Any], environment: dict[str, str]) -> list[str]:
    """``podman run`` as the task definition runs the container, with its size as limits."""
    return ["podman", "run", *run_options(task, environment, limits=True)]


def timed(cmd: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed ({result.returncode}): {result.stderr[-500:]}")
    return wall, result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median counts (default 3)")
    parser.add_argument("--image", default=IMAGE, help=f"the image to run (default {IMAGE}, made by ./dev container)")
    args = parser.parse_args()
    if subprocess.run(["podman", "image", "exists", args.image]).returncode != 0:
        raise SystemExit(f"bench: no image {args.image}: build it first with ./dev container")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    task = task_definition()
    size = f"{int(task['cpu']) / 1024:g} vCPU, {int(task['memory']) / 1024:g} GB"

    rows = []
    with tempfile.TemporaryDirectory(prefix="surroundyou-fargate-") as work, moto_s3_server() as endpoint:
        songs = Path(work) / "songs"
        songs.mkdir()
        songs.chmod(0o755)  # the task's user (not this one) reads them
        s3, bucket, aws = new_bucket(endpoint, "us-east-1", "AKIDBENCH", "bench-secret")
        for src in real_songs():
            shutil.copy(src, songs / src.name)
            (songs / src.name).chmod(0o644)
            s3.upload_file(str(src), bucket, f"input/{src.name}")
            bare = [*podman_run(task, {}), "-v", f"{songs}:/songs:ro", "--entrypoint", "python", args.image]
            bare += ["-c", BARE, f"/songs/{src.name}", "/tmp/out.mp3"]
            cloud = [*podman_run(task, aws | {"S3_BUCKET": bucket, "S3_KEY": f"input/{src.name}"}), args.image]
            walls: dict[str, list[float]] = {"bare": [], "task": []}
            logged: dict[str, list[float]] = {"processing_seconds": [], "conversion_seconds": []}
            for _ in range(args.repeat):
                walls["bare"].append(timed(bare)[0])
                wall, err = timed(cloud)
                walls["task"].append(wall)
                record = json.loads(err.strip().splitlines()[-1])
                if record.get("event") != "converted":
                    raise SystemExit(f"bench: the task did not convert {src.name}: {record}")
                s3.delete_object(Bucket=bucket, Key=record["output_key"])  # else the next round skips it as done
                for field in logged:
                    logged[field].append(float(record[field]))
            medians = [statistics.median(v) for v in [*walls.values(), *logged.values()]]
            rows.append((src.name, seconds_of(src), *medians))
            print(f"... {src.name} done", file=sys.stderr)

    print(f"Machine: {machine()}; the image under a {size} quota (podman), median of {args.repeat} rounds.\n")
    print("| input | length | bare decode+encode | task: wall (ratio) | task: processing / conversion |")
    print("|---|---|---|---|---|")
    for name, seconds, bare_wall, task_wall, processing, conversion in rows:
        print(
            f"| {name} | {int(seconds // 60)}:{int(seconds % 60):02d} | {bare_wall:.2f} s "
            f"| {task_wall:.2f} s ({task_wall / bare_wall:.2f}) | {processing:.2f} / {conversion:.2f} s |"
        )
    music = sum(r[1] for r in rows)
    per_3min = sum(r[4] for r in rows) / music * 180
    overhead = statistics.median(r[3] - r[4] for r in rows)
    ratio = statistics.median(r[3] / r[2] for r in rows)
    print(
        f"\nPer 3 minutes of music: {per_3min:.2f} s of processing (download + conversion + upload; "
        f"{music:.0f} s of music in all). A task's wall beyond its processing (container start, imports): "
        f"{overhead:.2f} s (median). Task wall / bare, median: {ratio:.2f}."
    )


if __name__ == "__main__":
    main()
