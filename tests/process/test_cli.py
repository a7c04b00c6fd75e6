"""process_audio.py run as a user runs it: subprocesses, real files, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from surroundyou.settings import Settings
from tests.support.audio import decode, drum_mix, ild_swing_db, loudness_lufs, pink_noise, true_peak_dbtp, write
from tests.support.checks import digest, digests, one_line
from tests.support.processes import ROOT, SCRIPT, run_cli, run_measured


def test_demo_runs_on_a_fresh_folder(tmp_path: Path) -> None:
    result = run_cli("--demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    y, rate = decode(tmp_path / "output" / "demo_8d.mp3")
    assert 24.0 <= y.shape[1] / rate <= 28.5
    assert loudness_lufs(y, rate) == pytest.approx(-14.0, abs=0.5)
    assert true_peak_dbtp(y) <= -1.0
    # stdout: the results, one line per song; stderr: the diagnostics (here, what the demo is)
    assert [line.split(" -> ")[0] for line in result.stdout.splitlines()] == ["demo.wav"]
    assert "demo_8d.mp3" in result.stdout and "synthesised a 24 s demo song" in result.stderr


RESULT_LINE = re.compile(
    r"(?P<name>.+?) -> (?P<out>.+?)  \S+ in [\d.]+ s \(\d+x realtime\): "
    r"(?P<lufs_in>-?[\d.]+) LUFS in, (?P<lufs_out>-?[\d.]+) LUFS out \((?P<change>[+-][\d.]+) dB\), "
    r"(?:peaks limited by up to (?P<limited>[\d.]+) dB|no peak limiting); "
    r"the level swings (?:(?P<swing>\d+) dB|fully) from ear to ear, "
    r"(?:the nearer ear hears it up to (?P<itd>[\d.]+) ms sooner|with no delay between the ears)$"
)


SHORT_LINE = re.compile(
    r"(?P<name>.+?) -> (?P<out>.+?)  \S+ in [\d.]+ s: "
    r"(?:(?P<change>[\d.]+) dB (?P<way>louder|quieter), now|loudness kept at) (?P<lufs_out>-?[\d.]+) LUFS; "
    r"moves (?P<motion>fully|clearly|faintly) (?:from ear to ear|between the ears)$"
)


@pytest.mark.parametrize("mode", ["binaural", "pan"])
def test_the_verbose_result_line_says_what_happened_in_figures_that_add_up(tmp_path: Path, mode: str) -> None:
    """The result line's input loudness, change, output loudness, limiting and motion, each true when measured."""
    from surroundyou.run.demo import synthesize

    music = synthesize(12.0)
    src = write(tmp_path / "song.wav", 0.3 * music)
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"), "--renderer", mode, "-v")
    assert result.returncode == 0, result.stderr
    line = RESULT_LINE.match(result.stdout.strip())
    assert line is not None, result.stdout
    y, rate = decode(tmp_path / "out.mp3")
    lufs_in, lufs_out = float(line["lufs_in"]), float(line["lufs_out"])
    assert lufs_in == pytest.approx(loudness_lufs(0.3 * music, 44100), abs=0.1)  # the input, not the mix
    assert lufs_out == pytest.approx(loudness_lufs(y, rate), abs=0.3)  # the MP3 adds a little
    assert float(line["change"]) == pytest.approx(lufs_out - lufs_in, abs=0.11)  # it adds up
    assert float(line["swing"]) == pytest.approx(ild_swing_db(y, rate), abs=2.0)
    if mode == "binaural":
        assert 0.5 <= float(line["itd"]) <= 0.75  # Woodworth's 0.66 ms at the side, and the shadow's phase lag
    else:
        assert line["itd"] is None  # panning has no delay, and the line says so


def test_the_default_line_is_short_and_its_words_agree_with_the_json_figures(tmp_path: Path) -> None:
    """By default one short line: the files, the time, a phrase on loudness and one on the motion. The
    JSON log of the same conversion carries the figures behind it, with the same numbers and signs."""
    quiet = write(tmp_path / "quiet.wav", pink_noise(8.0, 44100, level=0.02))
    loud = write(tmp_path / "loud.wav", np.clip(pink_noise(8.0, 44100, seed=3, level=0.5), -1, 1))
    for src, way in ((quiet, "louder"), (loud, "quieter")):
        out = tmp_path / f"{src.stem}.mp3"
        short = run_cli(str(src), "-o", str(out))
        assert short.returncode == 0, short.stderr
        line = SHORT_LINE.match(short.stdout.strip())
        assert line is not None and len(short.stdout.strip().split(" s: ")[1]) < 80, short.stdout  # was 170
        assert line["way"] == way and line["motion"] == "clearly"
        logged = run_cli(str(src), "-o", str(out), "--force", env={"LOG_FORMAT": "json"})
        (record,) = [r for r in map(json.loads, logged.stderr.splitlines()) if r["event"] == "converted"]
        change = record["output_lufs"] - record["input_lufs"]
        assert record["loudness_change_db"] == pytest.approx(change, abs=0.011)
        signed = float(line["change"]) * (1 if way == "louder" else -1)
        assert signed == pytest.approx(record["loudness_change_db"], abs=0.06)  # the same number, the same sign
        assert f"({record['loudness_change_db']:+.1f} dB)" in record["message"]  # the figures in the JSON message
        assert float(line["lufs_out"]) == pytest.approx(record["output_lufs"], abs=0.06)
        warnings = [r for r in map(json.loads, logged.stderr.splitlines()) if r["level"] == "WARNING"]
        assert warnings == []


def test_heavy_limiting_is_a_one_line_warning_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    """Sparse loud clicks over quiet noise: raising the noise to the target drives the clicks far into the
    limiter. The warning (before the result) names the file, the dB taken, what the listener hears and the
    fix, which does what it says."""
    x = pink_noise(10.0, 44100, level=0.03)
    x[:, ::88200] = 0.6  # a click every two seconds: too sparse to lower the loudness when limited
    src = write(tmp_path / "clicks.wav", x)
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"), env={"LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert [r["event"] for r in records[-2:]] == ["heavy_limiting", "converted"]  # the outcome stays last
    warning = records[-2]["message"]
    found = re.fullmatch(
        r"clicks\.wav: the limiter pulled the loudest peaks down by up to (?P<db>[\d.]+) dB to reach -14 "
        r"LUFS; drum hits and other attacks may sound softened \(--target-lufs (?P<fix>-\d+) would limit them by "
        r"about (?P<after>\d+) dB\)",
        warning,
    )
    assert found is not None, warning
    assert float(found["db"]) == pytest.approx(records[-1]["limited_db"], abs=0.051)
    y, rate = decode(tmp_path / "out.mp3")
    assert loudness_lufs(y, rate) == pytest.approx(-14.0, abs=0.5)  # the target was met: only the peaks paid
    fixed = run_cli(str(src), "-o", str(tmp_path / "fixed.mp3"), "--target-lufs", found["fix"], "-v")
    verbose = RESULT_LINE.match(fixed.stdout.strip())
    assert verbose is not None, fixed.stdout
    assert float(verbose["limited"]) <= float(found["after"]) + 0.5  # the fix does what it says
    assert "warning: " not in fixed.stderr


def test_a_mono_input_is_measured_as_mono(tmp_path: Path) -> None:
    mono = pink_noise(3.0, 44100, channels=1, level=0.05)
    result = run_cli(str(write(tmp_path / "mono.wav", mono)), "-o", str(tmp_path / "out.mp3"), "-v")
    line = RESULT_LINE.match(result.stdout.strip())
    assert line is not None, result.stdout
    assert float(line["lufs_in"]) == pytest.approx(loudness_lufs(mono, 44100), abs=0.1)


def test_folder_mode_converts_every_song_and_reports_failures(tmp_path: Path) -> None:
    songs = tmp_path / "in"
    songs.mkdir()
    write(songs / "first song.wav", pink_noise(2.0, 44100))
    write(songs / "Ünïcode.flac", pink_noise(1.5, 48000, seed=2), rate=48000)
    (songs / "notes.txt").write_text("not audio, and not picked up")
    (songs / "broken.mp3").write_text("<html>not found</html>")
    before = digests(songs)
    env = {"INPUT_DIR": str(songs), "OUTPUT_DIR": str(tmp_path / "out" / "nested")}
    result = run_cli(env=env, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    outputs = sorted(p.name for p in (tmp_path / "out" / "nested").iterdir())
    assert outputs == ["first song_8d.mp3", "Ünïcode_8d.mp3"]
    for name in outputs:
        y, _ = decode(tmp_path / "out" / "nested" / name)
        assert y.shape[0] == 2 and np.all(np.isfinite(y))
    # results on stdout (what `> results.txt` keeps): a line per song and the total, which names
    # each failure with its reason; the failure itself is also a diagnostic on stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and sum(line.startswith(("first song.wav -> ", "Ünïcode.flac -> ")) for line in lines) == 2
    assert lines[-1].startswith("2 converted, 0 up to date, 1 failed: broken.mp3: not audio")
    assert lines[-1].endswith("; not audio: notes.txt")  # named in the total, not counted as skipped
    assert one_line(result.stderr).startswith("error: broken.mp3: not audio")
    assert digests(songs) == before  # inputs untouched


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_an_input_dir_without_songs_explains_what_to_do(tmp_path: Path, make: str) -> None:
    """A folder the user named (INPUT_DIR) that holds no song is an error; only ./input left at its
    default falls back to the demo (tests/process/test_local_runs.py)."""
    if make == "empty":
        (tmp_path / "songs").mkdir()
    result = run_cli(cwd=tmp_path, env={"INPUT_DIR": "songs"})
    assert result.returncode == 2
    assert ("--demo" if make == "missing" else "no audio files in songs/") in one_line(result.stderr)


@pytest.mark.parametrize("suffix", [".mp3", ".wav", ".flac", ".ogg"])
def test_file_mode_output_format_follows_the_extension(tmp_path: Path, suffix: str) -> None:
    src = write(tmp_path / "in.wav", pink_noise(2.0, 44100))
    out = tmp_path / f"result{suffix}"
    result = run_cli(str(src), "-o", str(out), "--period", "4", "--reverb", "0.1")
    assert result.returncode == 0, result.stderr
    y, rate = decode(out)
    assert rate == 44100 and y.shape[0] == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_file_mode_several_inputs_into_a_folder(tmp_path: Path) -> None:
    a = write(tmp_path / "a.wav", pink_noise(1.0, 44100))
    b = write(tmp_path / "b.wav", pink_noise(1.0, 44100, seed=1))
    result = run_cli(str(a), str(b), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_8d.mp3", "b_8d.mp3"]


def make_bad_inputs(folder: Path) -> dict[str, Path]:
    good = write(folder / "good.mp3", pink_noise(4.0, 44100), quality="V2")
    data = good.read_bytes()
    files = {
        "empty": folder / "empty.mp3",
        "text": folder / "text.mp3",
        "truncated": folder / "truncated.mp3",
        "header-only": folder / "header.wav",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("This is a README, renamed to .mp3\n" * 20)
    files["truncated"].write_bytes(data[:300])
    wav = write(folder / "full.wav", pink_noise(1.0, 44100)).read_bytes()
    files["header-only"].write_bytes(wav[:44])
    return files


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "header-only"])
def test_bad_input_exits_3_with_one_line_and_leaves_nothing(tmp_path: Path, kind: str) -> None:
    src = make_bad_inputs(tmp_path)[kind]
    before = digest(src)
    out = tmp_path / "out" / "x.mp3"
    result = run_cli(str(src), "-o", str(out))
    assert result.returncode == 3, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("error: ") and src.name in line
    assert not out.exists()
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert digest(src) == before


def test_mp3_cut_in_half_converts_what_is_there(tmp_path: Path) -> None:
    good = write(tmp_path / "good.mp3", pink_noise(6.0, 44100), quality="V2")
    half = tmp_path / "half.mp3"
    half.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    result = run_cli(str(half), "-o", str(tmp_path / "half_8d.mp3"), "--reverb", "0")
    assert result.returncode == 0, result.stderr
    y, rate = decode(tmp_path / "half_8d.mp3")
    assert 2.5 < y.shape[1] / rate < 3.5


def test_folder_mode_skips_songs_whose_output_is_up_to_date(tmp_path: Path) -> None:
    songs, out = tmp_path / "in", tmp_path / "out"
    songs.mkdir()
    write(songs / "a.wav", pink_noise(1.0, 44100))
    write(songs / "b.wav", pink_noise(1.0, 44100, seed=2))
    env = {"INPUT_DIR": str(songs), "OUTPUT_DIR": str(out)}
    assert run_cli(env=env, cwd=tmp_path).returncode == 0
    made = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert sorted(made) == ["a_8d.mp3", "b_8d.mp3"]

    again = run_cli(env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 converted, 2 up to date, 0 failed" in again.stdout
    assert again.stdout.count("its output is up to date") == 2
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == made  # not touched

    write(songs / "b.wav", pink_noise(1.0, 44100, seed=3))  # a changed song converts again, alone
    changed = run_cli(env=env, cwd=tmp_path)
    assert "1 converted, 1 up to date, 0 failed" in changed.stdout, changed.stderr
    assert (out / "b_8d.mp3").stat().st_mtime_ns != made["b_8d.mp3"]
    assert (out / "a_8d.mp3").stat().st_mtime_ns == made["a_8d.mp3"]

    assert "2 converted, 0 up to date" in run_cli("--period", "20", env=env, cwd=tmp_path).stdout  # new settings
    assert "2 converted, 0 up to date" in run_cli("--period", "20", "--force", env=env, cwd=tmp_path).stdout


def test_a_named_output_file_is_skipped_when_up_to_date(tmp_path: Path) -> None:
    """``song -o out.flac`` twice: the second run is a skip, as a folder's songs are, and leaves the file
    alone; a changed setting or --force converts it again."""
    src, out = write(tmp_path / "song.wav", pink_noise(1.0, 44100)), tmp_path / "out.flac"
    assert run_cli(str(src), "-o", str(out)).returncode == 0
    made = out.stat().st_mtime_ns
    again = run_cli(str(src), "-o", str(out))
    assert again.returncode == 0, again.stderr
    assert (
        again.stdout.strip()
        == "skipped song.wav: its output is up to date (same input, same settings; --force converts it again)"
    )
    assert out.stat().st_mtime_ns == made
    assert " -> " in run_cli(str(src), "-o", str(out), "--period", "20").stdout  # new settings
    assert " -> " in run_cli(str(src), "-o", str(out), "--period", "20", "--force").stdout


@pytest.mark.parametrize(
    ("args", "env", "hint"),
    [
        (["--period", "0.5"], {}, "--period must be a number from 2 to 120 s (got 0.5)"),
        (["--target-lufs", "3"], {}, "--target-lufs must be a number from -40 to -6 LUFS (got 3)"),
        (["--quality", "V11"], {}, "--quality must be V0..V9"),
        ([], {"PERIOD_SECONDS": "fast"}, "PERIOD_SECONDS must be a number from 2 to 120 s (got 'fast')"),
        (["-o", "out.aac"], {}, "cannot write .aac files; use one of .mp3, .wav, .flac, .ogg, .opus"),
        ([], {"S3_BUCKET": "songs"}, "S3_BUCKET is set but S3_KEY is not"),
        ([], {"S3_KEY": "input/a.mp3"}, "S3_KEY is set but S3_BUCKET is not"),
        (["--depth", "40"], {}, "--depth must be a number from 0 to 30 dB (got 40)"),
        (["--depth", "6", "--renderer", "pan"], {}, "--renderer pan already moves the level from ear to ear"),
        # what two options contradict: each named as the user gave it
        ([], {"DEPTH": "6", "RENDERER": "pan"}, "DEPTH shapes the binaural rendering: RENDERER pan already moves"),
        (["--depth", "6"], {"RENDERER": "pan"}, "--depth shapes the binaural rendering: RENDERER pan already moves"),
        (["--width", "30", "--renderer", "pan"], {}, "--width places the binaural sources: --renderer pan moves one"),
        ([], {"WIDTH_DEGREES": "30", "RENDERER": "pan"}, "WIDTH_DEGREES places the binaural sources: RENDERER pan"),
        (
            ["--renderer", "pan"],
            {"HRTF_SOFA": "x.sofa"},
            "HRTF_SOFA renders binaurally: it cannot be combined with --renderer pan",
        ),
        # argparse's errors and the flags' values: one line too, not its usage block
        (["--depth", "loud"], {}, "--depth must be a number from 0 to 30 dB (got 'loud')"),
        (["--renderer", "bogus"], {}, "--renderer must be one of binaural, pan (got 'bogus')"),
        (["--jobs", "x"], {}, "--jobs must be a whole number from 1 to 64 processes (got 'x')"),
        (["--format", "m4a"], {}, "--format must be one of mp3, wav, flac, ogg, opus (got 'm4a')"),
        (["--bogus"], {}, "unrecognized arguments: --bogus (see process_audio.py --help)"),
        (["--period"], {}, "argument --period: expected one argument"),
        # a variable's value: named as the variable, with the range or the choices
        ([], {"DEPTH": "abc"}, "DEPTH must be a number from 0 to 30 dB (got 'abc')"),
        ([], {"PERIOD_SECONDS": "-1"}, "PERIOD_SECONDS must be a number from 2 to 120 s (got -1)"),
        ([], {"RENDERER": "bogus"}, "RENDERER must be one of binaural, pan (got 'bogus')"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_the_reason(
    tmp_path: Path, args: list[str], env: dict[str, str], hint: str
) -> None:
    """Every usage error, argparse's included, is one line `error: ...` naming what the user typed and
    what is allowed, and exit 2 (--help still prints the usage: test_readme_shows_the_real_help_text)."""
    src = write(tmp_path / "in.wav", pink_noise(0.5, 44100))
    result = run_cli(str(src), *args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("error: ") and hint in line, line


def test_flag_beats_environment_beats_default(tmp_path: Path) -> None:
    src = write(tmp_path / "in.wav", pink_noise(3.0, 44100))
    env = {"TARGET_LUFS": "-20"}
    run_cli(str(src), "-o", str(tmp_path / "env.mp3"), env=env)
    run_cli(str(src), "-o", str(tmp_path / "flag.mp3"), "--target-lufs", "-16", env=env)
    assert loudness_lufs(*decode(tmp_path / "env.mp3")) == pytest.approx(-20, abs=0.5)
    assert loudness_lufs(*decode(tmp_path / "flag.mp3")) == pytest.approx(-16, abs=0.5)


def test_readme_shows_the_real_help_text() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- help -->\n```text\n(.*?)```\n<!-- /help -->", readme, re.S)
    assert block is not None, "README.md has no help block"
    assert help_words(block.group(1)) == help_words(result.stdout)


def help_words(text: str) -> str:
    """Help text as words: Python 3.13's argparse writes `-o, --output OUT` where 3.11 writes
    `-o OUT, --output OUT`, and the columns move with it (the image runs 3.13, the README shows 3.11)."""
    return " ".join(re.sub(r"(-\w) (\S+), (--[\w-]+) \2\b", r"\1, \3 \2", text).split())


def test_sigterm_stops_quickly_and_cleans_up(tmp_path: Path) -> None:
    src = write(tmp_path / "long.wav", pink_noise(600.0, 22050, level=0.05), rate=22050)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out.mp3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_"))}
    env["TMPDIR"] = str(scratch)
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(src), "-o", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(scratch.iterdir()) and time.monotonic() < deadline:  # wait for the conversion to be under way
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "conversion ended before it could be stopped"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5.0
    assert proc.returncode == 143
    assert "stopped (SIGTERM): the song under way was not written" in stderr and "Traceback" not in stderr
    assert not out.exists()
    assert list(scratch.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_plot_draws_the_path_the_ears_and_where_it_is_heard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.image import imread

    from surroundyou.convert.plot import hear, heard_title
    from surroundyou.dsp import localisation

    src = write(tmp_path / "in.wav", pink_noise(6.0, 44100))
    plot, out = tmp_path / "plots" / "motion.png", tmp_path / "out.mp3"
    result = run_cli(str(src), "-o", str(out), "--plot", str(plot), "--period", "4")
    assert result.returncode == 0, result.stderr
    image = imread(plot)
    assert image.shape[0] > 900 and image.shape[1] > 1000  # three rows: the ears, where it is heard, the song
    assert image[..., :3].std() > 0.1  # not a blank canvas
    # The heard panel's reading of the output file: the model follows the circle to both ears.
    settings = Settings(period_s=4.0)
    heard = hear(out, settings, 0.0, 6.0)
    assert heard.measures.corr >= 0.9
    assert min(heard.measures.reach_left, heard.measures.reach_right) >= 60.0
    # Without MIT KEMAR the renderer's own head reads it, and the title says so.
    monkeypatch.setattr(localisation, "KEMAR_SOFA", tmp_path / "missing.sofa")
    sphere = hear(out, settings, 0.0, 6.0)
    assert not sphere.front_back and sphere.in_sample and sphere.measures.corr >= 0.9
    assert "in-sample" in heard_title(sphere) and "front/back not shown" in heard_title(sphere)


def test_the_heard_panel_reads_only_the_circles_shown(tmp_path: Path) -> None:
    """The output is decoded in blocks up to the window's end; the window's samples are the file's."""
    from surroundyou.audio.decode import READ_BLOCK, read_span

    x = pink_noise(5.0, 44100)
    src = write(tmp_path / "in.flac", x)
    start = 1.5 + READ_BLOCK / 44100  # across a block boundary
    window, rate, start_s = read_span(src, Settings().max_input_bytes, start, 2.0)
    first = round(start * 44100)
    assert rate == 44100 and start_s == first / 44100
    np.testing.assert_allclose(window, x[:, first : first + 88200], atol=1e-4)  # 16-bit FLAC


@pytest.mark.parametrize(
    ("args", "hint"),
    [(["--plot", "x.txt"], "--plot x.txt: use one of"), (["--plot", "p.png", "EXTRA"], "--plot draws one conversion")],
)
def test_plot_usage_errors(tmp_path: Path, args: list[str], hint: str) -> None:
    src = write(tmp_path / "in.wav", pink_noise(0.5, 44100))
    extra = [str(write(tmp_path / "b.wav", pink_noise(0.5, 44100)))] if "EXTRA" in args else []
    result = run_cli(str(src), *extra, *[a for a in args if a != "EXTRA"], "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert hint in one_line(result.stderr)


def test_plot_of_an_up_to_date_song_says_to_force_it(tmp_path: Path) -> None:
    src = write(tmp_path / "in.wav", pink_noise(0.5, 44100))
    assert run_cli(str(src), "-o", str(tmp_path / "out.mp3"), cwd=tmp_path).returncode == 0
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"), "--plot", str(tmp_path / "p.png"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --plot draws a conversion, but in.wav is up to date: add --force"
    )


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from surroundyou.convert.plot import check_plot_path
    from surroundyou.errors import UsageError

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(UsageError, match=f"{re.escape(sys.executable)} -m pip install matplotlib"):
        check_plot_path(Path("motion.png"))  # the interpreter the worker runs in, not whichever pip is first


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python with no packages at all, as a system python3 is."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


def test_the_worker_starts_from_a_python_without_the_packages(tmp_path: Path, bare_python: Path) -> None:
    """`python3 process_audio.py` and `./process_audio.py` hand over to the checkout's .venv."""
    assert os.access(SCRIPT, os.X_OK)  # ./process_audio.py
    result = subprocess.run(
        [str(bare_python), str(SCRIPT), "--demo"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "output" / "demo_8d.mp3").exists()


def test_without_a_virtualenv_it_says_how_to_make_one(tmp_path: Path, bare_python: Path) -> None:
    shutil.copy(SCRIPT, tmp_path / "process_audio.py")
    shutil.copytree(ROOT / "surroundyou", tmp_path / "surroundyou")
    result = subprocess.run(
        [str(bare_python), str(tmp_path / "process_audio.py"), "--demo"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("error: this Python has no numpy and pedalboard: run ./dev run once")


def test_the_exit_code_table_says_what_a_missing_input_does(tmp_path: Path) -> None:
    """A named local file that does not exist is bad input (3), and so is a missing S3 object (retrying
    cannot bring it back; tested in test_cloud); the README's table says exactly that."""
    result = run_cli(str(tmp_path / "nowhere.mp3"), "-o", str(tmp_path / "out.mp3"))
    assert result.returncode == 3 and "no such file" in one_line(result.stderr)
    table = (ROOT / "README.md").read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    assert "a named local file that does not exist" in rows["3"]
    assert "an S3 object or bucket that does not exist" in rows["3"]
    assert "does not exist" not in rows["4"]


def test_the_plot_smooths_the_ear_levels_so_the_alternation_shows() -> None:
    """Single 100 ms frames of music jump by several dB and would hide the swing; the ear-level
    panel averages half a second and shows four circles from the song's middle."""
    from surroundyou.convert.plot import body_window, smoothed_db

    rng = np.random.default_rng(3)
    times = (np.arange(2000) + 0.5) * 0.1  # a 200 s song in 100 ms frames
    swing = 6.0 * np.sin(2 * np.pi * times / 12.0)
    noise = rng.normal(0.0, 6.0, (2000, 2))  # the music's own frame-to-frame jumps
    levels = np.stack((-20 - swing, -20 + swing), axis=1) + noise
    raw = np.corrcoef(levels[:, 1] - levels[:, 0], swing)[0, 1]
    smooth = smoothed_db(levels, 5)
    assert np.corrcoef(smooth[:, 1] - smooth[:, 0], swing)[0, 1] > max(0.85, raw + 0.15)
    window = body_window(times, smooth, 48.0)
    assert times[window].min() == pytest.approx(76.0, abs=0.1) and times[window].max() == pytest.approx(124.0, abs=0.1)


def _peak_rss_mb(*args: str) -> float:
    """Peak resident memory of one conversion with the default settings, a whole process as a user
    starts it (measured by run_measured: forked from pytest, it would report pytest's own size)."""
    run = run_measured(*args, env={"REVERB_AMOUNT": f"{Settings().reverb:g}"})
    assert run.code == 0, run.stderr[-500:]
    return run.peak_mb


def test_memory_does_not_grow_with_the_songs_length(tmp_path: Path) -> None:
    """Streaming keeps memory flat: a 10-minute song needs no more than a 1-minute one (holding the
    audio would take 200 MB more)."""
    from pedalboard.io import AudioFile

    loop = drum_mix(10.0, level=0.05)
    peaks = []
    for minutes in (1, 10):
        src = tmp_path / f"{minutes}min.wav"
        with AudioFile(str(src), "w", 44100, 2) as out:
            for _ in range(minutes * 6):
                out.write(loop)
        peaks.append(_peak_rss_mb(str(src), "-o", str(tmp_path / f"{minutes}min.mp3")))
        src.unlink()
    assert peaks[1] - peaks[0] < 15.0, peaks


def test_local_json_log_times_the_job_as_cloud_mode_does(tmp_path: Path) -> None:
    """realtime_factor is seconds of song per second of the job in both modes; locally the job is
    the conversion, which reads and writes the files itself."""
    import json

    src = write(tmp_path / "in.wav", pink_noise(4.0, 44100))
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"), "--log-format", "json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (result.stdout + result.stderr).splitlines() if line.startswith("{")]
    done = next(r for r in records if r["event"] == "converted")
    assert done["processing_seconds"] == done["conversion_seconds"]
    assert done["realtime_factor"] == pytest.approx(done["input_seconds"] / done["processing_seconds"], rel=0.05)
