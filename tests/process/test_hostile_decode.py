"""Hostile files against the decoder: absurd headers, files that point ffmpeg elsewhere, a 0-channel WAV.

Headers declaring absurd sample rates or channel counts, playlists and ffconcat scripts that
would make ffmpeg read other files, ffprobe failing or hanging: each is bad input (exit 3, one
line) found before any decoding, in little memory and time. The worker runs as a whole process
in local mode with ``-o`` (its decoder path is cloud mode's). Then children.py on its own: every
ffmpeg/ffprobe dies with its process group at its deadline, on a stop, or when its consumer is done.

The unit tests import the worker's modules inside the test, so that the whole-process tests also
run against a checkout without them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.support.audio import decode, pink_noise, write
from tests.support.checks import one_line
from tests.support.hostile import LIVE_PLAYLIST, PLAYLIST, noise_bytes, wav_declaring
from tests.support.processes import Measured, run_measured

RATE = 44100
WORKER_ADDRESS_SPACE = 2 << 30  # bytes: a worker that tries to allocate gigabytes fails here, sparing the machine
PEAK_LIMIT_MB = 256.0  # well under the task's 1 GiB: a refused file costs no more than starting up
HANG_TIMEOUT_S = 60.0  # generous: proves "does not hang", not a speed


def run_worker(*args: str, timeout: float = HANG_TIMEOUT_S) -> Measured:
    return run_measured(*args, address_space=WORKER_ADDRESS_SPACE, timeout=timeout)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(*pids: int, within_s: float = 5.0) -> bool:
    """Whether all ``pids`` have ended within ``within_s`` (SIGKILL takes effect asynchronously)."""
    deadline = time.monotonic() + within_s
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def mentioning(marker: Path) -> list[psutil.Process]:
    """The live processes (other than this one) whose command line mentions ``marker``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(marker) in cmdline and proc.pid != os.getpid() and _alive(proc.pid):
            found.append(proc)
    return found


def left_running(marker: Path) -> list[str]:
    """Command lines of the processes ``mentioning`` the marker, killed on the way so that a failing
    test leaves nothing behind."""
    found = mentioning(marker)
    for proc in found:
        proc.kill()
    return [" ".join(proc.info["cmdline"]) for proc in found]


# The header's rate and channels drive memory.


@pytest.mark.parametrize("rate", [200_000_000, 2_000_000_000], ids=["200 MHz", "2 GHz"])
def test_a_header_rate_far_out_of_range_is_refused_fast_in_little_memory(tmp_path: Path, rate: int) -> None:
    """Before the range check, 176 KB of audio declared at 200 MHz peaked at 2.1 GB and converted;
    at 2 GHz it took 21 GB and died by SIGSEGV, with no line."""
    src = wav_declaring(tmp_path / "song.wav", rate, 2, noise_bytes(RATE))
    run = run_worker(str(src), "-o", str(tmp_path / "out.mp3"))
    assert run.code == 3, run.stderr
    assert one_line(run.stderr) == f"error: song.wav: sample rate {rate} Hz is outside 8000–384000 Hz"
    assert run.peak_mb < PEAK_LIMIT_MB, run.peak_mb
    assert not (tmp_path / "out.mp3").exists()


def test_a_rate_within_the_limits_still_converts(tmp_path: Path) -> None:
    src = wav_declaring(tmp_path / "low.wav", 8000, 1, noise_bytes(RATE, channels=1))
    run = run_worker(str(src), "-o", str(tmp_path / "out.mp3"))
    assert run.code == 0, run.stderr
    assert (tmp_path / "out.mp3").stat().st_size > 1000


def test_more_channels_than_the_limit_is_bad_input(tmp_path: Path) -> None:
    src = wav_declaring(tmp_path / "many.wav", RATE, 64, noise_bytes(RATE // 2, channels=64))
    run = run_worker(str(src), "-o", str(tmp_path / "out.mp3"))
    assert run.code == 3, run.stderr
    assert one_line(run.stderr) == "error: many.wav: 64 channels is outside 1–32 channels"
    assert not (tmp_path / "out.mp3").exists()


def test_a_wav_with_0_channels_is_bad_input(tmp_path: Path) -> None:
    """pedalboard cannot open it, and ffprobe's answer was cut-off JSON: once an internal error (exit 1)."""
    src = wav_declaring(tmp_path / "none.wav", RATE, 0, bytes(176_400))
    run = run_worker(str(src), "-o", str(tmp_path / "out.mp3"))
    assert run.code == 3, run.stderr
    assert one_line(run.stderr).startswith("error: none.wav: ")
    assert not (tmp_path / "out.mp3").exists()


# Uploads that make ffmpeg read other files.


def _secret(tmp_path: Path) -> Path:
    """A file of the machine the worker runs on, which no upload may reach."""
    return write(tmp_path / "secret.mp3", pink_noise(1.0, RATE), quality="V2")


def _id3(body: bytes) -> bytes:
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + body  # an empty ID3v2 tag in front


@pytest.mark.parametrize(
    "variant",
    ["utf-8 comment", "latin-1 comment", "behind an ID3 tag", "ffconcat"],
)
def test_a_file_naming_other_files_is_refused_and_nothing_is_read(tmp_path: Path, variant: str) -> None:
    """An HLS playlist (with an end tag) or an ffconcat script naming a file of the machine: ffmpeg
    converted it. A comment line that is not ASCII got past the old text check."""
    secret = _secret(tmp_path)
    playlist = PLAYLIST.format(comment="café ü", segment=secret).encode()
    data = {
        "utf-8 comment": playlist,
        "latin-1 comment": playlist.replace("café ü".encode(), "café".encode("latin-1")),
        "behind an ID3 tag": _id3(playlist),
        "ffconcat": "ffconcat version 1.0\n# café\nfile secret.mp3\n".encode(),
    }[variant]
    src = tmp_path / ("list.ffconcat" if variant == "ffconcat" else "list.m3u8")
    src.write_bytes(data)
    run = run_worker(str(src), "-o", str(tmp_path / "out.mp3"))
    assert run.code == 3, run.stderr
    assert one_line(run.stderr).startswith(f"error: {src.name}: ")
    assert not (tmp_path / "out.mp3").exists()


@pytest.mark.parametrize("variant", ["self-referencing", "live"])
def test_a_playlist_that_never_ends_is_refused_quickly_and_leaves_no_process(tmp_path: Path, variant: str) -> None:
    """A master playlist naming itself kept ffprobe at 100 % CPU (16.6 GB after 60 s); a live one
    (no end tag, a huge target duration) hung the worker beyond its SIGTERM."""
    src = tmp_path / "list.m3u8"
    if variant == "self-referencing":
        src.write_text(f"#EXTM3U\n# café ü\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n{src}\n")
    else:
        segment = _secret(tmp_path)
        src.write_text(LIVE_PLAYLIST.format(segment=segment))
    run = run_worker(str(src), "-o", str(tmp_path / "out.mp3"))
    assert run.code == 3, run.stderr
    assert one_line(run.stderr).startswith("error: list.m3u8: ")
    assert run.peak_mb < PEAK_LIMIT_MB, run.peak_mb  # children included: no ffprobe ran out of memory instead
    assert left_running(tmp_path) == []
    assert not (tmp_path / "out.mp3").exists()


def _ffmpeg(src: Path, dst: Path, *options: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *options, str(dst)], check=True)
    return dst


# name in the corpus (no suffix: the decoder must not need one) -> (sniffed kind, decoder, seconds)
ALLOWED = {
    "wav": ("wav", "pedalboard", 2.0),
    "aiff": ("aiff", "pedalboard", 2.0),
    "flac": ("flac", "pedalboard", 2.0),
    "vorbis": ("ogg", "pedalboard", 2.0),
    "mp3": ("mp3", "pedalboard", 2.0),
    "flac-named.m3u8": ("flac", "pedalboard", 2.0),
    "rf64": ("wav", "pedalboard", 2.0),
    "id3-flac": ("flac", "pedalboard", 2.0),
    "w64": ("w64", "ffmpeg", 2.0),
    "m4a": ("mp4", "ffmpeg", 2.0),
    "alac-m4a": ("mp4", "ffmpeg", 2.0),
    "opus": ("ogg-other", "ffmpeg", 2.0),
    "webm": ("matroska", "ffmpeg", 2.0),
    "wma": ("asf", "ffmpeg", 2.0),
    "aac": ("aac", "ffmpeg", 2.0),
    "ac3": ("ac3", "ffmpeg", 2.0),
    "eac3": ("eac3", "ffmpeg", 2.0),
    "dts": ("dts", "ffmpeg", 2.0),
    "mp2": ("mp2", "ffmpeg", 2.0),
    "caf": ("caf", "ffmpeg", 2.0),
    "wavpack": ("wv", "ffmpeg", 2.0),
    "tta": ("tta", "ffmpeg", 2.0),
    "au": ("au", "ffmpeg", 2.0),
    "amr": ("amr", "ffmpeg", 5.0),
    "concat:x|amr": ("amr", "ffmpeg", 5.0),  # a name that ffmpeg would read as a protocol, without "file:"
}


def _amr(path: Path, seconds: float) -> Path:
    """AMR-NB (ffmpeg here has no encoder): the magic, then 12.2 kbit/s frames of 20 ms, noise as payload."""
    rng = np.random.default_rng(7)
    frames = b"".join(b"\x3c" + rng.bytes(31) for _ in range(int(seconds * 50)))
    path.write_bytes(b"#!AMR\n" + frames)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file of each accepted container (2 s of stereo pink noise), none with a suffix."""
    folder = tmp_path_factory.mktemp("corpus")
    scratch = tmp_path_factory.mktemp("scratch")
    src = write(scratch / "src.wav", pink_noise(2.0, 48000, seed=4), rate=48000)
    for name, options in (("wav", {}), ("flac", {}), ("mp3", {"quality": "V2"})):
        write(scratch / f"{name}.{name}", pink_noise(2.0, RATE), **options).rename(folder / name)
    (folder / "flac-named.m3u8").write_bytes((folder / "flac").read_bytes())
    (folder / "id3-flac").write_bytes(_id3((folder / "flac").read_bytes()))
    made = {
        "aiff": ("aiff", []),
        "vorbis": ("ogg", ["-c:a", "libvorbis"]),
        "rf64": ("wav", ["-rf64", "always"]),
        "w64": ("w64", []),
        "m4a": ("m4a", ["-c:a", "aac"]),
        "alac-m4a": ("m4a", ["-c:a", "alac"]),
        "opus": ("opus", ["-c:a", "libopus"]),
        "webm": ("webm", ["-c:a", "libopus"]),
        "wma": ("wma", ["-c:a", "wmav2"]),
        "aac": ("aac", ["-c:a", "aac", "-f", "adts"]),
        "ac3": ("ac3", ["-c:a", "ac3"]),
        "eac3": ("eac3", ["-c:a", "eac3"]),
        "dts": ("dts", ["-strict", "-2", "-c:a", "dca"]),
        "mp2": ("mp2", ["-c:a", "mp2"]),
        "caf": ("caf", ["-c:a", "alac"]),
        "wavpack": ("wv", ["-c:a", "wavpack"]),
        "tta": ("tta", ["-c:a", "tta"]),
        "au": ("au", []),
    }
    for name, (suffix, options) in made.items():
        _ffmpeg(src, scratch / f"{name}.{suffix}", *options).rename(folder / name)
    _amr(folder / "amr", 5.0)
    (folder / "concat:x|amr").write_bytes((folder / "amr").read_bytes())
    assert sorted(p.name for p in folder.iterdir()) == sorted(ALLOWED)
    return folder


def test_each_accepted_container_is_sniffed_from_its_content(corpus: Path) -> None:
    from surroundyou.audio.containers import DEMUXERS, sniff_file

    for name, (kind, _, _) in ALLOWED.items():
        path = corpus / name
        with path.open("rb") as fh:
            assert sniff_file(path, fh.read(512)) == kind, name
        assert kind in DEMUXERS


def test_every_accepted_container_converts_whatever_its_name(corpus: Path, tmp_path: Path) -> None:
    """No input has a suffix (or a misleading one); each decodes with the decoder meant for it."""
    import json

    out = tmp_path / "out"
    out.mkdir()
    inputs = [str(corpus / name) for name in ALLOWED]
    run = run_worker(*inputs, "-o", str(out), "--log-format", "json", timeout=300)
    assert run.code == 0, run.stderr
    records = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    done = {Path(r["input"]).name: r for r in records if r.get("event") == "converted"}
    assert sorted(done) == sorted(ALLOWED)
    for name, (_, decoder, seconds) in ALLOWED.items():
        assert done[name]["decoder"] == decoder, name
        assert abs(done[name]["input_seconds"] - seconds) < 0.1, (name, done[name]["input_seconds"])
        assert (out / f"{Path(name).stem}_8d.mp3").stat().st_size > 1000, name


# ffprobe's answers and failures.


def _fake_ffprobe(folder: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put a shell script named ffprobe (and the real ffmpeg) first on PATH."""
    folder.mkdir()
    script = folder / "ffprobe"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_a_cut_off_answer_from_ffprobe_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from surroundyou.audio.decode import probe
    from surroundyou.errors import InputError

    _fake_ffprobe(tmp_path / "bin", "printf '{\\n    \"streams\": [\\n'", monkeypatch)
    song = _ffmpeg(write(tmp_path / "s.wav", pink_noise(1.0, RATE)), tmp_path / "s.m4a", "-c:a", "aac")
    with pytest.raises(InputError, match=r"^s.m4a: ffprobe cannot describe its audio"):
        probe(song, "mp4")


def test_a_hanging_ffprobe_is_killed_with_its_group_at_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surroundyou import children
    from surroundyou.audio import decode
    from surroundyou.errors import InputError

    pids = tmp_path / "pids"
    _fake_ffprobe(tmp_path / "bin", f"sleep 600 &\necho $$ $! > {pids}\nwait", monkeypatch)
    monkeypatch.setattr(decode, "PROBE_BASE_S", 1.0)
    song = _ffmpeg(write(tmp_path / "s.wav", pink_noise(1.0, RATE)), tmp_path / "s.m4a", "-c:a", "aac")
    started = time.monotonic()
    with pytest.raises(InputError, match=r"^s.m4a: ffprobe did not finish reading it within 1 s$"):
        decode.probe(song, "mp4")
    assert time.monotonic() - started < HANG_TIMEOUT_S
    shell, grandchild = (int(pid) for pid in pids.read_text().split())
    assert gone(shell, grandchild)
    assert children.running() == []


# children.py on its own.

SPAWNS_A_GRANDCHILD = ["sh", "-c", "sleep 600 & echo $!; wait"]  # prints the grandchild's pid


def test_a_child_past_its_deadline_is_killed_with_its_group() -> None:
    from surroundyou import children

    with children.Child(SPAWNS_A_GRANDCHILD, timeout_s=1.0) as child:
        grandchild = int(child.stdout.readline())
        assert _alive(child.proc.pid) and _alive(grandchild)
        assert child.wait() == -signal.SIGKILL
    assert child.timed_out
    assert gone(child.proc.pid, grandchild)
    assert children.running() == []


def test_leaving_a_child_early_kills_its_group() -> None:
    from surroundyou import children

    with children.Child(SPAWNS_A_GRANDCHILD, timeout_s=600.0) as child:
        grandchild = int(child.stdout.readline())
    assert not child.timed_out
    assert gone(child.proc.pid, grandchild)
    assert children.running() == []


def test_kill_all_kills_every_live_group_and_any_child_started_later(monkeypatch: pytest.MonkeyPatch) -> None:
    from surroundyou import children

    monkeypatch.setattr(children, "_stopping", False)  # restored afterwards: the latch is for a stopping process
    first, second = children.Child(SPAWNS_A_GRANDCHILD, 600.0), children.Child(SPAWNS_A_GRANDCHILD, 600.0)
    grandchildren = [int(first.stdout.readline()), int(second.stdout.readline())]
    assert sorted(children.running()) == sorted([first.proc.pid, second.proc.pid])
    children.kill_all()
    assert first.wait() == second.wait() == -signal.SIGKILL
    assert gone(*grandchildren)
    with children.Child(["sleep", "600"], 600.0) as late:
        assert late.wait() == -signal.SIGKILL
    assert children.running() == []


def test_a_stop_signal_waits_until_the_child_is_registered() -> None:
    """A stop handler that raises inside Popen would lose the child; it runs once the child is registered."""
    from surroundyou import children

    class Stop(BaseException):
        pass

    def stop(_signum: int, _frame: object) -> None:
        raise Stop

    reached = []
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(Stop), children.signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)  # the handler would have run by now
            reached.append("the end of the block")
        assert reached == ["the end of the block"]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_run_returns_the_output_and_the_errors() -> None:
    from surroundyou import children

    done = children.run(["sh", "-c", "echo out; echo oops >&2; exit 3"], timeout_s=60.0)
    assert (done.code, done.output, done.errors, done.timed_out) == (3, b"out\n", ("oops",), False)


def test_a_decode_left_by_its_consumer_leaves_no_ffmpeg(tmp_path: Path) -> None:
    from surroundyou import children
    from surroundyou.audio.decode import FfmpegRun

    src = write(tmp_path / "long.wav", pink_noise(30.0, RATE))
    blocks = iter(FfmpegRun(src, "wav", RATE, 4096, 30.0))
    assert next(blocks).shape == (2, 4096)
    assert len(children.running()) == 1 and len(mentioning(tmp_path)) == 1
    blocks.close()  # a generator
    assert children.running() == [] and left_running(tmp_path) == []


def test_a_decode_past_its_deadline_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg blocked on a full pipe (a stalled consumer) or stuck: killed at its deadline, one line."""
    from surroundyou import children
    from surroundyou.audio import decode
    from surroundyou.errors import InputError

    for constant, value in (("DECODE_BASE_S", 1.0), ("DECODE_S_PER_MB", 0.0), ("DECODE_S_PER_AUDIO_S", 0.0)):
        monkeypatch.setattr(decode, constant, value)
    src = write(tmp_path / "long.wav", pink_noise(30.0, RATE))
    blocks = iter(decode.FfmpegRun(src, "wav", RATE, 4096, 30.0))
    next(blocks)
    time.sleep(2.0)  # past the deadline, with 10 MB still to come through a 64 KB pipe
    with pytest.raises(InputError, match=r"^ffmpeg did not finish decoding long.wav within 1 s$"):
        for _ in blocks:
            pass
    assert children.running() == [] and left_running(tmp_path) == []


def test_an_mp3_behind_bytes_that_are_not_audio_still_converts(tmp_path: Path) -> None:
    """Zero padding or junk before the first frame: ffmpeg's mp3 demuxer skips it, so the sniffing
    looks for two MPEG frames in a row rather than refusing an unknown start; random bytes stay refused."""
    from surroundyou.audio.containers import id3_end

    mp3 = write(tmp_path / "plain.mp3", pink_noise(2.0, RATE), quality="V2").read_bytes()
    padded = tmp_path / "padded.mp3"
    padded.write_bytes(bytes(3000) + mp3[id3_end(mp3) :])
    run = run_worker(str(padded), "-o", str(tmp_path / "out.mp3"))
    assert run.code == 0, run.stderr
    y, rate = decode(tmp_path / "out.mp3")
    assert y.shape[1] / rate >= 1.9
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(np.random.default_rng(5).bytes(64 << 10))
    run = run_worker(str(noise), "-o", str(tmp_path / "noise-out.mp3"))
    assert run.code == 3 and one_line(run.stderr) == "error: noise.mp3: not a recognised audio format"
