"""Measures the motion a renderer produced, so that a silent failure of the effect shows in the log.

The levels come from the output (limited, before the codec), high-passed at 200 Hz (two
first-order poles; the bass is centred on purpose): each ear's level per 100 ms frame. The
interaural delay comes from the dry render, before the room (the room does not move, and
its own stereo spread correlates the ears at a lag of its own): once a second, by
cross-correlation within ±1 ms of the first differences (which stress the highs, as the
high-pass does; the bass is centred).
Memory: 12 bytes per frame (a 30-minute song: 230 KB), for the summary and the plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from surroundyou.dsp.weighted_energy import WeightedEnergy, highpass_pair

FRAME_S = 0.1  # seconds per level measurement
ITD_EVERY = 10  # measure the delay on every 10th frame of the dry render
MAX_LAG_S = 0.001
HIGHPASS_HZ = 200.0
SILENT_DB = -70.0  # frames quieter than this (both ears) are left out
ITD_PERCENTILE = 90
MIN_COHERENCE = 0.3  # frames whose ears correlate less than this at the best lag have no delay to measure
WEAK_SWING_DB = 2.0  # less swing than this between the ears, on audible input, means no motion


@dataclass(frozen=True)
class Motion:
    """What the listener gets: how far the level moves between the ears, and the largest interaural delay."""

    ild_swing_db: float  # 95th minus 5th percentile of (right - left) level, dB
    itd_ms: float  # 90th percentile of the measured interaural delay's size, ms (single frames of
    # music can correlate at any lag: the largest is noise, not the circle)
    frames: int  # audible frames measured

    @property
    def weak(self) -> bool:
        return self.frames >= 10 and self.ild_swing_db < WEAK_SWING_DB and self.itd_ms < 0.1


@dataclass(frozen=True)
class MotionTrace:
    """The measurements over time, for the plot."""

    frame_s: float  # seconds per level frame
    levels_db: np.ndarray  # (frames, 2): left, right
    itd_times_s: np.ndarray
    itd_ms: np.ndarray


class MotionMeter:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._highpass = WeightedEnergy(highpass_pair(HIGHPASS_HZ, rate), 2)
        self._carry = np.zeros((2, 0), dtype=np.float32)
        self._dry_carry = np.zeros((2, 0), dtype=np.float32)
        self._dry_frames = 0
        self.levels_db: list[tuple[float, float]] = []  # per frame: left, right
        self.itd_ms: list[tuple[int, float]] = []  # (frame index, delay; positive: right ear leads)
        self._max_lag = max(1, int(MAX_LAG_S * rate))
        self._frame = max(1, round(FRAME_S * rate))

    def add_dry(self, dry: np.ndarray) -> None:
        """The dry render, before the room: for the interaural delay."""
        buf = np.concatenate((self._dry_carry, dry), axis=1)
        size = self._frame
        whole = buf.shape[1] // size
        self._dry_carry = buf[:, whole * size :]
        for i in range(whole):
            index = self._dry_frames + i
            if index % ITD_EVERY == 0:
                frame = np.diff(buf[:, i * size : (i + 1) * size], axis=1)
                energy = np.einsum("cn,cn->c", frame, frame)
                if 10.0 * math.log10(float(energy.max()) / size + 1e-20) > SILENT_DB:
                    itd = self._itd_ms(frame[0], frame[1], float(energy[0]) * float(energy[1]))
                    if itd is not None:
                        self.itd_ms.append((index, itd))
        self._dry_frames += whole

    def add(self, out: np.ndarray) -> None:
        """The output: for each ear's level."""
        buf = np.concatenate((self._carry, self._highpass.per_channel(out)), axis=1)  # squares
        size = self._frame
        whole = buf.shape[1] // size
        self._carry = buf[:, whole * size :]
        if whole == 0:
            return
        energy = buf[:, : whole * size].reshape(2, whole, size).sum(axis=2, dtype=np.float64) / size
        with np.errstate(divide="ignore"):
            db = 10.0 * np.log10(energy + 1e-20)
        self.levels_db.extend(zip(db[0].tolist(), db[1].tolist(), strict=True))

    def _itd_ms(self, left: np.ndarray, right: np.ndarray, energies: float) -> float | None:
        """The lag (ms) of the largest cross-correlation within ±1 ms (only 2 x 44 lags, so directly);
        None where the ears hardly correlate: any lag would be noise."""
        pad = np.zeros(self._max_lag, dtype=left.dtype)
        corr = np.correlate(np.concatenate((pad, left, pad)), right, mode="valid")  # lags -max..+max
        best = int(np.argmax(corr))
        if corr[best] < MIN_COHERENCE * math.sqrt(energies):
            return None
        return float((best - self._max_lag) / self.rate * 1000.0)

    def trace(self) -> MotionTrace:
        itd = np.asarray(self.itd_ms, dtype=np.float64).reshape(-1, 2)
        return MotionTrace(
            self._frame / self.rate,
            np.asarray(self.levels_db, dtype=np.float32).reshape(-1, 2),
            (itd[:, 0] + 0.5) * self._frame / self.rate,
            itd[:, 1],
        )

    def summary(self) -> Motion:
        levels = np.asarray(self.levels_db).reshape(-1, 2)
        audible = levels[levels.max(axis=1) > SILENT_DB] if levels.size else levels
        if audible.shape[0] == 0:
            return Motion(0.0, 0.0, 0)
        ild = audible[:, 1] - audible[:, 0]
        swing = float(np.percentile(ild, 95) - np.percentile(ild, 5))
        delays = np.abs(np.asarray([v for _, v in self.itd_ms]))
        itd = float(np.percentile(delays, ITD_PERCENTILE)) if delays.size else 0.0
        return Motion(swing if math.isfinite(swing) else 0.0, itd, int(audible.shape[0]))
