"""Integrated loudness (ITU-R BS.1770-4), measured while streaming.

pyloudnorm measures a whole array at once (a 30-minute song would need 600 MB);
this meter takes consecutive blocks instead. Its K-weighting is pyloudnorm's
design (an RBJ high shelf, +4 dB above 1.5 kHz, then an RBJ high-pass at 38 Hz
with Q 0.5), run in double precision with the state carried across blocks in one
pass with the squares (``weighted_energy``). It keeps
one energy sum per 100 ms step (16 bytes per step: 300 KB for an hour), then
gates at -70 LUFS absolute and -10 LU relative over 400 ms blocks with 75 %
overlap. The tests hold it to pyloudnorm's own result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from surroundyou.dsp.weighted_energy import WeightedEnergy

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
STEP_S = 0.1  # 400 ms gating blocks at 75 % overlap = four 100 ms steps
STEPS_PER_BLOCK = 4


SHELF_HZ = 1500.0
SHELF_DB = 4.0
SHELF_Q = 0.5**0.5
HIGHPASS_HZ = 38.0
HIGHPASS_Q = 0.5


def k_weighting(rate: float) -> np.ndarray:
    """The K-weighting filter (BS.1770-4 stages 1 and 2, as pyloudnorm designs them for any rate):
    b0 b1 b2 a1 a2 (a0 = 1) of the RBJ high shelf, then of the RBJ high-pass."""
    shelf_a = 10.0 ** (SHELF_DB / 40.0)
    w0 = 2.0 * math.pi * SHELF_HZ / rate
    cos, root_alpha = math.cos(w0), 2.0 * math.sqrt(shelf_a) * math.sin(w0) / (2.0 * SHELF_Q)
    shelf = (
        shelf_a * ((shelf_a + 1) + (shelf_a - 1) * cos + root_alpha),
        -2.0 * shelf_a * ((shelf_a - 1) + (shelf_a + 1) * cos),
        shelf_a * ((shelf_a + 1) + (shelf_a - 1) * cos - root_alpha),
        (shelf_a + 1) - (shelf_a - 1) * cos + root_alpha,
        2.0 * ((shelf_a - 1) - (shelf_a + 1) * cos),
        (shelf_a + 1) - (shelf_a - 1) * cos - root_alpha,
    )
    w0 = 2.0 * math.pi * HIGHPASS_HZ / rate
    cos, alpha = math.cos(w0), math.sin(w0) / (2.0 * HIGHPASS_Q)
    high = ((1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2.0 * cos, 1 - alpha)
    return np.array([[*(b / a[3] for b in a[:3]), a[4] / a[3], a[5] / a[3]] for a in (shelf, high)]).ravel()


class LoudnessMeter:
    """Streaming BS.1770 integrated loudness for stereo blocks (2, n)."""

    def __init__(self, rate: float, channels: int = 2) -> None:
        self.rate = rate
        self._weighted = WeightedEnergy(k_weighting(rate), channels)
        self._frames = 0  # frames seen so far
        self._step_sums: list[float] = []  # finished 100 ms steps: energy summed over channels
        self._partial = 0.0  # energy of the unfinished step

    def _step_edge(self, k: int) -> int:
        """Absolute frame index where 100 ms step k begins."""
        return round(k * STEP_S * self.rate)

    def add(self, block: np.ndarray) -> float:
        """Measure the next block; returns its K-weighted energy (summed over frames and channels)."""
        if block.shape[1] == 0:
            return 0.0
        return self.add_energy(self.weigh(block))

    def weigh(self, block: np.ndarray) -> np.ndarray:
        """The K-weighted energy of each frame of the next block (summed over channels), not yet counted."""
        return self._weighted.summed(block)  # G = 1 for L and R

    def add_energy(self, energy: np.ndarray) -> float:
        """Count the next frames, given their K-weighted energies; returns their sum."""
        start, end = self._frames, self._frames + energy.size
        pos = start
        while True:
            edge = self._step_edge(len(self._step_sums) + 1)
            if edge > end:
                self._partial += float(energy[pos - start :].sum(dtype=np.float64))
                break
            self._step_sums.append(self._partial + float(energy[pos - start : edge - start].sum(dtype=np.float64)))
            self._partial = 0.0
            pos = edge
        self._frames = end
        return float(energy.sum(dtype=np.float64))

    @property
    def frames(self) -> int:
        return self._frames

    def steps(self) -> np.ndarray:
        """K-weighted energy of each complete 100 ms step so far (step k starts near k · 0.1 s)."""
        return np.asarray(self._step_sums, dtype=np.float64)

    def block_loudness(self) -> np.ndarray:
        """Loudness (LUFS) of each complete 400 ms gating block so far."""
        return block_loudness(self.steps(), self.rate)

    def integrated(self) -> float:
        """Integrated loudness in LUFS; -inf for silence or input under 400 ms."""
        return integrated_loudness([self])


def block_loudness(steps: np.ndarray, rate: float) -> np.ndarray:
    """Loudness (LUFS) of each 400 ms gating block made of four consecutive 100 ms step energies."""
    if steps.size < STEPS_PER_BLOCK:
        return np.empty(0)
    block_energy = np.convolve(steps, np.ones(STEPS_PER_BLOCK), mode="valid")
    block_frames = STEPS_PER_BLOCK * STEP_S * rate
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(block_energy / block_frames)


def integrated_loudness(meters: Sequence[LoudnessMeter]) -> float:
    """Integrated loudness of the gating blocks of several meters taken as one programme."""
    return gated_loudness(np.concatenate([np.empty(0), *(m.block_loudness() for m in meters)]))


def gated_loudness(lk: np.ndarray) -> float:
    """Integrated loudness (LUFS) of gating blocks given in LUFS: absolute, then relative gate."""
    above = lk[lk > ABSOLUTE_GATE_LUFS]
    if above.size == 0:
        return -math.inf
    relative_gate = _mean_loudness(above) + RELATIVE_GATE_LU
    gated = above[above > relative_gate]
    return _mean_loudness(gated) if gated.size else -math.inf


def _mean_loudness(lk: np.ndarray) -> float:
    """Loudness of the mean energy of blocks given in LUFS."""
    return float(-0.691 + 10.0 * np.log10(np.mean(10.0 ** ((lk + 0.691) / 10.0))))
