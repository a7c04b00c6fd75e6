"""Progress as a user at a terminal sees it: with --jobs N, one line for the batch (songs done of all,
the songs under way, the time left), fed by the workers; no line in JSON mode or off a terminal."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.audio import pink_noise, write
from tests.support.processes import run_cli, run_in_terminal


def _songs(folder: Path, count: int = 3) -> Path:
    folder.mkdir()
    for i in range(count):
        write(folder / f"song {i}.wav", pink_noise(150.0, 22050, seed=i), rate=22050)
    (folder / "broken.mp3").write_bytes(b"ID3" + bytes(range(256)) * 40)  # fails: its error line is written too
    return folder


def _states(screen: str) -> list[str]:
    """What the terminal's line showed, state by state (each redraw starts with a carriage return)."""
    return [state.strip() for state in re.split(r"[\r\n]", screen) if state.strip()]


def test_a_batch_on_two_processes_shows_one_line_fed_by_the_workers(tmp_path: Path) -> None:
    songs = _songs(tmp_path / "songs")
    shown = run_in_terminal(str(songs), "-o", str(tmp_path / "out"), "--jobs", "2")
    assert shown.code == 3, shown.screen  # the broken file
    states = _states(shown.screen)
    lines = [s for s in states if re.match(r"\d of 4 songs \|", s)]
    assert lines, shown.screen[-2000:]
    # Both workers' songs under way at once, each with how far it is, and a time left.
    assert any(re.search(r"under way: song \d\.wav \d+%, song \d\.wav \d+%", s) for s in lines), lines[-5:]
    assert all(re.search(r"\d+%, (\d\d:\d\d|\?) left", s) for s in lines)
    done = [int(s.split()[0]) for s in lines]
    assert done == sorted(done) and done[-1] >= 2  # it counts up as songs finish
    # The workers' and the parent's lines are written above the bar, never into it.
    (error,) = [s for s in states if s.startswith("error: ")]
    assert "broken.mp3" in error and "songs |" not in error
    results = shown.stdout.splitlines()
    assert [r.split(" -> ")[0] for r in results[:-1]] == ["song 0.wav", "song 1.wav", "song 2.wav"] or sorted(
        r.split(" -> ")[0] for r in results[:-1]
    ) == ["song 0.wav", "song 1.wav", "song 2.wav"]
    assert results[-1].startswith("3 converted, 0 up to date, 1 failed")


def test_no_batch_line_off_a_terminal_or_in_json(tmp_path: Path) -> None:
    songs = _songs(tmp_path / "songs", count=2)
    piped = run_cli(str(songs), "-o", str(tmp_path / "a"), "--jobs", "2")
    assert piped.returncode == 3 and "songs |" not in piped.stderr and "\r" not in piped.stderr
    json_lines = run_in_terminal(str(songs), "-o", str(tmp_path / "b"), "--jobs", "2", env={"LOG_FORMAT": "json"})
    assert json_lines.code == 3
    for line in json_lines.screen.splitlines():
        json.loads(line)  # every line of the terminal is a JSON record: no bar among them
