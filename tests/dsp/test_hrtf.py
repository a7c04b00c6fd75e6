"""--hrtf: rendering through measured responses from a SOFA file (the tests write a small one)."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from surroundyou.dsp.binaural import BinauralRenderer
from surroundyou.dsp.hrtf import load_sofa
from surroundyou.dsp.motion import azimuth
from surroundyou.errors import UsageError
from tests.support.audio import balance, decode, frame_energy, interaural_lags_ms, pink_noise, render, write
from tests.support.processes import run_cli

RATE = 44100
PERIOD = 6.0


def make_sofa(path: Path, step_deg: float = 15.0, rate: int = 48000, taps: int = 96) -> Path:
    """A SimpleFreeFieldHRIR file: impulses with Woodworth's delay and a level difference.

    Horizontal plane every ``step_deg`` plus a ring at 30° elevation that must be ignored. SOFA
    azimuths turn counter-clockwise: 90° is the left.
    """
    positions, irs = [], []
    for elevation in (0.0, 30.0):
        for az in np.arange(0.0, 360.0, step_deg):
            ours = math.radians(-az % 360)  # clockwise, 90° = right
            ir = np.zeros((2, taps))
            for ear, ear_az in ((0, -math.pi / 2), (1, math.pi / 2)):
                angle = abs(math.remainder(ours - ear_az, 2 * math.pi))
                a_c = 0.0875 / 343.0
                delay_s = a_c * (1 - math.cos(angle)) if angle < math.pi / 2 else a_c * (1 + angle - math.pi / 2)
                where = 8 + delay_s * rate
                n = np.arange(taps)
                window = np.clip(1 - np.abs(n - where) / 12, 0, None)  # a short kernel around the arrival
                ir[ear] = (0.3 + 0.7 * math.cos(angle / 2)) * np.sinc(n - where) * window
            positions.append((az, elevation, 1.2))
            irs.append(ir)
    with h5py.File(path, "w") as f:
        f.attrs["Conventions"] = "SOFA"
        f.attrs["SOFAConventions"] = "SimpleFreeFieldHRIR"
        f.attrs["DataType"] = "FIR"
        f.create_dataset("Data.IR", data=np.asarray(irs))
        f.create_dataset("Data.SamplingRate", data=[float(rate)]).attrs["Units"] = "hertz"
        pos = f.create_dataset("SourcePosition", data=np.asarray(positions))
        pos.attrs["Type"] = "spherical"
        pos.attrs["Units"] = "degree, degree, metre"
        f.create_dataset("ReceiverPosition", data=np.array([[[0], [0.09], [0]], [[0], [-0.09], [0]]], dtype=float))
    return path


@pytest.fixture
def sofa(tmp_path: Path) -> Path:
    return make_sofa(tmp_path / "head.sofa")


def test_loads_the_horizontal_plane_in_our_convention(sofa: Path) -> None:
    hrtf = load_sofa(sofa, RATE)
    assert hrtf.azimuths.size == 24
    assert np.allclose(np.degrees(hrtf.azimuths), np.arange(0, 360, 15))
    right = int(np.argmin(np.abs(np.degrees(hrtf.azimuths) - 90)))  # SOFA azimuth 270
    assert np.abs(hrtf.irs[right, 1]).max() > np.abs(hrtf.irs[right, 0]).max()  # right ear louder
    assert hrtf.rate == RATE and hrtf.irs.shape[-1] == math.ceil(96 * RATE / 48000)
    assert 0 < hrtf.onset < 10


def test_measured_rendering_moves_around_the_head(sofa: Path) -> None:
    hrtf = load_sofa(sofa, RATE)
    x = pink_noise(PERIOD, RATE, channels=1).repeat(2, axis=0)
    y = render(BinauralRenderer(RATE, PERIOD, mono=True, hrtf=hrtf), x)
    assert y.shape == x.shape
    high = sosfilt(butter(4, 200, "high", fs=RATE, output="sos"), y, axis=-1)
    bal, t = balance(high, RATE)
    assert np.corrcoef(bal, np.sin(azimuth(t * RATE, RATE, PERIOD)))[0, 1] > 0.95
    lags, t = interaural_lags_ms(y)
    s = np.sin(azimuth(t * RATE, RATE, PERIOD))
    assert np.all(lags[s > 0.3] > 0) and np.all(lags[s < -0.3] < 0) and np.abs(lags).max() <= 0.70


def test_depth_widens_the_measured_level_difference(sofa: Path) -> None:
    hrtf = load_sofa(sofa, RATE)
    x = pink_noise(PERIOD, RATE, channels=1, seed=3).repeat(2, axis=0)
    ilds = []
    for depth in (0.0, 10.0):
        y = render(BinauralRenderer(RATE, PERIOD, mono=True, hrtf=hrtf, depth_db=depth), x)
        # above 1 kHz, clear of the centred bass (see test_binaural.side_ild_db)
        e, t = frame_energy(sosfilt(butter(4, 1000, "high", fs=RATE, output="sos"), y, axis=-1), RATE, 0.1)
        right = np.sin(azimuth(t * RATE, RATE, PERIOD)) > 0.95
        ilds.append(float(np.mean(10 * np.log10(e[1, right] / e[0, right]))))
    assert ilds[1] - ilds[0] == pytest.approx(10.0, abs=0.5)


@pytest.mark.parametrize(
    "block", [pytest.param(1, marks=pytest.mark.slow), pytest.param(7, marks=pytest.mark.slow), 4097]
)
def test_measured_rendering_does_not_depend_on_block_size(sofa: Path, block: int) -> None:
    hrtf = load_sofa(sofa, RATE)
    x = pink_noise(0.3 if block == 1 else 2.0, RATE, seed=2)
    ref = render(BinauralRenderer(RATE, 1.0, hrtf=hrtf), x, 65536)
    out = render(BinauralRenderer(RATE, 1.0, hrtf=hrtf), x, block)
    assert np.abs(out - ref).max() <= 1e-5


def test_moving_between_measured_directions_does_not_click(sofa: Path) -> None:
    hrtf = load_sofa(sofa, RATE)
    t = np.arange(int(4.0 * RATE)) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)[None, :].repeat(2, axis=0)
    y = render(BinauralRenderer(RATE, 2.0, mono=True, hrtf=hrtf), tone, 1000)
    residual = sosfilt(butter(6, 6000, "high", fs=RATE, output="sos"), y, axis=-1)[:, 8000:-8000]
    # a click would put broadband energy above 6 kHz; a 500 Hz tone leaves almost none
    assert 20 * np.log10(np.abs(residual).max() / np.abs(y).max()) < -60


@pytest.mark.parametrize(
    ("content", "hint"),
    [(b"not hdf5 at all", "not a usable SOFA file"), (None, "directions on the horizontal plane")],
)
def test_unusable_sofa_files_are_refused(tmp_path: Path, content: bytes | None, hint: str) -> None:
    path = tmp_path / "bad.sofa"
    if content is None:
        make_sofa(path, step_deg=120.0)  # 3 directions, 120° apart
    else:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=hint):
        load_sofa(path, RATE)


@pytest.mark.process
def test_cli_renders_with_a_sofa_file(tmp_path: Path, sofa: Path) -> None:
    src = write(tmp_path / "in.wav", pink_noise(3.0, RATE))
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"), "--hrtf", str(sofa))
    assert result.returncode == 0, result.stderr
    y, rate = decode(tmp_path / "out.mp3")
    assert y.shape[0] == 2 and rate == RATE and "the nearer ear hears it up to 0." in result.stdout
    bad = run_cli(str(src), "-o", str(tmp_path / "x.mp3"), "--hrtf", str(sofa), "--renderer", "pan")
    assert bad.returncode == 2 and "cannot be combined with --renderer pan" in bad.stderr
    missing = run_cli(str(src), "-o", str(tmp_path / "y.mp3"), "--hrtf", str(tmp_path / "none.sofa"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.process
def test_a_bad_sofa_file_fails_a_batch_once_before_any_song(tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(3):
        write(songs / f"song {i}.wav", pink_noise(1.0, RATE, seed=i))
    bad = tmp_path / "head.sofa"
    bad.write_bytes(b"not HDF5 at all")
    result = run_cli("--hrtf", str(bad), env={"INPUT_DIR": str(songs), "OUTPUT_DIR": str(tmp_path / "out")})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--hrtf head.sofa: not a usable SOFA file" in lines[0], lines
    assert result.stdout == "" and not (tmp_path / "out").exists()
