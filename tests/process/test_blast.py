"""Never a blast: no output is louder than the target plus a small margin.

Float WAVs (32- and 64-bit, written here byte by byte) whose samples are 1e20, NaN or ±inf are
refused as bad input (exit 3, one line); one whose samples reach 1000 times full scale is
normalised from there like any song. Every output of the hostile corpus (test_hostile.py) is
held to the target plus the margin, measured with the repository's own BS.1770 meter on the
decoded output, and its true peak to the ceiling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from surroundyou.dsp.loudness import LoudnessMeter
from surroundyou.errors import InputError
from surroundyou.settings import Settings
from tests.support.audio import decode, pink_noise, true_peak_dbtp, write
from tests.support.checks import one_line
from tests.support.hostile import build_corpus, float_wav
from tests.support.processes import run_cli

RATE = 44100
D = Settings()
MARGIN_LU = 1.0  # an output may be this much louder than the target, no more
# MP3 decoders overshoot the PCM they were given: the limiter keeps the codec's margin below the
# ceiling (formats.Format.codec_margin_db), and the true peak is read at 8x here, stricter than the limiter's 4x.
PEAK_TOLERANCE_DB = 0.5


def measured_lufs(path: Path) -> tuple[float, float]:
    """(integrated loudness by surroundyou.dsp.loudness, true peak in dBTP) of a decoded output."""
    y, rate = decode(path)
    meter = LoudnessMeter(rate)
    meter.add(np.ascontiguousarray(y[:2], dtype=np.float32))
    with np.errstate(divide="ignore"):  # a silent output's peak is -inf dBTP
        return meter.integrated(), true_peak_dbtp(y)


def _noise(peak: float) -> np.ndarray:
    """3 s of pink noise whose largest sample is ``peak`` (exactly, also once stored as float32)."""
    x = pink_noise(3.0, RATE).astype(np.float64)
    return x / np.abs(x).max() * peak


def _poisoned(value: float) -> np.ndarray:
    """Ordinary noise with ``value`` in one sample of each channel, a second in."""
    x = _noise(0.5)
    x[:, RATE] = value
    return x


REFUSED = {
    "1e20-float32": (_noise(1e20), 32),
    "1e20-float64": (_noise(1e20), 64),
    "1e300-float64": (_noise(1e300), 64),  # inf once pedalboard reads it as float32
    "nan-float32": (_poisoned(np.nan), 32),
    "inf-float32": (_poisoned(np.inf), 32),
    "minus-inf-float64": (_poisoned(-np.inf), 64),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_samples_no_recording_has_are_refused(tmp_path: Path, name: str) -> None:
    x, bits = REFUSED[name]
    src = float_wav(tmp_path / f"{name}.wav", x, bits)
    dst = tmp_path / "out.mp3"
    result = run_cli(str(src), "-o", str(dst), "--reverb", "0")
    assert result.returncode == 3, (result.returncode, result.stderr[-500:])
    line = one_line(result.stderr)
    assert line.startswith(f"error: {src.name}: ") and "not plausible audio" in line, line
    assert not dst.exists() and list(tmp_path.iterdir()) == [src]  # nothing written, nothing partial


@pytest.mark.parametrize("bits", [32, 64])
def test_a_float_file_far_above_full_scale_is_normalised_from_there(tmp_path: Path, bits: int) -> None:
    """Samples up to 1000 times full scale (+60 dBFS): loud but finite; the output is at the target."""
    src = float_wav(tmp_path / "hot.wav", _noise(1e3), bits)
    dst = tmp_path / "out.mp3"
    result = run_cli(str(src), "-o", str(dst), "--reverb", "0")
    assert result.returncode == 0, result.stderr[-500:]
    lufs, peak = measured_lufs(dst)
    assert abs(lufs - D.target_lufs) <= MARGIN_LU, lufs
    assert peak <= D.ceiling_dbtp + PEAK_TOLERANCE_DB, peak


def test_every_output_of_the_hostile_corpus_is_at_most_the_target(tmp_path: Path) -> None:
    corpus, out, scratch = tmp_path / "corpus", tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir()
    good, _ = build_corpus(corpus, scratch)
    float_wav(corpus / "blast-1e20.wav", _noise(1e20))
    float_wav(corpus / "blast-inf.wav", _poisoned(np.inf))
    float_wav(corpus / "hot-1e3.wav", _noise(1e3))
    result = run_cli(env={"INPUT_DIR": str(corpus), "OUTPUT_DIR": str(out), "REVERB_AMOUNT": "0"}, timeout=300)
    assert result.returncode == 3, result.stderr[-1000:]
    outputs = sorted(out.iterdir())
    assert {p.name for p in outputs} >= {f"{Path(name).stem}_8d.mp3" for name in good} | {"hot-1e3_8d.mp3"}
    for path in outputs:
        lufs, peak = measured_lufs(path)
        assert lufs <= D.target_lufs + MARGIN_LU, (path.name, lufs)
        assert peak <= D.ceiling_dbtp + PEAK_TOLERANCE_DB, (path.name, peak)


def test_an_output_louder_than_the_target_is_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last guard before an output is published holds whatever made the gain wrong (here a
    gain 12 dB too high): the conversion fails as bad input and leaves nothing behind."""
    from surroundyou.convert import engine

    monkeypatch.setattr(engine, "limiting_loss_db", lambda _sample, _gain_db: 12.0)  # make-up 12 dB too high
    src = write(tmp_path / "song.wav", pink_noise(3.0, RATE))
    dst = tmp_path / "out.mp3"
    with pytest.raises(InputError, match=r"song.wav: not written: it would be -\d.* LUFS, more than 1 LU over the -14"):
        engine.convert(src, dst, Settings(reverb=0.0))
    assert list(tmp_path.iterdir()) == [src]  # no output, no partial file
