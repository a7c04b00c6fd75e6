"""Rendering with a measured HRTF from a SOFA (AES69) file the user supplies.

SOFA files are netCDF-4, that is HDF5: h5py reads the four arrays needed
(Data.IR, Data.SamplingRate, SourcePosition and its units, ReceiverPosition).
The measurements nearest the horizontal plane become virtual loudspeakers
around the head; the moving source is crossfaded between the two nearest ones
with gains from the absolute frame index (on the shared grid), so motion between
measured directions has no clicks and no dependence on the block size. Each
loudspeaker's feed goes through its fixed HRIR pair by overlap-add, with the
convolution tails carried across blocks. Memory: one block per active loudspeaker.

Every set is diffuse-field equalised on load (``diffuse_field_correction``): a raw measurement
carries its loudspeaker's and microphones' colour (MIT KEMAR's responses, averaged over all
directions, are 11 dB weak from 150 to 500 Hz), and the centred bass and the room then drowned
the bands that carry the timing cue. One minimum-phase filter, the same for both ears and every
direction, so each direction's interaural differences stay those measured.

Resampling and convolution are done here on numpy, so the image needs no scipy (140 MB with
its OpenBLAS; the tests still use it). pedalboard's StreamResampler was measured for the resampling and not
used: its output grid sits a constant 0.2–0.44 samples off the input's (44.1/48/96 kHz
pairs), and a sample short, which would move every response's onset.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from surroundyou.dsp.motion import azimuth, depth_gains, grid_points, on_grid
from surroundyou.errors import UsageError

MAX_GAP_DEG = 90.0  # larger holes between measured directions cannot be crossed convincingly
PLANE_TOLERANCE_DEG = 1.0
ONSET_THRESHOLD = 0.1  # of the peak: where an impulse response begins
SMOOTHING_OCTAVES = 1.0 / 3.0  # the diffuse-field average's smoothing: about the ear's resolution
MAX_BOOST_DB = 15.0  # the correction never lifts a band by more (a measurement's deep holes stay holes)
TOP_HZ = 16000.0  # above this (or 0.8 of Nyquist) the correction fades to none at Nyquist
CHUNK = 256  # directions transformed at a time: a large set's spectra are never all in memory


@dataclass(frozen=True)
class Hrtf:
    """Horizontal-plane HRIRs sorted by azimuth (clockwise from the front, radians)."""

    azimuths: np.ndarray  # (K,)
    irs: np.ndarray  # (K, 2, N) float32: left, right
    rate: int
    onset: int  # frames before the earliest arrival in any response


@dataclass(frozen=True)
class Measured:
    """The horizontal plane of a SOFA file as stored: azimuths (degrees, clockwise), responses, rate."""

    theta_deg: np.ndarray
    irs: np.ndarray  # (K, 2, N) float64: left, right
    rate: float
    correction: np.ndarray  # (N,) the diffuse-field equalisation of the whole set (all its directions)

    def equalised(self) -> np.ndarray:
        """``irs`` through ``correction``: (K, 2, N)."""
        return equalise(self.irs, self.correction)


@functools.cache
def load_sofa(path: Path, rate: int) -> Hrtf:
    """The HRTF of a SimpleFreeFieldHRIR SOFA file, resampled to ``rate``; UsageError if unusable.
    Made once per path and rate: a conversion builds three renderers (the sample's two and pass 2's),
    which only read it."""
    measured = read_sofa(path)
    chosen = to_rate(measured.equalised(), round(measured.rate), rate)
    peak = np.abs(chosen).max(axis=-1, keepdims=True)
    first = np.argmax(np.abs(chosen) >= ONSET_THRESHOLD * np.maximum(peak, 1e-12), axis=-1)
    onset = int(max(0, first.min() - 1))
    return Hrtf(np.radians(measured.theta_deg), chosen.astype(np.float32), rate, onset)


def to_rate(x: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    """``x`` (..., n) at ``source_rate`` resampled to ``rate`` by ``resample`` (as it is when they agree)."""
    if source_rate == rate:
        return x
    g = math.gcd(source_rate, rate)
    return resample(x, rate // g, source_rate // g)


def resample(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """``x`` (..., n) resampled by ``up / down`` to ceil(n * up / down) samples along the last axis.

    The polyphase filter of ``scipy.signal.resample_poly``: a linear-phase, Kaiser-windowed
    (beta 5) sinc low-pass at the lower rate's Nyquist frequency, 10 zero crossings either side,
    centred on each output sample, so output m sits at input time m * down / up exactly
    (no delay: an onset and the ears' difference of arrival stay where they were).
    Beyond the ends the signal is zero.
    """
    n = x.shape[-1]
    wider = max(up, down)
    half = 10 * wider
    h = np.sinc(np.arange(-half, half + 1) / wider) * np.kaiser(2 * half + 1, 5.0)
    h *= up / h.sum()  # unit gain at DC after the zeros that upsampling inserts
    m = np.arange(-(-n * up // down))
    first = -((half - m * down) // up)  # the earliest input sample each output's filter reaches
    out = np.zeros((*x.shape[:-1], m.size))
    for step in range(2 * half // up + 1):
        k = first + step
        tap = m * down - k * up + half
        use = (k >= 0) & (k < n) & (tap >= 0)
        out[..., use] += x[..., k[use]] * h[tap[use]]
    return out


def convolve(x: np.ndarray, irs: np.ndarray) -> np.ndarray:
    """Full linear convolution of one signal ``x`` (n,) with each response of ``irs`` (..., taps),
    in float32: (..., n + taps - 1).

    Overlap-add of FFT segments about 8 responses long, as scipy's oaconvolve does (one FFT of the
    whole block is 4x slower for a 65536-frame block).
    """
    taps = irs.shape[-1]
    size = x.size + taps - 1
    fft_size = 1 << (max(2 * taps, min(size, 8 * taps)) - 1).bit_length()
    step = fft_size - taps + 1  # > taps - 1: a segment's tail reaches into the next segment only
    count = -(-x.size // step)
    segments = np.zeros(count * step, dtype=np.float32)
    segments[: x.size] = x
    spectra = np.fft.rfft(segments.reshape(count, step), fft_size) * np.fft.rfft(irs, fft_size)[..., None, :]
    pieces = np.fft.irfft(spectra, fft_size).astype(np.float32)  # (..., count, fft_size)
    lead = irs.shape[:-1]
    out = np.zeros((*lead, (count + 1) * step), dtype=np.float32)
    out[..., : count * step] = pieces[..., :step].reshape(*lead, -1)
    tails = np.zeros((*lead, count, step), dtype=np.float32)
    tails[..., : taps - 1] = pieces[..., step:]
    out[..., step:] += tails.reshape(*lead, -1)
    return out[..., :size]


@functools.cache
def read_sofa(path: Path) -> Measured:
    """Read and check a SOFA file once per process (a batch checks it before its first song)."""
    import h5py  # only for --hrtf

    try:
        with h5py.File(path, "r") as f:
            irs = np.asarray(f["Data.IR"], dtype=np.float64)
            sofa_rate = float(np.asarray(f["Data.SamplingRate"]).ravel()[0])
            positions = np.asarray(f["SourcePosition"], dtype=np.float64)
            units = _attr(f["SourcePosition"], "Units", "degree, degree, metre").lower()
            kind = _attr(f["SourcePosition"], "Type", "spherical").lower()
            receivers = np.asarray(f["ReceiverPosition"]) if "ReceiverPosition" in f else None
    except FileNotFoundError:
        raise UsageError(f"--hrtf {path}: no such file") from None
    except (OSError, KeyError) as exc:
        raise UsageError(f"--hrtf {path.name}: not a usable SOFA file ({exc})") from None
    if irs.ndim != 3 or irs.shape[1] != 2 or positions.shape[0] != irs.shape[0]:
        raise UsageError(f"--hrtf {path.name}: expected Data.IR as measurements x 2 ears x taps, got {irs.shape}")
    if kind != "spherical":
        raise UsageError(f"--hrtf {path.name}: SourcePosition must be spherical, got {kind!r}")
    scale = 1.0 if "degree" in units else 180.0 / math.pi
    azimuth, elevation = positions[:, 0] * scale, positions[:, 1] * scale
    if receivers is not None and receivers.reshape(2, -1)[0, 1] < receivers.reshape(2, -1)[1, 1]:
        irs = irs[:, ::-1]  # SOFA's y axis points left: the receiver with the larger y is the left ear
    correction = diffuse_field_correction(irs, sofa_rate)  # from every direction, not just the plane
    plane = np.abs(elevation) <= np.abs(elevation).min() + PLANE_TOLERANCE_DEG
    # SOFA azimuths turn counter-clockwise (90° = left); ours turn clockwise (90° = right).
    theta = np.mod(-azimuth[plane], 360.0)
    order = np.argsort(theta)
    theta, chosen = theta[order], irs[plane][order]
    theta, unique = np.unique(np.round(theta, 6), return_index=True)
    chosen = chosen[unique]
    gaps = np.diff(np.concatenate((theta, [theta[0] + 360.0])))
    if theta.size < 4 or gaps.max() > MAX_GAP_DEG:
        raise UsageError(
            f"--hrtf {path.name}: {theta.size} directions on the horizontal plane with a gap of "
            f"{gaps.max():.0f}°; need at least 4 and gaps of at most {MAX_GAP_DEG:.0f}°"
        )
    return Measured(theta, chosen, sofa_rate, correction)


def diffuse_field_correction(irs: np.ndarray, rate: float) -> np.ndarray:
    """The minimum-phase filter (N taps) that makes the diffuse-field average of ``irs``
    (M directions, 2 ears, N taps) flat at 0 dB.

    Diffuse-field equalisation (Møller 1992, "Fundamentals of binaural technology", Appl. Acoust. 36;
    Larcher, Jot & Vandernoot 1998, AES 105th Convention, preprint 4858): the power average over all
    directions and both ears, smoothed in 1/3-octave bands, inverted, boosts bounded, as a minimum-phase
    filter. Below the lowest frequency N taps resolve (rate / N) and above TOP_HZ the measurement is not
    trusted: the correction fades to none there, over an octave below and up to Nyquist above.
    """
    taps = irs.shape[-1]
    size = 1 << (2 * taps - 1).bit_length()  # >= 2N - 1 points: |H|^2 exactly (the autocorrelation's length)
    power = np.zeros(size // 2 + 1)
    for first in range(0, irs.shape[0], CHUNK):
        power += np.sum(np.abs(np.fft.rfft(irs[first : first + CHUNK], size, axis=-1)) ** 2, axis=(0, 1))
    hz = np.fft.rfftfreq(size, 1.0 / rate)
    gain_db = -10 * np.log10(np.maximum(smooth_octaves(power / (2 * irs.shape[0]), hz), 1e-20))
    low, top = rate / taps, min(TOP_HZ, 0.4 * rate)
    fade_low = _raised_cosine(np.log2(np.maximum(hz, 1e-9) / low) + 1.0)  # 0 an octave below ``low``, 1 at it
    fade_top = _raised_cosine((rate / 2 - hz) / (rate / 2 - top))  # 1 at ``top``, 0 at Nyquist
    gain_db = np.where(hz < low, np.interp(low, hz, gain_db) * fade_low, gain_db)
    gain_db = np.where(hz > top, np.interp(top, hz, gain_db) * fade_top, gain_db)
    return _minimum_phase(np.minimum(gain_db, MAX_BOOST_DB), hz, rate)[:taps]


def smooth_octaves(values: np.ndarray, hz: np.ndarray, octaves: float = SMOOTHING_OCTAVES) -> np.ndarray:
    """The mean of ``values`` over ``octaves`` around each bin of ascending ``hz`` (at least the bin itself)."""
    total = np.concatenate(([0.0], np.cumsum(values)))
    half = 2.0 ** (octaves / 2)
    lo = np.searchsorted(hz, hz / half)
    hi = np.maximum(np.searchsorted(hz, hz * half, side="right"), lo + 1)
    return (total[hi] - total[lo]) / (hi - lo)


def _raised_cosine(x: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def _minimum_phase(gain_db: np.ndarray, hz: np.ndarray, rate: float) -> np.ndarray:
    """The minimum-phase impulse response with magnitude ``gain_db`` at ``hz`` (the homomorphic method:
    the real cepstrum of the log magnitude, folded onto positive times), on a grid fine enough (at least
    16384 points) that the cepstrum's time aliasing is negligible."""
    size = max(16384, 8 * (hz.size - 1))
    log_gain = np.interp(np.fft.rfftfreq(size, 1.0 / rate), hz, gain_db) * (np.log(10.0) / 20.0)
    cepstrum = np.fft.irfft(log_gain, size)
    folded = np.zeros(size)
    folded[0], folded[size // 2] = cepstrum[0], cepstrum[size // 2]
    folded[1 : size // 2] = 2.0 * cepstrum[1 : size // 2]
    return np.fft.irfft(np.exp(np.fft.rfft(folded)), size)


def equalise(irs: np.ndarray, correction: np.ndarray) -> np.ndarray:
    """Each response of ``irs`` (..., N) through ``correction`` (N,), cut back to N taps: the same
    filter for both ears and every direction, so the interaural differences are unchanged."""
    taps = irs.shape[-1]
    size = 1 << (2 * taps - 1).bit_length()  # no wrap-around of the first N samples
    return np.fft.irfft(np.fft.rfft(irs, size) * np.fft.rfft(correction, size), size)[..., :taps]


def _attr(dataset: object, name: str, default: str) -> str:
    value = getattr(dataset, "attrs", {}).get(name, default)
    return value.decode() if isinstance(value, bytes) else str(value)


class HrtfSource:
    """One source on the circle, ``offset`` radians from the path, rendered through measured HRIRs."""

    def __init__(self, hrtf: Hrtf, period_s: float, offset: float, depth_db: float = 0.0) -> None:
        self.hrtf = hrtf
        self.period_s = period_s
        self.offset = offset
        self.depth_db = depth_db
        az = hrtf.azimuths
        # Fractional loudspeaker index as a function of azimuth, extended one step either side of the circle.
        self._az_ext = np.concatenate(([az[-1] - 2 * np.pi], az, [az[0] + 2 * np.pi]))
        self._idx_ext = np.concatenate(([-1.0], np.arange(az.size, dtype=np.float64), [float(az.size)]))
        self._tails: dict[int, np.ndarray] = {}  # loudspeaker -> (2, taps - 1) overlap-add tail

    def _position(self, theta: np.ndarray) -> np.ndarray:
        """Continuous loudspeaker index (0..K) of the source at path azimuth ``theta``."""
        src = np.mod(theta + self.offset, 2 * np.pi)
        return np.mod(np.interp(src, self._az_ext, self._idx_ext), self.hrtf.azimuths.size)

    def process(self, x: np.ndarray, start: int) -> np.ndarray:
        n = x.size
        k = self.hrtf.azimuths.size
        rate = self.hrtf.rate
        # The loudspeakers this block touches: those next to the source at the grid points its gains
        # are interpolated from (the same points whatever the block size).
        near = np.floor(self._position(azimuth(grid_points(start, n), rate, self.period_s))).astype(int)
        active = sorted({int(i) % k for i in near} | {(int(i) + 1) % k for i in near})

        def gains(theta: np.ndarray) -> np.ndarray:
            pos = self._position(theta)
            rows = []
            for j in active:
                distance = np.abs(np.mod(pos - j + k / 2, k) - k / 2)  # circular, in loudspeaker steps
                rows.append(np.maximum(0.0, 1.0 - distance))
            return np.stack(rows)

        feeds = on_grid(start, n, rate, self.period_s, gains) * x
        taps = self.hrtf.irs.shape[-1]
        out = np.zeros((2, n), dtype=np.float32)
        for j in set(active) | set(self._tails):
            acc = np.zeros((2, n + taps - 1), dtype=np.float32)
            if j in active:
                feed = feeds[active.index(j)]
                if np.any(feed):
                    acc += convolve(feed, self.hrtf.irs[j])
            tail = self._tails.pop(j, None)
            if tail is not None:
                acc[:, : taps - 1] += tail
            out += acc[:, :n]
            rest = acc[:, n:]
            if np.any(rest):
                self._tails[j] = rest
        if self.depth_db:
            out *= on_grid(start, n, rate, self.period_s, self._depth)
        return out

    def _depth(self, theta: np.ndarray) -> np.ndarray:
        """Per-ear gains adding the depth's level difference, at constant power."""
        g_l, g_r = depth_gains(theta + self.offset, self.depth_db)
        return np.stack((g_l, g_r)) * np.sqrt(2.0 / (g_l**2 + g_r**2))
