"""The binaural circle, measured like a lab would: the left/right balance follows sin θ (correlation
over 0.95), the level stays within 0.5 dB over a rotation, block edges add no clicks (at most +1 dB),
the interaural delay stays within Woodworth's 0.66 ms (at most 0.75 ms: the far ear's shadow adds its
phase lag) on the right side, the front is at least 3 dB brighter than the back, and the front/back
bands colour the back against the front as designed.

Motion is measured above 200 Hz: below 120 Hz the bass is centred on purpose,
and in pink noise that band's energy fluctuates strongly from frame to frame.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from scipy.signal import butter, lfilter, sosfilt

from surroundyou.dsp import binaural
from surroundyou.dsp.binaural import (
    BASS_POLE_HZ,
    FRONT_BACK_BANDS,
    REAR_SHELF_GAIN,
    REAR_SHELF_HZ,
    SHADOW_CORNER_HZ,
    BinauralRenderer,
    front_back_sections,
)
from surroundyou.dsp.filters import highpass_section, lowpass_section, sections_response
from surroundyou.dsp.motion import GRID, azimuth
from surroundyou.dsp.native import _binaural
from tests.support.audio import balance, frame_energy, interaural_lags_ms, mono_noise, noise, pink_noise, render

RATE = 44100
PERIOD = 6.0


def above(x: np.ndarray, hz: float) -> np.ndarray:
    return sosfilt(butter(4, hz, "high", fs=RATE, output="sos"), x, axis=-1)


def theta_at(t: np.ndarray) -> np.ndarray:
    return azimuth(t * RATE, RATE, PERIOD)


@pytest.mark.parametrize("rear_cue", [False, True])
def test_balance_follows_sin_azimuth(rear_cue: bool) -> None:
    y = render(BinauralRenderer(RATE, PERIOD, rear_cue=rear_cue, mono=True), mono_noise(2 * PERIOD))
    bal, t = balance(above(y, 200), RATE)
    assert np.corrcoef(bal, np.sin(theta_at(t)))[0, 1] > 0.95


def test_interaural_delay_is_bounded_and_on_the_right_side() -> None:
    y = render(BinauralRenderer(RATE, PERIOD, mono=True), mono_noise(PERIOD, seed=1))
    lags, t = interaural_lags_ms(y)
    s = np.sin(theta_at(t))
    assert np.abs(lags).max() <= 0.75
    assert np.all(lags[s > 0.3] > 0) and np.all(lags[s < -0.3] < 0)
    assert lags.max() > 0.5  # the ITD really reaches Woodworth's ~0.66 ms at the side


def band_energy(y: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(y, axis=-1)) ** 2
    f = np.fft.rfftfreq(y.shape[-1], 1 / RATE)
    return float(spectrum[..., (f >= low) & (f < high)].sum())


def test_front_is_brighter_than_back() -> None:
    y = render(BinauralRenderer(RATE, PERIOD, mono=True), mono_noise(PERIOD, seed=2))
    size = int(0.2 * RATE)
    front = y[:, :size]  # azimuth 0..12°
    back = y[:, int(PERIOD / 2 * RATE) - size // 2 : int(PERIOD / 2 * RATE) + size // 2]  # around 180°
    brightness = [10 * np.log10(band_energy(seg, 4000, 20000) / band_energy(seg, 20, 1000)) for seg in (front, back)]
    assert brightness[0] - brightness[1] >= 3.0


def test_level_is_steady_around_the_circle_without_the_rear_cue() -> None:
    x = mono_noise(PERIOD, seed=3)
    y = render(BinauralRenderer(RATE, PERIOD, rear_cue=False, mono=True), x)
    e_out, _ = frame_energy(y, RATE, 0.5)
    e_in, _ = frame_energy(x, RATE, 0.5)
    level = 10 * np.log10(e_out.sum(axis=0) / e_in.sum(axis=0))
    assert level.max() - level.min() <= 0.5


def test_rear_cue_makes_the_back_softer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binaural, "FRONT_BACK_BANDS", ())  # the rear shelf and level alone
    x = mono_noise(PERIOD, seed=3)
    with_cue = render(BinauralRenderer(RATE, PERIOD, rear_cue=True, mono=True), x)
    without = render(BinauralRenderer(RATE, PERIOD, rear_cue=False, mono=True), x)
    behind = slice(int(0.45 * PERIOD * RATE), int(0.55 * PERIOD * RATE))
    front = slice(0, int(0.05 * PERIOD * RATE))
    drop = 10 * np.log10(band_energy(with_cue[:, behind], 20, 20000) / band_energy(without[:, behind], 20, 20000))
    assert -3.0 < drop < -0.5
    assert np.allclose(with_cue[:, front], without[:, front], atol=1e-6)  # nothing changes in front


def test_front_back_bands_colour_the_back_against_the_front_as_the_table_says() -> None:
    # White noise circling: at each band's centre the back less the front (same lateral angle 0°, the
    # rear shelf and level divided out by the same renderer without the bands) is what the sections'
    # sum gives over a tenth of an octave there with the back weights less with the front weights,
    # within 1.5 dB (the window spans 36° of the circle); nothing at 300 Hz.
    x = mono_noise(PERIOD, seed=5)
    size = int(0.1 * PERIOD * RATE)  # 36° of the circle around front and back

    def at(y: np.ndarray, middle: float) -> np.ndarray:
        centre = int(middle * PERIOD * RATE)
        return y[:, max(0, centre - size // 2) : centre + size // 2]

    def spectrum_db(y: np.ndarray, hz: float) -> float:
        return 10 * np.log10(band_energy(y, hz * 2**-0.05, hz * 2**0.05))

    with_bands = render(BinauralRenderer(RATE, PERIOD, mono=True), np.concatenate((x, x), axis=1))
    flat = BinauralRenderer(RATE, PERIOD, mono=True)
    for source in flat._sources:
        source._bands = np.zeros_like(source._bands)  # sections that add nothing
    without = render(flat, np.concatenate((x, x), axis=1))
    sections = front_back_sections(RATE)

    def power(hz: float, facing: float) -> float:
        """The sections' mean power gain over the band the spectra are read in."""
        bands = sections_response(sections, np.geomspace(hz * 2**-0.05, hz * 2**0.05, 64), RATE)
        response = 1 + (sections[:, 5] + sections[:, 6] * facing) @ bands
        return float(np.mean(np.abs(response) ** 2))

    for hz, _octaves, _front, _back in FRONT_BACK_BANDS:
        if hz > 12000:
            continue
        expected = 10 * np.log10(power(hz, 1.0) / power(hz, -1.0))
        measured = [
            spectrum_db(at(y, 1.5), hz) - spectrum_db(at(y, 1.0), hz) for y in (with_bands, without)
        ]  # behind (at 1.5 periods) less in front (at 1 period, one circle in: the filters settled)
        assert measured[0] - measured[1] == pytest.approx(expected, abs=1.5), hz
    low = [spectrum_db(at(y, 1.5), 300) - spectrum_db(at(y, 1.0), 300) for y in (with_bands, without)]
    assert low[0] - low[1] == pytest.approx(0.0, abs=0.3)


@pytest.mark.parametrize(
    "block", [pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow), 7, 1024, 4097]
)
@pytest.mark.parametrize("mono", [True, False])
def test_output_does_not_depend_on_block_size(block: int, mono: bool) -> None:
    x = pink_noise(0.3 if block < 8 else 2.0, RATE, seed=4)
    ref = render(BinauralRenderer(RATE, 2.0, mono=mono), x, 65536)
    out = render(BinauralRenderer(RATE, 2.0, mono=mono), x, block)
    assert out.shape == ref.shape == x.shape
    assert np.abs(out - ref).max() <= 1e-5


def test_no_clicks_at_block_edges() -> None:
    t = np.arange(int(3.0 * RATE)) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)[None, :].repeat(2, axis=0)
    block = 1000
    residual = above(render(BinauralRenderer(RATE, 2.0, mono=True), tone, block), 6000)[:, 4000:-4000]
    energy = (residual**2).sum(axis=0)
    edges = np.zeros(energy.size, bool)
    for edge in range(block - 4000 % block, energy.size, block):
        edges[max(0, edge - 32) : edge + 32] = True
    ratio_db = 10 * np.log10(energy[edges].mean() / energy[~edges].mean())
    assert ratio_db <= 1.0


def test_rendering_is_deterministic() -> None:
    x = pink_noise(1.0, RATE, seed=5)
    digests = {hashlib.sha256(render(BinauralRenderer(RATE, 2.0), x).tobytes()).hexdigest() for _ in range(2)}
    assert len(digests) == 1


@pytest.mark.parametrize("width", [30.0, 45.0])
def test_stereo_width_left_and_right_trace_paths_two_widths_apart(width: float) -> None:
    noise = pink_noise(PERIOD, RATE, channels=1, seed=6)[0]
    silent = np.zeros_like(noise)
    curves = []
    for x in (np.stack((noise, silent)), np.stack((silent, noise))):
        y = render(BinauralRenderer(RATE, PERIOD, width_deg=width), x)
        bal, _ = balance(above(y, 200), RATE)
        curves.append(bal - bal.mean())
    # circular cross-correlation: how far along the circle the right input's path leads the left's
    spectrum = np.fft.rfft(curves[0]) * np.conj(np.fft.rfft(curves[1]))
    lag = int(np.argmax(np.fft.irfft(spectrum, curves[0].size)))
    degrees = lag / curves[0].size * 360.0
    assert degrees == pytest.approx(2 * width, abs=8.0)


def test_width_zero_is_a_mono_downmix() -> None:
    x = pink_noise(1.0, RATE, seed=7)
    mono = render(BinauralRenderer(RATE, 2.0, width_deg=0.0), x)
    summed = render(BinauralRenderer(RATE, 2.0, mono=True), x)
    np.testing.assert_allclose(mono, summed, atol=1e-6)


def band_ild_db(y: np.ndarray, low: float, high: float, lateral: tuple[float, float]) -> float:
    """Mean right-minus-left level (dB) between ``low`` and ``high`` Hz over the frames whose path is
    between the two lateral angles (degrees, in front or behind)."""
    band = sosfilt(butter(4, (low, high), "bandpass", fs=RATE, output="sos"), y, axis=-1)
    e, t = frame_energy(band, RATE, 0.1)
    s = np.sin(theta_at(t))
    at = (s > np.sin(np.radians(lateral[0]))) & (s < np.sin(np.radians(lateral[1])))
    return float(np.mean(10 * np.log10(e[1, at] / e[0, at])))


@pytest.mark.parametrize("lateral", [(10.0, 20.0), (40.0, 50.0)])
def test_a_song_alike_in_both_halves_has_the_level_difference_of_one_source(lateral: tuple[float, float]) -> None:
    # The halves, 10° either side of the path, share its timing: with each half's own, their
    # arrivals apart summed as a comb in the far ear only (at 2.9 kHz at 15°), 5-10 dB more level
    # difference there than the head gives, which the localisation model read 15-20° too wide.
    x = mono_noise(PERIOD, seed=12)
    one = render(BinauralRenderer(RATE, PERIOD, width_deg=10.0, mono=True), x)
    halves = render(BinauralRenderer(RATE, PERIOD, width_deg=10.0), x)
    for low in (1500.0, 2200.0, 3200.0, 4700.0, 6800.0):
        high = 1.45 * low
        assert band_ild_db(halves, low, high, lateral) == pytest.approx(band_ild_db(one, low, high, lateral), abs=1.0)


def side_ild_db(y: np.ndarray, frame_s: float = 0.1) -> tuple[float, float]:
    """Mean right-minus-left level (dB) where the source is at the right side and at the left.

    Above 1 kHz: the centred bass (two first-order poles at 120 Hz) still holds part of the
    energy a few hundred hertz up, and no depth moves it."""
    e, t = frame_energy(above(y, 1000), RATE, frame_s)
    ild = 10 * np.log10(e[1] / e[0])
    s = np.sin(theta_at(t))
    return float(ild[s > 0.95].mean()), float(ild[s < -0.95].mean())


@pytest.mark.parametrize("depth", [6.0, 12.0])
def test_depth_adds_its_level_difference_at_the_sides_and_keeps_the_delay(depth: float) -> None:
    x = mono_noise(PERIOD, seed=10)
    head = render(BinauralRenderer(RATE, PERIOD, mono=True), x)
    deeper = render(BinauralRenderer(RATE, PERIOD, mono=True, depth_db=depth), x)
    (head_right, head_left), (right, left) = side_ild_db(head), side_ild_db(deeper)
    assert right - head_right == pytest.approx(depth, abs=0.5)
    assert head_left - left == pytest.approx(depth, abs=0.5)
    # in front and behind the ears are as they were (sin theta = 0: no extra difference)
    e_head, t = frame_energy(above(head, 200), RATE, 0.1)
    e_deep, _ = frame_energy(above(deeper, 200), RATE, 0.1)
    centre = np.abs(np.sin(theta_at(t))) < 0.1  # within 6° of the front or the back
    diff = 10 * np.log10(e_deep[1] / e_deep[0]) - 10 * np.log10(e_head[1] / e_head[0])
    assert centre.sum() >= 2 and np.abs(diff[centre]).max() < 0.1 * depth + 0.3
    # the delay cue is untouched
    lags, t = interaural_lags_ms(deeper)
    s = np.sin(theta_at(t))
    assert np.all(lags[s > 0.3] > 0) and np.all(lags[s < -0.3] < 0) and 0.5 < lags.max() <= 0.75


def test_depth_keeps_the_level_steady_around_the_circle() -> None:
    x = mono_noise(PERIOD, seed=3)
    y = render(BinauralRenderer(RATE, PERIOD, rear_cue=False, mono=True, depth_db=10.0), x)
    e_out, _ = frame_energy(y, RATE, 0.5)
    e_in, _ = frame_energy(x, RATE, 0.5)
    level = 10 * np.log10(e_out.sum(axis=0) / e_in.sum(axis=0))
    assert level.max() - level.min() <= 0.5


@pytest.mark.parametrize("block", [pytest.param(1, marks=pytest.mark.slow), 4097])
def test_depth_does_not_depend_on_block_size(block: int) -> None:
    x = pink_noise(0.3 if block < 8 else 2.0, RATE, seed=4)
    ref = render(BinauralRenderer(RATE, 2.0, depth_db=10.0), x, 65536)
    out = render(BinauralRenderer(RATE, 2.0, depth_db=10.0), x, block)
    assert np.abs(out - ref).max() <= 1e-5


def run_ear(low: np.ndarray, x: np.ndarray, grids: list[np.ndarray | None], edges: list[int]) -> np.ndarray:
    """The C kernel over consecutive blocks cut at ``edges``, its delay line carried across them as
    _Source.process carries it; grids: g_low, g_direct and delay (None: the near ear) on the grid."""
    history = np.zeros(40, np.float32)
    out = np.empty(x.size, np.float32)
    for a, b in itertools.pairwise(edges):
        line = np.concatenate((history, np.empty(b - a, np.float32)))
        cells = slice(a // GRID, -(-b // GRID) + 1)
        args = [None if g is None else np.ascontiguousarray(g[cells]) for g in grids]
        _binaural.ear(out[a:b], line, low[a:b], x[a:b], *args, a % GRID)
        history = line[b - a :]
    return out


def on_frames(points: np.ndarray, n: int) -> np.ndarray:
    """Grid values linearly interpolated to frames 0..n-1, in float64."""
    return np.interp(np.arange(n), np.arange(points.size) * GRID, points.astype(np.float64))


@pytest.mark.parametrize("kind", ["jumps every frame", "steady", "slow sweep"])
def test_fractional_delay_is_the_cubic_through_the_four_nearest_samples(kind: str) -> None:
    # The far ear's delay, checked against Lagrange's basis polynomials evaluated sample by sample,
    # over blocks of several sizes and grid offsets (the line carries across them), whether the
    # whole part of the delay holds over a grid cell (the vectorised path) or changes within it.
    rng = np.random.default_rng(7)
    n = 20000
    x = rng.standard_normal(n).astype(np.float32)
    points = n // GRID + 2
    if kind == "jumps every frame":  # up and down by up to 28 frames every 64: many changes per cell
        delay_points = 1.0 + 29.0 * rng.random(points)
    elif kind == "steady":
        delay_points = np.full(points, 7.3)
    else:
        delay_points = 1.0 + 14.0 * (1.0 + np.sin(np.arange(points) / 15.0))
    grids = [np.zeros(points, np.float32), np.ones(points, np.float32), delay_points.astype(np.float32)]
    out = run_ear(np.zeros(n, np.float32), x, grids, [0, 1, 3, 700, 4096, 11000, n])
    delay = on_frames(grids[2], n)
    padded = np.concatenate((np.zeros(64), x.astype(np.float64)))
    i = np.arange(n) + 64
    whole = np.floor(delay)
    d = delay - whole + 1  # the point between p0 (delay whole - 1) and p3 (whole + 2)
    p = [padded[(i - whole + 1 - k).astype(int)] for k in range(4)]
    basis = [
        -(d - 1) * (d - 2) * (d - 3) / 6,
        d * (d - 2) * (d - 3) / 2,
        -d * (d - 1) * (d - 3) / 2,
        d * (d - 1) * (d - 2) / 6,
    ]
    expected = sum(b * q for b, q in zip(basis, p, strict=True))
    assert np.abs(out - expected).max() < 1e-4


@pytest.mark.parametrize("near", [True, False])
def test_ear_mixes_the_shadowed_and_direct_signal_with_gains_ramped_between_grid_points(near: bool) -> None:
    # g_low·low + g_direct·x with both gains moving linearly from grid point to grid point; the near
    # ear gets it one frame late, the far ear (here a steady 3-frame delay) three frames late.
    rng = np.random.default_rng(3)
    n = 5000
    low, x = rng.standard_normal((2, n)).astype(np.float32)
    points = n // GRID + 2
    g_low, g_direct = rng.random((2, points)).astype(np.float32)
    lag = 1 if near else 3
    grids = [g_low, g_direct, None if near else np.full(points, float(lag), np.float32)]
    out = run_ear(low, x, grids, [0, 100, 2500, n])
    mix = on_frames(g_low, n) * low + on_frames(g_direct, n) * x
    assert np.abs(out[lag:] - mix[:-lag]).max() < 1e-5
    assert np.all(out[:lag] == 0.0)


def test_ear_refuses_what_it_cannot_compute() -> None:
    # Arguments the renderer never passes, but a mistake there must not read outside the arrays.
    n, points = 128, 4
    f32 = np.zeros(n, np.float32)
    grid = np.ones(points, np.float32)
    with pytest.raises(ValueError, match="outside the line"):
        _binaural.ear(np.empty(n, np.float32), np.zeros(n + 8, np.float32), f32, f32, grid, grid, grid * 7.5, 0)
    with pytest.raises(ValueError, match="outside the line"):
        _binaural.ear(np.empty(n, np.float32), np.zeros(n + 8, np.float32), f32, f32, grid, grid, grid * 0.5, 0)
    with pytest.raises(ValueError, match="inconsistent lengths"):  # the grid ends before the block
        _binaural.ear(np.empty(n, np.float32), np.zeros(n + 8, np.float32), f32, f32, grid, grid, None, 70)
    with pytest.raises(TypeError, match="float32"):
        _binaural.ear(np.empty(n), np.zeros(n + 8, np.float32), f32, f32, grid, grid, None, 0)


def test_split_bass_is_two_butterworth_low_passes_per_channel() -> None:
    # The centred bass (the channels' mean below BASS_HZ) and each channel less its own bass, over
    # blocks of any size (the four filter states carry across them), against scipy in float64.
    x = noise(30_000, seed=5)
    b, a = butter(1, BASS_POLE_HZ, fs=RATE)
    lows = lfilter(b, a, lfilter(b, a, x.astype(np.float64), axis=1), axis=1)
    coefficients, state = np.array(lowpass_section(BASS_POLE_HZ, RATE)), np.zeros(_binaural.BASS_STATE)
    highs, bass = [], []
    for start, end in itertools.pairwise([0, 1, 999, 20_000, 30_000]):
        h, m = np.empty((2, end - start), np.float32), np.empty((1, end - start), np.float32)
        _binaural.split_bass(h, m, np.ascontiguousarray(x[:, start:end]), coefficients, state)
        highs.append(h)
        bass.append(m)
    assert np.abs(np.concatenate(highs, axis=1) - (x - lows)).max() < 1e-5
    assert np.abs(np.concatenate(bass, axis=1)[0] - lows.mean(axis=0)).max() < 1e-5


@pytest.mark.parametrize(("behind", "bands"), [(True, True), (False, True), (True, False), (False, False)])
def test_shade_mixes_the_rear_shelf_by_its_weight_then_low_passes(behind: bool, bands: bool) -> None:
    # y = x + gain·w·HP(x), mixed = y + sum_k (m_k + s_k·u)·BP_k(y) with the weights w and u ramped between grid
    # points (w None: in front, no shelf; u None: no bands), low = LP(mixed); against scipy in float64,
    # over blocks at several grid offsets.
    n = 20_000
    x = noise(n, channels=1, seed=9)[0]
    weight = np.random.default_rng(4).random(n // GRID + 2).astype(np.float32)
    b_hp, a_hp = butter(1, REAR_SHELF_HZ, btype="high", fs=RATE)
    b_lp, a_lp = butter(1, SHADOW_CORNER_HZ, fs=RATE)
    shelf = REAR_SHELF_GAIN * on_frames(weight, n) * lfilter(b_hp, a_hp, x.astype(np.float64)) if behind else 0.0
    shelved = x + shelf
    facing = np.random.default_rng(5).uniform(-1, 1, n // GRID + 2).astype(np.float32)
    sections = front_back_sections(RATE)
    band_sum = 0.0
    if bands:
        for b0, b1, b2, a1, a2, m, s in sections:
            band_weight = m + s * on_frames(facing, n)
            band_sum = band_sum + band_weight * lfilter([b0, b1, b2], [1, a1, a2], shelved)
    expected_mixed = shelved + band_sum
    expected_low = lfilter(b_lp, a_lp, expected_mixed)
    band_state = np.zeros((sections.shape[0], _binaural.BAND_STATE))
    coefficients = np.array(highpass_section(REAR_SHELF_HZ, RATE) + lowpass_section(SHADOW_CORNER_HZ, RATE))
    state = np.zeros(_binaural.SHADE_STATE)
    mixed, low = np.empty(n, np.float32), np.empty(n, np.float32)
    for start, end in itertools.pairwise([0, 5, 70, 6000, n]):
        cells = slice(start // GRID, -(-end // GRID) + 1)
        rear = np.ascontiguousarray(weight[cells]) if behind else None
        facing_cells = np.ascontiguousarray(facing[cells]) if bands else None
        _binaural.shade(
            mixed[start:end],
            low[start:end],
            x[start:end],
            rear,
            start % GRID,
            REAR_SHELF_GAIN,
            coefficients,
            state,
            facing_cells,
            sections,
            band_state,
        )
    assert np.abs(mixed - expected_mixed).max() < 1e-5
    assert np.abs(low - expected_low).max() < 1e-5
