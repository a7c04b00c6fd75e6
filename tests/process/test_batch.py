"""Batch load: a folder of 200 songs on N processes, bounded memory, an honest summary, a clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from tests.support.audio import decode, pink_noise, write
from tests.support.processes import SCRIPT, cli_env

SINGLE_FILE_BOUND_MB = 200  # a bound on one conversion's peak memory; ./dev bench measures the actual peak


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_"))}
    env.update(extra)
    return env


def _tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20


def test_two_hundred_files_on_two_processes(tmp_path: Path) -> None:
    songs, out = tmp_path / "songs", tmp_path / "out"
    songs.mkdir()
    for i in range(197):
        write(songs / f"song {i:03d}.wav", pink_noise(0.5, 22050, seed=i), rate=22050)
    for i in range(3):
        (songs / f"broken {i}.mp3").write_text("not audio")
    (songs / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a song")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(INPUT_DIR=str(songs), OUTPUT_DIR=str(out), REVERB_AMOUNT="0"),
    )
    watched = psutil.Process(proc.pid)
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(watched))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stdout, stderr = proc.communicate(timeout=600)
    sampler.join()
    assert proc.returncode == 3, stderr[-2000:]
    results = stdout.splitlines()
    assert len(results) == 197 + 1  # a line per converted file, and the total (which names cover.jpg)
    assert results[-1].startswith("197 converted, 0 up to date, 3 failed: broken")
    assert results[-1].count("not audio") == 4 and results[-1].endswith("; not audio: cover.jpg")
    assert stderr.count("error: broken") == 3
    outputs = sorted(out.iterdir())
    assert len(outputs) == 197 and all(p.name.endswith("_8d.mp3") for p in outputs)
    y, rate = decode(outputs[0])
    assert abs(y.shape[1] / rate - 0.5) < 0.06
    assert 0 < peak[0] < 2 * SINGLE_FILE_BOUND_MB, f"peak {peak[0]:.0f} MB for the whole process tree"


def test_sigterm_stops_every_worker_and_cleans_up(tmp_path: Path) -> None:
    songs, out, tmp = tmp_path / "songs", tmp_path / "out", tmp_path / "tmp"
    songs.mkdir()
    tmp.mkdir()
    for i in range(4):
        write(songs / f"long {i}.wav", pink_noise(120.0, 22050, seed=i, level=0.05), rate=22050)
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(INPUT_DIR=str(songs), OUTPUT_DIR=str(out), TMPDIR=str(tmp)),
    )
    deadline = time.monotonic() + 60
    while len(list(tmp.glob("surroundyou-*/song-*"))) < 2 and time.monotonic() < deadline:  # both converting
        time.sleep(0.05)
    time.sleep(0.3)
    children = psutil.Process(proc.pid).children(recursive=True)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5.0
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    _, alive = psutil.wait_procs(children, timeout=5)  # workers and multiprocessing's helper all end
    # A zombie has ended too: reaping an orphan is the init process's job (a container without one never does).
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [p.cmdline() for p in alive]
    assert list(tmp.iterdir()) == []
    assert not out.exists() or [p for p in out.iterdir() if p.name.startswith(".")] == []


def test_a_good_parallel_run_prints_no_traceback(tmp_path: Path) -> None:
    """The pool stops its idle workers with SIGTERM at the end; that must not print a traceback.

    It used to in about one run in four ("Exception ignored in: <module 'threading'>"), so
    eight runs in a row would have caught it nine times in ten.
    """
    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(3):
        write(songs / f"s{i}.wav", pink_noise(1.0, 44100, seed=i))
    env = _env(INPUT_DIR=str(songs), OUTPUT_DIR=str(tmp_path / "out"))
    for _ in range(8):
        result = subprocess.run(
            [sys.executable, str(SCRIPT), "--jobs", "2"], capture_output=True, text=True, env=env, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr


def test_workers_log_in_the_format_the_parent_was_given(tmp_path: Path) -> None:
    """LOG_FORMAT reaches the pool's workers through the settings (not by the parent's log handlers):
    with json, every line on stderr, the workers' "converted" events included, is a JSON object."""
    import json

    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(2):
        write(songs / f"s{i}.wav", pink_noise(1.0, 44100, seed=i))
    env = _env(INPUT_DIR=str(songs), OUTPUT_DIR=str(tmp_path / "out"), LOG_FORMAT="json")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "2"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    converted = [line for line in lines if line.get("event") == "converted"]
    assert len(converted) == 2 and all(line["status"] == "converted" for line in converted), lines


def test_an_interrupted_batch_says_what_it_finished_and_what_it_did_not(tmp_path: Path) -> None:
    """Ctrl-C after the first of three songs: the total says 1 converted and names the others, the
    output of the song under way is not written, the exit code is 130."""
    songs, out = tmp_path / "songs", tmp_path / "out"
    songs.mkdir()
    for i in range(3):
        write(songs / f"song {i}.wav", pink_noise(60.0, seed=i))
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(songs), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env({"TMPDIR": str(tmp_path)}),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first song's result line
    proc.send_signal(signal.SIGINT)
    rest, stderr = proc.communicate(timeout=120)
    assert first.startswith("song 0.wav -> "), first + stderr
    assert proc.returncode == 130
    assert rest.splitlines()[-1] == (
        "interrupted after 1 of 3 songs: 1 converted, 0 up to date, 0 failed; not converted: song 1.wav, song 2.wav"
    )
    assert sorted(p.name for p in out.iterdir()) == ["song 0_8d.mp3"]  # nothing partial, nothing hidden
    assert "Traceback" not in stderr
    assert not list(tmp_path.glob("surroundyou-*"))
