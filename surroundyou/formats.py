"""The output formats, each declared once: its name, extension, encoder, tags, S3 content type and settings.

Every part of the worker that names a format reads it here: the encoder (which writer, bit depth,
the rates it can store, the headroom its decoders need), the tag writer, the output plan
(``song_8d.<suffix>``), cloud and queue mode (the key's suffix and the object's content type), the
command line's ``--format`` and its help. Adding a format is one row of ``FORMATS`` (and, for a new
kind of tags, a writer in tags.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from surroundyou.errors import UsageError

MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
OPUS_RATES = (48000,)  # Opus codes at 48 kHz inside; every decoder plays it back at 48 kHz
OPUS_BITRATE = "160k"  # VBR: above the 128 kbps commonly reported transparent for stereo (docs/usage.md)
# Below this rate a lossless output keeps LOW_RATE_MARGIN_DB below the ceiling instead of its codec
# margin: the limiter's 4x detector misses a peak between its points by up to 1/cos(pi f / 4 rate),
# which grows as a song's top comes near Nyquist (0.56 dB at 0.45 of the rate, where a 22.05 kHz MP3's
# top lies). Measured at 8x: 0.27 dB on Machine Wars (22.05 kHz) as FLAC, at most 0.06 dB on the
# bench's 44.1 and 48 kHz songs (2026-12-05). The lossy margins were measured on a 22.05 kHz song.
LOW_RATE_HZ = 32000
LOW_RATE_MARGIN_DB = 0.6


@dataclass(frozen=True)
class Format:
    """One output format."""

    name: str  # as --format and OUTPUT_FORMAT take it
    suffix: str  # of the output file and S3 key
    content_type: str  # of the S3 object
    tags: str  # how tags.py writes them: "id3", "wav-id3" (ID3 in a RIFF chunk), "flac", "ogg", "opus"
    bit_depth: int  # of PCM formats' samples; 16 where the codec ignores it
    # Headroom the limiter keeps below the requested ceiling: lossy decoders overshoot the PCM they
    # were given (LAME by up to ~1.6 dB, measured on a real 22.05 kHz song; 1.5 dB let its decoded
    # true peak reach -0.96 dBTP at a -1 ceiling). Opus: see docs/usage.md (Output formats). PCM: what
    # the limiter's 4x detector under-reads of the peaks between samples near Nyquist (read at 8x: 0.10 dB
    # on a drum mix pushed 3 dB into the limiter, with the brighter front of the front/back bands), and
    # more at low rates (margin_db).
    codec_margin_db: float
    rates: tuple[int, ...] = ()  # the rates it can store; empty: any
    lossless: bool = False  # PCM in, PCM out: its margin is only the detector's (margin_db)
    quality: bool = False  # --quality (MP3_QUALITY) applies to it
    # Written by ffmpeg (a child process reading float32) with this encoder and these options; without
    # one, by pedalboard's AudioFile.
    ffmpeg_encoder: str = ""
    ffmpeg_options: tuple[str, ...] = ()

    @property
    def writer(self) -> str:
        """Which writer encodes it: "ffmpeg" or "pedalboard"."""
        return "ffmpeg" if self.ffmpeg_encoder else "pedalboard"

    def margin_db(self, rate: int) -> float:
        """The headroom the limiter keeps below the ceiling for output at ``rate``."""
        if self.lossless and rate < LOW_RATE_HZ:
            return max(self.codec_margin_db, LOW_RATE_MARGIN_DB)
        return self.codec_margin_db

    def output_rate(self, source_rate: int) -> int:
        """The rate to render at: the source's, unless the format cannot store it."""
        if not self.rates or source_rate in self.rates:
            return source_rate
        if source_rate > self.rates[-1]:  # the highest rate of the source's family (44.1 or 48 kHz), if it has one
            family = [r for r in self.rates if (r % 11025 == 0) == (source_rate % 11025 == 0)]
            return max(family or self.rates)
        return min(r for r in self.rates if r >= source_rate)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("mp3", ".mp3", "audio/mpeg", "id3", 16, 1.7, MP3_RATES, quality=True),
        Format("wav", ".wav", "audio/wav", "wav-id3", 24, 0.2, lossless=True),
        Format("flac", ".flac", "audio/flac", "flac", 24, 0.2, lossless=True),
        Format("ogg", ".ogg", "audio/ogg", "ogg", 16, 1.5),
        Format(
            "opus",
            ".opus",
            "audio/ogg; codecs=opus",
            "opus",
            16,
            3.2,  # Opus's decoder overshoots more: 3.0 dB on a dense master (docs/usage.md, Output formats)
            OPUS_RATES,
            ffmpeg_encoder="libopus",
            ffmpeg_options=("-b:a", OPUS_BITRATE, "-vbr", "on", "-f", "opus"),
        ),
    )
}
DEFAULT = "mp3"
SUFFIXES = tuple(f.suffix for f in FORMATS.values())


def by_suffix(path: Path) -> Format | None:
    """The format an output path's extension names, or None."""
    suffix = path.suffix.lower()
    return next((f for f in FORMATS.values() if f.suffix == suffix), None)


def format_of(path: Path) -> Format:
    """The format of an output path; a UsageError naming the choices if its extension is none of them."""
    found = by_suffix(path)
    if found is None:
        raise UsageError(
            f"output {path.name}: unsupported format {path.suffix or '(none)'}; use one of {', '.join(SUFFIXES)}"
        )
    return found
