"""The conversion: decode -> store (+ room, sample) | gain | circle -> mix chain -> encode.

Loudness normalisation needs its gain before the first block is encoded, and the
encoder is the slowest stage, so everything else is arranged to run beside it.
Pass 1 decodes the input into a scratch file (scratch.py) while measuring its
loudness, renders the room into a second one (16 bytes per frame; with the
sample's files about 18.5 in all, ``scratch_bytes``: about 147 MB for 3 minutes at
44.1 kHz) and spatialises a sample of the song
(sample.py), from which the mix's loudness is predicted and the limiter's loss
measured. Pass 2 spatialises the stored input, runs the mix chain (mix.py: its
steps, the room among them, which the sample runs too; then the gain and the
true-peak limiter) and encodes: a pipeline of threads (see ``_render``; pedalboard
and numpy release the GIL). Memory stays at a few blocks whatever the song's length.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from surroundyou.audio.decode import AudioSource, Damaged, open_source
from surroundyou.audio.encode import Encoder
from surroundyou.audio.tags import Tags, read_tags
from surroundyou.convert import allocator
from surroundyou.convert.mix import MixChain, Output, Steps
from surroundyou.convert.pipeline import Stage, read_ahead
from surroundyou.convert.sample import MIN_SAMPLE_S, STRIDE, Sample, Sampler, limiting_loss_db
from surroundyou.convert.scratch import BYTES_PER_SAMPLE, ScratchError, ScratchFile
from surroundyou.convert.tempdirs import run_folder
from surroundyou.dsp.binaural import BinauralRenderer
from surroundyou.dsp.hrtf import load_sofa
from surroundyou.dsp.loudness import LoudnessMeter
from surroundyou.dsp.motion import CircularPanner, Spatializer
from surroundyou.dsp.motion_meter import Motion, MotionMeter, MotionTrace
from surroundyou.dsp.room import MAX_TAIL_S, RoomSend
from surroundyou.errors import InputError, StorageError, storage_cause, temp_fix
from surroundyou.formats import Format, format_of
from surroundyou.logs import log
from surroundyou.progress import Progress
from surroundyou.settings import Settings

MAX_GAIN_DB = 30.0  # never lift quiet material by more than this (silence gets 0 dB)
MIN_MEASURABLE_S = 0.4  # inputs shorter than one BS.1770 gating block are not normalised
ENCODER_QUEUE = 3  # limited blocks waiting for the encoder, the slowest stage: it should never wait
PIPELINE_DEPTH = 2  # rendered blocks waiting for the room and the limiter, at most
LOUDNESS_TOLERANCE_LU = 0.5  # a miss larger than this is logged as a warning
# Never a blast. Float files can go over full scale, a little; a decoder can be made to produce
# any value, NaN and infinity included. Samples beyond this are not a recording: refused.
MAX_PEAK = 1000.0  # times full scale: +60 dBFS (numerically far from float32's limits: squares 1e6)
# An output louder than the target by more than this is not written: the gain came from a
# prediction (sample.py) that real songs meet within 0.2 LU, so missing by 1 LU means the input
# fooled the measurement, and a deterministic failure is better than a blast or a retry.
OUTPUT_MARGIN_LU = 1.0


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
    mix_lufs: float  # of the rendered mix, before normalisation: predicted from the input and the sample
    gain_db: float  # applied to the mix: normalisation plus make-up for the limiter
    output_lufs: float  # of the limited output, before encoding
    motion: Motion  # measured on the output (limited, before the codec)
    limited_db: float  # the limiter's largest gain reduction
    processing_seconds: float
    trace: MotionTrace = field(repr=False, compare=False)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def implausible(block: np.ndarray) -> str | None:
    """Why a decoded block cannot be a recording (NaN or infinite samples, a peak over MAX_PEAK),
    or None. Two reductions over the block, no copy."""
    top, bottom = float(block.max(initial=0.0)), float(block.min(initial=0.0))
    if not (math.isfinite(top) and math.isfinite(bottom)):  # NaN propagates through max and min
        return "its samples include NaN or infinity"
    peak = max(top, -bottom)
    if peak > MAX_PEAK:
        return (
            f"its samples reach {peak:.3g} times full scale "
            f"(+{20 * math.log10(peak):.0f} dBFS; at most +{20 * math.log10(MAX_PEAK):.0f} dBFS is accepted)"
        )
    return None


def normalisation_gain_db(measured_lufs: float, target_lufs: float) -> float:
    """Gain to reach the target; 0 dB for silence or audio too short to measure."""
    if not math.isfinite(measured_lufs):
        return 0.0
    return min(target_lufs - measured_lufs, MAX_GAIN_DB)


def make_spatializer(rate: int, settings: Settings, source_channels: int = 2) -> Spatializer:
    if settings.renderer == "pan":
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


@dataclass(frozen=True)
class Decoded:
    """What pass 1 stored and measured."""

    frames: int
    loudness: LoudnessMeter  # of the input as decoded (mono doubled to stereo)


def _store(
    source: AudioSource,
    rate: int,
    settings: Settings,
    store: ScratchFile,
    room: ScratchFile | None,
    sampler: Sampler,
    progress: Progress,
    name: str = "input",
) -> Decoded:
    """Pass 1: decode the whole input into ``store``, measure its loudness, render the room into
    ``room`` (tail included; None: no room) and the sample (``sampler``).

    The room is a send from the unspatialised input and does not depend on the gain, so it is
    made here, where a core would otherwise wait for the decoder, rather than beside the encoder
    in pass 2. Three threads: the decoder reads ahead, the room (pedalboard's reverb, which
    releases the GIL) works beside this one, which measures and stores each block and renders the
    sample's segments once their room is stored. A ``Damaged`` source is found before the song is
    spatialised; a block that is not plausible audio (``implausible``) before anything uses it."""
    meter = LoudnessMeter(rate)
    # The room leans with the source in the binaural renderers; pan mode stays a level swing in a still room.
    circling = settings.period_s if settings.renderer == "binaural" else None
    reverb = RoomSend(rate, settings.reverb, settings.block_frames, circling) if room is not None else None
    expected = max(1.0, source.info.seconds * rate)
    most_frames = settings.max_duration_s * rate  # headers can lie: the decoded length is checked too
    in_flight: deque[tuple[Future[None], int]] = deque()  # the room's blocks, with the frame each ends at
    roomed = 0  # frames whose room is stored

    def settle(wait: int) -> None:
        """Wait until at most ``wait`` room blocks are in flight; sample what is then stored."""
        nonlocal roomed
        while len(in_flight) > wait:
            future, roomed = in_flight.popleft()
            future.result()
        sampler.advance(store, roomed if reverb is not None else store.frames)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="room") as rooms:
        for block in read_ahead(source.blocks(settings.block_frames, rate)):
            if (reason := implausible(block)) is not None:
                raise InputError(f"{name}: not plausible audio: {reason}")
            if room is not None and reverb is not None:
                end = store.frames + block.shape[1]
                in_flight.append((rooms.submit(lambda b: room.append(reverb.process(b)), block), end))
            meter.add(block)
            store.append(block)
            settle(PIPELINE_DEPTH)
            progress(min(1.0, store.frames / expected))
            if store.frames > most_frames:
                raise InputError(
                    f"decodes to more than the limit of {_duration(settings.max_duration_s)} (MAX_DURATION_SECONDS)"
                )
        settle(0)
    if room is not None and reverb is not None:
        for tail in reverb.tail():
            room.append(tail)
    sampler.advance(store, store.frames, final=True)
    return Decoded(store.frames, meter)


class _Finish:
    """Pass 2's finishing stage, block by block in order: run the mix chain on the dry render (its
    ``steps``, the room among them, then its ``output``: the gain and the limiter), measure (the
    dry render's interaural delay, the output's loudness and each ear's level: what the listener
    gets) and hand the result on."""

    def __init__(
        self,
        steps: Steps,
        output: Output,
        song: int,
        motion: MotionMeter,
        hand_on: Callable[[np.ndarray], None],
    ) -> None:
        self.steps = steps
        self.output = output
        self.song = song  # frames: the levels are measured on the song, not on the room's tail
        self.motion = motion
        self.meter = LoudnessMeter(output.limiter.rate)
        self.hand_on = hand_on
        self.done = 0  # frames finished

    def __call__(self, dry: np.ndarray | None) -> None:
        """``dry``: the next rendered block; None after the song: what the steps add after it (the
        room's decay), if anything, and then the limiter's look-ahead."""
        done = self.done
        if dry is None:
            mixed = self.steps.tail(done)
            out = np.concatenate((self.output(mixed), self.output.flush()), axis=1)
        else:
            self.motion.add_dry(dry)
            mixed = self.steps(dry, done)
            out = self.output(mixed)
        self.meter.add(out)
        if done < self.song:
            self.motion.add(out[:, : self.song - done])
        self.done += mixed.shape[1]
        self.hand_on(out)


def _render(
    store: ScratchFile,
    chain: MixChain,
    spatial: Spatializer,
    output: Output,
    sink: Callable[[np.ndarray], None],
    motion: MotionMeter,
    progress: Progress,
) -> LoudnessMeter:
    """Pass 2: spatialise the stored input, finish it (``_Finish``: the mix chain's steps, then its
    ``output``, and the meters) and hand it to ``sink`` (the encoder); returns the output's loudness meter.

    Four threads, in the order the audio flows: the store is read ahead, this thread spatialises,
    then the finishing stage and the encoder (the slowest, which should never wait) each on its own."""
    with Stage("encode", ENCODER_QUEUE) as encoding, Stage("finish", PIPELINE_DEPTH) as finishing:
        finish = _Finish(chain.steps(), output, store.frames, motion, lambda out: encoding.submit(sink, out))
        read = 0
        for block in read_ahead(store.blocks()):
            finishing.submit(finish, spatial.process(block))
            read += block.shape[1]
            progress(read / store.frames)
        finishing.drain()
        finish(spatial.flush())
        finish(None)
        encoding.drain()
    return finish.meter


def _gain(decoded: Decoded, input_lufs: float, sample: Sample, target_lufs: float) -> tuple[float, float]:
    """(the mix's loudness, the gain in dB): normalisation to the target, plus the make-up for what the
    limiter will take away where the gained mix would reach its ceiling (both from the sample)."""
    if decoded.frames < MIN_MEASURABLE_S * sample.rate or not math.isfinite(input_lufs):
        return input_lufs, 0.0  # silence, or shorter than one gating block
    mix_lufs = sample.mix_lufs(decoded.loudness)
    gain_db = normalisation_gain_db(mix_lufs, target_lufs)
    return mix_lufs, gain_db + limiting_loss_db(sample, gain_db)


def misses_target(output_lufs: float, target_lufs: float) -> bool:
    """Whether an output's loudness is further from the target than the tolerance (a warning says so)."""
    return abs(output_lufs - target_lufs) > LOUDNESS_TOLERANCE_LU


def _warn(name: str, motion: Motion, output_lufs: float | None, target_lufs: float, limited_db: float) -> None:
    """What the listener would want to know: a circle too weak to hear, a loudness target missed
    (``output_lufs`` None: not normalised, so no target to miss)."""
    if motion.weak:
        log.warning(
            "%s: the circle is barely audible: the level swings %.1f dB from ear to ear, the delay %.2f ms",
            name,
            motion.ild_swing_db,
            motion.itd_ms,
        )
    if output_lufs is not None and misses_target(output_lufs, target_lufs):
        log.warning(
            "%s: output loudness %.1f LUFS misses the %.1f LUFS target by more than %.1f LU "
            "(very dynamic material: the limiter reduced peaks by %.1f dB)",
            name,
            output_lufs,
            target_lufs,
            LOUDNESS_TOLERANCE_LU,
            limited_db,
        )


def _check_loudness(name: str, output_lufs: float, target_lufs: float) -> None:
    """The last guard before an output is published: never louder than the target + OUTPUT_MARGIN_LU
    (an output too short or too quiet to measure, -inf, passes)."""
    if not output_lufs <= target_lufs + OUTPUT_MARGIN_LU:  # NaN fails too
        raise InputError(
            f"{name}: not written: it would be {output_lufs:.1f} LUFS, more than {OUTPUT_MARGIN_LU:g} LU over "
            f"the {target_lufs:g} LUFS target (the input's loudness could not be measured reliably)"
        )


def _span(progress: Progress, start: float, width: float) -> Progress:
    return lambda fraction: progress(start + width * fraction)


def convert(src: Path, dst: Path, settings: Settings, progress: Progress | None = None, marker: str = "") -> Report:
    """Convert one file; ``dst`` appears only if the whole conversion succeeded.

    ``marker``: a tag written into the output, by which local mode later knows it is up to date.
    """
    started = time.perf_counter()
    allocator.tune()
    progress = progress or (lambda _: None)
    fmt = format_of(dst)
    source = open_source(src, settings.max_input_bytes)
    if source.info.seconds > settings.max_duration_s:
        raise InputError(
            f"{src.name}: {_duration(source.info.seconds)} is over the limit of "
            f"{_duration(settings.max_duration_s)} (MAX_DURATION_SECONDS)"
        )
    tags = replace(read_tags(src), marker=marker)
    try:
        try:
            return _convert(source, dst, fmt, settings, progress, started, tags, src.name)
        except Damaged as damage:  # raised before any doubtful block was rendered: start again
            log.warning("%s: %s", src.name, damage)
            return _convert(damage.fallback, dst, fmt, settings, progress, started, tags, src.name)
    except ScratchError as exc:  # the temporary folder: full, over quota, not writable
        rate = fmt.output_rate(source.info.rate)
        raise StorageError(_scratch_failure(src.name, exc, source.info.seconds, rate, settings.reverb > 0)) from None
    except OSError as exc:  # a disk gone from under the conversion (the output's errors are the Encoder's)
        raise StorageError(f"disk error while converting {src.name}: {exc.strerror or exc}") from None


def scratch_bytes(seconds: float, rate: int, room: bool) -> int:
    """The most the scratch files of a song ``seconds`` long hold at ``rate``: the input and its room
    (two float32 rows a frame each; the room with its longest tail), the sample's mix with its energy
    (three rows a sampled frame) and the loss estimate's peaks and energies (two more; sample.py)."""
    frames = seconds * rate
    stride = max(1, min(STRIDE, int(frames / (MIN_SAMPLE_S * rate))))
    rows = 2 * frames + (2 * (frames + MAX_TAIL_S * rate) if room else 0) + (3 + 2) * frames / stride
    return math.ceil(BYTES_PER_SAMPLE * rows)


def _scratch_failure(name: str, error: OSError, seconds: float, rate: int, room: bool) -> str:
    """One line: the temporary folder, what it refused, the space this song needs there and how to move it."""
    folder = tempfile.gettempdir()
    need = ""
    if seconds > 0:  # a length the header gives
        size = scratch_bytes(seconds, rate, room)
        need = f"; a song of {_duration(seconds)} needs about {math.ceil(size / 1e6)} MB there"
    return (
        f"{name}: cannot write its scratch files in the temporary folder {folder}: {storage_cause(error)}"
        f"{need}; {temp_fix(error)}"
    )


def _scratch_folder() -> tempfile.TemporaryDirectory[str]:
    try:
        return tempfile.TemporaryDirectory(prefix="song-", dir=run_folder())
    except OSError as exc:
        raise ScratchError(exc.errno, exc.strerror) from None


def _convert(
    source: AudioSource,
    dst: Path,
    fmt: Format,
    settings: Settings,
    progress: Progress,
    started: float,
    tags: Tags,
    name: str,
) -> Report:
    rate = fmt.output_rate(source.info.rate)
    channels = source.info.channels
    with (
        _scratch_folder() as work,
        contextlib.closing(ScratchFile(Path(work) / "input.f32")) as store,
        contextlib.closing(ScratchFile(Path(work) / "room.f32")) as room,
    ):
        ceiling = settings.ceiling_dbtp - fmt.margin_db(rate)
        chain = MixChain(rate, settings, ceiling, room if settings.reverb > 0 else None)
        sampler = Sampler(
            chain, source.info.seconds * rate, Path(work), lambda: make_spatializer(rate, settings, channels)
        )
        try:
            decoded = _store(source, rate, settings, store, chain.room, sampler, _span(progress, 0.0, 0.3), name)
            input_lufs = decoded.loudness.integrated()
            mix_lufs, gain_db = _gain(decoded, input_lufs, sampler.sample, settings.target_lufs)
        finally:
            sampler.sample.close()
        progress(0.3)
        output = chain.output(gain_db)
        final = output.limiter
        motion_meter = MotionMeter(rate)
        spatial = make_spatializer(rate, settings, channels)
        with Encoder(dst, fmt, rate, settings.quality) as encoder:
            out_meter = _render(store, chain, spatial, output, encoder.write, motion_meter, _span(progress, 0.3, 0.7))
            output_lufs = out_meter.integrated()
            _check_loudness(name, output_lufs, settings.target_lufs)
            encoder.commit(tags)
    motion = motion_meter.summary()
    _warn(name, motion, output_lufs if gain_db != 0.0 else None, settings.target_lufs, final.max_reduction_db)
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
