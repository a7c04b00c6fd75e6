"""Local runs as a user starts them: where outputs go, in which format, and what a rerun converts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.audio import decode, loudness_lufs, pink_noise, true_peak_dbtp, write
from tests.support.checks import digests, one_line
from tests.support.processes import run_cli

SECONDS = 2.0


def song(path: Path, seed: int = 0, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write(path, pink_noise(SECONDS, seed=seed), **kwargs)


def outputs(folder: Path) -> dict[str, float]:
    """Each output file under ``folder`` (relative path) and its modification time."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def check_audio(path: Path, rate: int | None = None) -> None:
    """A decodable stereo song of about SECONDS at the loudness target and under the ceiling."""
    y, found = decode(path)
    assert y.shape[0] == 2
    assert SECONDS <= y.shape[1] / found < SECONDS + 2.5  # and the room's tail
    assert loudness_lufs(y, found) == pytest.approx(-14.0, abs=1.0)
    assert true_peak_dbtp(y) <= -1.0
    if rate is not None:
        assert found == rate


def summary(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if " converted, " in line)


def test_input_dir_fills_the_o_folder_with_a_mirrored_tree_and_a_rerun_converts_nothing(tmp_path: Path) -> None:
    music = tmp_path / "in"
    song(music / "Artist" / "Album" / "one.wav")
    song(music / "Artist" / "Album" / "one.flac", seed=1, bit_depth=16)  # the same name apart from the extension
    song(music / "two.ogg", seed=2)
    song(music / ".hidden" / "three.wav")
    (music / "Artist" / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    before = digests(music / "Artist" / "Album")
    first = run_cli("-o", str(tmp_path / "out"), env={"INPUT_DIR": str(music)}, timeout=300)
    assert first.returncode == 0, first.stderr
    made = outputs(tmp_path / "out")
    assert sorted(made) == ["Artist/Album/one.flac_8d.mp3", "Artist/Album/one.wav_8d.mp3", "two_8d.mp3"]
    assert summary(first.stdout) == "3 converted, 0 up to date, 0 failed; not audio: cover.jpg"
    for name in made:
        check_audio(tmp_path / "out" / name)
    assert not (tmp_path / "output").exists()
    assert digests(music / "Artist" / "Album") == before
    again = run_cli("-o", str(tmp_path / "out"), env={"INPUT_DIR": str(music)}, timeout=300)
    assert again.returncode == 0, again.stderr
    assert summary(again.stdout) == "0 converted, 3 up to date, 0 failed; not audio: cover.jpg"
    assert outputs(tmp_path / "out") == made  # not one file rewritten


def test_a_named_folder_converts_into_output_dir(tmp_path: Path) -> None:
    song(tmp_path / "music" / "a" / "b" / "deep.wav")
    result = run_cli("music", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(outputs(tmp_path / "output")) == ["a/b/deep_8d.mp3"]


def test_named_files_are_skipped_when_up_to_date_and_force_converts_them_again(tmp_path: Path) -> None:
    src = song(tmp_path / "song.wav")
    out = tmp_path / "out"
    assert run_cli(str(src), "-o", str(out)).returncode == 0
    made = outputs(out)
    again = run_cli(str(src), "-o", str(out))
    assert again.returncode == 0 and "up to date" in again.stdout
    assert outputs(out) == made
    forced = run_cli(str(src), "-o", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert outputs(out)["song_8d.mp3"] > made["song_8d.mp3"]


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--format", "flac"], {}), ([], {"OUTPUT_FORMAT": "FLAC"})],
    ids=["flag", "variable"],
)
def test_the_format_applies_to_folders_and_files(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    song(tmp_path / "in" / "a.wav")
    folder = run_cli(*args, env={"INPUT_DIR": str(tmp_path / "in"), **env}, cwd=tmp_path, timeout=300)
    assert folder.returncode == 0, folder.stderr
    named = run_cli(str(tmp_path / "in" / "a.wav"), "-o", "named", *args, env=env, cwd=tmp_path, timeout=300)
    assert named.returncode == 0, named.stderr
    for path in (tmp_path / "output" / "a_8d.flac", tmp_path / "named" / "a_8d.flac"):
        assert path.read_bytes()[:4] == b"fLaC"
        check_audio(path)


def test_a_different_format_is_a_different_output_and_converts(tmp_path: Path) -> None:
    src = song(tmp_path / "a.wav")
    assert run_cli(str(src), "-o", str(tmp_path / "out")).returncode == 0
    flac = run_cli(str(src), "-o", str(tmp_path / "out"), "--format", "flac")
    assert flac.returncode == 0, flac.stderr
    assert "up to date" not in flac.stdout
    assert sorted(outputs(tmp_path / "out")) == ["a_8d.flac", "a_8d.mp3"]


def test_opus_is_written_at_48_khz_under_the_ceiling_with_its_tags(tmp_path: Path) -> None:
    src = song(tmp_path / "a.wav")
    result = run_cli(str(src), "-o", str(tmp_path / "a.opus"))
    assert result.returncode == 0, result.stderr
    check_audio(tmp_path / "a.opus", rate=48000)
    from mutagen.oggopus import OggOpus

    assert OggOpus(tmp_path / "a.opus").tags["SURROUNDYOU"][0].startswith("settings ")


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["song.wav"], {"S3_BUCKET": "bucket", "S3_KEY": "input/x.mp3"}),
        (["--demo"], {"S3_BUCKET": "bucket", "S3_KEY": "input/x.mp3"}),
        (["-o", "out"], {"QUEUE_URL": "http://127.0.0.1:9/q", "S3_BUCKET": "bucket"}),
        (["song.wav", "--demo"], {}),
    ],
)
def test_contradictions_are_one_line_and_exit_2(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    song(tmp_path / "song.wav")
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "cannot be used with" in line or "name no files" in line
    assert not (tmp_path / "output").exists()


def test_nothing_to_convert_runs_the_demo_but_an_empty_input_dir_is_an_error(tmp_path: Path) -> None:
    demo = run_cli(cwd=tmp_path, timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "no songs in input/" in demo.stderr
    assert (tmp_path / "output" / "demo_8d.mp3").is_file()
    (tmp_path / "empty").mkdir()
    empty = run_cli(env={"INPUT_DIR": str(tmp_path / "empty")}, cwd=tmp_path)
    assert empty.returncode == 2 and "no audio files in" in one_line(empty.stderr)
    assert os.listdir(tmp_path / "output") == ["demo_8d.mp3"]


def test_outputs_of_an_earlier_run_inside_a_folder_are_not_converted_again(tmp_path: Path) -> None:
    song(tmp_path / "pair" / "song.wav")
    assert run_cli(str(tmp_path / "pair"), "-o", str(tmp_path / "pair" / "out")).returncode == 0
    result = run_cli(str(tmp_path / "pair"), "-o", str(tmp_path / "elsewhere"))
    assert result.returncode == 0, result.stderr
    assert sorted(outputs(tmp_path / "elsewhere")) == ["song_8d.mp3"]  # not out/song_8d_8d.mp3
    assert summary(result.stdout) == "1 converted, 0 up to date, 0 failed; SurroundYou outputs, left alone: song_8d.mp3"
