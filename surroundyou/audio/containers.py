"""What a file's own bytes say about its container, before any decoder or tag reader sees it.

The format is sniffed from the content, never the name: ``sniff``/``sniff_file`` name one of
the containers in ``DEMUXERS`` (each with the ffmpeg demuxer it is read with), "text" or
"unknown". Small header probes (an MP3's promised byte count, an Ogg stream's page chain) say
whether a file is whole, and ``metadata_bytes`` measures its tags, pictures and other
chunks from their headers, without reading them. Nothing here decodes audio or imports a
library that does.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from pathlib import Path
from typing import IO

SNIFF_BYTES = 512


# The containers we accept, by their sniffed name, and the ffmpeg demuxer each is read with.
# Only demuxers that read the one file they are given: no playlists (hls, dash), scripts
# (concat), image sequences or anything else that opens other files or URLs.
DEMUXERS = {
    "wav": "wav",  # RIFF, RF64 and BW64
    "w64": "w64",  # Sony Wave64
    "aiff": "aiff",
    "flac": "flac",
    "ogg": "ogg",  # Vorbis in Ogg
    "ogg-other": "ogg",  # Opus, FLAC and Speex in Ogg
    "mp3": "mp3",
    "mp2": "mp3",  # MPEG audio layers I and II: ffmpeg's mp3 demuxer reads all three
    "mp4": "mov",  # MP4, M4A, 3GP, QuickTime (an ftyp box)
    "matroska": "matroska",  # Matroska and WebM
    "asf": "asf",  # WMA
    "aac": "aac",  # raw ADTS
    "ac3": "ac3",
    "eac3": "eac3",
    "dts": "dts",
    "caf": "caf",
    "wv": "wv",  # WavPack
    "tta": "tta",
    "au": "au",
    "amr": "amr",  # AMR-NB and AMR-WB
}


_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


_W64_GUID = bytes.fromhex("726966662e91cf11a5d628db04c10000")


def sniff(head: bytes) -> str:
    """Container format from the first bytes of a file: a key of DEMUXERS, "text" or "unknown".

    An ID3v2 tag says "mp3"; ``sniff_file`` looks past it.
    """
    four = head[:4]
    if four in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:16] == _W64_GUID:
        return "w64"
    if four == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if four == b"fLaC":
        return "flac"
    if four == b"OggS":
        return "ogg" if b"\x01vorbis" in head else "ogg-other"  # Opus, FLAC-in-Ogg: ffmpeg
    if head[4:8] == b"ftyp":
        return "mp4"
    if four == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:16] == _ASF_GUID:
        return "asf"
    simple = {b"caff": "caf", b"wvpk": "wv", b"TTA1": "tta", b".snd": "au", b"\x7f\xfe\x80\x01": "dts"}
    if four in simple:
        return simple[four]
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return "amr"
    if head[:2] == b"\x0b\x77" and len(head) > 5:
        return "eac3" if head[5] >> 3 > 10 else "ac3"  # the bitstream id: up to 10 AC-3, 11-16 E-AC-3
    if head[:3] == b"ID3":
        return "mp3"
    if frame := _mpeg_frame(head):
        return frame
    if _is_text(head):
        return "text"
    return "unknown"


def _mpeg_frame(head: bytes) -> str | None:
    """The kind ("mp3", "mp2" or "aac") if ``head`` starts with a valid MPEG audio or ADTS frame header."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    layer = head[1] >> 1 & 3
    if layer == 0:  # ADTS: sync 0xFFF, then MPEG version and layer 00; a sampling index up to 12
        return "aac" if head[1] & 0xF6 == 0xF0 and head[2] >> 2 & 0xF <= 12 else None
    if head[1] >> 3 & 3 == 1 or head[2] >> 4 == 15 or head[2] >> 2 & 3 == 3:  # reserved version, bad rates
        return None
    return "mp3" if layer == 1 else "mp2"


def _is_text(head: bytes) -> bool:
    """Markup, or UTF-8 (ASCII included) of printable characters and line breaks."""
    if head.lstrip()[:1] == b"<":
        return True
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head)  # a character cut off at the end is fine
    except UnicodeDecodeError:
        return False
    return bool(text.strip()) and all(c.isprintable() or c in "\t\r\n\ufeff" for c in text)


def id3_end(head: bytes) -> int:
    """Where the audio after an ID3v2 tag starts (0 without one); ``head``: the file's first 10 bytes or more."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)  # and a footer


_MP3_KBPS = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 layer III
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2 and 2.5
}


JUNK_SCAN_BYTES = 64 << 10  # how far into a file an MP3's first frame is looked for


def _mp3_frame_bytes(header: bytes) -> int:
    """The length of the MPEG layer III frame whose (valid) header starts ``header``; 0 if free-format."""
    version, rate_index = header[1] >> 3 & 3, header[2] >> 2 & 3  # version: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
    kbps = _MP3_KBPS[3 if version == 3 else 2][header[2] >> 4]
    rate = (44100, 48000, 32000)[rate_index] >> {3: 0, 2: 1, 0: 2}[version]
    return (144 if version == 3 else 72) * kbps * 1000 // rate + (header[2] >> 1 & 1)


def mp3_after_junk(data: bytes) -> bool:
    """Whether two MPEG layer III frames follow each other somewhere in ``data``: an MP3 behind
    bytes that are not audio (zero padding, a damaged start), which ffmpeg's mp3 demuxer skips."""
    at = data.find(b"\xff")
    while 0 <= at < len(data) - 4:
        length = _mp3_frame_bytes(data[at : at + 4]) if _mpeg_frame(data[at : at + 4]) == "mp3" else 0
        header, follower = data[at : at + 4], data[at + length : at + length + 4] if length else b""
        same_stream = len(follower) == 4 and follower[1] == header[1] and follower[2] & 0x0C == header[2] & 0x0C
        if same_stream and _mpeg_frame(follower) == "mp3":  # same version, layer, protection and rate
            return True
        at = data.find(b"\xff", at + 1)
    return False


def sniff_file(path: Path, head: bytes) -> str:
    """``sniff`` of a file whose first bytes are ``head``, looking past an ID3v2 tag (FLAC and ADTS
    AAC files carry them too; behind a tag, anything but those is read as MP3) and, for an unknown
    start, for MP3 frames within its first JUNK_SCAN_BYTES."""
    start = id3_end(head)
    if not start:
        kind = sniff(head)
        if kind == "unknown":
            with path.open("rb") as fh:
                kind = "mp3" if mp3_after_junk(fh.read(JUNK_SCAN_BYTES)) else kind
        return kind
    with path.open("rb") as fh:
        fh.seek(start)
        behind = sniff(fh.read(SNIFF_BYTES))
    return behind if behind in ("flac", "aac", "mp2") else "mp3"


def mp3_fraction_present(path: Path, size: int) -> float | None:
    """The share of the bytes its Xing/Info header promises that an MP3 holds, if it is short of them.

    pedalboard trusts that header's frame count and pads a cut-off file with
    silence up to it; ffmpeg stops where the data stops. None: the file is whole,
    or records no byte count.
    """
    with path.open("rb") as fh:
        start = id3_end(fh.read(10))
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


# ---- How much metadata a file holds, from its own headers ----

MAX_TAG_BYTES = 32 << 20  # metadata mutagen may read (a few covers' worth); more is skipped with a warning


MAX_PIECES = 10_000  # chunks, blocks, atoms or pages walked to measure metadata; more: not measured


_AUDIO_CHUNKS = frozenset({b"data", b"SSND"})  # WAV's and AIFF's audio


# Their format, and padding that every reader skips: not metadata.
_SKIPPED_CHUNKS = _AUDIO_CHUNKS | {b"fmt ", b"COMM", b"JUNK", b"junk", b"PAD ", b"FLLR"}


_AUDIO_ATOMS = frozenset({b"mdat", b"free", b"skip", b"wide", b"ftyp"})  # MP4's that are not metadata


def metadata_bytes(path: Path) -> int | None:
    """Bytes of metadata (tags, pictures, other chunks) in the file at ``path``, from its headers,
    without reading the metadata itself; None when the format is not one measured here or its
    pieces are too many to walk (MAX_PIECES) before they pass MAX_TAG_BYTES (then a lower bound).
    A decoder that reads the metadata itself should take None as too much."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
            size = f.seek(0, 2)
            return _measure(f, head, size)
    except (OSError, struct.error):
        return None


def metadata_over_limit(path: Path) -> int | None:
    """The size of the file's metadata if its headers say it is over MAX_TAG_BYTES, else None (also
    for the formats ``metadata_bytes`` cannot measure): what no decoder or tag reader should hold."""
    size = metadata_bytes(path)
    return size if size is not None and size > MAX_TAG_BYTES else None


def _measure(f: IO[bytes], head: bytes, size: int) -> int | None:
    start = 0
    if head[:3] == b"ID3":  # ahead of MP3 (or AAC, or FLAC) data
        start = min(id3_end(head), size)  # what is there of it: a length can promise more
        f.seek(start)
        head = f.read(16)
    walk: Callable[[IO[bytes], int, int], int | None] | None = None
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        walk = _riff_chunks
    elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        walk = _aiff_chunks
    elif head[:4] == b"fLaC":
        walk = _flac_blocks
    elif head[:4] == b"OggS":
        walk = _ogg_headers
    elif head[4:8] == b"ftyp":
        walk = _mp4_atoms
    elif head[:16] == _ASF_GUID:
        return start + min(int.from_bytes(_read_at(f, start + 16, 8), "little"), size - start)  # its header object
    if walk is None:
        return start if start else None  # an ID3 tag ahead of MP3 frames, or a format not measured
    found = walk(f, start, size)
    return None if found is None else start + found


def _too_many(total: int) -> int | None:
    """After MAX_PIECES pieces: what they hold if that is already over the limit (a lower bound),
    else None (not measured)."""
    return total if total > MAX_TAG_BYTES else None


def _read_at(f: IO[bytes], offset: int, count: int) -> bytes:
    f.seek(offset)
    data = f.read(count)
    if len(data) < count:
        raise struct.error("truncated")
    return data


def _chunks(f: IO[bytes], start: int, size: int, order: str) -> int | None:
    """WAV's (``order`` "<") or AIFF's (">") chunks after the 12-byte form header: the bytes of all but
    the audio, format and padding chunks. An audio chunk that runs to the end (RF64, streaming) ends
    the walk."""
    offset, total = start + 12, 0
    for _ in range(MAX_PIECES):
        if offset + 8 > size:
            return total
        chunk, length = struct.unpack(order + "4sI", _read_at(f, offset, 8))
        if chunk in _AUDIO_CHUNKS and (length == 0xFFFFFFFF or offset + 8 + length > size):
            return total
        if chunk not in _SKIPPED_CHUNKS:
            total += min(8 + length, size - offset)  # what is there of it: a length can promise more
        offset += 8 + length + (length & 1)  # chunks are padded to even lengths
    return _too_many(total)


def _riff_chunks(f: IO[bytes], start: int, size: int) -> int | None:
    return _chunks(f, start, size, "<")


def _aiff_chunks(f: IO[bytes], start: int, size: int) -> int | None:
    return _chunks(f, start, size, ">")


def _flac_blocks(f: IO[bytes], start: int, size: int) -> int | None:
    """FLAC's metadata blocks: each has a 4-byte header with a 24-bit length and a last-block flag."""
    offset, total = start + 4, 4
    for _ in range(MAX_PIECES):
        header = _read_at(f, offset, 4)
        length = 4 + int.from_bytes(header[1:4], "big")
        total += length
        offset += length
        if header[0] & 0x80 or offset >= size:
            return min(total, size - start)
    return _too_many(total)


def _ogg_headers(f: IO[bytes], start: int, size: int) -> int | None:
    """Ogg's header pages (comments and pictures are in the header packets): the pages from the
    start up to the first that ends an audio packet (a positive granule position)."""
    offset, total = start, 0
    for _ in range(MAX_PIECES):
        if offset + 27 > size:
            return total
        header = _read_at(f, offset, 27)
        if header[:4] != b"OggS":
            return total
        if struct.unpack("<q", header[6:14])[0] > 0:
            return total
        length = 27 + header[26] + sum(_read_at(f, offset + 27, header[26]))
        total += length
        offset += length
    return _too_many(total)


def _mp4_atoms(f: IO[bytes], start: int, size: int) -> int | None:
    """MP4's top-level atoms besides the audio (``mdat``) and padding: ``moov`` (its sample tables
    and ``udta``/``meta`` tags), ``meta``, ``uuid``... Sizes are 32-bit, 64-bit (1) or to the end (0)."""
    offset, total = start, 0
    for _ in range(MAX_PIECES):
        if offset + 8 > size:
            return total
        length, atom = struct.unpack(">I4s", _read_at(f, offset, 8))
        if length == 1:
            length = struct.unpack(">Q", _read_at(f, offset + 8, 8))[0]
        elif length == 0:
            length = size - offset
        if length < 8:
            return total  # damaged: what was measured is all mutagen can find
        if atom not in _AUDIO_ATOMS:
            total += min(length, size - offset)  # what is there of it: a length can promise more
        offset += length
    return _too_many(total)
