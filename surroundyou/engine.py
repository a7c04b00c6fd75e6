"""The conversion: decode -> store | sample -> gain | circle -> room -> limit -> encode.

Loudness normalisation needs its gain before the first block is encoded, and the
encoder is the slowest stage, so everything else is arranged to run beside it.
Pass 1 decodes the input into a scratch file (scratch.py, 8 bytes per frame:
about 64 MB for 3 minutes at 44.1 kHz) while measuring its loudness. The mix's
loudness is then predicted from the input's and the shift the rendering brings
on a sample of the song (every 8th segment, rendered on two threads), and the
limiter's loudness loss measured on the same sample. Pass 2 renders the stored
input, adds the room, applies the gain and the true-peak limiter and encodes:
a pipeline of threads (see ``_render``; pedalboard and numpy release the GIL).
Memory stays at a few blocks whatever the song's length.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from . import allocator
from .binaural import BinauralRenderer
from .decode import AudioSource, Damaged, open_source
from .encode import CODEC_MARGIN_DB, Encoder, check_format, output_rate
from .errors import InputError, StorageError
from .hrtf import load_sofa
from .limiter import WORST_GAIN, TruePeakLimiter
from .logs import log
from .loudness import STEP_S, LoudnessMeter, block_loudness, gated_loudness, integrated_loudness
from .motion import CircularPanner, Spatializer
from .motion_meter import Motion, MotionMeter, MotionTrace
from .room import RoomSend
from .scratch import ScratchFile
from .settings import Settings
from .tags import Tags, read_tags

MAX_GAIN_DB = 30.0  # never lift quiet material by more than this (silence gets 0 dB)
MIN_MEASURABLE_S = 0.4  # inputs shorter than one BS.1770 gating block are not normalised
MAX_MAKEUP_DB = 4.0  # most loudness the limiter may be asked to make up for
LOSS_STRIDE = 8  # estimate the limiter's loudness loss on every 8th block at most
LOSS_SAMPLE_S = 20.0  # and on this much of the song at least (short songs: all of it)
LOSS_PARTS = 2  # threads sharing that estimate
PIPELINE_DEPTH = 2  # rendered blocks waiting for the room and the limiter, at most
REACH_SPACINGS = 1.5  # a segment's energies count this many segment spacings either side
SEGMENT_S = 0.5  # the sample's segments: short, so that many places and sections are seen
GOLDEN = (5**0.5 - 1) / 2
MAKEUP_STEPS = 3
MAKEUP_TOLERANCE_DB = 0.1
LOUDNESS_TOLERANCE_LU = 0.5  # a miss larger than this is logged as a warning

Progress = Callable[[float], None]  # called with the fraction done, 0..1
T = TypeVar("T")


@dataclass(frozen=True)
class Report:
    """What one conversion did, for the log line and the tests."""

    decoder: str
    source_rate: int
    source_channels: int
    rate: int
    input_seconds: float
    output_seconds: float
    input_lufs: float  # of the input as decoded (downmixed to stereo; mono counted once)
    mix_lufs: float  # of the rendered mix, before normalisation: the input's plus the shift on a sample
    gain_db: float  # applied to the mix: normalisation plus make-up for the limiter
    output_lufs: float  # of the limited output, before encoding
    motion: Motion  # measured on the output (limited, before the codec)
    limited_db: float  # the limiter's largest gain reduction
    processing_seconds: float
    trace: MotionTrace = field(repr=False, compare=False)

    @property
    def realtime_factor(self) -> float:
        return self.input_seconds / self.processing_seconds if self.processing_seconds > 0 else math.inf


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def normalisation_gain_db(measured_lufs: float, target_lufs: float) -> float:
    """Gain to reach the target; 0 dB for silence or audio too short to measure."""
    if not math.isfinite(measured_lufs):
        return 0.0
    return min(target_lufs - measured_lufs, MAX_GAIN_DB)


def make_spatializer(rate: int, settings: Settings, source_channels: int = 2) -> Spatializer:
    if settings.mode == "pan":
        return CircularPanner(rate, settings.period_s)
    hrtf = load_sofa(Path(settings.hrtf), rate) if settings.hrtf else None
    return BinauralRenderer(
        rate,
        settings.period_s,
        settings.width_deg,
        mono=source_channels == 1,
        hrtf=hrtf,
        depth_db=settings.depth_db,
    )


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` up to ``depth`` steps ahead on a worker thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        pending = deque(pool.submit(next, items, None) for _ in range(depth))
        while (item := pending.popleft().result()) is not None:
            pending.append(pool.submit(next, items, None))
            yield item


@dataclass(frozen=True)
class Decoded:
    """What pass 1 stored and measured."""

    frames: int
    loudness: LoudnessMeter  # of the input as decoded (mono doubled to stereo)


def _store(
    source: AudioSource, rate: int, settings: Settings, store: ScratchFile, room: ScratchFile, progress: Progress
) -> Decoded:
    """Pass 1: decode the whole input into ``store``, measure its loudness, and render the room into
    ``room`` (tail included).

    The room is a send from the unspatialised input and does not depend on the gain, so it is
    made here, where a core would otherwise wait for the decoder, rather than beside the encoder
    in pass 2. Three threads: the decoder reads ahead, this one measures and stores, the room
    (pedalboard's reverb, which releases the GIL) works beside it. Nothing is spatialised yet:
    a ``Damaged`` source is found before that work is done."""
    meter = LoudnessMeter(rate)
    reverb = RoomSend(rate, settings.reverb, settings.block_frames) if settings.reverb > 0 else None
    expected = max(1.0, source.info.seconds * rate)
    limit = settings.max_duration_s * rate  # headers can lie: the decoded length is checked too
    in_flight: deque[Future[None]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="room") as rooms:
        for block in read_ahead(source.blocks(settings.block_frames, rate)):
            if reverb is not None:
                if len(in_flight) == PIPELINE_DEPTH:
                    in_flight.popleft().result()
                in_flight.append(rooms.submit(lambda b: room.append(reverb.process(b)), block))
            meter.add(block)
            store.append(block)
            progress(min(1.0, store.frames / expected))
            if store.frames > limit:
                raise InputError(
                    f"decodes to more than the limit of {_duration(settings.max_duration_s)} (MAX_DURATION_SECONDS)"
                )
        while in_flight:
            in_flight.popleft().result()
    if reverb is not None:
        for tail in reverb.tail():
            room.append(tail)
    return Decoded(store.frames, meter)


@dataclass(frozen=True)
class Sample:
    """Every ``stride``-th segment of the song, spatialised with its room and stored, one file per
    worker thread."""

    parts: list[ScratchFile]  # each segment stored as one block
    mix_meters: list[LoudnessMeter]  # of the segments' mix
    peak: float  # largest sample of the mixes
    energies: list[tuple[float, float, float]]  # per audible segment: centre frame, input and mix energy
    reach: float  # frames: how far a segment's ratio counts, either side

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
        weights = np.maximum(0.0, 1.0 - np.abs(times[:, None] - centres[None, :]) / self.reach)
        near_before, near_after = weights @ before, weights @ after
        # Steps with no segment within reach: the nearest segments' ratio.
        ratio = np.interp(times, centres, after / before)
        seen = near_before > 0.0
        ratio[seen] = near_after[seen] / near_before[seen]
        return gated_loudness(block_loudness(steps * ratio, input_meter.rate))


def _sample(store: ScratchFile, room: ScratchFile, rate: int, settings: Settings, channels: int, work: Path) -> Sample:
    """Spatialise segments of 0.5 s, one in every ``stride`` (at most an eighth of the song,
    at least 20 s of it), on ``LOSS_PARTS`` threads, and add their room.

    The mix's loudness is predicted from the input's (measured whole in pass 1) plus the shift that
    spatialising and the room bring on these segments: on 26 real songs within 0.18 LU of the whole
    mix's. Each thread keeps one renderer, moved to each segment's place on the circle; its filter
    states and its latency (a frame; with an HRTF, its onset) carry over from the previous segment,
    which shifts nothing measurable in loudness or peaks."""
    size = max(1, round(SEGMENT_S * rate))
    stride = max(1, min(LOSS_STRIDE, int(store.frames / (LOSS_SAMPLE_S * rate))))
    starts = []
    for i, base in enumerate(range(0, store.frames, size * stride)):
        # Stagger the segments by golden-ratio fractions: evenly spaced ones can alias with
        # the rotation (24 x 0.5 s is a 12 s circle) and see only some directions.
        start = base + int((i * GOLDEN) % 1.0 * size * (stride - 1))
        if start < store.frames:
            starts.append(start)

    def part(index: int) -> tuple[ScratchFile, LoudnessMeter, float, list[tuple[float, float, float]]]:
        spatial = make_spatializer(rate, settings, channels)
        file = ScratchFile(work / f"sample{index}.f32")
        input_meter, mix_meter = LoudnessMeter(rate), LoudnessMeter(rate)
        peak = 0.0
        energies = []
        for start in starts[index::LOSS_PARTS]:
            block = store.read(start, size)
            spatial.position = start
            mix = spatial.process(block)
            if room.frames:
                mix += room.read(start, mix.shape[1])
            before, after = input_meter.add(block), mix_meter.add(mix)
            if before > 0.0:
                energies.append((start + 0.5 * block.shape[1], before, after))
            file.append(mix)
            if mix.size:
                peak = max(peak, float(mix.max()), -float(mix.min()))
        return file, mix_meter, peak, energies

    with ThreadPoolExecutor(max_workers=LOSS_PARTS, thread_name_prefix="sample") as pool:
        results = list(pool.map(part, range(LOSS_PARTS)))
    files, mix_meters, peaks, energies = zip(*results, strict=True)
    reach = REACH_SPACINGS * size * stride
    return Sample(list(files), list(mix_meters), max(peaks), [e for part in energies for e in part], reach)


def _render(
    store: ScratchFile,
    room: ScratchFile,
    spatial: Spatializer,
    gain_db: float,
    limiter: TruePeakLimiter,
    sink: Callable[[np.ndarray], None],
    motion: MotionMeter,
    progress: Progress,
) -> LoudnessMeter:
    """Pass 2: spatialise the stored input, add the stored room, apply the gain and the limiter,
    meter the result and hand it to ``sink`` (the encoder).

    A pipeline of four threads, in the order the audio flows: the store is read ahead, this thread
    spatialises, a finishing thread adds the room, limits and measures (the dry render's interaural
    delay, the output's loudness and each ear's level: what the listener gets), and the encoder runs
    on the last. numpy and pedalboard release the GIL for the heavy parts."""
    gain = np.float32(10.0 ** (gain_db / 20.0))
    meter = LoudnessMeter(limiter.rate)
    song = store.frames  # the levels are measured on the song, not on the room's tail
    done = 0  # frames finished
    encoding: deque[Future[None]] = deque()

    def finish(dry: np.ndarray | None, encoder: ThreadPoolExecutor) -> None:
        """Add the room to ``dry`` (None: what is left of the room after the song, or only the
        limiter's look-ahead without a room), limit, measure and hand on; in order."""
        nonlocal done
        if dry is None:
            mixed = room.read(done, room.frames - done) if room.frames > done else None
        else:
            motion.add_dry(dry)
            mixed = dry + room.read(done, dry.shape[1]) if room.frames else dry
        out = limiter.process(mixed * gain) if mixed is not None else np.zeros((2, 0), np.float32)
        if mixed is None or dry is None:
            out = np.concatenate((out, limiter.flush()), axis=1)
        meter.add(out)
        if done < song:
            motion.add(out[:, : song - done])
        done += mixed.shape[1] if mixed is not None else 0
        if encoding:
            encoding.popleft().result()
        encoding.append(encoder.submit(sink, out))

    in_flight: deque[Future[None]] = deque()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as encoder,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="finish") as finishing,
    ):
        read = 0
        for block in read_ahead(store.blocks()):
            dry = spatial.process(block)
            if len(in_flight) == PIPELINE_DEPTH:
                in_flight.popleft().result()
            in_flight.append(finishing.submit(finish, dry, encoder))
            read += block.shape[1]
            progress(read / store.frames)
        while in_flight:
            in_flight.popleft().result()
        finish(spatial.flush(), encoder)
        finish(None, encoder)
        while encoding:
            encoding.popleft().result()
    return meter


def _limiting_loss_db(sample: Sample, rate: int, gain_db: float, limiter: Callable[[], TruePeakLimiter]) -> float:
    """Make-up gain (dB) for the loudness the limiter takes away, at most ``MAX_MAKEUP_DB``.

    The limiter acts locally (it recovers within a second), so its loudness loss at a given gain
    is measured on the sample's segments, one limiter through each part, on the sample's threads. The
    make-up m must equal the loss it causes, m = loss(m), solved by secant steps.
    """

    def loudness(scale: np.float32) -> float:
        """Loudness of the segments at ``scale``, limited."""

        def part(file: ScratchFile) -> LoudnessMeter:
            # One limiter through the part's segments: what it carries over from one to the next is
            # music of the same song, nearer the truth than starting at rest on every segment.
            meter, lim = LoudnessMeter(rate), limiter()
            for segment in file.blocks():
                meter.add(lim.process(segment * scale))
            meter.add(lim.flush())
            return meter

        return integrated_loudness(list(pool.map(part, sample.parts)))

    sampled_lufs = integrated_loudness(sample.mix_meters)  # at unity gain; a gain of g dB adds exactly g

    def loss(makeup: float) -> float:
        gain = gain_db + makeup
        value = sampled_lufs + gain - loudness(np.float32(10.0 ** (gain / 20.0)))
        return value if math.isfinite(value) else 0.0

    with ThreadPoolExecutor(max_workers=LOSS_PARTS, thread_name_prefix="makeup") as pool:
        return solve_makeup(loss)


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


def _span(progress: Progress, start: float, width: float) -> Progress:
    return lambda fraction: progress(start + width * fraction)


def convert(src: Path, dst: Path, settings: Settings, progress: Progress | None = None, marker: str = "") -> Report:
    """Convert one file; ``dst`` appears only if the whole conversion succeeded.

    ``marker``: a tag written into the output, by which local mode later knows it is up to date.
    """
    started = time.perf_counter()
    allocator.tune()
    progress = progress or (lambda _: None)
    suffix = check_format(dst)
    source = open_source(src, settings.max_input_bytes)
    if source.info.seconds > settings.max_duration_s:
        raise InputError(
            f"{src.name}: {_duration(source.info.seconds)} is over the limit of "
            f"{_duration(settings.max_duration_s)} (MAX_DURATION_SECONDS)"
        )
    tags = replace(read_tags(src), marker=marker)
    try:
        try:
            return _convert(source, dst, suffix, settings, progress, started, tags, src.name)
        except Damaged as damage:  # raised before any doubtful block was rendered: start again
            log.warning("%s: %s", src.name, damage)
            return _convert(damage.fallback, dst, suffix, settings, progress, started, tags, src.name)
    except OSError as exc:  # the scratch or output disk: full, read-only, gone
        raise StorageError(f"disk error while converting {src.name}: {exc.strerror or exc}") from None


def _convert(
    source: AudioSource,
    dst: Path,
    suffix: str,
    settings: Settings,
    progress: Progress,
    started: float,
    tags: Tags,
    name: str,
) -> Report:
    rate = output_rate(suffix, source.info.rate)
    channels = source.info.channels
    with (
        tempfile.TemporaryDirectory(prefix="surroundyou-") as work,
        contextlib.closing(ScratchFile(Path(work) / "input.f32")) as store,
        contextlib.closing(ScratchFile(Path(work) / "room.f32")) as room,
    ):
        decoded = _store(source, rate, settings, store, room, _span(progress, 0.0, 0.25))
        input_lufs = decoded.loudness.integrated()
        ceiling = settings.ceiling_dbtp - CODEC_MARGIN_DB[suffix]

        def limiter() -> TruePeakLimiter:
            return TruePeakLimiter(rate, ceiling)

        if decoded.frames < MIN_MEASURABLE_S * rate or not math.isfinite(input_lufs):
            mix_lufs, gain_db = input_lufs, 0.0  # silence, or shorter than one gating block
        else:
            sample = _sample(store, room, rate, settings, channels, Path(work))
            try:
                mix_lufs = sample.mix_lufs(decoded.loudness)
                gain_db = normalisation_gain_db(mix_lufs, settings.target_lufs)
                if sample.peak * 10 ** (gain_db / 20) * WORST_GAIN > 10 ** (ceiling / 20):
                    gain_db += _limiting_loss_db(sample, rate, gain_db, limiter)
            finally:
                sample.close()
        progress(0.3)
        final = limiter()
        motion_meter = MotionMeter(rate)
        spatial = make_spatializer(rate, settings, channels)
        with Encoder(dst, rate, settings.mp3_quality) as encoder:
            out_meter = _render(
                store, room, spatial, gain_db, final, encoder.write, motion_meter, _span(progress, 0.3, 0.7)
            )
            encoder.commit(tags)
    output_lufs = out_meter.integrated()
    motion = motion_meter.summary()
    if motion.weak:
        log.warning(
            "%s: the circle is barely audible: the level swings %.1f dB from ear to ear, the delay %.2f ms",
            name,
            motion.ild_swing_db,
            motion.itd_ms,
        )
    if gain_db != 0.0 and abs(output_lufs - settings.target_lufs) > LOUDNESS_TOLERANCE_LU:
        log.warning(
            "%s: output loudness %.1f LUFS misses the %.1f LUFS target by more than %.1f LU "
            "(very dynamic material: the limiter reduced peaks by %.1f dB)",
            name,
            output_lufs,
            settings.target_lufs,
            LOUDNESS_TOLERANCE_LU,
            final.max_reduction_db,
        )
    return Report(
        decoder=source.info.decoder,
        source_rate=source.info.rate,
        source_channels=source.info.channels,
        rate=rate,
        input_seconds=decoded.frames / rate,
        output_seconds=out_meter.frames / rate,
        # BS.1770 counts a mono channel once; it was doubled to stereo
        input_lufs=input_lufs - 10 * math.log10(2) if channels == 1 else input_lufs,
        mix_lufs=mix_lufs,
        gain_db=gain_db,
        output_lufs=output_lufs,
        motion=motion,
        trace=motion_meter.trace(),
        limited_db=final.max_reduction_db,
        processing_seconds=time.perf_counter() - started,
    )
