"""Start-up: each way of running process_audio.py loads only the modules its work needs.

The whole process is what a user waits for (and a Fargate task pays for): scipy.signal
alone took 0.7 s to import, boto3 0.15 s (scipy 1.17, on a 2-core machine). Which modules a
real process loaded is read from sys.modules as it exits, for the same command lines a user types.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.audio import pink_noise, write
from tests.support.processes import SCRIPT

HEAVY = {"numpy", "pedalboard", "scipy", "boto3", "botocore", "pyloudnorm", "h5py", "matplotlib", "tqdm"}

# python -c PROBE LISTING SCRIPT ARGS...: runs SCRIPT ARGS... as __main__ and, at exit, lists sys.modules.
PROBE = """
import atexit, os, runpy, sys
listing, sys.argv = sys.argv[1], sys.argv[2:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))  # as "python SCRIPT" does
atexit.register(lambda: open(listing, "w").write(" ".join(sys.modules)))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def loaded_by(tmp_path: Path, *args: str) -> set[str]:
    """Top-level packages a process_audio.py run had loaded when it exited."""
    listing = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_", "INPUT_", "OUTPUT_"))}
    cmd = [sys.executable, "-c", PROBE, str(listing), str(SCRIPT), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return {name.split(".")[0] for name in listing.read_text().split()}


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_load_nothing_heavy(tmp_path: Path, flag: str) -> None:
    assert loaded_by(tmp_path, flag) & HEAVY == set()


def test_a_local_conversion_loads_neither_scipy_nor_the_cloud(tmp_path: Path) -> None:
    src = write(tmp_path / "song.wav", pink_noise(2.0, 44100))
    loaded = loaded_by(tmp_path, str(src), "-o", str(tmp_path / "song_8d.mp3"))
    assert {"numpy", "pedalboard"} <= loaded  # it did convert
    assert loaded & {"scipy", "boto3", "botocore", "pyloudnorm", "h5py", "matplotlib"} == set()
    assert (tmp_path / "song_8d.mp3").stat().st_size > 0
