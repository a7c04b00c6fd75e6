"""Open any audio file as a stream of stereo float32 blocks at a chosen rate.

The format is detected from the content, not the name. WAV, AIFF, FLAC,
Ogg Vorbis and MP3 are decoded by pedalboard's streaming ``AudioFile`` (and
resampled by its streaming resampler). Everything else (AAC/m4a, Opus, WMA,
AC-3, ...) is probed with pydub's ffprobe wrapper and decoded by an ffmpeg
process piping raw float32 to us: pydub's own ``AudioSegment`` loads whole
files into memory, the pipe keeps memory flat. Memory: one block.

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

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from pedalboard.io import AudioFile

from .channels import to_stereo
from .errors import InputError, UsageError
from .logs import log

_SNIFF_BYTES = 512


@dataclass(frozen=True)
class SourceInfo:
    """What was found out about an input before decoding it."""

    format: str  # sniffed container: wav, aiff, flac, ogg, mp3, other
    decoder: str  # "pedalboard" or "ffmpeg"
    rate: int  # Hz, as stored
    channels: int  # as stored
    seconds: float  # estimated duration (headers can lie; decoding decides)


class AudioSource(Protocol):
    info: SourceInfo

    def blocks(self, frames: int, rate: int) -> Iterator[np.ndarray]:
        """Consecutive (2, <=frames) float32 blocks at ``rate`` Hz until the audio ends."""
        ...


def sniff(head: bytes) -> str:
    """Container format from the first bytes of a file."""
    if (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head[:4] in (b"RF64", b"BW64"):
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg" if b"\x01vorbis" in head else "ogg-other"  # Opus, FLAC-in-Ogg: ffmpeg
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "mp3"  # ID3 tag, or an MPEG-1/2 layer III frame sync
    stripped = head.lstrip()
    if stripped[:1] == b"<" or (stripped and all(32 <= b < 127 or b in b"\t\r\n" for b in stripped)):
        return "text"
    return "other"


_PEDALBOARD_FORMATS = {"wav", "aiff", "flac", "ogg", "mp3"}
_COMPRESSED = {"flac", "ogg", "mp3"}  # where a decoder must make up samples for data it cannot decode
SUSPECT_SILENCE_S = 1.0  # this much exact digital silence from a compressed stream is checked with ffmpeg
SILENCE_CHUNK = 4096  # frames: the unit in which exact silence is counted
LENGTH_TOLERANCE = 0.01  # a decoded length this far (relative) from the promised one is checked too


def mp3_fraction_present(path: Path, size: int) -> float | None:
    """The share of the bytes its Xing/Info header promises that an MP3 holds, if it is short of them.

    pedalboard trusts that header's frame count and pads a cut-off file with
    silence up to it; ffmpeg stops where the data stops. None: the file is whole,
    or records no byte count.
    """
    with path.open("rb") as fh:
        head = fh.read(10)
        start = 0
        if head[:3] == b"ID3" and len(head) == 10:
            start = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F))
            start += 10 if head[5] & 0x10 else 0  # footer
        fh.seek(start)
        frame = fh.read(200)
    tag = max(frame.find(b"Xing"), frame.find(b"Info"))
    if tag < 0 or len(frame) < tag + 16:
        return None
    flags = int.from_bytes(frame[tag + 4 : tag + 8], "big")
    if not flags & 0x2:  # no byte count recorded
        return None
    offset = tag + 8 + (4 if flags & 0x1 else 0)
    claimed = int.from_bytes(frame[offset : offset + 4], "big")
    present = size - start
    return present / claimed if present < claimed * 0.99 else None


def ogg_pages_follow(path: Path) -> bool:
    """Whether the file is Ogg pages back to back to its last byte (a gap or garbage breaks the chain)."""
    with path.open("rb") as fh:
        size = fh.seek(0, 2)
        offset = 0
        while offset < size:
            fh.seek(offset)
            header = fh.read(27)
            if len(header) < 27 or header[:4] != b"OggS":
                return False
            lacing = fh.read(header[26])
            if len(lacing) < header[26]:
                return False
            offset += 27 + header[26] + sum(lacing)
        return offset == size


@dataclass(frozen=True)
class Census:
    """What ffmpeg decodes from a file: the reference when pedalboard's output is in doubt."""

    seconds: float
    audible: bool  # any sample not exactly zero
    errors: tuple[str, ...]  # ffmpeg's error lines, about the input
    gave_up: bool  # ffmpeg stopped with an error (too much it could not decode)


CENSUS_BLOCK = 1 << 17  # frames per block while counting


def ffmpeg_census(path: Path, rate: int) -> Census:
    """Decode the whole file with ffmpeg at ``rate`` (the file's own), keeping only the length,
    whether any sample is not zero, and the errors (memory: one block)."""
    run = FfmpegRun(path, rate, CENSUS_BLOCK)
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
    census = ffmpeg_census(path, info.rate)
    kind, promised_s = info.format, info.seconds
    tolerance = max(0.1, LENGTH_TOLERANCE * promised_s)
    expected_s = promised_s if decoded_s is None else decoded_s
    if not census.errors and abs(census.seconds - expected_s) <= tolerance:
        log.debug("%s: %s, and ffmpeg decodes it the same: genuine", path.name, doubt)
        return
    if census.errors:
        said = f"ffmpeg: {_strip_context(census.errors[0])}"
    else:
        said = f"ffmpeg decodes {census.seconds:.1f} s" if census.seconds else "ffmpeg decodes nothing"
    if not census.audible:
        raise InputError(f"{path.name}: damaged {kind} data, no decodable audio ({said})")
    if census.gave_up:
        raise InputError(f"{path.name}: damaged {kind} data, ffmpeg gives up after {census.seconds:.1f} s ({said})")
    promised = f" of the {promised_s:.1f} s the header promises" if census.seconds < promised_s - tolerance else ""
    reason = f"damaged {kind} data ({doubt}; {said}): converting the {census.seconds:.1f} s that decode{promised}"
    raise Damaged(reason, FfmpegSource(path, kind, max_seconds=census.seconds))


def _strip_context(line: str) -> str:
    """ "[flac @ 0x55d1ab19f480] invalid residual" -> "invalid residual"."""
    return line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line


def open_source(path: Path, max_bytes: int) -> AudioSource:
    """Check and open ``path``; raises InputError with a one-line reason."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
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
    kind = sniff(head)
    if kind == "text":
        raise InputError(f"{path.name}: not audio (the file contains text or HTML)")
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
        with AudioFile(str(path)) as f:
            if f.frames == 0 or f.samplerate <= 0:
                raise InputError(f"{path.name}: the {kind} file holds no audio frames")
            width = _BYTES_PER_SAMPLE.get(str(f.file_dtype))
            if kind in ("wav", "aiff") and width and f.frames * f.num_channels * width > size:
                raise HeaderLies(f.duration, size / (f.samplerate * f.num_channels * width))
            if kind == "mp3" and (present := mp3_fraction_present(path, size)) is not None:
                raise HeaderLies(f.duration, f.duration * present)
            self.info = SourceInfo(kind, "pedalboard", round(f.samplerate), f.num_channels, f.duration)
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


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise UsageError("ffmpeg is not installed; it is needed for formats such as AAC, Opus and WMA")
    return exe


class FfmpegSource:
    """Streaming decode through an ffmpeg subprocess writing f32le to a pipe."""

    def __init__(self, path: Path, kind: str, max_seconds: float | None = None) -> None:
        """``max_seconds``: what the file can hold at most, when its header is known to claim more."""
        self.path = path.resolve()  # absolute: a name cannot be read as an ffmpeg option or protocol
        _ffmpeg()
        if shutil.which("ffprobe") is None:
            raise UsageError("ffprobe (part of ffmpeg) is not installed")
        from pydub.utils import mediainfo_json  # pydub: only for what pedalboard cannot read

        probe = mediainfo_json(str(self.path))
        audio = [s for s in probe.get("streams", []) if s.get("codec_type") == "audio"]
        if not audio:
            raise InputError(f"{path.name}: not a recognised audio file")
        stream = audio[0]
        try:
            rate = int(stream.get("sample_rate", 0))
            channels = int(stream.get("channels", 0))
            seconds = float(stream.get("duration") or probe.get("format", {}).get("duration") or 0.0)
        except (TypeError, ValueError):
            rate = channels = 0
            seconds = 0.0
        if rate <= 0 or channels <= 0:
            raise InputError(f"{path.name}: audio stream without a sample rate or channels")
        if max_seconds is not None:
            seconds = min(seconds, max_seconds)
        self.info = SourceInfo(kind, "ffmpeg", rate, channels, seconds)

    def blocks(self, frames: int, rate: int) -> Iterator[np.ndarray]:
        run = FfmpegRun(self.path, rate, frames)
        produced = 0
        for block in run:
            produced += block.shape[1]
            yield block
        if run.code != 0 or produced == 0:
            detail = run.errors[-1] if run.errors else "no audio decoded"
            raise InputError(f"{self.path.name}: ffmpeg could not decode it (exit {run.code}: {detail})")


class FfmpegRun:
    """One decode by an ffmpeg subprocess piping f32le: iterating yields (2, <=frames) float32 blocks
    at ``rate``; afterwards ``code`` and ``errors`` (its stderr lines) say how it ended."""

    def __init__(self, path: Path, rate: int, frames: int) -> None:
        self.path = path.resolve()  # absolute: a name cannot be read as an ffmpeg option or protocol
        self.rate = rate
        self.frames = frames
        self.code: int | None = None
        self.errors: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[np.ndarray]:
        cmd = [_ffmpeg(), "-nostdin", "-v", "error", "-i", str(self.path), "-map", "0:a:0", "-vn"]
        cmd += ["-f", "f32le", "-ac", "2", "-ar", str(self.rate), "pipe:1"]
        chunk = self.frames * 2 * 4
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL)
            assert proc.stdout is not None  # for the type checker: PIPE was requested
            try:
                while data := proc.stdout.read(chunk):
                    usable = len(data) - len(data) % 8
                    yield np.ascontiguousarray(np.frombuffer(data[:usable], dtype="<f4").reshape(-1, 2).T)
                self.code = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace")
        self.errors = tuple(ln.strip() for ln in text.splitlines() if ln.strip())
