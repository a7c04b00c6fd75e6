"""Hostile tags: huge covers, comments and picture blocks cost bounded memory.

Each file is built here, streamed to disk without holding its metadata in memory: an MP3 whose ID3
tag holds a 200 MB cover, an Ogg Vorbis whose comment header is 300 MB, a FLAC with twenty 16 MB
pictures. The worker converts each as a whole process (under an address-space cap that spares the
machine), its tags skipped with one warning, in well under the task's 1 GiB, and the output stays
small. A cover over the output's limit is dropped and the text tags kept.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mutagen
import numpy as np
import pytest
from mutagen.ogg import OggPage

from tests.support.audio import decode, pink_noise, write
from tests.support.processes import Measured, run_measured

RATE = 44100
MB = 1 << 20
WORKER_ADDRESS_SPACE = 3 << 30  # bytes: a worker that tries to allocate gigabytes fails here, sparing the machine
PEAK_LIMIT_MB = 300.0  # well under the task's 1 GiB (a plain 5 s conversion peaks near 60 MB)
OUTPUT_LIMIT_BYTES = 12 * MB  # a 5 s MP3 plus at most the largest cover an output may carry
TIMEOUT_S = 120.0  # generous: proves "does not hang", not a speed
CHUNK = 1 << 20  # bytes written at a time


def _repeat(out: object, byte: bytes, count: int) -> None:
    """Write ``count`` copies of one byte to the file ``out``, a chunk at a time."""
    chunk = byte * CHUNK
    while count > 0:
        out.write(chunk[: min(count, CHUNK)])  # type: ignore[attr-defined]
        count -= CHUNK


# ---- MP3: an ID3v2.3 tag ahead of the audio ----


def _synchsafe(n: int) -> bytes:
    return bytes((n >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _id3_frame(name: bytes, size: int) -> bytes:
    return name + struct.pack(">I", size) + b"\x00\x00"


def mp3_with_cover(path: Path, cover_bytes: int, title: str = "Big cover") -> Path:
    """A 5 s MP3 whose ID3v2.3 tag holds a title and a JPEG front cover of ``cover_bytes``."""
    audio = write(path.with_suffix(".plain.mp3"), pink_noise(5.0, RATE), quality="V2").read_bytes()
    text = b"\x00" + title.encode("latin-1")
    picture = b"\x00image/jpeg\x00\x03cover\x00"
    tag_size = 10 + len(text) + 10 + len(picture) + cover_bytes
    with path.open("wb") as out:
        out.write(b"ID3\x03\x00\x00" + _synchsafe(tag_size))
        out.write(_id3_frame(b"TIT2", len(text)) + text)
        out.write(_id3_frame(b"APIC", len(picture) + cover_bytes) + picture + b"\xff\xd8")
        _repeat(out, b"\x00", cover_bytes - 2)
        out.write(audio)
    return path


# ---- FLAC: metadata blocks ahead of the frames ----

FLAC_PICTURE, FLAC_COMMENT = 6, 4
FLAC_MAX_BLOCK = (1 << 24) - 1  # a block's 24-bit length field


def _flac_parts(path: Path) -> tuple[bytes, bytes]:
    """(the STREAMINFO block's body, the audio frames) of a FLAC written by pedalboard."""
    data = path.read_bytes()
    pos, streaminfo = 4, b""
    while True:
        kind, length = data[pos] & 0x7F, int.from_bytes(data[pos + 1 : pos + 4], "big")
        if kind == 0:
            streaminfo = data[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if data[pos - 4 - length] & 0x80:
            return streaminfo, data[pos:]


def _vorbis_comment(entries: list[bytes]) -> bytes:
    vendor = b"test"
    body = struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(entries))
    return body + b"".join(struct.pack("<I", len(e)) + e for e in entries)


def flac_with_pictures(path: Path, count: int, block_bytes: int = FLAC_MAX_BLOCK, lead_in_s: float = 0.0) -> Path:
    """A 5 s FLAC with a title and ``count`` PNG picture blocks of ``block_bytes`` each (after
    ``lead_in_s`` of digital silence)."""
    audio = np.concatenate((np.zeros((2, int(lead_in_s * RATE)), np.float32), pink_noise(5.0, RATE)), axis=1)
    streaminfo, frames = _flac_parts(write(path.with_suffix(".plain.flac"), audio))
    mime = b"image/png"
    head = struct.pack(">II", 3, len(mime)) + mime + struct.pack(">5I", 0, 1, 1, 24, 0)  # no description, 1x1
    data_bytes = block_bytes - len(head) - 4
    comment = _vorbis_comment([b"TITLE=Many pictures"])
    with path.open("wb") as out:
        out.write(b"fLaC" + bytes([0]) + len(streaminfo).to_bytes(3, "big") + streaminfo)
        out.write(bytes([FLAC_COMMENT | (0 if count else 0x80)]) + len(comment).to_bytes(3, "big") + comment)
        for i in range(count):
            last = 0x80 if i == count - 1 else 0
            out.write(bytes([FLAC_PICTURE | last]) + block_bytes.to_bytes(3, "big") + head)
            out.write(struct.pack(">I", data_bytes) + b"\x89PNG")
            _repeat(out, b"\x00", data_bytes - 4)
        out.write(frames)
    return path


# ---- Ogg Vorbis: pages of packets, each page with its own CRC ----

_BITSWAP = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
PAGE_BYTES = 255 * 255  # the most one page can carry


def _ogg_page(flags: int, granule: int, serial: int, sequence: int, lacing: bytes, body: bytes) -> bytes:
    """One Ogg page with its CRC (Ogg's CRC-32 is zlib's on bit-reversed bytes, reversed)."""
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing)) + lacing
    page = header + body
    crc = (~zlib.crc32(page.translate(_BITSWAP), -1)) & 0xFFFFFFFF
    return page[:22] + crc.to_bytes(4, "big").translate(_BITSWAP) + page[26:]


def _packet_pages(packet: Iterator[bytes], size: int, serial: int, sequence: int) -> Iterator[bytes]:
    """Pages carrying one packet of ``size`` bytes, read from ``packet`` a page's worth at a time."""
    done, first = 0, True
    while True:
        body = next(packet, b"") if size - done else b""
        done += len(body)
        complete = done == size and len(body) < PAGE_BYTES
        lacing = b"\xff" * (len(body) // 255) + (bytes([len(body) % 255]) if complete else b"")
        yield _ogg_page(0 if first else 1, 0 if complete else -1, serial, sequence, lacing, body)
        first, sequence = False, sequence + 1
        if complete:
            return


def _chunks(prefix: bytes, filler: bytes, filler_bytes: int, suffix: bytes) -> Iterator[bytes]:
    """``prefix + filler * filler_bytes + suffix`` in pieces of PAGE_BYTES, never held whole."""
    buffer, left = prefix, filler_bytes
    while left or buffer:
        take = min(left, PAGE_BYTES - len(buffer))
        buffer += filler * take
        left -= take
        if not left:
            buffer += suffix
            suffix = b""
        yield buffer[:PAGE_BYTES]
        buffer = buffer[PAGE_BYTES:]


def ogg_with_comment(path: Path, comment_bytes: int) -> Path:
    """A 5 s Ogg Vorbis whose comment header holds a title and a COMMENT of ``comment_bytes``."""
    plain = write(path.with_suffix(".plain.ogg"), pink_noise(5.0, RATE))
    pages = []
    with plain.open("rb") as f:
        while True:
            try:
                pages.append(OggPage(f))
            except EOFError:
                break
    packets = OggPage.to_packets([p for p in pages if p.position <= 0])  # the three header packets
    ident, setup = packets[0], packets[2]
    serial = pages[0].serial
    title, vendor = b"TITLE=Big comment", b"test"
    head = b"\x03vorbis" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<II", 2, len(title)) + title
    head += struct.pack("<I", len("COMMENT=") + comment_bytes) + b"COMMENT="
    size = len(head) + comment_bytes + 1  # + the framing bit
    audio = [p for p in pages if p.position > 0]
    with path.open("wb") as out:
        out.write(_ogg_page(2, 0, serial, 0, bytes([len(ident)]), ident))
        sequence = 1
        for page in _packet_pages(_chunks(head, b"x", comment_bytes, b"\x01"), size, serial, sequence):
            out.write(page)
            sequence += 1
        for page in OggPage.from_packets([setup], sequence):
            page.serial = serial
            out.write(page.write())
            sequence += 1
        for page in audio:
            page.sequence = sequence
            out.write(page.write())
            sequence += 1
    return path


def test_the_builders_make_what_they_claim(tmp_path: Path) -> None:
    """Small versions of the hostile files: players (mutagen, ffmpeg) read them as intended."""
    mp3 = mp3_with_cover(tmp_path / "c.mp3", 1000)
    tags = mutagen.File(mp3)
    assert str(tags["TIT2"]) == "Big cover" and len(tags.tags.getall("APIC")[0].data) == 1000
    flac = mutagen.File(flac_with_pictures(tmp_path / "p.flac", 3, 5000))
    assert flac["title"] == ["Many pictures"] and [len(p.data) for p in flac.pictures] == [5000 - 41] * 3
    ogg = ogg_with_comment(tmp_path / "c.ogg", 200_000)
    vorbis = mutagen.File(ogg)
    assert vorbis["title"] == ["Big comment"] and vorbis["comment"] == ["x" * 200_000]
    for path in (mp3, tmp_path / "p.flac", ogg):  # and ffmpeg decodes their audio
        y, rate = decode(path)
        assert abs(y.shape[1] / rate - 5.0) < 0.1, path.name


def _converted(src: Path, dst: Path) -> tuple[Measured, list[str]]:
    """Convert ``src`` as a whole process; (the run, its stderr lines). The input is deleted after:
    these files are hundreds of MB."""
    try:
        run = run_measured(str(src), "-o", str(dst), address_space=WORKER_ADDRESS_SPACE, timeout=TIMEOUT_S)
    finally:
        src.unlink()
    return run, [line for line in run.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("cover.mp3", lambda p: mp3_with_cover(p, 200 * MB)),
        ("pictures.flac", lambda p: flac_with_pictures(p, 20)),
    ],
)
def test_huge_tags_are_skipped_and_the_song_converts_in_bounded_memory(tmp_path: Path, name: str, build: Any) -> None:
    """pedalboard skips an MP3's ID3 tag and FLAC's metadata blocks, so the song converts; the
    tags are measured from the headers, skipped with one warning, and never reach the output."""
    dst = tmp_path / "out.mp3"
    run, lines = _converted(build(tmp_path / name), dst)
    assert run.code == 0, run.stderr[-500:]
    assert run.peak_mb < PEAK_LIMIT_MB, run.peak_mb
    assert dst.stat().st_size < OUTPUT_LIMIT_BYTES
    assert lines == [
        f"warning: {name}: its tags take {320 if name.endswith('flac') else 200} MB, over the limit of "
        "32 MB: the output will have none"
    ], lines
    assert mutagen.File(dst).tags is None or not mutagen.File(dst).tags.getall("APIC")


def test_a_silent_lead_in_beside_huge_pictures_converts_without_the_damage_check(tmp_path: Path) -> None:
    """Two seconds of digital silence make the decoder check a FLAC with ffmpeg, which would hold its
    48 MB of pictures: the check is skipped with a warning, and the song converts."""
    dst = tmp_path / "out.mp3"
    run, lines = _converted(flac_with_pictures(tmp_path / "quiet.flac", 3, lead_in_s=2.0), dst)
    assert run.code == 0, run.stderr[-500:]
    assert run.peak_mb < PEAK_LIMIT_MB, run.peak_mb
    assert any("with this much metadata it is not checked for damage" in line for line in lines), lines
    y, rate = decode(dst)
    assert y.shape[1] / rate >= 7.0


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("comment.ogg", lambda p: ogg_with_comment(p, 300 * MB)),
        ("list-chunk.wav", lambda p: wav_with_chunk(p, b"LIST", 300 * MB)),
    ],
)
def test_metadata_a_decoder_would_hold_whole_costs_bounded_memory(tmp_path: Path, name: str, build: Any) -> None:
    """libvorbis holds an Ogg's comment header whole, JUCE a WAV's LIST chunk: such a file is
    refused (exit 3, one line) or converted, in bounded memory either way."""
    dst = tmp_path / "out.mp3"
    run, lines = _converted(build(tmp_path / name), dst)
    assert run.peak_mb < PEAK_LIMIT_MB, run.peak_mb
    assert run.code in (0, 3), run.stderr[-500:]
    if run.code == 3:
        assert len(lines) == 1 and lines[0].startswith(f"error: {name}: ") and not dst.exists(), lines
    else:
        assert dst.stat().st_size < OUTPUT_LIMIT_BYTES


def test_a_cover_too_big_for_the_output_is_dropped_and_the_text_kept(tmp_path: Path) -> None:
    dst = tmp_path / "out.mp3"
    run, lines = _converted(mp3_with_cover(tmp_path / "cover.mp3", 12 * MB), dst)
    assert run.code == 0, run.stderr[-500:]
    assert lines == [
        "warning: cover.mp3: its cover of 12 MB is over the limit of 8 MB: the output has none (its text tags are kept)"
    ]
    tags = mutagen.File(dst).tags
    assert str(tags["TIT2"]) == "Big cover" and not tags.getall("APIC")
    assert dst.stat().st_size < 1 * MB


def wav_with_chunk(path: Path, chunk: bytes, size: int) -> Path:
    """A 5 s WAV with a chunk of ``size`` bytes of text between its format and its audio (a LIST
    chunk holds an INFO comment, as JUCE and mutagen read it)."""
    plain = write(path.with_suffix(".plain.wav"), pink_noise(5.0, RATE)).read_bytes()
    audio = plain.index(b"data")
    body = b"INFO" + b"ICMT" + struct.pack("<I", size - 12) if chunk == b"LIST" else b""
    with path.open("wb") as out:
        out.write(b"RIFF" + struct.pack("<I", len(plain) + 8 + size - 8) + plain[8:audio])
        out.write(chunk + struct.pack("<I", size) + body)
        _repeat(out, b"x", size - len(body))
        out.write(plain[audio:])
    return path


def test_metadata_is_measured_from_the_headers(tmp_path: Path) -> None:
    from surroundyou.audio.containers import metadata_bytes

    mp3 = mp3_with_cover(tmp_path / "c.mp3", 1000)
    assert metadata_bytes(mp3) == 10 + (10 + 1 + 9) + (10 + 19 + 1000)  # the tag's header, TIT2, APIC
    flac = flac_with_pictures(tmp_path / "p.flac", 3, 5000)
    assert metadata_bytes(flac) == 4 + (4 + 34) + (4 + 35) + 3 * (4 + 5000)  # fLaC, STREAMINFO, comment, pictures
    ogg = ogg_with_comment(tmp_path / "c.ogg", 200_000)
    assert 200_000 < metadata_bytes(ogg) < 200_000 + 10_000  # the comment, the other headers, page headers
    wav = wav_with_chunk(tmp_path / "w.wav", b"LIST", 5000)
    assert metadata_bytes(wav) == 8 + 5000


def test_a_picture_that_lies_about_its_length_is_read_within_the_budget(tmp_path: Path, caplog: Any) -> None:
    """mutagen trusts a FLAC picture's own data length over its block's: one claiming 1 GB would be
    read to the end of the file. The budget refuses the read before anything is allocated."""
    import tracemalloc

    from surroundyou.audio.containers import MAX_TAG_BYTES
    from surroundyou.audio.tags import read_tags

    flac = flac_with_pictures(tmp_path / "p.flac", 1, 5000)
    data = bytearray(flac.read_bytes())
    at = data.index(b"\x89PNG") - 4
    data[at : at + 4] = struct.pack(">I", 1 << 30)  # the picture says 1 GB, its block 5000 bytes
    flac.write_bytes(bytes(data))
    with flac.open("ab") as out:  # and the file goes on long enough for the lie to cost
        _repeat(out, b"\x00", MAX_TAG_BYTES + MB)
    tracemalloc.start()
    try:
        tags = read_tags(flac)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not tags
    assert peak < 4 * MB, peak
    assert "its tags cannot be read (they take more than 32 MB)" in caplog.text


def test_text_values_are_bounded(tmp_path: Path, caplog: Any) -> None:
    """A 100,000-character title and 100 artists: the output carries MAX_VALUES values of at most
    MAX_TEXT_CHARS characters, and says so."""
    from surroundyou.audio.tags import MAX_TEXT_CHARS, MAX_VALUES, read_tags

    flac = mutagen.File(flac_with_pictures(tmp_path / "t.flac", 0))
    flac["title"] = ["t" * 100_000]
    flac["artist"] = [f"artist {i}" for i in range(100)]
    flac.save()
    tags = read_tags(tmp_path / "t.flac")
    assert tags.text == {"title": ["t" * MAX_TEXT_CHARS], "artist": [f"artist {i}" for i in range(MAX_VALUES)]}
    assert "tag values over 1000 characters or 16 per field were cut" in caplog.text
