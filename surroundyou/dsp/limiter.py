"""A look-ahead true-peak limiter, streaming, vectorised.

pedalboard's ``Limiter`` has no look-ahead and clips at 0 dBFS after make-up
gain, so it cannot hold a true-peak ceiling; this one can. Peaks are detected
on the samples and on a 4x polyphase interpolation (the BS.1770 true-peak
method); the gain needed at each frame is held by a sliding minimum over the
look-ahead window, smoothed by a moving average of the same length (so it is
reached before the peak arrives and never undershoots it), and recovers at a
bounded rate in dB per second. The detection, the hold and attack, and the
release are loops in C (_limiter.c: one pass each, where numpy took about ten),
with carried state, so the result does not depend on the block size; the
logarithms and exponentials stay numpy's (vectorised). scipy has the detector's
and the hold's primitives (upfirdn, minimum_filter1d), but importing them costs
a process 0.9 s, and upfirdn was 7x slower here than a matrix product per block,
which the C detector is about four times faster than (each measured on a 2-core
machine, scipy 1.17, when the step in question was replaced). Latency is
compensated: over a whole stream, ``process`` + ``flush`` return exactly as many
frames as went in. Memory: a few blocks.
"""

from __future__ import annotations

import numpy as np

from surroundyou.dsp.delay import FixedDelay, LatencyTrim
from surroundyou.dsp.native import _limiter

# The interpolator's phases and taps per phase, and the frames the interpolated peaks lag the samples
# (half the taps): set in _limiter.c, whose loops are compiled for them.
OVERSAMPLE, TAPS_PER_PHASE, DETECT_DELAY = _limiter.OVERSAMPLE, _limiter.TAPS_PER_PHASE, _limiter.DETECT_DELAY
DB_PER_NEPER = 20.0 / np.log(10.0)  # exp and log: 2x faster than powers of ten
SPREAD = 12  # frames of slack either side: the gain is flat across the interpolation kernel


def interpolator() -> np.ndarray:
    """The 4x interpolation filter (48 taps, as BS.1770-4's true-peak meter uses).

    A Kaiser-windowed sinc cut off at the original Nyquist frequency, unity gain at
    DC per phase (what ``scipy.signal.firwin(48, 0.25, window=("kaiser", 6.0)) * 4``
    designs). Like the standard meter it under-reads content close to Nyquist (up
    to about 0.7 dB on white noise); music that has been through an MP3 low-pass has little.
    """
    size = OVERSAMPLE * TAPS_PER_PHASE
    t = np.arange(size) - (size - 1) / 2
    taps = np.sinc(t / OVERSAMPLE) * np.kaiser(size, 6.0)
    return taps / taps.sum() * OVERSAMPLE


INTERPOLATOR = interpolator().astype(np.float32)
# No interpolated value exceeds this factor times the largest nearby sample.
WORST_GAIN = float(np.abs(INTERPOLATOR.reshape(TAPS_PER_PHASE, OVERSAMPLE)).sum(axis=0).max())
# PHASES[p, j]: weight of input frame i - 11 + j in the point p/4 after frame i - 6 (the taps, reversed).
PHASES = np.ascontiguousarray(INTERPOLATOR.reshape(TAPS_PER_PHASE, OVERSAMPLE)[::-1].T)


class TruePeakLimiter:
    """Keeps stereo blocks at or below ``ceiling_dbtp`` true peak."""

    def __init__(
        self,
        rate: float,
        ceiling_dbtp: float,
        lookahead_s: float = 0.005,
        release_db_per_s: float = 30.0,
        channels: int = 2,
    ) -> None:
        self.rate = rate
        self.ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        self.lookahead = max(8, round(lookahead_s * rate))
        self.window = self.lookahead + 2 * SPREAD + 1  # sliding-minimum length
        self.latency = DETECT_DELAY + self.lookahead + SPREAD
        self._release = release_db_per_s / rate  # dB per frame
        self._in_hist = np.zeros((channels, TAPS_PER_PHASE), dtype=np.float32)
        self._need_hist = np.ones(self.window - 1)  # past required gains
        self._avg_hist = np.ones(self.lookahead - 1)  # past held gains (for the average)
        self._at_rest = True  # both histories are all 1
        self._gain_db = 0.0  # last output gain, for the release
        self._ramp: np.ndarray = np.empty(0)  # the release's rise over a block, by frame (blocks are mostly one size)
        self._channels = channels
        self._audio = FixedDelay(channels, self.latency)
        self._trim = LatencyTrim(self.latency)
        self.max_reduction_db = 0.0

    def peaks(self, block: np.ndarray, scale: float = 1.0) -> np.ndarray | None:
        """Each detection frame's true peak (the largest sample or point between samples around it),
        exact wherever ``scale`` times it could reach the ceiling; None where nothing in the block can."""
        n = block.shape[1]
        # History so that detection frame i covers samples up to i - DETECT_DELAY + 6.
        ext = np.concatenate((self._in_hist, block), axis=1)
        self._in_hist = ext[:, n:]
        # The 4x interpolation runs only on chunks of detection frames (CHUNK in _limiter.c) where a point
        # between samples could reach the ceiling (WORST_GAIN times the peak of the samples it is made of):
        # elsewhere it cannot change the need, so the result is the same as interpolating everywhere.
        peak = np.empty(n)
        return peak if _limiter.peaks(peak, ext, PHASES, self.ceiling / scale, WORST_GAIN) else None

    def need(self, peak: np.ndarray | None, n: int, scale: float = 1.0) -> np.ndarray:
        """The gain each of ``n`` detection frames needs for ``peak`` (from ``peaks``) times ``scale``:
        min(1, ceiling / peak), computed only where it is below 1 (a few % of the frames)."""
        need = np.ones(n)
        if peak is not None:
            over = np.flatnonzero(peak > self.ceiling / scale)
            need[over] = self.ceiling / (peak[over] * scale)
        return need

    def _required_gain(self, block: np.ndarray) -> np.ndarray:
        """Gain each detection frame needs, from sample and inter-sample peaks."""
        return self.need(self.peaks(block), block.shape[1])

    def gain(self, need: np.ndarray) -> np.ndarray | None:
        """The gain for each frame, given each frame's need, in order from the stream's start (the
        look-ahead, attack and release carry over); None where it is exactly 1 throughout (at rest,
        fully released)."""
        n = need.size
        if self._ramp.size != n:
            self._ramp = self._release * np.arange(1, n + 1)
        ramp = self._ramp
        if self._at_rest and float(need.min()) >= 1.0:
            if self._gain_db >= 0.0:
                return None  # what the closed form below gives: min(0, 0 + ramp) = 0 dB everywhere
            # Nothing to hold or average (these needs and both histories are all 1): only the
            # release runs, in closed form, bit for bit what the stages below give. On real music
            # most blocks after normalisation never come near the ceiling.
            gain_db = np.minimum(0.0, self._gain_db + ramp)
        else:
            # Hold: the smallest need within the window ending at each frame; attack: its moving
            # average over the look-ahead, which stays below every held value it spans (_limiter.hold).
            gain_db = np.empty(n)
            _limiter.hold(gain_db, need, self._need_hist, self._avg_hist)  # carries both histories
            self._at_rest = float(self._need_hist.min()) >= 1.0 and float(self._avg_hist.min()) >= 1.0
            # Release: g[i] = min(smooth[i], g[i-1] + rate), as a running minimum (_limiter.release).
            np.maximum(gain_db, 1e-12, out=gain_db)
            np.log(gain_db, out=gain_db)
            gain_db *= DB_PER_NEPER
            _limiter.release(gain_db, ramp, self._gain_db)
        self._gain_db = float(gain_db[-1])
        self.max_reduction_db = max(self.max_reduction_db, -float(gain_db.min()))
        np.divide(gain_db, DB_PER_NEPER, out=gain_db)
        return np.exp(gain_db, out=gain_db)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Limit a (channels, n) block; returns up to n frames (fewer at the start)."""
        n = block.shape[1]
        if n == 0:
            return block
        gain = self.gain(self._required_gain(block))
        delayed = self._audio(block)
        if gain is not None:
            delayed *= gain.astype(np.float32)
        return self._trim(delayed)

    def flush(self) -> np.ndarray:
        """The frames still held by the look-ahead (call once, at the end)."""
        return self.process(np.zeros((self._channels, self.latency), dtype=np.float32))
