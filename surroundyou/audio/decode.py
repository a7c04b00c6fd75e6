"""Open any audio file as a stream of stereo float32 blocks at a chosen rate.

The format is detected from the content, never the name (containers.py), and only
the containers in ``DEMUXERS`` are accepted: anything else (text, playlists, ffconcat
scripts, unknown bytes) is refused before any decoder sees it. WAV, AIFF, FLAC, Ogg Vorbis
and MP3 are decoded by pedalboard's streaming ``AudioFile`` (and resampled by its
streaming resampler); JUCE finds the format from the content, so the file needs no
suffix. Everything else (AAC/m4a, Opus, WMA, AC-3, ...) is probed by ffprobe and
decoded by an ffmpeg process piping raw float32 to us. ffmpeg and ffprobe read only
the file they are given: its demuxer is forced (``-f``, from our sniffing), no other
demuxer may be opened (``-format_whitelist``), nor any protocol but a file or a pipe
(``-protocol_whitelist``), and the path is given as ``file:/absolute/path``. Each runs
in its own process group with a deadline (children.py). Memory: one block.

Before decoding, a stream's sample rate and channel count are held to
``MIN_RATE``–``MAX_RATE`` Hz and 1–``MAX_CHANNELS``: a header declaring 2 GHz would
otherwise size the resampler's buffers (10 GB and more).

pedalboard decodes damaged compressed data as audio the file does not hold:
FLAC and MP3 frames that fail become digital silence (a FLAC cut to a few
hundred bytes becomes its header's full length of it), and a gap in an Ogg
stream becomes a repeated buffer. So a compressed stream that yields a second
of exact silence, ends far from its promised length, or (Ogg) whose pages do
not follow each other is checked against ffmpeg, which skips what it cannot
decode and says so. If the two disagree, ``Damaged`` carries an ffmpeg source
for what the bytes really hold; if ffmpeg decodes nothing audible, the file is
bad input. Genuine silence decodes the same in both and converts.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from pedalboard.io import AudioFile

from surroundyou import children
from surroundyou.audio.containers import (
    DEMUXERS,
    MAX_TAG_BYTES,
    SNIFF_BYTES,
    metadata_over_limit,
    mp3_fraction_present,
    ogg_pages_follow,
    sniff_file,
)
from surroundyou.dsp.channels import to_stereo
from surroundyou.errors import InputError, UsageError
from surroundyou.logs import log

MIN_RATE = 8_000  # Hz: below this no music survives, and telephone speech is 8 kHz
MAX_RATE = 384_000  # Hz: the highest rate studio formats use (DXD is 352.8 kHz)
MAX_CHANNELS = 32  # third-order ambisonics has 16, Atmos beds 10; more is not a song


# Deadlines of the child processes, from what the file is. ffprobe reads headers and at most
# scans the file: far faster than 10 MB/s. ffmpeg decodes 100x realtime or more, but into a
# pipe that the conversion drains at its own pace (pass 1, the decode's consumer, runs about
# 30x realtime on the task's 0.5 vCPU; bench/fargate.py measures the conversion under that quota):
# 0.5 s per second of audio still allows a consumer 15 times slower than that, 60 s covers a slow
# start on a loaded machine, 1 s per MB the formats whose cost goes with their bytes more than their length.
PROBE_BASE_S = 10.0
PROBE_S_PER_MB = 0.1
DECODE_BASE_S = 60.0
DECODE_S_PER_MB = 1.0
DECODE_S_PER_AUDIO_S = 0.5


def probe_timeout_s(size: int) -> float:
    """How long ffprobe may take on a file of ``size`` bytes."""
    return PROBE_BASE_S + PROBE_S_PER_MB * size / 1e6


UNKNOWN_LENGTH_S = 3 * 3600.0  # a stream whose length ffprobe cannot tell (a browser's WebM) may be this long


def decode_timeout_s(size: int, seconds: float) -> float:
    """How long an ffmpeg decode of a file of ``size`` bytes and ``seconds`` of audio may take
    (``seconds`` 0: unknown, taken as UNKNOWN_LENGTH_S, which the default duration limit also is)."""
    return DECODE_BASE_S + DECODE_S_PER_MB * size / 1e6 + DECODE_S_PER_AUDIO_S * (seconds or UNKNOWN_LENGTH_S)


@dataclass(frozen=True)
class SourceInfo:
    """What was found out about an input before decoding it."""

    format: str  # sniffed container: a key of DEMUXERS
    decoder: str  # "pedalboard" or "ffmpeg"
    rate: int  # Hz, as stored
    channels: int  # as stored
    seconds: float  # estimated duration (headers can lie; decoding decides)


def bounded_info(name: str, kind: str, decoder: str, rate: float, channels: int, seconds: float) -> SourceInfo:
    """The SourceInfo of a stream, if its rate and channels are within the limits; else InputError.

    Checked before any decoding or resampling: a header's rate sizes the resampler's buffers.
    """
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(f"{name}: sample rate {rate:.0f} Hz is outside {MIN_RATE}–{MAX_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise InputError(f"{name}: {channels} channels is outside 1–{MAX_CHANNELS} channels")
    return SourceInfo(kind, decoder, round(rate), channels, seconds)


class AudioSource(Protocol):
    info: SourceInfo

    def blocks(self, frames: int, rate: int) -> Iterator[np.ndarray]:
        """Consecutive (2, <=frames) float32 blocks at ``rate`` Hz until the audio ends."""
        ...


_PEDALBOARD_FORMATS = {"wav", "aiff", "flac", "ogg", "mp3"}
_COMPRESSED = {"flac", "ogg", "mp3"}  # where a decoder must make up samples for data it cannot decode
SUSPECT_SILENCE_S = 1.0  # this much exact digital silence from a compressed stream is checked with ffmpeg
SILENCE_CHUNK = 4096  # frames: the unit in which exact silence is counted
LENGTH_TOLERANCE = 0.01  # a decoded length this far (relative) from the promised one is checked too


@dataclass(frozen=True)
class Census:
    """What ffmpeg decodes from a file: the reference when pedalboard's output is in doubt."""

    seconds: float
    audible: bool  # any sample not exactly zero
    errors: tuple[str, ...]  # ffmpeg's error lines, about the input
    gave_up: bool  # ffmpeg stopped with an error (too much it could not decode)


CENSUS_BLOCK = 1 << 17  # frames per block while counting


def ffmpeg_census(path: Path, info: SourceInfo) -> Census:
    """Decode the whole file with ffmpeg at its own rate, keeping only the length, whether any
    sample is not zero, and the errors (memory: one block)."""
    rate = info.rate
    run = FfmpegRun(path, info.format, rate, CENSUS_BLOCK, info.seconds)
    frames = 0
    audible = False
    for block in run:
        frames += block.shape[1]
        audible = audible or bool(block.any())
    # Lines from our raw output muxer ("[f32le @ ...]") are about timestamps, not the input.
    return Census(frames / rate, audible, tuple(ln for ln in run.errors if not ln.startswith("[f32le")), run.code != 0)


class Damaged(Exception):
    """pedalboard's decode of the file is not what its bytes hold; ``fallback`` decodes what they do."""

    def __init__(self, reason: str, fallback: AudioSource) -> None:
        super().__init__(reason)
        self.fallback = fallback


def check_with_ffmpeg(path: Path, info: SourceInfo, doubt: str, decoded_s: float | None = None) -> None:
    """Return if ffmpeg decodes cleanly as long as pedalboard did (``decoded_s``; None: the header's
    length), so the doubt was genuine audio, e.g. silence; raise Damaged with an ffmpeg source for
    what decodes, or InputError if nothing audible does."""
    census = ffmpeg_census(path, info)
    kind, promised_s = info.format, info.seconds
    tolerance = max(0.1, LENGTH_TOLERANCE * promised_s)
    expected_s = promised_s if decoded_s is None else decoded_s
    if not census.errors and abs(census.seconds - expected_s) <= tolerance:
        log.debug("%s: %s, and ffmpeg decodes it the same: genuine", path.name, doubt)
        return
    if census.errors:
        said = f"ffmpeg: {_tidy(census.errors[0], path)}"
    else:
        said = f"ffmpeg decodes {census.seconds:.1f} s" if census.seconds else "ffmpeg decodes nothing"
    if not census.audible:
        raise InputError(f"{path.name}: damaged {kind} data, no decodable audio ({said})")
    if census.gave_up:
        raise InputError(f"{path.name}: damaged {kind} data, ffmpeg gives up after {census.seconds:.1f} s ({said})")
    promised = f" of the {promised_s:.1f} s the header promises" if census.seconds < promised_s - tolerance else ""
    reason = f"damaged {kind} data ({doubt}; {said}): converting the {census.seconds:.1f} s that decode{promised}"
    raise Damaged(reason, FfmpegSource(path, kind, max_seconds=census.seconds))


def _tidy(line: str, path: Path) -> str:
    """An ffmpeg message for a user: "[flac @ 0x55d1ab19f480] invalid residual" -> "invalid residual",
    and the input's "file:/its/absolute/path" -> its name."""
    line = line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line
    return line.replace(f"file:{path.resolve()}", path.name)


def open_source(path: Path, max_bytes: int) -> AudioSource:
    """Check and open ``path``; raises InputError with a one-line reason."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an audio file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if size == 0:
        raise InputError(f"{path.name}: empty file (0 bytes)")
    if size > max_bytes:
        raise InputError(f"{path.name}: {size} bytes is over the limit of {max_bytes} bytes (MAX_INPUT_BYTES)")
    kind = sniff_file(path, head)
    if kind == "text":
        raise InputError(f"{path.name}: not audio (the file contains text or HTML)")
    if kind not in DEMUXERS:
        raise InputError(f"{path.name}: not a recognised audio format")
    if kind not in _SKIPS_METADATA:
        check_embedded_metadata(path)
    if kind in _PEDALBOARD_FORMATS:
        try:
            return PedalboardSource(path, kind)
        except InputError:
            raise
        except Damaged as damage:
            log.warning("%s: %s", path.name, damage)
            return damage.fallback
        except HeaderLies as lie:
            source = FfmpegSource(path, kind, max_seconds=lie.possible_s)
            log.warning(
                "%s: the header promises more than the file holds (%s): converting what is there", path.name, lie
            )
            return source
        except Exception as exc:  # noqa: BLE001 - an exotic codec inside a known container: let ffmpeg try
            log.debug("pedalboard cannot open %s (%s); trying ffmpeg", path.name, exc)
    return FfmpegSource(path, kind)


# pedalboard skips MP3's ID3 tag and FLAC's metadata blocks without holding them; every other
# decoder holds some metadata whole: libvorbis the Ogg comment header, JUCE a WAV's LIST, bext
# and axml chunks, ffmpeg (and ffprobe) the tags and pictures of every format. So the check is
# made before any decoder but pedalboard's MP3 and FLAC readers, and before every ffmpeg run
# (also the fallbacks and damage checks of MP3 and FLAC).
_SKIPS_METADATA = frozenset({"mp3", "flac"})


def check_embedded_metadata(path: Path) -> None:
    """Refuse a file whose metadata is over MAX_TAG_BYTES: a decoder that reads it would hold it in memory."""
    if (size := metadata_over_limit(path)) is not None:
        raise InputError(
            f"{path.name}: {size >> 20} MB of tags and other metadata is over the limit of "
            f"{MAX_TAG_BYTES >> 20} MB (decoding would hold it in memory)"
        )


_BYTES_PER_SAMPLE = {"int8": 1, "uint8": 1, "int16": 2, "int24": 3, "int32": 4, "float32": 4, "float64": 8}


class HeaderLies(Exception):
    """The header promises more audio than the file can hold: pedalboard would pad it with silence."""

    def __init__(self, claimed_s: float, possible_s: float) -> None:
        super().__init__(f"{claimed_s:.0f} s claimed, at most {possible_s:.1f} s present")
        self.possible_s = possible_s


class PedalboardSource:
    """Streaming decode through pedalboard (JUCE, libmpg123-compatible MP3)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        size = path.stat().st_size
        with AudioFile(str(path)) as f:  # JUCE picks the reader by content: any name will do
            info = bounded_info(path.name, kind, "pedalboard", f.samplerate, f.num_channels, f.duration)
            if f.frames == 0:
                raise InputError(f"{path.name}: the {kind} file holds no audio frames")
            width = _BYTES_PER_SAMPLE.get(str(f.file_dtype))
            if kind in ("wav", "aiff") and width and f.frames * f.num_channels * width > size:
                raise HeaderLies(f.duration, size / (f.samplerate * f.num_channels * width))
            if kind == "mp3" and (present := mp3_fraction_present(path, size)) is not None:
                raise HeaderLies(f.duration, f.duration * present)
            self.info = info
        self._checked = kind not in _COMPRESSED  # PCM holds exactly its samples: nothing to doubt
        if kind == "ogg" and not ogg_pages_follow(path):
            self._check("its Ogg pages do not follow each other")

    def _check(self, doubt: str, decoded_s: float | None = None) -> None:
        if self._checked:
            return
        self._checked = True
        if shutil.which("ffmpeg") is None:
            log.warning("%s: %s; without ffmpeg it cannot be checked for damage", self.path.name, doubt)
            return
        if metadata_over_limit(self.path):  # ffmpeg would hold it; pedalboard skips it
            log.warning("%s: %s; with this much metadata it is not checked for damage", self.path.name, doubt)
            return
        check_with_ffmpeg(self.path, self.info, doubt, decoded_s)

    def blocks(self, frames: int, rate: int) -> Iterator[np.ndarray]:
        """Raises Damaged (before the doubtful block is yielded) when pedalboard's decode is in doubt
        and ffmpeg disagrees; the caller starts again from the fallback."""
        produced = 0
        silent = 0  # frames in whole chunks of exact digital silence
        audible = False
        try:
            with AudioFile(str(self.path)) as raw:
                reader = raw if round(raw.samplerate) == rate else raw.resampled_to(rate)
                while True:
                    block = reader.read(frames)
                    if block.shape[1] == 0:
                        break
                    if not self._checked:
                        quiet, sound = _silence(block)
                        audible = audible or sound
                        silent += quiet
                        if silent >= SUSPECT_SILENCE_S * rate:
                            self._check(f"{silent / rate:.1f} s of exact digital silence")
                    produced += block.shape[1]
                    yield to_stereo(block)
                if not self._checked:
                    if not audible:
                        self._check("nothing but digital silence", produced / rate)
                    elif abs(produced / rate - self.info.seconds) > max(0.1, LENGTH_TOLERANCE * self.info.seconds):
                        self._check(f"{produced / rate:.1f} s decoded", produced / rate)
        except (InputError, Damaged):
            raise
        except (RuntimeError, ValueError, OSError) as exc:
            raise InputError(f"{self.path.name}: corrupt {self.info.format} data ({exc})") from None
        if produced == 0:
            raise InputError(f"{self.path.name}: no audio could be decoded")


def _silence(block: np.ndarray) -> tuple[int, bool]:
    """Frames of ``block`` in whole ``SILENCE_CHUNK``s that are exactly zero in every channel, and
    whether any sample is not zero."""
    whole = block.shape[1] // SILENCE_CHUNK * SILENCE_CHUNK
    chunks = block[:, :whole].reshape(block.shape[0], -1, SILENCE_CHUNK)
    quiet = int((~chunks.any(axis=(0, 2))).sum()) * SILENCE_CHUNK
    return quiet, quiet < whole or bool(block[:, whole:].any())


def _tool(name: str) -> str:
    """The path of ffmpeg or ffprobe; UsageError if it is not installed."""
    exe = shutil.which(name)
    if exe is None:
        raise UsageError(f"{name} is not installed (it is part of ffmpeg, needed for formats such as AAC, Opus, WMA)")
    return exe


def _ffmpeg_input(path: Path, kind: str) -> list[str]:
    """ffmpeg's and ffprobe's input options: only this file, read with the demuxer of its sniffed kind;
    InputError if its metadata is over the limit (both read it whole). Every ffmpeg and ffprobe run
    takes its input from here.

    ``path`` is absolute, and ``file:`` makes it a plain file: neither a name starting with "-"
    nor one looking like a URL or a protocol ("concat:", "subfile,,") means anything else.
    """
    check_embedded_metadata(path)
    demuxer = DEMUXERS[kind]
    return ["-protocol_whitelist", "file,pipe", "-format_whitelist", demuxer, "-f", demuxer, "-i", f"file:{path}"]


@dataclass(frozen=True)
class Probe:
    """What ffprobe says of a file's first audio stream."""

    rate: float  # Hz
    channels: int
    seconds: float  # 0.0 when unknown


def probe(path: Path, kind: str) -> Probe:
    """ffprobe's word on the first audio stream (forced demuxer, a deadline from the size); InputError if none."""
    cmd = [_tool("ffprobe"), "-v", "error", "-of", "json", "-select_streams", "a:0"]
    cmd += ["-show_entries", "stream=sample_rate,channels,duration:format=duration", *_ffmpeg_input(path, kind)]
    timeout_s = probe_timeout_s(path.stat().st_size)
    done = children.run(cmd, timeout_s)
    if done.timed_out:
        raise InputError(f"{path.name}: ffprobe did not finish reading it within {timeout_s:.0f} s")
    if done.code != 0:
        detail = _tidy(done.errors[-1], path) if done.errors else f"exit {done.code}"
        raise InputError(f"{path.name}: not a readable {kind} file (ffprobe: {detail})")
    try:
        found = json.loads(done.output)
        streams = found.get("streams") or []
        if not streams:
            raise InputError(f"{path.name}: no audio stream in the {kind} file")
        stream = streams[0]
        rate = float(stream.get("sample_rate") or 0)
        channels = int(stream.get("channels") or 0)
        seconds = float(stream.get("duration") or (found.get("format") or {}).get("duration") or 0.0)
    except (ValueError, TypeError, AttributeError, LookupError):  # cut off, not JSON, or not the shape asked for
        raise InputError(f"{path.name}: ffprobe cannot describe its audio (unreadable answer)") from None
    return Probe(rate, channels, seconds)


class FfmpegSource:
    """Streaming decode through an ffmpeg subprocess writing f32le to a pipe."""

    def __init__(self, path: Path, kind: str, max_seconds: float | None = None) -> None:
        """``max_seconds``: what the file can hold at most, when its header is known to claim more."""
        self.path = path.resolve()  # absolute: see _ffmpeg_input
        _tool("ffmpeg")
        found = probe(self.path, kind)
        seconds = found.seconds if max_seconds is None else min(found.seconds, max_seconds)
        self.info = bounded_info(path.name, kind, "ffmpeg", found.rate, found.channels, seconds)

    def blocks(self, frames: int, rate: int) -> Iterator[np.ndarray]:
        run = FfmpegRun(self.path, self.info.format, rate, frames, self.info.seconds)
        produced = 0
        for block in run:
            produced += block.shape[1]
            yield block
        if run.code != 0 or produced == 0:
            detail = _tidy(run.errors[-1], self.path) if run.errors else "no audio decoded"
            raise InputError(f"{self.path.name}: ffmpeg could not decode it (exit {run.code}: {detail})")


class FfmpegRun:
    """One decode by an ffmpeg subprocess piping f32le: iterating yields (2, <=frames) float32 blocks
    at ``rate``; afterwards ``code`` and ``errors`` (its stderr lines) say how it ended.

    ``seconds``: the audio's expected length, from which (with the size) its deadline follows;
    InputError if ffmpeg has not finished by then. ffmpeg is killed (with its process group)
    when the iteration ends in any way, also when its consumer stops early.
    """

    def __init__(self, path: Path, kind: str, rate: int, frames: int, seconds: float) -> None:
        self.path = path.resolve()  # absolute: see _ffmpeg_input
        self.kind = kind
        self.rate = rate
        self.frames = frames
        self.timeout_s = decode_timeout_s(self.path.stat().st_size, seconds)
        self.code: int | None = None
        self.errors: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[np.ndarray]:
        cmd = [_tool("ffmpeg"), "-nostdin", "-v", "error", *_ffmpeg_input(self.path, self.kind), "-map", "0:a:0", "-vn"]
        cmd += ["-f", "f32le", "-ac", "2", "-ar", str(self.rate), "pipe:1"]
        chunk = self.frames * 2 * 4
        child = children.Child(cmd, self.timeout_s)
        try:
            while data := child.stdout.read(chunk):
                usable = len(data) - len(data) % 8
                yield np.ascontiguousarray(np.frombuffer(data[:usable], dtype="<f4").reshape(-1, 2).T)
            self.code = child.wait()
        finally:
            child.close()
            self.errors = child.errors
        if child.timed_out:
            raise InputError(f"ffmpeg did not finish decoding {self.path.name} within {self.timeout_s:.0f} s")


READ_BLOCK = 1 << 16  # frames per block of ``read_span``


def read_span(
    path: Path, max_bytes: int, start_s: float = 0.0, seconds: float | None = None
) -> tuple[np.ndarray, int, float]:
    """``seconds`` (None: to the end) of ``path`` decoded from about ``start_s``, as (2, n) float32 at its
    own rate, with that rate and the span's exact start. Decoded in blocks by ``open_source``, up to the
    span's end only (one pedalboard read of a whole MPEG-2 joint-stereo MP3 once gave a wrong right
    channel). For reading an output back; a conversion streams ``open_source`` itself."""
    source = open_source(path, max_bytes)
    rate = source.info.rate
    first = round(start_s * rate)
    last = None if seconds is None else round((start_s + seconds) * rate)
    parts, at = [], 0
    for block in source.blocks(READ_BLOCK, rate):
        end = at + block.shape[1]
        if end > first:
            parts.append(block[:, max(0, first - at) : None if last is None else last - at])
        at = end
        if last is not None and at >= last:
            break
    x = np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), np.float32)
    return x, rate, first / rate
