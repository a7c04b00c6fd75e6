"""Hostile and odd inputs, hostile object keys, and a short fuzz run: only documented errors, nothing left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surroundyou.audio.decode import open_source
from surroundyou.aws.storage import MAX_KEY_BYTES, output_key
from surroundyou.errors import InputError, UsageError
from tests.support.audio import decode, pink_noise, write
from tests.support.checks import digests
from tests.support.hostile import build_corpus, mp3_bytes, xing_claims
from tests.support.processes import run_cli

RATE = 44100


def test_hostile_corpus_converts_what_decodes_and_fails_the_rest_cleanly(tmp_path: Path) -> None:
    corpus, out, scratch, tmp = tmp_path / "corpus", tmp_path / "out", tmp_path / "scratch", tmp_path / "tmp"
    scratch.mkdir()
    tmp.mkdir()
    good, bad = build_corpus(corpus, scratch)
    before = digests(corpus)
    result = run_cli(
        env={"INPUT_DIR": str(corpus), "OUTPUT_DIR": str(out), "TMPDIR": str(tmp), "REVERB_AMOUNT": "0"}, timeout=300
    )
    assert result.returncode == 3, result.stderr
    assert f"{len(good)} converted, 0 up to date, {len(bad)} failed: " in result.stdout
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert sorted(re.match(r"error: (.+?): ", line).group(1) for line in errors) == sorted(bad)
    produced = {p.name for p in out.iterdir()}
    assert produced == {f"{Path(name).stem}_8d.mp3" for name in good}  # nothing partial, nothing hidden
    for name, seconds in good.items():
        y, rate = decode(out / f"{Path(name).stem}_8d.mp3")
        assert y.shape[0] == 2 and np.all(np.isfinite(y))
        assert abs(y.shape[1] / rate - seconds) < 0.15, name  # no padded silence, nothing lost
    assert digests(corpus) == before  # every input byte-identical
    assert list(tmp.iterdir()) == []  # no temporary files left


def test_duration_limit_is_checked_before_the_work(tmp_path: Path) -> None:
    src = write(tmp_path / "long.wav", pink_noise(5.0, RATE))
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"), env={"MAX_DURATION_SECONDS": "2"})
    assert result.returncode == 3
    assert "5.0 s is over the limit of 2.0 s (MAX_DURATION_SECONDS)" in result.stderr
    assert not (tmp_path / "out.mp3").exists()


def test_size_limit_is_checked_before_the_work(tmp_path: Path) -> None:
    src = write(tmp_path / "big.wav", pink_noise(2.0, RATE))
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"), env={"MAX_INPUT_BYTES": "1000"})
    assert result.returncode == 3 and "over the limit of 1000 bytes (MAX_INPUT_BYTES)" in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        "input/../secret.mp3",
        "input/a/../../b.mp3",
        "input/./x.mp3",
        "input/a\x00b.mp3",
        "input/line\nbreak.mp3",
        "input/" + "x" * (MAX_KEY_BYTES - 6) + ".mp3",
        "/input/a.mp3",
        "processed/a.mp3",
        "../input/a.mp3",
    ],
)
def test_hostile_keys_are_refused(key: str) -> None:
    with pytest.raises(InputError):
        output_key(key, "input/", "processed/", ".mp3")


def test_backslashes_and_odd_names_stay_inside_processed() -> None:
    assert output_key("input/a\\..\\b.wav", "input/", "processed/", ".mp3") == "processed/a\\..\\b.mp3"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_key_mapping_never_escapes(tail: str) -> None:
    key = "input/" + tail
    try:
        out = output_key(key, "input/", "processed/", ".mp3")
    except InputError:
        return
    assert out.startswith("processed/") and out.endswith(".mp3")
    assert ".." not in out.split("/") and len(out.encode()) <= MAX_KEY_BYTES
    assert not any(ord(c) < 32 for c in out)


HEADERS = [
    b"",
    b"RIFF\x24\x00\x00\x00WAVEfmt ",
    b"ID3\x04\x00\x00\x00\x00\x00\x00",
    b"\xff\xfb\x90\x44",
    b"fLaC",
    b"OggS\x00\x02",
    b"FORM\x00\x00\x00\x20AIFF",
    b"\x00\x00\x00\x20ftypM4A ",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(HEADERS), st.binary(max_size=2048))
def test_fuzz_decoding_raises_only_documented_errors(tmp_path: Path, header: bytes, body: bytes) -> None:
    path = tmp_path / f"fuzz-{os.urandom(4).hex()}.bin"
    path.write_bytes(header + body)
    try:
        source = open_source(path, 1 << 30)
        for _ in source.blocks(4096, 44100):
            pass
    except (InputError, UsageError):
        pass
    finally:
        path.unlink()


def test_an_mp3_whose_header_claims_hours_is_measured_by_what_it_holds(tmp_path: Path) -> None:
    data = bytearray(xing_claims(mp3_bytes(tmp_path / "a.mp3", 1.0), 10**9))
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    assert int.from_bytes(data[tag + 4 : tag + 8], "big") & 1  # a frame count is recorded: claim hours
    data[tag + 8 : tag + 12] = (3 * 3600 * 44100 // 1152).to_bytes(4, "big")
    (tmp_path / "hours.mp3").write_bytes(data)
    source = open_source(tmp_path / "hours.mp3", 1 << 30)
    assert source.info.decoder == "ffmpeg" and source.info.seconds < 2.0  # not 3 hours: no limit tripped


def _damaged(data: bytes, rng: np.random.Generator) -> dict[str, bytes]:
    """Six ways a file gets damaged: cut short, zeroed, bit-flipped, overwritten."""
    n = len(data)
    out = {"cut-200": data[:200], "cut-half": data[: n // 2]}
    zeroed = bytearray(data)
    zeroed[n // 10 :] = bytes(n - n // 10)
    out["zeros-after-10pct"] = bytes(zeroed)
    middle = bytearray(data)
    middle[n // 3 : 2 * n // 3] = bytes(2 * n // 3 - n // 3)
    out["zeros-middle"] = bytes(middle)
    flipped = bytearray(data)
    for i in rng.choice(np.arange(4096, n), 200, replace=False):
        flipped[i] ^= 1 << int(rng.integers(8))
    out["200-bit-flips"] = bytes(flipped)
    noise = bytearray(data)
    noise[4096:] = rng.integers(0, 256, n - 4096, dtype=np.uint8).tobytes()
    out["noise-after-4k"] = bytes(noise)
    return out


def _ffmpeg_decodes(path: Path) -> tuple[float, bool]:
    """The reference: seconds ffmpeg decodes (at 44.1 kHz) and whether it finished without giving up."""
    run = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "2", "-ar", str(RATE), "-"],
        capture_output=True,
    )
    samples = np.frombuffer(run.stdout[: len(run.stdout) // 8 * 8], dtype="<f4").reshape(-1, 2)
    audible = bool(samples.any())
    return (samples.shape[0] / RATE if audible else 0.0), run.returncode == 0


def _longest_silence_s(y: np.ndarray, rate: int) -> float:
    """The longest run of 50 ms frames below -60 dBFS in both ears."""
    size = rate // 20
    frames = y[:, : y.shape[1] // size * size].reshape(2, -1, size)
    quiet = (np.sqrt((frames**2).mean(axis=2)) < 1e-3).all(axis=0)
    longest = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        longest = max(longest, run)
    return longest * size / rate


def test_damaged_files_convert_only_what_their_bytes_hold(tmp_path: Path) -> None:
    """Truncated, zeroed and bit-flipped FLAC, MP3, Ogg and WAV files of music. What converts
    lasts as long as what ffmpeg decodes from the damaged file and holds no invented silence; a file with
    nothing decodable fails with one line; genuinely silent files still convert."""
    from surroundyou.run.demo import synthesize

    corpus, out, scratch = tmp_path / "corpus", tmp_path / "out", tmp_path / "scratch"
    corpus.mkdir()
    scratch.mkdir()
    music = synthesize(12.0)
    rng = np.random.default_rng(10)
    silent_names = []
    for ext, options in (("flac", {}), ("mp3", {"quality": "V2"}), ("ogg", {}), ("wav", {})):
        whole = write(scratch / f"song.{ext}", music, **options).read_bytes()
        for how, data in _damaged(whole, rng).items():
            (corpus / f"{ext}-{how}.{ext}").write_bytes(data)
        if ext != "wav":
            silent_names.append(
                write(corpus / f"silence-{ext}.{ext}", np.zeros((2, RATE * 3), np.float32), **options).name
            )
    before = digests(corpus)
    result = run_cli(
        env={"INPUT_DIR": str(corpus), "OUTPUT_DIR": str(out), "REVERB_AMOUNT": "0", "JOBS": "2"}, timeout=300
    )
    assert result.returncode in (0, 3) and "Traceback" not in result.stderr, result.stderr
    failed = {
        re.match(r"error: (.+?): ", line).group(1): line
        for line in result.stderr.splitlines()
        if line.startswith("error: ")
    }
    converted = 0
    for path in sorted(corpus.iterdir()):
        output = out / f"{path.stem}_8d.mp3"
        seconds, finished = _ffmpeg_decodes(path)
        if path.name in failed:
            assert not output.exists(), path.name
            assert seconds < 0.5 or not finished, f"{path.name}: ffmpeg decodes {seconds:.1f} s: {failed[path.name]}"
            continue
        converted += 1
        y, rate = decode(output)
        assert abs(y.shape[1] / rate - seconds) < 0.15 or path.name in silent_names, path.name
        if path.name in silent_names:
            assert abs(y.shape[1] / rate - 3.0) < 0.15 and not np.abs(y).max() > 1e-3, path.name
        elif not (path.suffix == ".wav" and "zeros" in path.name):  # zeroed PCM is silence the bytes hold
            assert _longest_silence_s(y, rate) < 0.3, path.name
    assert converted >= 12 and len(failed) >= 4  # both paths really ran
    assert set(silent_names) <= {p.name for p in corpus.iterdir() if p.name not in failed}
    assert digests(corpus) == before


def test_a_flac_with_no_decodable_frames_is_bad_input(tmp_path: Path) -> None:
    """A few hundred bytes of a FLAC whose header promises 10 s: pedalboard decodes 10 s of silence."""
    whole = write(tmp_path / "song.flac", pink_noise(10.0, RATE)).read_bytes()
    (tmp_path / "cut.flac").write_bytes(whole[:300])
    result = run_cli(str(tmp_path / "cut.flac"), "-o", str(tmp_path / "out.mp3"))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cut.flac: damaged flac data, no decodable audio"), lines
    assert not (tmp_path / "out.mp3").exists()


def test_without_ffmpeg_a_silent_flac_still_converts(tmp_path: Path) -> None:
    """The damage check needs ffmpeg; without it, genuine silence converts with a warning, as before."""
    silent = write(tmp_path / "silence.flac", np.zeros((2, RATE * 2), np.float32))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {"PATH": str(bin_dir)}  # no ffmpeg, no ffprobe
    result = run_cli(str(silent), "-o", str(tmp_path / "out.mp3"), env=env)
    assert result.returncode == 0, result.stderr
    assert "without ffmpeg it cannot be checked for damage" in result.stderr
    assert (tmp_path / "out.mp3").exists()
