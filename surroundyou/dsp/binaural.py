"""Binaural rendering: a spherical head (Brown & Duda, IEEE TSAP 6(5), 1998) around which the source circles.

Pure DSP on float32 arrays. For each source on the circle and each ear:
  - interaural time difference (Woodworth, head radius 8.75 cm: at most 0.66 ms) of the path,
    applied to the far ear only through an order-3 Lagrange fractional delay
    (linear interpolation flutters audibly at high frequencies);
  - head shadow H = (1 + a s/2w0) / (1 + s/2w0) (deepest opposite the ear), written as a + (1 - a)·LP with one
    fixed one-pole low-pass (corner c/(2 pi a) ~ 1.25 kHz, matched to the analog one up to Nyquist,
    so that the shadow is the same at any sample rate): only the crossfade
    weight a moves, so there is no coefficient switching and no zipper noise;
  - a rear cue: behind the head a 3 kHz shelf darkens by up to 6 dB and the level
    drops by up to 1 dB (weight max(0, -cos theta)^2: nothing over the front half);
  - front/back bands: the pinna's directional colour, the spectrum of a measured head (MIT KEMAR)
    behind it less in front at the same lateral angle, D(f), as six band-pass sections added to
    the signal, each by a weight that goes from its front value to its back value with -cos theta
    (``FRONT_BACK_BANDS``: in front -D/2, behind +D/2, at the sides about flat);
  - depth: an extra level difference between the ears beyond the physical head, up to
    ``depth_db`` at the sides (``depth_gains``); 0 keeps the physical head;
  - power compensation, so the level stays steady around the circle.
Every parameter is a closed-form function of the absolute frame index, evaluated on
the shared grid (``motion.GridCurves``); filter states and delay lines carry across
blocks, so the output does not depend on the block size. Stereo input keeps its
width as two sources ``width`` degrees either side of the path (each with its own shadow and
level, both with the path's timing); bass below 120 Hz
stays centred. The result is for headphones: its mono sum combs. Memory: one block.
"""

from __future__ import annotations

import math

import numpy as np

from surroundyou.dsp.delay import FixedDelay, LatencyTrim
from surroundyou.dsp.filters import (
    bandpass_section,
    highpass_section,
    lowpass_section,
    matched_lowpass_section,
    sections_response,
)
from surroundyou.dsp.hrtf import Hrtf, HrtfSource
from surroundyou.dsp.motion import GridCurves, depth_gains
from surroundyou.dsp.native import _binaural

HEAD_RADIUS_M = 0.0875
SPEED_OF_SOUND = 343.0  # m/s
ALPHA_MIN = 0.1  # deepest head shadow (high frequencies at -20 dB)
# Where the shadow is deepest: directly opposite the ear. Brown & Duda put it at 150° for a sphere's
# bright spot, which makes the level difference peak near 60° from the front: MIT KEMAR's level cue
# then read 79° there, and the ears' two cues disagreed. At 180° the model reads pink noise within 4°
# of every direction (mean 2.8°, was 7.4°; bench/localise.py --validate, 2026-12-05).
THETA_MIN = math.radians(180.0)
REAR_SHELF_HZ = 3000.0
REAR_SHELF_DB = -6.0
REAR_LEVEL_DB = -1.0
REAR_SHELF_GAIN = 10.0 ** (REAR_SHELF_DB / 20.0) - 1.0  # the shelf adds this times the high-passed signal
SHADOW_CORNER_HZ = SPEED_OF_SOUND / (math.pi * HEAD_RADIUS_M)  # 2·w0 = 2c/a rad/s: about 1.25 kHz
BASS_HZ = 120.0  # below this, both ears get the same (centred) bass
BASS_POLE_HZ = BASS_HZ / math.sqrt(math.sqrt(2.0) - 1.0)  # two first-order poles: -3 dB at BASS_HZ
BASE_DELAY = _binaural.BASE_DELAY  # frames: the Lagrange stencil reaches one frame ahead of the delay
TAPS = _binaural.TAPS  # order-3 Lagrange
# The front/back bands: (centre Hz, bandwidth in octaves, weight in front, weight behind); the
# signal gains weight·BP(x) per band, the weight moving from front to back with -cos theta. Fitted
# (least squares over 200 ERB-spaced points from 700 Hz to 18 kHz; bench/front_back.py) to -D/2 in
# front and +D/2 behind, D(f) being MIT KEMAR's level behind less in front at the same lateral
# angle, averaged over lateral angles -60..60° and both ears and smoothed to 1/6 octave; zero
# below 500 Hz, where the timing cue lives. The top band only darkens the back (its fitted front
# weight, 0.770, brightened the front so that LAME's decoder overshot the ceiling). The ear tells front
# from back by such colours (Blauert's directional bands; Baumgartner et al. 2014's spectral cue).
FRONT_BACK_BANDS: tuple[tuple[float, float, float, float], ...] = (
    (1287.0, 0.51, -0.143, 0.119),
    (2000.0, 0.45, 0.200, -0.202),
    (4509.0, 0.77, 0.308, -0.258),
    (7979.0, 0.30, -0.475, 0.429),
    (9480.0, 0.22, 0.331, -0.392),
    (16105.0, 0.33, 0.0, -0.523),
)
FRONT_BACK_SCALE = 1.5  # 1.5 times the fit: at KEMAR's own size the cue read AUC 0.77-0.87 on music, at 1.5 0.86-0.94
BAND_TOP = 0.45  # of the sample rate: bands above it are left out (at 22.05 kHz, the one at 16 kHz)
# The rows of _Source.params: per ear, the gain of the low-passed signal and of the direct
# signal in the head shadow g·(1 - a)·LP(x) + g·a·x (power, depth and rear level in g), and
# the delay; then the rear weight and the facing weight -cos theta (-1 in front, 1 behind).
SHADOWED_L, SHADOWED_R, DIRECT_L, DIRECT_R, DELAY_L, DELAY_R, REAR, FACING = range(8)


def ear_angles(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angles (0..pi) between the source at azimuth ``theta`` and the left (-90°) and right (+90°) ears."""
    left = np.abs(np.remainder(theta + 1.5 * np.pi, 2 * np.pi) - np.pi)  # |theta + pi/2| wrapped to -pi..pi
    right = np.abs(np.remainder(theta + 0.5 * np.pi, 2 * np.pi) - np.pi)
    return left, right


def woodworth_delay_s(angle: np.ndarray) -> np.ndarray:
    """Path delay (s) from the nearest point of the head to an ear at ``angle`` from the source."""
    a_c = HEAD_RADIUS_M / SPEED_OF_SOUND
    return np.where(angle < 0.5 * np.pi, a_c * (1.0 - np.cos(angle)), a_c * (1.0 + angle - 0.5 * np.pi))


def shadow_alpha(angle: np.ndarray) -> np.ndarray:
    """Brown & Duda's high-frequency gain of the head shadow for an ear at ``angle`` (2 = +6 dB, 0.1 = -20 dB)."""
    return (1.0 + ALPHA_MIN / 2) + (1.0 - ALPHA_MIN / 2) * np.cos(np.minimum(angle, math.pi) / THETA_MIN * math.pi)


def rear_weight(theta: np.ndarray) -> np.ndarray:
    """0 over the front half, rising smoothly to 1 directly behind."""
    return np.maximum(0.0, -np.cos(theta)) ** 2


def front_back_sections(rate: float) -> np.ndarray:
    """(BANDS, BAND_FIELDS) float64 for _binaural.shade: each band's b0 b1 b2 a1 a2, then its weight's
    mean m and half-swing s (weight = m + s·facing: the front value in front, the back value behind),
    the table's times FRONT_BACK_SCALE."""
    scale = 0.5 * FRONT_BACK_SCALE
    rows = [
        (*bandpass_section(hz, octaves, rate), scale * (front + back), scale * (back - front))
        for hz, octaves, front, back in FRONT_BACK_BANDS
        if hz < BAND_TOP * rate
    ]
    sections = np.zeros((_binaural.BANDS, _binaural.BAND_FIELDS))  # a band left out: all zeros, adds nothing
    if rows:
        sections[: len(rows)] = rows
    return sections


class ShadowPower:
    """Mean power of a + (1 - a)·LP for pink noise, as a closed form in a."""

    def __init__(self, rate: float) -> None:
        f = np.linspace(20.0, 0.5 * rate, 1 << 15)
        b0, b1, a1 = matched_lowpass_section(SHADOW_CORNER_HZ, rate)
        h = sections_response([(b0, b1, 0.0, a1, 0.0)], f, rate)[0]
        weight = 1.0 / f  # pink noise on uniform bins: equal power per octave
        total = weight.sum()
        self.cross = float((weight * h.real).sum() / total)  # E[x·LP(x)]
        self.lp = float((weight * np.abs(h) ** 2).sum() / total)  # E[LP(x)^2]

    def __call__(self, alpha: np.ndarray) -> np.ndarray:
        return alpha**2 + 2 * alpha * (1 - alpha) * self.cross + (1 - alpha) ** 2 * self.lp


class _Source:
    """One point source on the circle, ``offset`` radians from the path; renders both ears."""

    def __init__(
        self,
        rate: float,
        period_s: float,
        offset: float,
        rear_cue: bool,
        power: ShadowPower,
        depth_db: float,
    ) -> None:
        self.rate = rate
        self.period_s = period_s
        self.offset = offset
        self.rear_cue = rear_cue
        self.depth_db = depth_db
        self._power = power
        self._front_power = float(2 * power(shadow_alpha(np.array(0.5 * np.pi))))
        # The rear shelf's high-pass, then the head shadow's low-pass, as _binaural.shade runs them.
        self._filters = np.array(
            highpass_section(REAR_SHELF_HZ, rate) + matched_lowpass_section(SHADOW_CORNER_HZ, rate)
        )
        self._filter_state = np.zeros(_binaural.SHADE_STATE)
        self._bands = front_back_sections(rate)
        self._band_state = np.zeros((_binaural.BANDS, _binaural.BAND_STATE))
        max_delay = BASE_DELAY + math.ceil(float(woodworth_delay_s(np.array(math.pi))) * rate)
        self._history = np.zeros((2, max_delay + TAPS), dtype=np.float32)  # per ear, before the delay

    def params(self, theta: np.ndarray) -> np.ndarray:
        """The rows named by SHADOWED_L .. FACING; delays in frames."""
        src = theta + self.offset
        left, right = ear_angles(src)
        a_l, a_r = shadow_alpha(left), shadow_alpha(right)
        # The song's two halves share the path's timing (only their shadow and level follow their
        # own place): with each half's own, the far ear alone summed their arrivals apart as a comb
        # (at 2.9 kHz for the path at 15°, width 10°): 5-10 dB more level difference there than a
        # head gives, which a listener's level cue reads 15-20° wider than the timing cue.
        d_l, d_r = (woodworth_delay_s(a) for a in ear_angles(theta))
        near = np.minimum(d_l, d_r)  # delay only the far ear
        w = rear_weight(src) if self.rear_cue else np.zeros_like(src)
        g_l, g_r = depth_gains(src, self.depth_db)
        power = g_l**2 * self._power(a_l) + g_r**2 * self._power(a_r)
        gain = np.sqrt(self._front_power / power) * 10.0 ** (w * REAR_LEVEL_DB / 20.0)
        g_l, g_r = g_l * gain, g_r * gain
        delay_l, delay_r = BASE_DELAY + (d_l - near) * self.rate, BASE_DELAY + (d_r - near) * self.rate
        rows = (g_l * (1 - a_l), g_r * (1 - a_r), g_l * a_l, g_r * a_r, delay_l, delay_r, w, -np.cos(src))
        return np.stack(rows)

    def process(self, x: np.ndarray, start: int) -> np.ndarray:
        n = x.size
        # Rows of params, interpolated only where a sample needs them: over half of each circle
        # the rear weight is 0, and one ear (the near one) has no delay to interpolate.
        curves = GridCurves(start, n, self.rate, self.period_s, self.params)
        # The rear shelf, mixed in by the rear weight (none over the front half, where the
        # high-pass still runs to keep its state), the front/back bands by the facing weight, and
        # the head shadow's low-pass: _binaural.shade.
        behind = self.rear_cue and not curves.at_most(REAR, 0.0)
        mixed, low = np.empty(n, np.float32), np.empty(n, np.float32)
        rear = curves.at_grid[REAR] if behind else None
        facing = curves.at_grid[FACING] if self.rear_cue else None
        _binaural.shade(
            mixed,
            low,
            x,
            rear,
            curves.skip,
            REAR_SHELF_GAIN,
            self._filters,
            self._filter_state,
            facing,
            self._bands,
            self._band_state,
        )
        x = mixed
        out = np.empty((2, n), dtype=np.float32)
        for ear, (gain_low, gain_direct, delay) in enumerate(
            ((SHADOWED_L, DIRECT_L, DELAY_L), (SHADOWED_R, DIRECT_R, DELAY_R))
        ):
            # g·(alpha·x + (1 - alpha)·LP(x)): the gains move slowly against the 1.25 kHz corner,
            # so they may follow the low-pass instead of preceding it. Then the far ear's delay
            # (the near one gets exactly BASE_DELAY): both per frame in one pass (_binaural.ear).
            near = curves.at_most(delay, BASE_DELAY)
            history = self._history[ear]
            line = np.empty(history.size + n, np.float32)
            line[: history.size] = history
            grid = curves.at_grid
            far_delay = None if near else grid[delay]
            _binaural.ear(out[ear], line, low, x, grid[gain_low], grid[gain_direct], far_delay, curves.skip)
            history[:] = line[n:]
        return out


class BinauralRenderer:
    """Stereo in, binaural stereo out; see the module docstring."""

    def __init__(
        self,
        rate: float,
        period_s: float,
        width_deg: float = 30.0,
        rear_cue: bool = True,
        mono: bool = False,
        hrtf: Hrtf | None = None,
        depth_db: float = 0.0,
    ) -> None:
        """``hrtf``: render through measured responses instead of the spherical head (no rear cue then:
        the measurements carry their own)."""
        self.rate = rate
        self.position = 0
        width = 0.0 if mono else math.radians(width_deg)
        offsets = (0.0,) if width == 0.0 else (-width, width)
        self._sources: list[_Source | HrtfSource]
        if hrtf is None:
            power = ShadowPower(rate)
            self._sources = [_Source(rate, period_s, o, rear_cue, power, depth_db) for o in offsets]
            self.latency = BASE_DELAY
        else:
            self._sources = [HrtfSource(hrtf, period_s, o, depth_db) for o in offsets]
            self.latency = hrtf.onset  # the bass waits for the earliest arrival, to stay in phase
        self._bass = np.array(lowpass_section(BASS_POLE_HZ, rate))  # twice, per channel: _binaural.split_bass
        self._bass_state = np.zeros(_binaural.BASS_STATE)
        self._bass_delay = FixedDelay(1, self.latency)
        self._trim = LatencyTrim(self.latency)

    def process(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[1]
        if n == 0:
            return block
        highs, bass = np.empty((2, n), np.float32), np.empty((1, n), np.float32)
        _binaural.split_bass(highs, bass, np.ascontiguousarray(block, np.float32), self._bass, self._bass_state)
        inputs = [0.5 * (highs[0] + highs[1])] if len(self._sources) == 1 else [highs[0], highs[1]]
        out = np.zeros((2, n), dtype=np.float32)
        for source, x in zip(self._sources, inputs, strict=True):
            out += source.process(x, self.position)
        # Centred bass, delayed like the earliest ear so that it stays in phase.
        out += self._bass_delay(bass)
        self.position += n
        return self._trim(out)

    def flush(self) -> np.ndarray:
        """The frames still inside the delay line (call once, at the end)."""
        return self.process(np.zeros((2, self.latency), dtype=np.float32))
