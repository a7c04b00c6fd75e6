"""Tags reach the output: read back from real files with mutagen, input and output in each format."""

from __future__ import annotations

import base64
from pathlib import Path

import mutagen
import pytest
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TCON, TDRC, TIT2, TPE1, TRCK
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from surroundyou.audio.tags import read_marker
from tests.support.audio import pink_noise, write
from tests.support.processes import run_cli

TEXT = {
    "title": ["Ünïcode Song"],
    "artist": ["The Testers"],
    "album": ["Round Trips"],
    "tracknumber": ["3/12"],
    "genre": ["Electronic"],
    "date": ["2024"],
}
# A real 1x1 PNG: the bytes must arrive unchanged.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def tag_mp3(path: Path) -> None:
    id3_tags().save(path)


def tag_wav(path: Path) -> None:
    wave = WAVE(path)
    wave.add_tags()
    for frame in id3_tags().values():
        wave.tags.add(frame)
    wave.save()


def id3_tags() -> ID3:
    id3 = ID3()
    for frame, name in ((TIT2, "title"), (TPE1, "artist"), (TALB, "album"), (TRCK, "tracknumber")):
        id3.add(frame(encoding=3, text=TEXT[name]))
    id3.add(TCON(encoding=3, text=TEXT["genre"]))
    id3.add(TDRC(encoding=3, text=TEXT["date"]))
    id3.add(APIC(encoding=3, mime="image/png", type=3, desc="front", data=PNG))
    return id3


def picture() -> Picture:
    pic = Picture()
    pic.type, pic.mime, pic.data = 3, "image/png", PNG
    return pic


def tag_vorbis(path: Path) -> None:
    audio = FLAC(path) if path.suffix == ".flac" else OggVorbis(path)
    for name, values in TEXT.items():
        audio[name] = values
    if isinstance(audio, FLAC):
        audio.add_picture(picture())
    else:
        audio["metadata_block_picture"] = [base64.b64encode(picture().write()).decode()]
    audio.save()


FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "tracknumber": "TRCK", "genre": "TCON", "date": "TDRC"}


def read_back(path: Path) -> tuple[dict[str, list[str]], bytes | None]:
    """Text tags and the first cover's bytes, as a player would see them."""
    full = mutagen.File(path)
    if path.suffix == ".wav":  # ID3 in a WAV chunk: mutagen has no easy view of it
        tags = full.tags or {}
        text = {k: [str(t) for t in tags[f].text] for k, f in FRAMES.items() if f in tags}
    else:
        easy = mutagen.File(path, easy=True)
        text = {k: [str(v) for v in easy.tags[k]] for k in TEXT if easy.tags is not None and k in easy.tags}
    if isinstance(full, FLAC):
        return text, full.pictures[0].data if full.pictures else None
    if path.suffix in (".mp3", ".wav"):
        frames = full.tags.getall("APIC") if full.tags is not None else []
        return text, frames[0].data if frames else None
    blocks = full.tags.get("metadata_block_picture", []) if full.tags is not None else []
    return text, Picture(base64.b64decode(blocks[0])).data if blocks else None


def make_input(folder: Path, suffix: str) -> Path:
    src = write(folder / f"tagged{suffix}", pink_noise(1.5, 44100))
    {".mp3": tag_mp3, ".wav": tag_wav}.get(suffix, tag_vorbis)(src)
    return src


@pytest.mark.process
@pytest.mark.parametrize(
    ("source", "output"),
    [
        (".mp3", ".mp3"),
        (".flac", ".mp3"),
        (".flac", ".flac"),
        (".ogg", ".ogg"),
        (".mp3", ".wav"),
        (".ogg", ".mp3"),
        (".wav", ".flac"),
    ],
)
def test_tags_and_cover_reach_the_output(tmp_path: Path, source: str, output: str) -> None:
    src = make_input(tmp_path, source)
    assert read_back(src) == (TEXT, PNG)  # the input really carries them
    before = src.read_bytes()
    dst = tmp_path / f"out{output}"
    result = run_cli(str(src), "-o", str(dst), "--reverb", "0")
    assert result.returncode == 0, result.stderr
    assert read_back(dst) == (TEXT, PNG)
    assert read_marker(dst).startswith("settings ")  # how folder mode knows the output is up to date
    assert src.read_bytes() == before  # the input is never modified


@pytest.mark.process
def test_an_untagged_input_gives_an_untagged_output(tmp_path: Path) -> None:
    src = write(tmp_path / "plain.wav", pink_noise(1.0, 44100))
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"))
    assert result.returncode == 0, result.stderr
    assert read_back(tmp_path / "out.mp3") == ({}, None)


@pytest.mark.process
def test_damaged_tags_do_not_stop_the_conversion(tmp_path: Path) -> None:
    src = make_input(tmp_path, ".mp3")
    data = bytearray(src.read_bytes())
    data[10:40] = b"\xff" * 30  # garbage inside the ID3 tag's first frame
    src.write_bytes(bytes(data))
    result = run_cli(str(src), "-o", str(tmp_path / "out.mp3"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.mp3").stat().st_size > 0
