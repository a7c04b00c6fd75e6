"""The README's two commands on a fresh machine: a minimal Debian container and a fresh clone.

The machine holds only what a minimal cloud image has (python3, python3-venv,
python3-pip, ca-certificates, git) and sudo. A clone of the repository's committed
files is copied in and the two commands of the README's quick start are run as root
and as a user with sudo, `./dev test` with the fast tier (`-m unit`): the whole suite
runs in CI's own test stage, the README's `./dev test` as printed on a clean machine,
and running it here again took 7 of CI's 30 minutes. FRESH_FULL=1 runs the whole
suite here too, as root. FRESH_SUITES picks the Debian releases (default: bookworm,
the oldest the README supports).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MEASURED, ROOT, make_standin, podman

from tests.support.audio import decode, loudness_lufs, true_peak_dbtp

SUITES = os.environ.get("FRESH_SUITES", "bookworm").split()
MACHINE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates,git,sudo"
USERS = {"root": "/root", "dev": "/home/dev"}  # dev: not root, with sudo


def readme_commands() -> list[str]:
    """The commands of the README's quick start, as printed (comments dropped)."""
    section = (ROOT / "README.md").read_text().split("## Quick start", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_the_readme_quick_start_is_two_commands() -> None:
    assert readme_commands() == ["./dev run", "./dev test"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed files only, as a new user gets them."""
    target = tmp_path_factory.mktemp("clone") / "surroundyou"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)], check=True, timeout=120)
    return target


@pytest.fixture(scope="module", params=SUITES)
def machine(request: pytest.FixtureRequest) -> str:
    suite = request.param
    tag = f"localhost/surroundyou-fresh:{suite}"
    make_standin(tag, suite, MACHINE_PACKAGES)
    return tag


@pytest.fixture
def container(machine: str, clone: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"surroundyou-fresh-{os.getpid()}-{request.node.name}".replace("[", "-").replace("]", "")
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", name)
    # --init: a machine's init reaps orphaned processes (sleep as PID 1 would leave them as zombies).
    podman(
        "run",
        "-d",
        "--init",
        "--name",
        name,
        "--network=host",
        "-v",
        f"{clone}:/clone:ro",
        machine,
        "sleep",
        "infinity",
    )
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "1", name, check=False)


@pytest.mark.parametrize("user", list(USERS))
def test_the_readme_commands_work_on_a_fresh_machine(container: str, machine: str, user: str, tmp_path: Path) -> None:
    home = USERS[user]
    if user != "root":
        podman("exec", container, "useradd", "--create-home", "--shell", "/bin/bash", user)
        podman("exec", container, "sh", "-c", f"echo '{user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{user}")
    podman("exec", container, "cp", "-r", "/clone", f"{home}/surroundyou")
    podman("exec", container, "chown", "-R", f"{user}:{user}", f"{home}/surroundyou")

    outputs = {}
    # The fast tier of the tests (what differs on a fresh machine is the installing, which both commands
    # do and which is checked below), so that CI stays well within its time: the whole suite runs in
    # CI's own test stage. FRESH_FULL=1: the README's commands as printed, as root.
    full = user == "root" and os.environ.get("FRESH_FULL") == "1"
    commands = [c + " -m unit" if c == "./dev test" and not full else c for c in readme_commands()]
    for command in commands:
        started = time.monotonic()
        result = podman(
            *("exec", "--user", user, "--env", f"HOME={home}", "--workdir", f"{home}/surroundyou", container),
            *("bash", "-c", command),
            timeout=1500,
            check=False,
        )
        took = time.monotonic() - started
        MEASURED[f"{machine.split(':')[-1]} as {user}: {command}"] = f"{took:.0f} s"
        assert result.returncode == 0, (
            f"{command}: exit {result.returncode}\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )
        assert "Traceback" not in result.stderr
        outputs[command.removesuffix(" -m unit")] = result
    # The first run installs only what running needs, and says so in a line per requirements file.
    first_run = outputs["./dev run"].stderr
    pip_lines = [line for line in first_run.splitlines() if line.startswith("./dev: pip: ")]
    expected = r"\./dev: pip: requirements(-build)?\.txt: \d+ packages checked or installed"
    assert len(pip_lines) == 2 and all(re.fullmatch(expected, line) for line in pip_lines), first_run[-2000:]
    assert "requirements-dev.txt" not in first_run, first_run[-2000:]
    assert "building the worker's C loops" in first_run

    demo = tmp_path / "demo_8d.mp3"
    podman("cp", f"{container}:{home}/surroundyou/output/demo_8d.mp3", str(demo))
    y, rate = decode(demo)
    assert 24.0 <= y.shape[1] / rate <= 28.5
    assert loudness_lufs(y, rate) == pytest.approx(-14.0, abs=0.5)
    assert true_peak_dbtp(y) <= -1.0

    tested = outputs["./dev test"].stdout.strip().splitlines()
    summary = tested[-1]
    pattern = r"=+ \d+ passed(, \d+ skipped)?(, \d+ deselected)?(, \d+ warnings?)? in .+ =+"
    assert re.fullmatch(pattern, summary), summary
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    assert passed > 250
    skips = [line for line in tested if line.startswith("SKIPPED")]
    MEASURED[f"{machine.split(':')[-1]} as {user}: pytest"] = summary.strip("= ") + (
        f"; {'; '.join(skips)}" if skips else ""
    )
