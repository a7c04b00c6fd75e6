"""A sample of the song, spatialised: the mix's loudness and the limiter's loss, before pass 2.

Loudness normalisation needs its gain before the first block is encoded. Rendering
the whole mix twice would double the renderer's cost, so the mix is rendered on a
sample instead: every ``stride``-th segment of 0.5 s (an eighth of the song, at
least 20 s), while pass 1 stores the input and its room. From the sample:
  - the mix's loudness, predicted from the input's 100 ms steps (measured whole),
    each scaled by the mix-to-input energy ratio of the segments around it;
  - the limiter's loudness loss at a given gain, measured on the stored segments
    (``limiting_loss_db``: their true peaks found once, their K-weighted energies kept
    from the mix's meter, so each trial gain only runs the limiter's gain), and the
    make-up that offsets it (``solve_makeup``).
Segments are staggered by golden-ratio fractions of the stride, so that they see
every place on the circle; they alternate between two parts (files, renderers),
so that the loss is measured on two threads. Memory: one segment; on disk, 12
bytes per sampled frame and 8 more for the loss estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .delay import FixedDelay, LatencyTrim
from .limiter import TruePeakLimiter
from .loudness import STEP_S, LoudnessMeter, block_loudness, gated_loudness, integrated_loudness
from .motion import Spatializer
from .scratch import ScratchFile

SEGMENT_S = 0.5  # short, so that many places on the circle and many sections are seen
STRIDE = 8  # one segment in every 8 at most
MIN_SAMPLE_S = 20.0  # and at least this much of the song (short songs: all of it)
PARTS = 2  # threads sharing the loss estimate
REACH_SPACINGS = 1.5  # a segment's energies count this many segment spacings either side
GOLDEN = (5**0.5 - 1) / 2
LOSS_READ_FRAMES = 1 << 16  # frames of a part limited at once in the loss estimate
RATIO_CHUNK = 1024  # steps whose weights are computed at once (a 30-minute song has 18000)
MAX_MAKEUP_DB = 4.0  # most loudness the limiter may be asked to make up for
MAKEUP_STEPS = 3
MAKEUP_TOLERANCE_DB = 0.1


class Sample:
    """The rendered segments (each stored as one block of its part's file) and what they showed."""

    def __init__(self, rate: int, work: Path, new_spatializer: Callable[[], Spatializer]) -> None:
        self.rate = rate
        self.work = work
        # Per frame: the mix (left, right) and its K-weighted energy, which the loss estimate reuses.
        self.parts = [ScratchFile(work / f"sample{i}.f32", channels=3) for i in range(PARTS)]
        self.mix_meters = [LoudnessMeter(rate) for _ in range(PARTS)]
        self._spatializers = [new_spatializer() for _ in range(PARTS)]
        self._input_meter = LoudnessMeter(rate)
        self.energies: list[tuple[float, float, float]] = []  # per audible segment: centre frame, input, mix
        self.peak = 0.0  # largest sample of the mixes
        self.reach = 0.0  # frames: how far a segment's ratio counts, either side

    def add(self, index: int, start: int, block: np.ndarray, room: np.ndarray | None) -> None:
        """Spatialise segment ``index`` (input ``block`` from frame ``start``) and add its ``room``."""
        part = index % PARTS
        spatial = self._spatializers[part]
        # The part's renderer is moved to the segment's place on the circle; its filter states and
        # its latency (a frame; with an HRTF, its onset) carry over from the previous segment, which
        # shifts nothing measurable in loudness or peaks.
        spatial.position = start
        mix = spatial.process(block)
        if room is not None:
            mix += room[:, : mix.shape[1]]
        energy = self.mix_meters[part].weigh(mix)
        before, after = self._input_meter.add(block), self.mix_meters[part].add_energy(energy)
        if before > 0.0:
            self.energies.append((start + 0.5 * block.shape[1], before, after))
        self.parts[part].append(np.vstack((mix, energy[None])))
        if mix.size:
            self.peak = max(self.peak, float(mix.max()), -float(mix.min()))

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def mix_lufs(self, input_meter: LoudnessMeter) -> float:
        """The whole mix's loudness, predicted from the input's 100 ms steps (``input_meter``), each
        scaled by how much louder spatialising and the room make the segments around it: the ratio
        of their energies, weighted by a triangle 1.5 segment spacings wide either side. A song's
        sections differ (a wide chorus loses more in pan mode than a centred verse), and within a
        section the ratio moves with the place on the circle (a centred source's two halves
        interfere differently at each ear): local in time, but over more than one segment."""
        steps = input_meter.steps()
        if not self.energies:  # every segment silent: nothing better than the input
            return gated_loudness(block_loudness(steps, input_meter.rate))
        centres, before, after = (np.asarray(v) for v in zip(*sorted(self.energies), strict=True))
        times = (np.arange(steps.size) + 0.5) * STEP_S * input_meter.rate
        # Steps with no segment within reach: the nearest segments' ratio.
        ratio = np.interp(times, centres, after / before)
        for first in range(0, steps.size, RATIO_CHUNK):  # steps x segments weights, a chunk at a time
            at = times[first : first + RATIO_CHUNK]
            weights = np.maximum(0.0, 1.0 - np.abs(at[:, None] - centres[None, :]) / self.reach)
            near_before, near_after = weights @ before, weights @ after
            seen = near_before > 0.0
            ratio[first : first + RATIO_CHUNK][seen] = near_after[seen] / near_before[seen]
        return gated_loudness(block_loudness(steps * ratio, input_meter.rate))


class Sampler:
    """Fills a ``Sample`` while pass 1 stores the input and its room, segment by segment as soon
    as both are stored, on the storing thread (which otherwise waits for the decoder)."""

    def __init__(
        self, rate: int, expected_frames: float, work: Path, new_spatializer: Callable[[], Spatializer]
    ) -> None:
        self.size = max(1, round(SEGMENT_S * rate))
        # The spacing follows the length the header promises; a header that lies still gets a
        # sample all along the song, only denser or sparser.
        self.stride = max(1, min(STRIDE, int(expected_frames / (MIN_SAMPLE_S * rate))))
        self.sample = Sample(rate, work, new_spatializer)
        self.sample.reach = REACH_SPACINGS * self.size * self.stride
        self._next = 0

    def _start(self, index: int) -> int:
        # Golden-ratio steps: evenly spaced segments can alias with the rotation (24 x 0.5 s is
        # a 12 s circle) and see only some places on it.
        offset = int((index * GOLDEN) % 1.0 * self.size * (self.stride - 1))
        return index * self.size * self.stride + offset

    def advance(self, store: ScratchFile, room: ScratchFile | None, ready: int, final: bool = False) -> None:
        """Render the segments that lie within the first ``ready`` frames of ``store`` and ``room``
        (at the end, ``final``: every segment that starts before it)."""
        while (start := self._start(self._next)) < ready and (final or start + self.size <= ready):
            frames = min(self.size, ready - start)
            wet = room.read(start, frames) if room is not None else None
            self.sample.add(self._next, start, store.read(start, frames), wet)
            self._next += 1


def limiting_loss_db(sample: Sample, gain_db: float, limiter: Callable[[], TruePeakLimiter]) -> float:
    """Make-up gain (dB) for the loudness the limiter takes away at ``gain_db``, at most ``MAX_MAKEUP_DB``.

    The limiter acts locally (it recovers within a second), so its loudness loss at a given gain
    is measured on the sample's segments, one limiter through each part, on one thread per part.
    The make-up m must equal the loss it causes, m = loss(m), solved by secant steps.
    """
    with ThreadPoolExecutor(max_workers=PARTS, thread_name_prefix="makeup") as pool:
        top = 10.0 ** ((gain_db + MAX_MAKEUP_DB) / 20.0)
        prepared = list(pool.map(lambda i: _peaks_and_energy(sample, i, top, limiter()), range(PARTS)))
        try:
            sampled_lufs = integrated_loudness(sample.mix_meters)  # at unity gain; g dB of gain adds g

            def loss(makeup: float) -> float:
                gain = gain_db + makeup
                scale = 10.0 ** (gain / 20.0)
                limited = integrated_loudness(list(pool.map(lambda file: _limited(file, scale, limiter()), prepared)))
                value = sampled_lufs + gain - limited
                return value if math.isfinite(value) else 0.0

            return solve_makeup(loss)
        finally:
            for file in prepared:
                file.close()


def _peaks_and_energy(sample: Sample, part: int, top: float, limiter: TruePeakLimiter) -> ScratchFile:
    """What the limiter's loss at any scale up to ``top`` depends on, per detection frame of a part:
    its true peak (exact wherever ``top`` times it could reach the ceiling) and the K-weighted energy
    of the frame that leaves the limiter with that frame's gain (the audio waits ``latency`` frames).
    Found once, so that each of the make-up's trials only scales, holds and sums."""
    stored = sample.parts[part]
    out = ScratchFile(sample.work / f"loss{part}.f32")
    delay = FixedDelay(1, limiter.latency)

    def add(mix: np.ndarray, energy: np.ndarray) -> None:
        peak = limiter.peaks(mix, top)
        out.append(np.vstack((np.zeros(mix.shape[1]) if peak is None else peak, delay(energy))))

    for start in range(0, stored.frames, LOSS_READ_FRAMES):
        rows = stored.read(start, LOSS_READ_FRAMES)
        add(rows[:2], rows[2:])
    add(np.zeros((2, limiter.latency), np.float32), np.zeros((1, limiter.latency), np.float32))  # the flush
    return out


def _limited(prepared: ScratchFile, scale: float, limiter: TruePeakLimiter) -> LoudnessMeter:
    """The loudness of a part scaled by ``scale`` and limited, from its peaks and energies: the limiter's
    gain moves slowly against the K-weighting's short responses, so the weighted energy of a limited
    frame is its unlimited one times the gain squared."""
    meter, trim = LoudnessMeter(limiter.rate), LatencyTrim(limiter.latency)
    for start in range(0, prepared.frames, LOSS_READ_FRAMES):
        peak, energy = prepared.read(start, LOSS_READ_FRAMES)
        gain = limiter.gain(limiter.need(peak, peak.size, scale))
        weighted = energy * scale**2 if gain is None else energy * gain**2 * scale**2
        meter.add_energy(trim(weighted[None])[0])
    return meter


def solve_makeup(loss: Callable[[float], float]) -> float:
    """The make-up m (dB, 0..MAX_MAKEUP_DB) with m = loss(m): secant steps on h(m) = m - loss(m)
    from m = 0 and m = loss(0). h(m) is how far the output misses the target with make-up m, so
    the m with the smallest |h| measured is returned: on material the limiter cannot make louder
    (each dB of make-up loses more than a dB) the steps diverge, and the last one is a guess."""
    m0, h0 = 0.0, -loss(0.0)
    m1 = min(MAX_MAKEUP_DB, -h0)
    if m1 < MAKEUP_TOLERANCE_DB:
        return max(0.0, m1)
    best = (abs(h0), m0)
    for _ in range(MAKEUP_STEPS):
        h1 = m1 - loss(m1)
        best = min(best, (abs(h1), m1))
        if abs(h1) < MAKEUP_TOLERANCE_DB or h1 == h0:
            break
        m0, h0, m1 = m1, h1, min(MAX_MAKEUP_DB, max(0.0, m1 - h1 * (m1 - m0) / (h1 - h0)))
    return best[1]
