"""A sample of the song, mixed: the mix's loudness and the limiter's loss, before pass 2.

Loudness normalisation needs its gain before the first block is encoded. Rendering
the whole mix twice would double the renderer's cost, so the mix is rendered on a
sample instead: every ``stride``-th segment of 0.5 s (an eighth of the song, at
least 20 s), spatialised and run through the mix chain's steps (mix.py: the same
steps as pass 2's, the room among them), while pass 1 stores the input and its
room. From the sample:
  - the mix's loudness, predicted from the input's 100 ms steps (measured whole),
    each scaled by the mix-to-input energy ratio of the segments around it;
  - the loudness after the chain's end (the gain and the limiter) at a given gain,
    modelled on the stored segments (``LimitedLoudness``: their true peaks found once,
    their K-weighted energies kept from the mix's meter, so each trial gain only runs
    the limiter's gain), and the make-up that offsets the limiter's loss
    (``limiting_loss_db``, ``solve_makeup``).
Segments are staggered by golden-ratio fractions of the stride, so that they see
every place on the circle; they alternate between two parts (files, renderers),
so that the loss is measured on two threads. Memory: one segment; on disk, 12
bytes per sampled frame and 8 more for the loss estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np

from surroundyou.convert.mix import MixChain
from surroundyou.convert.scratch import ScratchFile
from surroundyou.dsp.delay import FixedDelay, LatencyTrim
from surroundyou.dsp.limiter import WORST_GAIN, TruePeakLimiter
from surroundyou.dsp.loudness import STEP_S, LoudnessMeter, block_loudness, gated_loudness, integrated_loudness
from surroundyou.dsp.motion import Spatializer

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
    """The rendered segments (each stored as one block of its part's file) and what they showed. ``chain``:
    the mix chain whose steps it runs on each segment and whose end (gain, limiter) it models."""

    def __init__(self, chain: MixChain, work: Path, new_spatializer: Callable[[], Spatializer]) -> None:
        self.chain = chain
        self.rate = rate = chain.rate
        self.work = work
        # Per frame: the mix (left, right) and its K-weighted energy, which the loss estimate reuses.
        self.parts = [ScratchFile(work / f"sample{i}.f32", channels=3) for i in range(PARTS)]
        self.mix_meters = [LoudnessMeter(rate) for _ in range(PARTS)]
        self._spatializers = [new_spatializer() for _ in range(PARTS)]
        self._steps = [chain.steps() for _ in range(PARTS)]
        self._input_meter = LoudnessMeter(rate)
        self.energies: list[tuple[float, float, float]] = []  # per audible segment: centre frame, input, mix
        self.peak = 0.0  # largest sample of the mixes
        self.reach = 0.0  # frames: how far a segment's ratio counts, either side

    def add(self, index: int, start: int, block: np.ndarray) -> None:
        """Spatialise segment ``index`` (input ``block`` from frame ``start``) and run the chain's steps on it."""
        part = index % PARTS
        spatial = self._spatializers[part]
        # The part's renderer is moved to the segment's place on the circle; its filter states and
        # its latency (a frame; with an HRTF, its onset) carry over from the previous segment, which
        # shifts nothing measurable in loudness or peaks. So do the steps'.
        spatial.position = start
        mix = self._steps[part](spatial.process(block), start)
        energy = self.mix_meters[part].weigh(mix)
        before, after = self._input_meter.add(block), self.mix_meters[part].add_energy(energy)
        if before > 0.0:
            self.energies.append((start + 0.5 * block.shape[1], before, after))
        self.parts[part].append(np.vstack((mix, energy[None])))
        if mix.size:
            self.peak = max(self.peak, float(mix.max()), -float(mix.min()))

    def stored(self, part: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """A part's stored segments, in chunks: the mix (2, n) and its K-weighted energy (1, n)."""
        file = self.parts[part]
        for start in range(0, file.frames, LOSS_READ_FRAMES):
            rows = file.read(start, LOSS_READ_FRAMES)
            yield rows[:2], rows[2:]

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
        self, chain: MixChain, expected_frames: float, work: Path, new_spatializer: Callable[[], Spatializer]
    ) -> None:
        rate = chain.rate
        self.size = max(1, round(SEGMENT_S * rate))
        # The spacing follows the length the header promises; a header that lies still gets a
        # sample all along the song, only denser or sparser.
        self.stride = max(1, min(STRIDE, int(expected_frames / (MIN_SAMPLE_S * rate))))
        self.sample = Sample(chain, work, new_spatializer)
        self.sample.reach = REACH_SPACINGS * self.size * self.stride
        self._next = 0

    def _start(self, index: int) -> int:
        # Golden-ratio steps: evenly spaced segments can alias with the rotation (24 x 0.5 s is
        # a 12 s circle) and see only some places on it.
        offset = int((index * GOLDEN) % 1.0 * self.size * (self.stride - 1))
        return index * self.size * self.stride + offset

    def advance(self, store: ScratchFile, ready: int, final: bool = False) -> None:
        """Render the segments that lie within the first ``ready`` frames of ``store`` (and of the
        room, which the chain's steps read; at the end, ``final``: every segment that starts before it)."""
        while (start := self._start(self._next)) < ready and (final or start + self.size <= ready):
            self.sample.add(self._next, start, store.read(start, min(self.size, ready - start)))
            self._next += 1


def limiting_loss_db(sample: Sample, gain_db: float) -> float:
    """Make-up gain (dB) for the loudness the limiter takes away at ``gain_db``, at most ``MAX_MAKEUP_DB``;
    0 where no peak of the sample could reach the ceiling.

    The limiter acts locally (it recovers within a second), so its loudness loss at a given gain
    is measured on the sample's segments (``LimitedLoudness``). The make-up m must equal the loss
    it causes, m = loss(m), solved by secant steps.
    """
    if not sample.peak * 10 ** (gain_db / 20) * WORST_GAIN > sample.chain.limiter().ceiling:
        return 0.0
    with LimitedLoudness(sample, gain_db + MAX_MAKEUP_DB) as limited:
        sampled_lufs = integrated_loudness(sample.mix_meters)  # at unity gain; g dB of gain adds g

        def loss(makeup: float) -> float:
            gain = gain_db + makeup
            value = sampled_lufs + gain - limited(gain)
            return value if math.isfinite(value) else 0.0

        return solve_makeup(loss)


class LimitedLoudness:
    """The sample's loudness after the end of the chain (``mix.Output``: the gain, then the limiter) at
    any gain up to ``top_db``, modelled rather than rendered: each part's true peaks are found once,
    here, and each gain asked for only scales them, runs the limiter's gain on them and weighs the
    stored K-weighted energies by it; one thread per part. Its files are the sample's size again:
    use it in a ``with`` block."""

    def __init__(self, sample: Sample, top_db: float) -> None:
        self._limiter = sample.chain.limiter
        self._pool = ThreadPoolExecutor(max_workers=PARTS, thread_name_prefix="makeup")
        top = 10.0 ** (top_db / 20.0)
        self._prepared: list[ScratchFile] = []
        try:  # each part's file is kept as it comes, so that all are closed if one fails
            for file in self._pool.map(lambda i: _peaks_and_energy(sample, i, top, self._limiter()), range(PARTS)):
                self._prepared.append(file)
        except BaseException:
            self.close()
            raise

    def __call__(self, gain_db: float) -> float:
        """The integrated loudness (LUFS) of the sample at ``gain_db``, limited."""
        scale = 10.0 ** (gain_db / 20.0)
        return integrated_loudness(
            list(self._pool.map(lambda file: _limited(file, scale, self._limiter()), self._prepared))
        )

    def close(self) -> None:
        self._pool.shutdown()
        for file in self._prepared:
            file.close()

    def __enter__(self) -> LimitedLoudness:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _peaks_and_energy(sample: Sample, part: int, top: float, limiter: TruePeakLimiter) -> ScratchFile:
    """What the limiter's loss at any scale up to ``top`` depends on, per detection frame of a part:
    its true peak (exact wherever ``top`` times it could reach the ceiling) and the K-weighted energy
    of the frame that leaves the limiter with that frame's gain (the audio waits ``latency`` frames).
    Found once, so that each of the make-up's trials only scales, holds and sums."""
    out = ScratchFile(sample.work / f"loss{part}.f32")
    delay = FixedDelay(1, limiter.latency)

    def add(mix: np.ndarray, energy: np.ndarray) -> None:
        peak = limiter.peaks(mix, top)
        out.append(np.vstack((np.zeros(mix.shape[1]) if peak is None else peak, delay(energy))))

    for mix, energy in sample.stored(part):
        add(mix, energy)
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
