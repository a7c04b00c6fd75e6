"""--hrtf: rendering through measured responses from a SOFA file (the tests write a small one)."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.signal import bilinear, butter, lfilter, resample_poly, sosfilt

from surroundyou.dsp import localisation as loc
from surroundyou.dsp.binaural import BinauralRenderer
from surroundyou.dsp.hrtf import convolve, equalise, load_sofa, read_sofa, resample
from surroundyou.dsp.motion import azimuth
from surroundyou.dsp.room import RoomSend
from surroundyou.errors import UsageError
from surroundyou.settings import Settings
from tests.dsp.test_localisation import needs_sofa
from tests.support.audio import balance, decode, frame_energy, interaural_lags_ms, pink_noise, render, write
from tests.support.processes import run_cli

RATE = 44100
PERIOD = 6.0


def make_sofa(
    path: Path,
    step_deg: float = 15.0,
    rate: int = 48000,
    taps: int = 96,
    lead: int = 8,
    colour: np.ndarray | None = None,
) -> Path:
    """A SimpleFreeFieldHRIR file: impulses ``lead`` samples in, plus Woodworth's delay, and a level difference.

    Horizontal plane every ``step_deg`` plus a ring at 30° elevation that must be ignored. SOFA
    azimuths turn counter-clockwise: 90° is the left. ``colour``: an impulse response every measured
    response goes through, as a measuring loudspeaker's would.
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
                where = lead + delay_s * rate
                n = np.arange(taps)
                window = np.clip(1 - np.abs(n - where) / 12, 0, None)  # a short kernel around the arrival
                ir[ear] = (0.3 + 0.7 * math.cos(angle / 2)) * np.sinc(n - where) * window
                if colour is not None:
                    ir[ear] = np.convolve(ir[ear], colour)[:taps]
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


def group_delay_s(irs: np.ndarray, rate: int) -> np.ndarray:
    """Each response's delay (s) over 0.2–4 kHz, from the slope of its phase: well inside any resampling
    filter's pass band, and sub-sample exact for the symmetric pulses ``make_sofa`` writes."""
    hz = np.linspace(200.0, 4000.0, 40)
    basis = np.exp(-2j * np.pi * np.outer(np.arange(irs.shape[-1]), hz) / rate)
    phase = np.unwrap(np.angle(irs @ basis), axis=-1).reshape(-1, hz.size)
    return -np.polyfit(2 * np.pi * hz, phase.T, 1)[0].reshape(irs.shape[:-1])


def third_octave_db(irs: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(centres, levels in dB): each response's power in the 1/3-octave bands from 200 Hz to 12 kHz."""
    centres = 1000.0 * 2.0 ** (np.arange(-7, 12) / 3)  # 198 Hz .. 12.7 kHz
    hz = np.fft.rfftfreq(16384, 1.0 / rate)
    power = np.abs(np.fft.rfft(irs, 16384, axis=-1)) ** 2
    inside = [(hz >= fc * 2 ** (-1 / 6)) & (hz < fc * 2 ** (1 / 6)) for fc in centres]
    return centres, 10 * np.log10(np.stack([power[..., band].mean(axis=-1) for band in inside], axis=-1))


def interaural_delay_s(irs: np.ndarray, rate: float) -> np.ndarray:
    """Each direction's interaural delay (s, positive: the left ear lags) over 200 Hz-1.4 kHz, where the
    timing cue lies: the slope of the phase of the ears' cross-spectrum. (The broadband cross-correlation's
    highest peak is no measure of it here: behind the ear KEMAR's has two, 70 µs apart, and any change
    of spectral weighting may swap them.)"""
    hz = np.linspace(200.0, 1400.0, 40)
    spectra = irs @ np.exp(-2j * np.pi * np.outer(np.arange(irs.shape[-1]), hz) / rate)
    phase = np.unwrap(np.angle(spectra[:, 0] * np.conj(spectra[:, 1])), axis=-1)
    return np.polyfit(2 * np.pi * hz, phase.T, 1)[0]


def shelf(rate: float, taps: int) -> np.ndarray:
    """A measuring chain's weak bass: a first-order (minimum-phase) shelf, -12 dB at low frequencies,
    -11 dB at 200 Hz, -9 dB at 400 Hz, -3 dB at 1.6 kHz; its impulse response."""
    b, a = bilinear([1.0, 2 * np.pi * 400.0], [1.0, 2 * np.pi * 1600.0], fs=rate)
    return lfilter(b, a, np.eye(1, taps)[0])


def tilted_sofa(path: Path) -> Path:
    return make_sofa(path, taps=512, lead=48, colour=shelf(48000, 512))


@pytest.mark.parametrize("head", ["tilted", pytest.param("KEMAR", marks=needs_sofa)])
def test_equalisation_makes_the_diffuse_field_average_flat(tmp_path: Path, head: str) -> None:
    """Every measured direction (the 30° ring too) and both ears through the set's correction: their
    mean power in 1/3-octave bands from 200 Hz to 12 kHz is 0 dB within 1 dB. Raw, MIT KEMAR's spans
    -11 dB (200-500 Hz) to +9.5 dB (2.5 kHz)."""
    path = tilted_sofa(tmp_path / "head.sofa") if head == "tilted" else loc.KEMAR_SOFA
    with h5py.File(path, "r") as f:
        every = np.asarray(f["Data.IR"], dtype=np.float64)
    measured = read_sofa(path)
    _, levels = third_octave_db(equalise(every, measured.correction), measured.rate)
    diffuse = 10 * np.log10(np.mean(10 ** (levels / 10), axis=(0, 1)))
    assert np.abs(diffuse).max() <= 1.0, diffuse


@pytest.mark.parametrize("head", ["tilted", pytest.param("KEMAR", marks=needs_sofa)])
def test_equalisation_keeps_each_directions_interaural_delay_and_onset(tmp_path: Path, head: str) -> None:
    """The responses loaded (at the file's own rate: no resampling) against those stored: the same
    interaural delay within 1 µs, each response's onset within a sample."""
    path = tilted_sofa(tmp_path / "head.sofa") if head == "tilted" else loc.KEMAR_SOFA
    stored = read_sofa(path)
    loaded = load_sofa(path, round(stored.rate)).irs.astype(np.float64)
    before, after = interaural_delay_s(stored.irs, stored.rate), interaural_delay_s(loaded, stored.rate)
    assert np.abs(before).max() > 500e-6  # the set does hold interaural delays
    assert np.abs(after - before).max() <= 1e-6

    def onsets(irs: np.ndarray) -> np.ndarray:
        peak = np.abs(irs).max(axis=-1, keepdims=True)
        return np.argmax(np.abs(irs) >= 0.1 * peak, axis=-1)

    assert np.abs(onsets(loaded) - onsets(stored.irs)).max() <= 1


def test_a_set_with_weak_bass_loads_as_the_same_set_without_it(tmp_path: Path) -> None:
    """A measurement whose loudspeaker was 12 dB weak in the bass (as MIT KEMAR's 12-14 dB below
    400 Hz) loads, after equalisation, as the same responses measured without that colour: per
    direction and ear within 0.5 dB in every 1/3-octave band from 200 Hz to 12 kHz."""
    plain = load_sofa(make_sofa(tmp_path / "plain.sofa", taps=512, lead=48), RATE).irs
    tilted = load_sofa(tilted_sofa(tmp_path / "tilted.sofa"), RATE).irs
    _, plain_db = third_octave_db(plain.astype(np.float64), RATE)
    _, tilted_db = third_octave_db(tilted.astype(np.float64), RATE)
    assert np.abs(tilted_db - plain_db).max() <= 0.5


@needs_sofa
def test_pink_noise_through_kemar_under_the_room_follows_the_circle() -> None:
    """Mono pink noise through MIT KEMAR at default settings, the room added as the engine adds it, read by
    the localisation model (surroundyou.dsp.localisation): it follows the circle (correlation at least 0.95)
    and the ears correlate in at least 30 % of the frames. Raw, the set's weak bass left the room to fill the
    timing cue's bands: correlation 0.93, the ears correlated in no frame."""
    s = Settings()
    x = pink_noise(30.0, RATE, channels=1, seed=1).repeat(2, axis=0)
    renderer = BinauralRenderer(RATE, s.period_s, mono=True, hrtf=load_sofa(loc.KEMAR_SOFA, RATE), depth_db=s.depth_db)
    room = RoomSend(RATE, s.reverb, x.shape[1], s.period_s)
    m = loc.measure(loc.analyse(render(renderer, x) + room.process(x), RATE, loc.kemar_templates(RATE)), s.period_s)
    assert m.corr >= 0.95
    assert m.coherent_pct >= 30.0
    assert abs(m.period_s - s.period_s) <= 0.01 * s.period_s


@pytest.mark.parametrize("rate", [22050, 44100, 96000])
def test_resampling_keeps_each_arrival_and_the_interaural_delay(tmp_path: Path, rate: int) -> None:
    """48 kHz responses at another rate: each ear's arrival, in seconds, and so the difference between
    the ears stay within 0.5 µs (a resampler whose output grid sits 0.4 samples off moves them 9 µs)."""
    path = make_sofa(tmp_path / "head.sofa", rate=48000, taps=128, lead=48)  # pulses clear of both ends
    before = group_delay_s(read_sofa(path).equalised(), 48000)  # load_sofa equalises, then resamples
    after = group_delay_s(load_sofa(path, rate).irs.astype(np.float64), rate)
    assert np.abs(after - before).max() <= 0.5e-6
    itd_before, itd_after = before[:, 1] - before[:, 0], after[:, 1] - after[:, 0]
    assert np.abs(itd_before).max() > 500e-6  # the file does hold interaural delays
    assert np.abs(itd_after - itd_before).max() <= 0.5e-6


@pytest.mark.parametrize(("source", "target"), [(48000, 44100), (44100, 48000), (96000, 44100), (44100, 22050)])
@pytest.mark.parametrize("frames", [1, 5, 96, 512])
def test_resampling_is_scipys_resample_poly(source: int, target: int, frames: int) -> None:
    """The same filter, phase and length as scipy.signal.resample_poly, which --hrtf used before."""
    g = math.gcd(source, target)
    x = np.random.default_rng(frames).standard_normal((3, 2, frames))
    ours = resample(x, target // g, source // g)
    theirs = resample_poly(x, target // g, source // g, axis=-1)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-12


@pytest.mark.parametrize(("frames", "taps"), [(1, 96), (7, 96), (300, 5), (1000, 96), (5000, 1), (20000, 512)])
def test_convolution_is_the_direct_convolution(frames: int, taps: int) -> None:
    """Short and long signals against short and long responses: one FFT segment, several, no tail."""
    rng = np.random.default_rng(taps)
    x = rng.standard_normal(frames).astype(np.float32)
    irs = rng.standard_normal((2, taps)).astype(np.float32)
    y = convolve(x, irs)
    direct = np.stack([np.convolve(x.astype(np.float64), ir.astype(np.float64)) for ir in irs])
    assert y.dtype == np.float32 and y.shape == direct.shape
    assert np.abs(y - direct).max() <= 1e-5 * np.abs(direct).max()


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
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"), "--hrtf", str(sofa), "-v")
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
