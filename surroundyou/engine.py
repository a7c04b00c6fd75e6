"""The conversion: decode -> circle -> room -> measure | gain -> limit -> encode.

Two passes, because loudness normalisation needs the integrated loudness
before it can apply its gain. Pass 1 renders the spatial mix and measures it
while writing float32 frames to a scratch file; pass 2 reads them back,
applies the gain and the true-peak limiter, and encodes. Memory stays at a few
blocks whatever the song's length; the scratch file takes 8 bytes per frame
(about 64 MB for 3 minutes at 44.1 kHz) on disk. Decoding and encoding run on
a worker thread each (pedalboard releases the GIL), overlapping the DSP.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np

from .decode import AudioSource, open_source
from .encode import CODEC_MARGIN_DB, Encoder, check_format, output_rate
from .limiter import TruePeakLimiter
from .loudness import LoudnessMeter
from .motion import CircularPanner, Spatializer
from .room import RoomSend
from .settings import Settings

MAX_GAIN_DB = 30.0  # never lift quiet material by more than this (silence gets 0 dB)

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
    loudness_lufs: float  # of the rendered mix, before normalisation
    gain_db: float
    limited_db: float  # the limiter's largest gain reduction
    processing_seconds: float

    @property
    def realtime_factor(self) -> float:
        return self.input_seconds / self.processing_seconds if self.processing_seconds > 0 else math.inf


def normalisation_gain_db(measured_lufs: float, target_lufs: float) -> float:
    """Gain to reach the target; 0 dB for silence or audio too short to measure."""
    if not math.isfinite(measured_lufs):
        return 0.0
    return min(target_lufs - measured_lufs, MAX_GAIN_DB)


def make_spatializer(rate: int, settings: Settings) -> Spatializer:
    return CircularPanner(rate, settings.period_s)


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """Iterate ``items`` one step ahead on a worker thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def _render(
    source: AudioSource, rate: int, settings: Settings, scratch: BinaryIO, progress: Progress
) -> tuple[LoudnessMeter, int]:
    """Pass 1: spatialise, add the room, measure; write float32 frames to ``scratch``.

    Returns the meter (which has seen every frame written, tail included) and
    the number of input frames.
    """
    spatial = make_spatializer(rate, settings)
    room = RoomSend(rate, settings.reverb) if settings.reverb > 0 else None
    meter = LoudnessMeter(rate)
    expected = max(1.0, source.info.seconds * rate)

    def emit(mixed: np.ndarray) -> None:
        meter.add(mixed)
        mixed.T.tofile(scratch)  # interleaved

    # The room runs on its own thread (pedalboard releases the GIL) beside the panner.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="room") as pool:
        for block in read_ahead(source.blocks(settings.block_frames, rate)):
            wet = pool.submit(room.process, block) if room is not None else None
            mixed = spatial.process(block)
            if wet is not None:
                mixed += wet.result()
            emit(mixed)
            progress(min(0.5, 0.5 * meter.frames / expected))
    input_frames = meter.frames
    if room is not None:
        for tail in room.tail():
            emit(tail)
    return meter, input_frames


def _master(
    scratch_path: Path,
    frames: int,
    gain_db: float,
    limiter: TruePeakLimiter,
    encoder: Encoder,
    block_frames: int,
    progress: Progress,
) -> None:
    """Pass 2: gain, limit and encode the scratch frames."""
    gain = np.float32(10.0 ** (gain_db / 20.0))
    pending: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as pool, scratch_path.open("rb") as f:
        done = 0
        while done < frames:
            n = min(block_frames, frames - done)
            block = np.fromfile(f, dtype=np.float32, count=2 * n).reshape(n, 2).T * gain
            out = limiter.process(block)
            if pending is not None:
                pending.result()
            pending = pool.submit(encoder.write, out)
            done += n
            progress(0.5 + 0.5 * done / frames)
        tail = limiter.flush()
        if pending is not None:
            pending.result()
        encoder.write(tail)


def convert(src: Path, dst: Path, settings: Settings, progress: Progress | None = None) -> Report:
    """Convert one file; ``dst`` appears only if the whole conversion succeeded."""
    started = time.perf_counter()
    progress = progress or (lambda _: None)
    suffix = check_format(dst)
    source = open_source(src, settings.max_input_bytes)
    rate = output_rate(suffix, source.info.rate)
    with tempfile.TemporaryDirectory(prefix="surroundyou-") as work:
        scratch_path = Path(work) / "render.f32"
        with scratch_path.open("wb") as scratch:
            meter, input_frames = _render(source, rate, settings, scratch, progress)
        loudness = meter.integrated()
        gain_db = normalisation_gain_db(loudness, settings.target_lufs)
        limiter = TruePeakLimiter(rate, settings.ceiling_dbtp - CODEC_MARGIN_DB[suffix])
        with Encoder(dst, rate, settings.mp3_quality) as encoder:
            _master(scratch_path, meter.frames, gain_db, limiter, encoder, settings.block_frames, progress)
            encoder.commit()
    return Report(
        decoder=source.info.decoder,
        source_rate=source.info.rate,
        source_channels=source.info.channels,
        rate=rate,
        input_seconds=input_frames / rate,
        output_seconds=meter.frames / rate,
        loudness_lufs=loudness,
        gain_db=gain_db,
        limited_db=limiter.max_reduction_db,
        processing_seconds=time.perf_counter() - started,
    )
