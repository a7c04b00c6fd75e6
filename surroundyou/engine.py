"""The conversion: decode -> circle -> room -> measure | gain -> limit -> encode.

Two passes, because loudness normalisation needs the integrated loudness
before it can apply its gain. Pass 1 renders the spatial mix and measures it
while storing it in a scratch file (scratch.py); pass 2 reads it back, applies
the gain and the true-peak limiter, and encodes. Memory stays at a few blocks
whatever the song's length; the scratch file takes 8 bytes per frame (about
64 MB for 3 minutes at 44.1 kHz) on disk. Pass 1 is a pipeline of four threads
(see ``_render``); in pass 2 the encoder runs beside the limiter (pedalboard and
numpy release the GIL).
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
from .loudness import LoudnessMeter, integrated_loudness
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
PIPELINE_DEPTH = 2  # rendered blocks waiting for the room and the meters, at most
LOSS_BLOCK_FRAMES = 65536
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
    mix_lufs: float  # of the rendered mix, before normalisation
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
class Rendered:
    """What pass 1 measured while rendering."""

    meter: LoudnessMeter  # has seen every frame written, tail included
    input_frames: int
    peak: float  # largest sample magnitude written
    input_lufs: float  # of the decoded input


def _render(
    source: AudioSource, rate: int, settings: Settings, scratch: ScratchFile, motion: MotionMeter, progress: Progress
) -> Rendered:
    """Pass 1: spatialise, add the room, measure; store the mix in ``scratch``.

    A pipeline of four threads: the decoder reads ahead, the room (pedalboard's reverb)
    works on the decoded blocks, this thread renders them, and the last stage adds the
    room, measures and writes, in order; numpy and pedalboard release the GIL for the heavy parts.
    """
    spatial = make_spatializer(rate, settings, source.info.channels)
    room = RoomSend(rate, settings.reverb, settings.block_frames) if settings.reverb > 0 else None
    meter = LoudnessMeter(rate)
    input_meter = LoudnessMeter(rate)
    expected = max(1.0, source.info.seconds * rate)
    limit = settings.max_duration_s * rate  # headers can lie: the decoded length is checked too
    peak = 0.0

    def emit(mixed: np.ndarray) -> None:
        nonlocal peak
        meter.add(mixed)
        if mixed.size:
            peak = max(peak, float(mixed.max()), -float(mixed.min()))  # no temporary, unlike abs().max()
        scratch.append(mixed)

    # The room's output waits until the renderer (which may have latency) catches up with it.
    wet_queue = np.zeros((2, 0), dtype=np.float32)

    def measure(dry: np.ndarray, wet: Future[np.ndarray | None] | None) -> None:
        """Measure the dry render's interaural delay, add the room (``wet``: the room's next block),
        emit; in order."""
        nonlocal wet_queue
        motion.add_dry(dry)
        if wet is not None and (wet_block := wet.result()) is not None:
            wet_queue = np.concatenate((wet_queue, wet_block), axis=1)
        if room is not None:
            dry = dry + wet_queue[:, : dry.shape[1]]
            wet_queue = wet_queue[:, dry.shape[1] :]
        emit(dry)

    def room_and_meter(block: np.ndarray) -> np.ndarray | None:
        input_meter.add(block)
        return room.process(block) if room is not None else None

    in_flight: deque[Future[None]] = deque()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="room") as rooms,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="measure") as measuring,
    ):
        frames = 0
        for block in read_ahead(source.blocks(settings.block_frames, rate)):
            wet = rooms.submit(room_and_meter, block)
            dry = spatial.process(block)
            if len(in_flight) == PIPELINE_DEPTH:
                in_flight.popleft().result()
            in_flight.append(measuring.submit(measure, dry, wet))
            frames += dry.shape[1]
            progress(min(1.0, frames / expected))
            if frames > limit:
                raise InputError(
                    f"decodes to more than the limit of {_duration(settings.max_duration_s)} (MAX_DURATION_SECONDS)"
                )
        while in_flight:
            in_flight.popleft().result()
    dry = spatial.flush()
    measure(dry, None)
    input_frames = meter.frames
    if room is not None:
        for tail in room.tail():
            emit(tail)
    input_lufs = input_meter.integrated()
    if source.info.channels == 1:
        input_lufs -= 10 * math.log10(2)  # BS.1770 counts a mono channel once; it was doubled to stereo
    return Rendered(meter, input_frames, peak, input_lufs)


def _limit(
    scratch: ScratchFile,
    gain_db: float,
    limiter: TruePeakLimiter,
    sink: Callable[[np.ndarray], None],
    progress: Progress,
    motion: MotionMeter,
    motion_frames: int,
) -> LoudnessMeter:
    """Gain and limit the scratch frames, metering the result (each ear's level for ``motion`` over
    the first ``motion_frames``: the song without the room's tail); ``sink`` (the encoder) runs on a
    worker thread.

    The levels are measured here rather than in pass 1 because this thread waits for the encoder
    anyway, and because this is what the listener gets."""
    gain = np.float32(10.0 ** (gain_db / 20.0))
    meter = LoudnessMeter(limiter.rate)
    pending: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as pool:
        done = 0
        measured = 0
        for block in scratch.blocks():
            out = limiter.process(block * gain)
            meter.add(out)
            if measured < motion_frames:
                motion.add(out[:, : motion_frames - measured])
                measured += out.shape[1]
            if pending is not None:
                pending.result()
            pending = pool.submit(sink, out)
            done += block.shape[1]
            progress(done / scratch.frames)
        tail = limiter.flush()
        meter.add(tail)
        if pending is not None:
            pending.result()
        sink(tail)
    return meter


def _limiting_loss_db(
    scratch: ScratchFile,
    rate: int,
    gain_db: float,
    limiter: Callable[[], TruePeakLimiter],
    block_frames: int,
) -> float:
    """Make-up gain (dB) for the loudness the limiter takes away, at most ``MAX_MAKEUP_DB``.

    The limiter acts locally (it recovers within a second), so its loudness
    loss at a given gain is measured on part of the song: segments of at least
    1.5 s, one in every ``stride`` (at most an eighth of the song, at least 20 s of it),
    shared between two threads. The
    make-up m must equal the loss it causes, m = loss(m), solved by secant steps.
    """
    size = max(block_frames, LOSS_BLOCK_FRAMES)
    stride = max(1, min(LOSS_STRIDE, int(scratch.frames / (LOSS_SAMPLE_S * rate))))

    def segments(part: int) -> Iterator[np.ndarray]:
        """Every ``LOSS_PARTS``-th segment from ``part`` on, one in memory at a time."""
        for i, base in enumerate(range(0, scratch.frames, size * stride)):
            # Stagger the segments by golden-ratio fractions: evenly spaced ones can alias with
            # the rotation (8 x 1.5 s is a 12 s circle) and see only some directions.
            start = base + int((i * GOLDEN) % 1.0 * size * (stride - 1))
            if start >= scratch.frames:
                return
            if i % LOSS_PARTS == part:
                yield scratch.read(start, size)

    def loudness(scale: np.float32 | None) -> float:
        """Loudness of the segments at ``scale``, limited (None: as they are, unlimited)."""

        def part(index: int) -> LoudnessMeter:
            meter = LoudnessMeter(rate)
            for segment in segments(index):
                if scale is None:
                    meter.add(segment)
                else:
                    lim = limiter()
                    meter.add(lim.process(segment * scale))
                    meter.add(lim.flush())
            return meter

        return integrated_loudness(list(pool.map(part, range(LOSS_PARTS))))

    def loss(makeup: float) -> float:
        gain = gain_db + makeup
        value = sampled_lufs + gain - loudness(np.float32(10.0 ** (gain / 20.0)))
        return value if math.isfinite(value) else 0.0

    with ThreadPoolExecutor(max_workers=LOSS_PARTS, thread_name_prefix="makeup") as pool:
        sampled_lufs = loudness(None)  # at unity gain; a gain of g dB adds exactly g
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
    with (
        tempfile.TemporaryDirectory(prefix="surroundyou-") as work,
        contextlib.closing(ScratchFile(Path(work) / "render.f32")) as scratch,
    ):
        motion_meter = MotionMeter(rate)
        rendered = _render(source, rate, settings, scratch, motion_meter, _span(progress, 0.0, 0.4))
        meter, input_frames, peak = rendered.meter, rendered.input_frames, rendered.peak
        loudness = meter.integrated()
        gain_db = normalisation_gain_db(loudness, settings.target_lufs)
        ceiling = settings.ceiling_dbtp - CODEC_MARGIN_DB[suffix]

        def limiter() -> TruePeakLimiter:
            return TruePeakLimiter(rate, ceiling)

        if input_frames < MIN_MEASURABLE_S * rate:
            gain_db = 0.0  # shorter than one gating block: only the reverb tail would be measured
        elif peak * 10 ** (gain_db / 20) * WORST_GAIN > 10 ** (ceiling / 20):
            gain_db += _limiting_loss_db(scratch, rate, gain_db, limiter, settings.block_frames)
        final = limiter()
        with Encoder(dst, rate, settings.mp3_quality) as encoder:
            out_meter = _limit(
                scratch, gain_db, final, encoder.write, _span(progress, 0.6, 0.4), motion_meter, input_frames
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
        input_seconds=input_frames / rate,
        output_seconds=meter.frames / rate,
        input_lufs=rendered.input_lufs,
        mix_lufs=loudness,
        gain_db=gain_db,
        output_lufs=output_lufs,
        motion=motion,
        trace=motion_meter.trace(),
        limited_db=final.max_reduction_db,
        processing_seconds=time.perf_counter() - started,
    )
