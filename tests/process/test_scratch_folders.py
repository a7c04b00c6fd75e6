"""Each run keeps its temporary files in one folder of its own; a run killed outright leaves it behind,
and the next run on the same temporary folder removes it, never a live run's."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.audio import decode, pink_noise, write
from tests.support.processes import run_cli, start_cli, wait_until


def _folders(scratch: Path) -> list[Path]:
    return sorted(scratch.glob("surroundyou-*"))


def _working(scratch: Path, count: int) -> bool:
    """Whether ``count`` songs are under way in ``scratch`` (each song's scratch files are in a folder of its own)."""
    return len({f.parent for f in scratch.glob("surroundyou-*/song-*/*")}) >= count


def test_a_killed_runs_files_are_removed_by_the_next_run_and_a_live_runs_are_kept(tmp_path: Path) -> None:
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    long = write(tmp_path / "long.wav", pink_noise(600.0, 22050), rate=22050)
    short = write(tmp_path / "short.wav", pink_noise(2.0))
    env = {"TMPDIR": str(scratch)}
    live = start_cli(str(long), "-o", str(out / "live.flac"), env=env)
    killed = None
    try:
        assert wait_until(lambda: _working(scratch, 1))
        (live_folder,) = _folders(scratch)
        killed = start_cli(str(long), "-o", str(out / "killed.flac"), env=env)
        assert wait_until(lambda: _working(scratch, 2))
        (killed_folder,) = set(_folders(scratch)) - {live_folder}
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert killed_folder.exists()

        result = run_cli(str(short), "-o", str(out / "short.mp3"), env=env)
        assert result.returncode == 0, result.stderr
        assert live.poll() is None, "the live run ended before the next one started: the test proves nothing"
        assert _folders(scratch) == [live_folder]  # the killed run's removed, the live one's kept
        _, stderr = live.communicate(timeout=300)
        assert live.returncode == 0, stderr
    finally:
        for proc in (live, killed):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert decode(out / "live.flac")[0].shape[1] > 0
    assert not (out / "killed.flac").exists()
    assert list(scratch.iterdir()) == []


def test_a_batch_on_two_processes_uses_one_folder_and_leaves_nothing(tmp_path: Path) -> None:
    scratch, songs, out = tmp_path / "tmp", tmp_path / "songs", tmp_path / "out"
    scratch.mkdir()
    songs.mkdir()
    for i in range(2):
        write(songs / f"song {i}.wav", pink_noise(300.0, 22050, seed=i), rate=22050)
    proc = start_cli(str(songs), "-o", str(out), "--jobs", "2", env={"TMPDIR": str(scratch)})
    try:
        assert wait_until(lambda: _working(scratch, 2) or proc.poll() is not None, timeout=60)
        assert len(_folders(scratch)) == 1  # the pool's workers work in their run's folder
        _, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["song 0_8d.mp3", "song 1_8d.mp3"]
    assert list(scratch.iterdir()) == []
