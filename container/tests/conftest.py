"""Podman, stand-in base images, the project's image and real music for the container tests.

Run through ``./dev container`` and ``./dev fresh``, which install podman and set
CONTAINERS_CONF. Measurements taken on the way (image size, build and start times)
are printed after the test summary. KEEP_BASE=1 reuses stand-in base images that
already exist (faster reruns while developing; CI always makes them anew).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the main suite's shared helpers (tests/support)

from tests.support.moto_s3 import moto_s3_server  # noqa: E402 - found through the path above

IMAGE = "localhost/surroundyou:test"
STANDIN = ROOT / "container" / "standin.sh"
MEASURED: dict[str, str] = {}  # printed after the summary


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} … exit {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def dockerfile_bases() -> list[str]:
    """The external images the Dockerfile's FROM lines name (not its own stages)."""
    stages: set[str] = set()
    bases: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line.strip(), re.I)
        if m:
            if m.group(1) not in stages and m.group(1) not in bases:
                bases.append(m.group(1))
            if m.group(2):
                stages.add(m.group(2))
    return bases


def make_standin(tag: str, suite: str, packages: str = "") -> None:
    """A stand-in for an official Debian image, made from Debian's packages (see container/standin.sh)."""
    if os.environ.get("KEEP_BASE") == "1" and podman("image", "exists", tag, check=False).returncode == 0:
        return
    started = time.monotonic()
    result = subprocess.run(["bash", str(STANDIN), suite, tag, packages], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    MEASURED[f"stand-in {tag}"] = (
        f"{result.stderr.strip().splitlines()[-1]}, made in {time.monotonic() - started:.0f} s"
    )


def debian_suite(image: str) -> str:
    """debian:trixie-slim -> trixie."""
    m = re.fullmatch(r"(?:docker\.io/)?(?:library/)?debian:(\w+)(?:-slim)?", image)
    assert m, f"the Dockerfile's base {image} is not a Debian image that the stand-in script can make"
    return m.group(1)


@pytest.fixture(scope="session")
def image() -> str:
    """The project's image, built from the Dockerfile unchanged on stand-ins of its base images."""
    for base in dockerfile_bases():
        make_standin(base if "/" in base else f"docker.io/library/{base}", debian_suite(base))
    started = time.monotonic()
    build = podman("build", "--pull=never", "--network=host", "-t", IMAGE, "-t", "surroundyou", str(ROOT), timeout=1800)
    MEASURED["build"] = (
        f"{time.monotonic() - started:.0f} s (podman build; layers cached from an earlier build count as done)"
    )
    decoders = re.search(r"ffmpeg \S+: \d+ audio decoders", build.stdout + build.stderr)
    if decoders:
        MEASURED["ffmpeg"] = decoders.group(0)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    layers = podman("history", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE).stdout.splitlines()
    shares = []
    for line in reversed(layers):
        amount, created = line.split("\t", 1)
        if amount not in ("0B", "0 B") and not amount.endswith("kB"):
            what = re.sub(r"^/bin/sh -c (#\(nop\) )?", "", created)[:60]
            shares.append(f"{amount}: {what}")
    MEASURED["image"] = f"{size / 1e6:.0f} MB uncompressed; layers: " + "; ".join(shares)
    return IMAGE


@pytest.fixture(scope="session")
def real_songs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three recorded songs (MP3, 22.05 kHz stereo, 4:50 to 7:20) from Debian's asc-music package."""
    work = tmp_path_factory.mktemp("asc-music")
    download = ["apt-get", "download", "asc-music"]
    got = subprocess.run(download, cwd=work, capture_output=True, text=True, timeout=300)
    if got.returncode != 0:  # package lists not fetched yet on this machine
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300)
        got = subprocess.run(download, cwd=work, capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr
    deb = next(work.glob("asc-music_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True)
    return {p.stem: p for p in (work / "root").rglob("*.mp3")}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's S3 over HTTP on the host; the containers reach it through the host network."""
    with moto_s3_server() as endpoint:
        yield endpoint


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASURED:
        terminalreporter.section("measured")
        for name, value in MEASURED.items():
            terminalreporter.write_line(f"{name}: {value}")
